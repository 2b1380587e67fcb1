/**
 * Faults against relay processes: a relay killed and restarted, Redis stopped and paused under
 * load across two relays, a peer whose process stops answering, and thousands of sockets that
 * never identify. Each test states its bound and prints what it measured.
 */
import { assert, assertEquals } from "@std/assert";
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import { Ledger } from "../soak/ledger.ts";
import { freePort, TestClient } from "../testing/net.ts";
import { startRedis } from "../testing/redis.ts";
import { type RelayProcess, spawnRelay } from "../testing/relay_process.ts";
import { settles, until, Wakeup } from "../testing/wait.ts";

type Json = Record<string, unknown>;

function message(to: string, content: string, ref: string): Json {
  return { mine: { content }, to: { id: to, type: "friend" }, ref };
}

async function v1(url: string, id: string): Promise<TestClient> {
  const client = await TestClient.connect(url, [SUBPROTOCOL]);
  client.send({ type: "identify", id });
  assertEquals((await client.nextJson()).type, "ready");
  return client;
}

/**
 * A v1 client that stays connected like a page does: when its connection is lost it reconnects
 * with exponential backoff and jitter (50 ms doubling up to 1 s) and identifies again.
 */
class Reconnecting {
  readonly frames: Json[] = [];
  readonly closes: number[] = [];
  #wakeup = new Wakeup();
  #socket: WebSocket | undefined;
  #readyCount = 0;
  #stopped = false;

  constructor(readonly url: string, readonly id: string) {
    this.#connect(0);
  }

  #connect(attempt: number): void {
    const socket = this.#socket = new WebSocket(this.url, SUBPROTOCOL);
    let opened = false;
    socket.onopen = () => {
      opened = true;
      socket.send(JSON.stringify({ type: "identify", id: this.id }));
    };
    socket.onmessage = (e) => {
      const frame = JSON.parse(e.data);
      if (frame.type === "ready") this.#readyCount++;
      else this.frames.push(frame);
      this.#wakeup.wake();
    };
    socket.onerror = () => {};
    socket.onclose = (e) => {
      if (opened) this.closes.push(e.code);
      this.#wakeup.wake();
      if (this.#stopped) return;
      const next = opened ? 0 : attempt + 1;
      const backoff = Math.min(1000, 50 * 2 ** next) * (0.5 + Math.random() / 2);
      setTimeout(() => this.#connect(next), backoff);
    };
  }

  /** Resolves once the client has been ready `count` times (its first session is 1). */
  async ready(count: number, timeoutMs = 5000): Promise<void> {
    const ok = await until(() => this.#readyCount >= count, timeoutMs, this.#wakeup);
    if (!ok) throw new Error(`${this.id}: not ready ${count} time(s) within ${timeoutMs} ms`);
  }

  /** Resolves once the connection has been lost `count` times. */
  async lost(count: number, timeoutMs = 5000): Promise<void> {
    if (!await until(() => this.closes.length >= count, timeoutMs, this.#wakeup)) {
      throw new Error(`${this.id}: no close within ${timeoutMs} ms`);
    }
  }

  /** The next frame other than `ready`. */
  async next(timeoutMs = 2000): Promise<Json> {
    if (!await until(() => this.frames.length > 0, timeoutMs, this.#wakeup)) {
      throw new Error(`${this.id}: no frame within ${timeoutMs} ms`);
    }
    return this.frames.shift()!;
  }

  send(frame: Json): void {
    this.#socket!.send(JSON.stringify(frame));
  }

  close(): void {
    this.#stopped = true;
    this.#socket?.close();
  }
}

Deno.test("faults: a relay killed with SIGKILL and restarted: its clients reconnect and the next messages flow", async () => {
  const port = freePort();
  const args = ["--port", String(port), "--no-web"];
  let relay: RelayProcess = await spawnRelay(args);
  const a = new Reconnecting(relay.wsUrl, "kill-a");
  const b = new Reconnecting(relay.wsUrl, "kill-b");
  try {
    await Promise.all([a.ready(1), b.ready(1)]);
    a.send(message("kill-b", "before", "r1"));
    assertEquals((await a.next()).type, "ack");
    assertEquals((await b.next()).content, "before");
    assertEquals((await relay.kill()).signal, "SIGKILL");
    await Promise.all([a.lost(1), b.lost(1)]);
    // No close frame came: 1006 (Deno's client reports a reset connection as 0).
    for (const code of [...a.closes, ...b.closes]) assert([0, 1006].includes(code), `${code}`);
    const restarting = performance.now();
    relay = await spawnRelay(args);
    await Promise.all([a.ready(2), b.ready(2)]);
    const back = Math.round(performance.now() - restarting);
    a.send(message("kill-b", "after", "r2"));
    assertEquals((await a.next()).type, "ack");
    assertEquals((await b.next()).content, "after");
    console.log(`both clients ready again ${back} ms after the restart began`);
  } finally {
    a.close();
    b.close();
    await relay.stop();
  }
});

/** One sender connection of the Redis fault load: what it sent, and when each outcome came. */
interface Sender {
  conn: string;
  client: TestClient;
  targets: string[];
  seq: number;
  inFlight: number;
  sentAt: Map<number, [number, string]>;
}

Deno.test("faults: Redis paused, stopped and restarted under load across two relays: the documented outcomes, nothing twice, nothing undelivered delivered", async () => {
  await using redis = await startRedis();
  const timeout = 300;
  const nodeArgs = ["--redis", redis.url, "--no-web", "--redis-timeout", String(timeout)];
  // The rate limit out of the way: the load is as fast as the outcomes come back.
  nodeArgs.push("--rate", "1000000", "--burst", "1000000");
  const [one, two] = await Promise.all([spawnRelay(nodeArgs), spawnRelay(nodeArgs)]);
  const ledger = new Ledger();
  const clients: TestClient[] = [];
  let phase = "steady";
  // Outcomes by phase and kind (local or cross-relay), and the slowest outcome.
  const tally = new Map<string, number>();
  let slowest = 0;
  let sending = true;
  const wakeup = new Wakeup();
  try {
    await Promise.all([one, two].map((r) => r.waitForLog((e) => e.event === "broker")));
    await until(async () => {
      const states = await Promise.all(
        [one, two].map(async (r) => (await (await fetch(`${r.url}/healthz`)).json()).broker),
      );
      return states.every((s) => s === "up");
    }, 5000);
    // x_i on relay one writes to y_i on relay two and to z_i on relay one; y_i writes back.
    const open = async (relay: RelayProcess, user: string) => {
      const c = await v1(relay.wsUrl, user);
      clients.push(c);
      ledger.ready(user, user, performance.now());
      return c;
    };
    const senders: Sender[] = [];
    for (let i = 0; i < 8; i++) {
      const x = await open(one, `x${i}`);
      const y = await open(two, `y${i}`);
      await open(one, `z${i}`);
      senders.push({
        conn: `x${i}`,
        client: x,
        targets: [`y${i}`, `z${i}`],
        seq: 0,
        inFlight: 0,
        sentAt: new Map(),
      });
      senders.push({
        conn: `y${i}`,
        client: y,
        targets: [`x${i}`],
        seq: 0,
        inFlight: 0,
        sentAt: new Map(),
      });
    }
    const receivers = clients.map((c, i) =>
      [c, ["x", "y", "z"][i % 3] + Math.floor(i / 3)] as const
    );
    const pump = (s: Sender) => {
      while (sending && s.inFlight < 2) {
        const to = s.targets[s.seq % s.targets.length];
        const seq = ++s.seq;
        s.inFlight++;
        s.sentAt.set(seq, [performance.now(), `${phase} ${to[0] === "z" ? "local" : "cross"}`]);
        s.client.send(message(to, ledger.sent(s.conn, seq, to, performance.now()), String(seq)));
      }
    };
    // Every client's frames: outcomes for senders, getMessages for all.
    const loops = receivers.map(async ([client, user]) => {
      const sender = senders.find((s) => s.client === client);
      for (;;) {
        let frame: Json;
        try {
          frame = await client.nextJson(30_000);
        } catch {
          return; // closed at the end
        }
        if (frame.type === "friend") {
          ledger.received(user, String(frame.content), performance.now());
        } else if (frame.type === "pong") {
          return;
        } else if (sender && typeof frame.ref === "string") {
          const seq = Number(frame.ref);
          const [at, label] = sender.sentAt.get(seq)!;
          sender.sentAt.delete(seq);
          slowest = Math.max(slowest, performance.now() - at);
          const kind = frame.type === "ack" ? "ack" : String(frame.reason ?? frame.code);
          tally.set(`${label} ${kind}`, (tally.get(`${label} ${kind}`) ?? 0) + 1);
          const outcome = frame.type === "ack"
            ? "ack"
            : frame.type === "undelivered"
            ? (frame.reason === "offline" ? "offline" : "unavailable")
            : "error";
          ledger.outcome(sender.conn, seq, outcome, performance.now());
          sender.inFlight--;
          pump(sender);
          wakeup.wake();
        }
      }
    });
    senders.forEach(pump);
    const crossAcks = () =>
      [...tally].filter(([k]) => k.startsWith(phase) && k.endsWith("cross ack")).reduce(
        (n, [, v]) => n + v,
        0,
      );
    const phaseFor = async (name: string, ms: number) => {
      phase = name;
      await new Promise((resolve) => setTimeout(resolve, ms)); // the load runs meanwhile
    };
    // An outcome counts in the phase its message was sent in: those in flight when Redis
    // stops count in the phase before.
    await phaseFor("steady", 1000);
    redis.pause();
    await phaseFor("paused", 1500);
    redis.resume();
    phase = "resumed";
    const resumed = performance.now();
    assert(await until(() => crossAcks() > 0, 5000, wakeup), "no cross-relay ack after the pause");
    const afterPause = Math.round(performance.now() - resumed);
    await phaseFor("resumed", 1000);
    await redis.stop();
    await phaseFor("stopped", 1500);
    await redis.start();
    phase = "restarted";
    const restarted = performance.now();
    assert(
      await until(() => crossAcks() > 0, 5000, wakeup),
      "no cross-relay ack after the restart",
    );
    const afterRestart = Math.round(performance.now() - restarted);
    await phaseFor("restarted", 1000);
    sending = false;
    assert(
      await until(() => senders.every((s) => s.inFlight === 0), 5000, wakeup),
      "outcomes missing",
    );
    // Cross-relay copies still on their way, then every session leaves cleanly.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const leaving = performance.now();
    for (const [client] of receivers) client.send({ type: "ping", data: "bye" });
    await Promise.all(loops);
    for (const [, user] of receivers) ledger.leave(user, leaving);
    ledger.finish();
    console.log(
      `outcomes by phase: ${JSON.stringify(Object.fromEntries([...tally].sort()))}; slowest ` +
        `outcome ${Math.round(slowest)} ms; cross-relay acks again ${afterPause} ms after the ` +
        `pause and ${afterRestart} ms after the restart`,
    );
    assertEquals(ledger.violations, []);
    assertEquals(ledger.counts.errors, 0);
    // The documented outcomes: local deliveries go on, cross-relay ones are unavailable.
    for (const down of ["paused", "stopped"]) {
      assert((tally.get(`${down} local ack`) ?? 0) > 0, `${down}: no local ack`);
      assert((tally.get(`${down} cross unavailable`) ?? 0) > 0, `${down}: no unavailable`);
    }
    assert((tally.get("steady cross ack") ?? 0) > 0);
    // Every recipient was online throughout: never "offline", also not while the other relay
    // was still reconnecting after Redis restarted (its users' channels empty until then).
    const offline = [...tally].filter(([k]) => k.endsWith("offline"));
    assertEquals(offline, []);
    // No sender waited longer than the timeout (and scheduling slack) for an outcome.
    assert(slowest < timeout + 1000, `an outcome took ${Math.round(slowest)} ms`);
  } finally {
    redis.resume();
    sending = false;
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([one.stop(), two.stop()]);
  }
});

Deno.test("faults: a peer whose process stops (SIGSTOP) is closed and forgotten by keepalive within its bound", async () => {
  const idle = 1000;
  await using relay = await spawnRelay(["--no-web", "--idle-timeout", String(idle)]);
  const peer = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("./testdata/idle_client.ts", import.meta.url).pathname,
      relay.wsUrl,
      "half-open",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const a = await v1(relay.wsUrl, "half-a");
  try {
    const out = peer.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assertEquals((await out.read()).value?.trim(), "ready");
    a.send(message("half-open", "are you there?", "r1"));
    assertEquals((await a.nextJson()).type, "ack");
    const mark = relay.log.length;
    peer.kill("SIGSTOP");
    const stopped = performance.now();
    // The bound (LIFE-4): closed once nothing came for idleTimeoutMs, plus scheduling slack.
    const bound = idle + 1000;
    const closed = await relay.waitForLog(
      (e) => e.event === "close" && e.user === "half-open",
      mark,
      bound,
    );
    const after = Math.round(performance.now() - stopped);
    console.log(
      `the stopped peer was closed with ${closed.code} after ${after} ms (bound ${bound} ms)`,
    );
    assert([4006, 1001].includes(Number(closed.code)), `closed with ${closed.code}`);
    a.send(message("half-open", "gone?", "r2"));
    assertEquals((await a.nextJson()).reason, "offline");
    out.cancel().catch(() => {});
  } finally {
    peer.kill("SIGKILL");
    await peer.status;
    await a.close();
  }
});

Deno.test("faults: 2,000 sockets that never identify are closed on time; a chatting pair is unaffected", async () => {
  const identifyTimeout = 2000;
  await using relay = await spawnRelay(["--no-web", "--identify-timeout", String(identifyTimeout)]);
  const a = await v1(relay.wsUrl, "canary-a");
  const b = await v1(relay.wsUrl, "canary-b");
  let chatting = true;
  let sent = 0;
  let slowest = 0;
  // The canary: a message every 50 ms, each acked and received in order.
  const chat = (async () => {
    while (chatting) {
      const at = performance.now();
      const n = ++sent;
      a.send(message("canary-b", `m${n}`, String(n)));
      const ack = await a.nextJson(5000);
      assertEquals([ack.type, ack.ref], ["ack", String(n)]);
      assertEquals((await b.nextJson(5000)).content, `m${n}`);
      slowest = Math.max(slowest, performance.now() - at);
      await new Promise((resolve) => setTimeout(resolve, 50)); // the canary's pace
    }
  })();
  const idle: { socket: WebSocket; opened: number; closed?: number; code?: number }[] = [];
  try {
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 200 }, () =>
        new Promise<void>((resolve, reject) => {
          const socket = new WebSocket(relay.wsUrl, SUBPROTOCOL);
          const entry: (typeof idle)[number] = { socket, opened: 0 };
          idle.push(entry);
          socket.onopen = () => {
            entry.opened = performance.now();
            resolve();
          };
          socket.onerror = () => reject(new Error("an idle socket failed to open"));
          socket.onclose = (e) => {
            entry.closed = performance.now();
            entry.code = e.code;
          };
        })));
    }
    assert(await until(() => idle.every((e) => e.closed !== undefined), identifyTimeout + 5000));
    const late = idle.map((e) => e.closed! - e.opened);
    const [first, last] = [Math.min(...late), Math.max(...late)];
    console.log(
      `2,000 idle sockets closed ${Math.round(first)}–${Math.round(last)} ms after they opened ` +
        `(identify timeout ${identifyTimeout} ms); canary: ${sent} messages, slowest ` +
        `${Math.round(slowest)} ms`,
    );
    assertEquals(new Set(idle.map((e) => e.code)), new Set([4003]));
    assert(first >= identifyTimeout - 50 && last < identifyTimeout + 1000, `${first}–${last} ms`);
    chatting = false;
    await chat;
    assert(slowest < 1000, `a canary message took ${Math.round(slowest)} ms`);
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    assert(/^layimws_connections_open 2$/m.test(metrics), "connections left open");
  } finally {
    chatting = false;
    await settles(chat, 6000);
    for (const e of idle) e.socket.close();
    await Promise.all([a.close(), b.close()]);
  }
});
