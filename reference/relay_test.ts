import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { SignJWT } from "jose";
import WebSocketClient from "ws";
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import { validateServerFrame } from "../schemas/validate.ts";
import { HandshakeError, WireClient } from "../conformance/wire.ts";
import { TestClient } from "../testing/net.ts";
import { RawSocket } from "../testing/raw_socket.ts";
import { waitFor } from "../testing/wait.ts";
import { hs256Authenticator } from "./auth.ts";
import { createDirectory } from "./directory.ts";
import { type Relay, type RelayOptions, serveRelay } from "./relay.ts";
import { DEFAULT_TRANSPORT, TRANSPORT_NAMES, type TransportName } from "./transports.ts";

type Json = Record<string, unknown>;

/** The transport of the running test: each test runs once per transport (see `test`). */
let transport: TransportName = DEFAULT_TRANSPORT;

function test(name: string, fn: () => Promise<void>): void {
  for (const t of TRANSPORT_NAMES) {
    Deno.test(`${name} [${t}]`, () => {
      transport = t;
      return fn();
    });
  }
}

/** Runs `fn` against a fresh relay; closes every client it opened, then the relay. */
async function withRelay(
  options: RelayOptions,
  fn: (t: Harness) => Promise<void>,
): Promise<void> {
  const relay = await serveRelay({ port: 0, webRoot: null, transport, ...options });
  const t = new Harness(relay);
  try {
    await fn(t);
  } finally {
    await Promise.all([...t.clients, ...t.wires].map((c) => c.close()));
    t.raws.forEach((r) => r.close());
    await relay.close();
  }
}

class Harness {
  clients: TestClient[] = [];
  wires: WireClient[] = [];
  raws: RawSocket[] = [];
  constructor(readonly relay: Relay) {}

  async open(protocol?: string | string[], path = "/ws"): Promise<TestClient> {
    const url = this.relay.wsUrl.replace(/\/ws$/, path);
    const c = await TestClient.connect(url, protocol);
    this.clients.push(c);
    return c;
  }

  /** A v1 client identified as `id`; returns it with its ready frame. */
  async v1(id: string | number, token?: string): Promise<[TestClient, Json]> {
    const c = await this.open(SUBPROTOCOL);
    c.send({ type: "identify", id, ...(token ? { token } : {}) });
    const ready = await c.nextJson();
    assertEquals(ready.type, "ready", JSON.stringify(ready));
    return [c, ready];
  }

  /** A legacy client identified as `id`, once the relay has registered it. */
  async legacy(id: string, path = "/ws"): Promise<TestClient> {
    const before = this.relay.stats().sessions;
    const c = await this.open(undefined, path);
    c.send(id);
    await waitFor(() => this.relay.stats().sessions > before, 1000, "legacy identify");
    return c;
  }

  /** A client on the wire, for what the WebSocket API cannot do (drop TCP without a close frame). */
  async wire(path = "/ws"): Promise<WireClient> {
    const c = await WireClient.connect({ url: this.relay.wsUrl.replace(/\/ws$/, path) });
    this.wires.push(c);
    return c;
  }

  /** A raw socket upgraded on `/ws` that never reads, nor answers a ping, unless told to. */
  async raw(): Promise<RawSocket> {
    const r = await RawSocket.open(this.relay.port, "/ws");
    this.raws.push(r);
    return r;
  }

  /** The status an upgrade with these headers is answered with. */
  async upgradeStatus(headers: Record<string, string> = {}): Promise<number | undefined> {
    try {
      await (await WireClient.connect({ url: this.relay.wsUrl, headers })).destroy();
      return 101;
    } catch (error) {
      if (error instanceof HandshakeError) return error.status;
      throw error;
    }
  }
}

function message(to: string | number, content: string, extra: Json = {}): Json {
  return { mine: { content }, to: { id: to, type: "friend" }, ...extra };
}

async function metric(relay: Relay, name: string): Promise<number> {
  const text = await (await fetch(relay.url + "/metrics")).text();
  const sum = text.split("\n")
    .filter((l) => l.startsWith(name + " ") || l.startsWith(name + "{"))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  return sum;
}

test("v1: identify → ready, fan-out to every session, never the sender or a third user", async () => {
  await withRelay({}, async (t) => {
    const [a, ready] = await t.v1("alice");
    assertEquals(a.protocol, SUBPROTOCOL);
    assert(validateServerFrame(ready).ok);
    assertEquals([ready.id, ready.protocol, ready.features], ["alice", SUBPROTOCOL, [
      "ack",
      "undelivered",
      "ping",
    ]]);
    const [b1] = await t.v1("bob");
    const b2 = await t.legacy("bob");
    const [c] = await t.v1("carol");
    const content = `<img src="x" onerror="alert(1)"> face[微笑] 😀 "quotes" \\ \n`;
    a.send(message("bob", content, {
      ref: "r1",
      mine: { id: "alice", content, username: "Alice", avatar: "a.png", mine: true },
    }));
    const ack = await a.nextJson();
    const got1 = await b1.nextJson();
    const got2 = await b2.nextJson();
    assertEquals(got1, got2);
    assert(validateServerFrame(got1).ok);
    assertEquals(got1.content, content);
    assertEquals([got1.id, got1.fromid, got1.username, got1.avatar, got1.mine], [
      "alice",
      "alice",
      "Alice",
      "a.png",
      false,
    ]);
    assertEquals(ack, { type: "ack", ref: "r1", cid: got1.cid, timestamp: got1.timestamp });
    await Promise.all([
      a.expectSilence(50),
      b1.expectSilence(),
      b2.expectSilence(),
      c.expectSilence(),
    ]);
  });
});

test("legacy: the seed page's exchange on the bare host, numeric ids, getMessage only", async () => {
  await withRelay({}, async (t) => {
    const a = await t.legacy("1001", "/");
    assertEquals(a.protocol, "");
    const [b] = await t.v1(1002);
    a.send(
      message("1002", "你好", {
        mine: { id: "1001", content: "你好", username: "张三", mine: true },
      }),
    );
    const got = await b.nextJson();
    assertEquals([got.id, got.fromid, got.content, got.username], ["1001", "1001", "你好", "张三"]);
    b.send(message(1001, "hi", { ref: "x", mine: { id: 1002, content: "hi" } }));
    assertEquals((await b.nextJson()).type, "ack");
    const back = await a.nextJson();
    assertEquals([back.type, back.id, back.content], ["friend", "1002", "hi"]);
    // A legacy client never receives anything but getMessage, even for its own mistakes.
    a.send(message("nobody", "x", { ref: "r" }));
    a.send("{not json");
    a.send({ type: "ping" });
    await a.expectSilence(100);
  });
});

test("order per sender connection is kept", async () => {
  await withRelay({}, async (t) => {
    const [a] = await t.v1("a");
    const b = await t.legacy("b");
    for (let i = 0; i < 300; i++) a.send(message("b", String(i)));
    const got = [];
    for (let i = 0; i < 300; i++) got.push((await b.nextJson()).content);
    assertEquals(got, Array.from({ length: 300 }, (_, i) => String(i)));
  });
});

test("self-send reaches the user's other sessions only", async () => {
  await withRelay({}, async (t) => {
    const [a1] = await t.v1("a");
    const [a2] = await t.v1("a");
    a1.send(message("a", "note", { ref: "n" }));
    assertEquals((await a1.nextJson()).type, "ack");
    assertEquals((await a2.nextJson()).content, "note");
    await a1.expectSilence(50);
  });
});

test("a spoofed mine.id is refused: v1 sender_mismatch, legacy dropped, connection stays", async () => {
  await withRelay({}, async (t) => {
    const [a] = await t.v1("a");
    const l = await t.legacy("l");
    const [b] = await t.v1("b");
    a.send(message("b", "x", { ref: "s", mine: { id: "b", content: "x" } }));
    const err = await a.nextJson();
    assertEquals([err.type, err.code, err.ref], ["error", "sender_mismatch", "s"]);
    l.send(message("b", "x", { mine: { id: "a", content: "x" } }));
    l.send(message("b", "ok", { mine: { id: "l", content: "ok" } }));
    const got = await b.nextJson();
    assertEquals([got.fromid, got.content], ["l", "ok"]);
    await b.expectSilence(50);
  });
});

test("offline recipients: v1 undelivered, nothing stored, sender stays usable", async () => {
  await withRelay({}, async (t) => {
    const [a] = await t.v1("a");
    a.send(message("ghost", "x", { ref: "1" }));
    assertEquals(await a.nextJson(), {
      type: "undelivered",
      ref: "1",
      to: "ghost",
      reason: "offline",
    });
    a.send(message("ghost", "y"));
    const [ghost] = await t.v1("ghost");
    a.send(message("ghost", "z", { ref: "2" }));
    assertEquals((await a.nextJson()).type, "ack");
    assertEquals((await ghost.nextJson()).content, "z");
    await ghost.expectSilence(50);
  });
});

test("v1 control and error frames keep the connection open", async () => {
  await withRelay({}, async (t) => {
    const c = await t.open(SUBPROTOCOL);
    c.send(message("x", "early", { ref: "e" }));
    assertEquals(await c.nextJson(), {
      type: "error",
      code: "not_identified",
      message: "identify first",
      ref: "e",
    });
    c.send("{oops");
    assertEquals((await c.nextJson()).code, "invalid_json");
    c.send({ type: "identify", id: "me" });
    assertEquals((await c.nextJson()).type, "ready");
    c.send({ type: "identify", id: "other" });
    assertEquals((await c.nextJson()).code, "already_identified");
    c.send({ type: "ping", data: "42" });
    assertEquals(await c.nextJson(), { type: "pong", data: "42" });
    c.send({ type: "ping" });
    assertEquals(await c.nextJson(), { type: "pong" });
    c.send({ type: "shout" });
    assertEquals((await c.nextJson()).code, "invalid_frame");
    c.send({ mine: { content: "x" }, to: { id: "y", type: "group" }, ref: "g" });
    const e = await c.nextJson();
    assertEquals([e.code, e.ref], ["invalid_frame", "g"]);
    c.send("[1,2]");
    assertEquals((await c.nextJson()).code, "invalid_frame");
    c.send({ type: "ping", data: "still here" });
    assertEquals((await c.nextJson()).data, "still here");
  });
});

test("bad ids close with 4002 (v1 invalid_id first)", async () => {
  await withRelay({}, async (t) => {
    for (const id of ["has space", "", "x".repeat(65), "tab\there", "1001\n"]) {
      const l = await t.open();
      l.send(id);
      assertEquals((await l.expectClose()).code, 4002, JSON.stringify(id));
    }
    for (
      const frame of [{ type: "identify", id: "a b" }, { type: "identify", id: 1.5 }, {
        type: "identify",
      }]
    ) {
      const c = await t.open(SUBPROTOCOL);
      c.send(frame);
      assertEquals((await c.nextJson()).code, "invalid_id");
      assertEquals((await c.expectClose()).code, 4002);
    }
    assertEquals(t.relay.stats(), { connections: 0, sessions: 0, users: 0 });
  });
});

// Zero-width and bidi characters look like nothing (or reorder what follows); a lone surrogate
// cannot be encoded, so it turns into U+FFFD on the way to Redis and collides with another id.
const LOOKALIKE_IDS = ["1001\u200b", "\u202e1001", "10\u206601", "\ufeff1001", "\ud800-x"];

test("ids with format characters or lone surrogates are refused: identify 4002, to.id invalid_frame", async () => {
  await withRelay({}, async (t) => {
    const [a] = await t.v1("a");
    for (const id of LOOKALIKE_IDS) {
      const c = await t.open(SUBPROTOCOL);
      c.send({ type: "identify", id });
      assertEquals((await c.nextJson()).code, "invalid_id", JSON.stringify(id));
      assertEquals((await c.expectClose()).code, 4002, JSON.stringify(id));
      // A WebSocket text frame is UTF-8: a legacy id cannot hold a lone surrogate at all.
      if (id.isWellFormed()) {
        const l = await t.open();
        l.send(id);
        assertEquals((await l.expectClose()).code, 4002, JSON.stringify(id));
      }
      a.send(message(id, "hi", { ref: "r" }));
      const refused = await a.nextJson();
      assertEquals([refused.code, refused.ref], ["invalid_frame", "r"], JSON.stringify(id));
    }
    assertEquals(t.relay.stats().sessions, 1);
  });
});

test("identify timeout closes with 4003 in both profiles", async () => {
  await withRelay({ limits: { identifyTimeoutMs: 150 } }, async (t) => {
    const l = await t.open();
    const v = await t.open(SUBPROTOCOL);
    v.send({ type: "ping" });
    assertEquals((await v.nextJson()).code, "not_identified");
    assertEquals((await l.expectClose(2000)).code, 4003);
    assertEquals((await v.expectClose(2000)).code, 4003);
    const [ok] = await t.v1("in-time");
    await ok.expectSilence(250);
    assertEquals(t.relay.stats().connections, 1);
  });
});

test("binary frames close with 1003 (v1 unsupported_data first)", async () => {
  await withRelay({}, async (t) => {
    const [v] = await t.v1("v");
    const l = await t.legacy("l");
    v.socket.send(new Uint8Array([1, 2, 3]));
    assertEquals((await v.nextJson()).code, "unsupported_data");
    assertEquals((await v.expectClose()).code, 1003);
    l.socket.send(new Uint8Array([1]));
    assertEquals((await l.expectClose()).code, 1003);
    // Forgotten when the server closed, not when (or if) a close event comes back.
    assertEquals(t.relay.stats(), { connections: 0, sessions: 0, users: 0 });
  });
});

test("oversized frames close with 1009, counted in UTF-8 bytes", async () => {
  await withRelay({ limits: { maxFrameBytes: 1000 } }, async (t) => {
    const [v] = await t.v1("v");
    const l = await t.legacy("l");
    v.send(message("l", "微".repeat(300))); // < 1000 bytes: delivered
    assertEquals((await l.nextJson()).content, "微".repeat(300));
    v.send(message("l", "微".repeat(400))); // 400 characters but over 1200 bytes
    assertEquals((await v.nextJson()).code, "frame_too_large");
    assertEquals((await v.expectClose()).code, 1009);
    l.send("x".repeat(1001));
    assertEquals((await l.expectClose()).code, 1009);
  });
});

test("a fragmented frame over the limit: v1 frame_too_large then 1009, legacy 1009", async () => {
  await withRelay({ limits: { maxFrameBytes: 1000 } }, async (t) => {
    for (const protocol of [SUBPROTOCOL, undefined]) {
      const socket = await RawSocket.open(
        t.relay.port,
        "/ws",
        protocol ? { "Sec-WebSocket-Protocol": protocol } : {},
      );
      try {
        // 600 + 401 bytes: only the reassembled frame is over the limit.
        await socket.send({ opcode: 1, payload: "a".repeat(600), fin: false });
        await socket.send({ opcode: 0, payload: "b".repeat(401) });
        const close = await socket.readClose();
        const texts = close?.before.map((f) => JSON.parse(new TextDecoder().decode(f.payload)));
        assertEquals(
          [close?.code, texts?.map((f) => f.code)],
          [1009, protocol ? ["frame_too_large"] : []],
        );
      } finally {
        socket.close();
      }
    }
  });
});

test("the npm ws client (v1) and Deno's WebSocket (legacy) chat through the relay", async () => {
  await withRelay({}, async (t) => {
    const browserLike = new WebSocket(t.relay.wsUrl);
    const node = new WebSocketClient(t.relay.wsUrl, [SUBPROTOCOL]);
    try {
      const received: string[] = [];
      const frames: Json[] = [];
      let closed: number | undefined;
      browserLike.onmessage = (e) => received.push(e.data);
      node.on("message", (data: Uint8Array) => frames.push(JSON.parse(String(data))));
      node.on("close", (code: number) => closed = code);
      await waitFor(() => browserLike.readyState === WebSocket.OPEN, 2000, "Deno's WebSocket open");
      await waitFor(() => node.readyState === WebSocketClient.OPEN, 2000, "ws open");
      browserLike.send("deno-user");
      assertEquals(node.protocol, SUBPROTOCOL);
      node.send(JSON.stringify({ type: "identify", id: "ws-user" }));
      await waitFor(() => frames.some((f) => f.type === "ready"), 2000, "ready");
      await waitFor(() => t.relay.stats().sessions === 2, 2000, "both identified");
      node.send(JSON.stringify(message("deno-user", "你好 from ws", { ref: "r1" })));
      await waitFor(() => frames.some((f) => f.type === "ack"), 2000, "ack");
      await waitFor(() => received.length === 1, 2000, "delivery");
      assertEquals(JSON.parse(received[0]).content, "你好 from ws");
      node.close(1000);
      await waitFor(() => closed !== undefined, 2000, "ws close");
      assertEquals(closed, 1000);
    } finally {
      browserLike.close();
      node.terminate();
    }
  });
});

test("rate limit: v1 rate_limited, legacy dropped, both stay open", async () => {
  // Each identify takes the first of the six tokens (the bucket starts with the first frame).
  await withRelay({ limits: { ratePerSecond: 1, rateBurst: 6 } }, async (t) => {
    const [v] = await t.v1("v");
    const l = await t.legacy("l");
    for (let i = 0; i < 8; i++) v.send(message("l", String(i), { ref: String(i) }));
    const outcomes = [];
    for (let i = 0; i < 8; i++) outcomes.push(await v.nextJson());
    assertEquals(outcomes.map((o) => o.type === "ack" ? "ack" : o.code), [
      "ack",
      "ack",
      "ack",
      "ack",
      "ack",
      "rate_limited",
      "rate_limited",
      "rate_limited",
    ]);
    assertEquals(outcomes.map((o) => o.ref), ["0", "1", "2", "3", "4", "5", "6", "7"]);
    for (let i = 0; i < 5; i++) assertEquals((await l.nextJson()).content, String(i));
    for (let i = 0; i < 8; i++) l.send(message("v", String(i)));
    for (let i = 0; i < 5; i++) assertEquals((await v.nextJson()).content, String(i));
    await v.expectSilence(100);
    assertEquals(t.relay.stats().sessions, 2);
  });
});

test("rate limit applies from the first frame: a flood before identify is limited too", async () => {
  await withRelay({ limits: { ratePerSecond: 1, rateBurst: 5 } }, async (t) => {
    const v = await t.open(SUBPROTOCOL);
    for (let i = 0; i < 8; i++) v.send({ type: "ping", data: String(i) });
    const codes = [];
    for (let i = 0; i < 8; i++) codes.push((await v.nextJson()).code);
    assertEquals(codes, [
      ...Array(5).fill("not_identified"),
      ...Array(3).fill("rate_limited"),
    ]);
    assertEquals(await metric(t.relay, 'layimws_frames_refused_total{reason="rate_limited"}'), 3);
    // The identify itself takes a token: with the bucket empty it is refused, the connection
    // stays open and the identify timeout keeps running.
    v.send({ type: "identify", id: "v" });
    assertEquals((await v.nextJson()).code, "rate_limited");
    assertEquals(t.relay.stats().sessions, 0);
  });
});

test("refusals are counted in /metrics and logged as one summary line per reason and interval", async () => {
  const log: Json[] = [];
  const logger = { event: (event: string, fields = {}) => log.push({ event, ...fields }) };
  const relay = await serveRelay({
    port: 0,
    webRoot: null,
    transport,
    logger,
    refusalLogIntervalMs: 60_000,
    limits: { ratePerSecond: 1 }, // no refill worth counting during the test
  });
  try {
    const flooder = await TestClient.connect(relay.wsUrl, SUBPROTOCOL);
    for (let i = 0; i < 2000; i++) flooder.send("{not json");
    for (let i = 0; i < 2000; i++) await flooder.nextJson();
    assertEquals(await metric(relay, 'layimws_frames_refused_total{reason="invalid_json"}'), 500);
    assertEquals(await metric(relay, 'layimws_frames_refused_total{reason="rate_limited"}'), 1500);
    await flooder.close();
  } finally {
    await relay.close();
  }
  const refusals = log.filter((e) => String(e.event).startsWith("refuse"));
  assertEquals(refusals.map((e) => [e.event, e.reason, e.count]), [
    ["refused", "invalid_json", 500],
    ["refused", "rate_limited", 1500],
  ]);
  assertMatch(String(refusals[0].session), /\.1$/); // the first refusal's session, as a sample
});

test("default limits never rate-limit a burst of 300 frames", async () => {
  await withRelay({}, async (t) => {
    const [a] = await t.v1("a");
    const [b] = await t.v1("b");
    for (let i = 0; i < 300; i++) a.send(message("b", String(i), { ref: String(i) }));
    for (let i = 0; i < 300; i++) assertEquals((await a.nextJson()).type, "ack");
    for (let i = 0; i < 300; i++) await b.next();
  });
});

test("a consumer that stops reading is closed with 4005 and forgotten", async () => {
  await withRelay(
    { limits: { maxBufferedBytes: 256 * 1024, ratePerSecond: 1e6, rateBurst: 1e6 } },
    async (t) => {
      const slow = await t.raw();
      await slow.send({ opcode: 1, payload: "slow" });
      await waitFor(() => t.relay.stats().sessions === 1);
      const [a] = await t.v1("a");
      const big = "x".repeat(60_000);
      let outcome: Json = {};
      for (let i = 0; i < 2000 && outcome.type !== "undelivered"; i++) {
        a.send(message("slow", big, { ref: String(i) }));
        outcome = await a.nextJson(2000);
      }
      assertEquals(outcome.reason, "offline");
      assertEquals(t.relay.stats().sessions, 1);
      assertEquals(await metric(t.relay, 'layimws_closes_total{code="4005"}'), 1);
    },
  );
});

test("session cap: one more session closes the oldest with 4004", async () => {
  await withRelay({ limits: { maxSessionsPerUser: 2 } }, async (t) => {
    const [a1] = await t.v1("a");
    const a2 = await t.legacy("a");
    const [a3] = await t.v1("a");
    assertEquals((await a1.expectClose()).code, 4004);
    assertEquals(t.relay.stats().sessions, 2);
    const [b] = await t.v1("b");
    b.send(message("a", "hi"));
    assertEquals((await a2.nextJson()).content, "hi");
    assertEquals((await a3.nextJson()).content, "hi");
  });
});

test("a stale close never unregisters a newer session; re-identify works at once", async () => {
  await withRelay({}, async (t) => {
    const [old] = await t.v1("a");
    const [fresh] = await t.v1("a");
    await old.close();
    await waitFor(() => t.relay.stats().sessions === 1);
    const [b] = await t.v1("b");
    b.send(message("a", "still there", { ref: "1" }));
    assertEquals((await b.nextJson()).type, "ack");
    assertEquals((await fresh.nextJson()).content, "still there");
    await fresh.close();
    const [again] = await t.v1("a");
    b.send(message("a", "again"));
    assertEquals((await again.nextJson()).content, "again");
  });
});

test("abrupt TCP loss forgets the session", async () => {
  await withRelay({}, async (t) => {
    const gone = await t.wire("/");
    gone.sendText("gone");
    await waitFor(() => t.relay.stats().sessions === 1);
    await gone.destroy();
    await waitFor(() => t.relay.stats().connections === 0, 2000, "loss detected");
    const [a] = await t.v1("a");
    a.send(message("gone", "x", { ref: "1" }));
    assertEquals((await a.nextJson()).type, "undelivered");
  });
});

test("keepalive: a peer that never answers pings is closed and forgotten", async () => {
  await withRelay({ limits: { idleTimeoutMs: 400 } }, async (t) => {
    const mute = await t.raw();
    await mute.send({ opcode: 1, payload: "mute" });
    await waitFor(() => t.relay.stats().sessions === 1);
    const [alive] = await t.v1("alive"); // answers pings: stays
    const ping = await mute.readFrame(2000);
    assertEquals(ping?.opcode, 9);
    // Deno's built-in keepalive sends 1001, which the relay records as 4006; tcp sends 4006.
    assertEquals((await mute.readClose(2000))?.code, transport === "deno" ? 1001 : 4006);
    await waitFor(() => t.relay.stats().sessions === 1, 2000, "mute forgotten");
    assertEquals(await metric(t.relay, 'layimws_closes_total{code="4006"}'), 1);
    await alive.expectSilence(600);
  });
});

test("origin allow-list is checked before the upgrade", async () => {
  await withRelay({}, async (t) => {
    assertEquals(await t.upgradeStatus({ Origin: t.relay.url }), 101);
    assertEquals(await t.upgradeStatus({ Origin: `http://localhost:${t.relay.port}` }), 101);
    assertEquals(await t.upgradeStatus(), 101);
    assertEquals(await t.upgradeStatus({ Origin: "https://evil.example" }), 403);
  });
  await withRelay({ allowNoOrigin: false, origins: ["https://chat.example"] }, async (t) => {
    assertEquals(await t.upgradeStatus(), 403);
    // A listed origin adds to the relay's own, which stays allowed.
    assertEquals(await t.upgradeStatus({ Origin: t.relay.url }), 101);
    assertEquals(await t.upgradeStatus({ Origin: "https://chat.example" }), 101);
    assertEquals(await t.upgradeStatus({ Origin: "https://evil.example" }), 403);
  });
  await withRelay({ origins: ["*"] }, async (t) => {
    assertEquals(await t.upgradeStatus({ Origin: "https://any.example" }), 101);
  });
});

const SECRET = "a test secret that is long enough for HS256";

function jwt(claims: Json, key = SECRET, expiresIn: string | number = "1h"): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(key));
}

function unsigned(claims: Json): string {
  const b64 = (v: unknown) =>
    btoa(JSON.stringify(v)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`;
}

test("auth: tokens are verified, sub must equal the id, claims give display fields", async () => {
  const directory = createDirectory([{ id: "a", username: "目录A", avatar: "dir-a.png" }]);
  await withRelay({ auth: hs256Authenticator(SECRET), directory }, async (t) => {
    const [a, ready] = await t.v1("a", await jwt({ sub: "a", name: "Token A" }));
    assertEquals(ready.user, { username: "Token A", avatar: "dir-a.png" });
    const exp = Math.floor(Date.now() / 1000) - 60;
    const refused: [string, string | undefined][] = [
      ["expired", await jwt({ sub: "b" }, SECRET, exp)],
      ["wrong key", await jwt({ sub: "b" }, "another secret that is long enough!!")],
      ["alg none", unsigned({ sub: "b", exp: exp + 3600 })],
      ["sub mismatch", await jwt({ sub: "a" })],
      ["missing", undefined],
      ["garbage", "not.a.jwt"],
    ];
    for (const [what, token] of refused) {
      const c = await t.open(SUBPROTOCOL);
      c.send({ type: "identify", id: "b", ...(token ? { token } : {}) });
      const err = await c.nextJson();
      assertEquals(err.code, "unauthorized", what);
      assert(token === undefined || !JSON.stringify(err).includes(token), "token echoed");
      assertEquals((await c.expectClose()).code, 4001, what);
    }
    // Legacy: ?token= on the upgrade URL.
    const good = await jwt({ sub: "l", avatar: "tok-l.png" });
    const l = await TestClient.connect(`${t.relay.wsUrl}?token=${good}`);
    t.clients.push(l);
    l.send("l");
    await waitFor(() => t.relay.stats().sessions === 2);
    l.send(message("a", "hi", { mine: { content: "hi", username: "fake", avatar: "fake.png" } }));
    const got = await a.nextJson();
    assertEquals([got.username, got.avatar], ["fake", "tok-l.png"]);
    const bad = await TestClient.connect(`${t.relay.wsUrl}?token=${await jwt({ sub: "x" })}`);
    t.clients.push(bad);
    bad.send("l");
    assertEquals((await bad.expectClose()).code, 4001);
    const none = await t.open();
    none.send("l");
    assertEquals((await none.expectClose()).code, 4001);
    assertEquals(t.relay.stats().sessions, 2);
  });
});

test("without auth, tokens and their claims are ignored", async () => {
  await withRelay({}, async (t) => {
    const [, ready] = await t.v1("a", await jwt({ sub: "zzz", name: "Forged" }));
    assertEquals([ready.id, ready.user], ["a", undefined]);
  });
});

test("directory display fields, /api/users and /healthz", async () => {
  const directory = createDirectory([
    { id: "1", username: "张三", avatar: "/avatars/1.png", sign: "hi" },
    { id: "2", username: "李四", avatar: "/avatars/2.png" },
  ]);
  await withRelay({ directory }, async (t) => {
    const [one, ready] = await t.v1(1);
    assertEquals(ready.user, { username: "张三", avatar: "/avatars/1.png", sign: "hi" });
    const [two] = await t.v1("2");
    one.send(message(2, "x", { mine: { content: "x", username: "spoof" } }));
    const got = await two.nextJson();
    assertEquals([got.username, got.avatar], ["张三", "/avatars/1.png"]);
    const users = await (await fetch(t.relay.url + "/api/users")).json();
    assertEquals(users.users.map((u: Json) => u.id), ["1", "2"]);
    const health = await (await fetch(t.relay.url + "/healthz")).json();
    assertEquals(health, { status: "ok", connections: 2, sessions: 2, users: 2, broker: "up" });
  });
});

test("metrics count traffic and return to zero after everyone leaves", async () => {
  await withRelay({}, async (t) => {
    const [a] = await t.v1("a");
    const [b] = await t.v1("b");
    const l = await t.legacy("b");
    a.send(message("b", "1", { ref: "1" }));
    await a.nextJson();
    a.send(message("nobody", "2", { ref: "2" }));
    await a.nextJson();
    a.send("{bad");
    await a.nextJson();
    assertEquals(await metric(t.relay, "layimws_sessions_open"), 3);
    assertEquals(await metric(t.relay, "layimws_users_online"), 2);
    assertEquals(await metric(t.relay, "layimws_broker_up"), 1);
    assertEquals(await metric(t.relay, "layimws_messages_delivered_total"), 1);
    assertEquals(await metric(t.relay, "layimws_messages_dropped_offline_total"), 1);
    assertEquals(await metric(t.relay, 'layimws_frames_refused_total{reason="invalid_json"}'), 1);
    const gone = await t.wire();
    gone.sendText("c");
    await waitFor(() => t.relay.stats().sessions === 4);
    await gone.destroy();
    await Promise.all([a.close(), b.close(), l.close()]);
    await waitFor(async () => await metric(t.relay, "layimws_connections_open") === 0, 2000);
    assertEquals(await metric(t.relay, "layimws_sessions_open"), 0);
    assertEquals(await metric(t.relay, "layimws_users_online"), 0);
    assertEquals(t.relay.stats(), { connections: 0, sessions: 0, users: 0 });
  });
});

test("shutdown closes every session with 1001", async () => {
  const relay = await serveRelay({ port: 0, webRoot: null });
  const a = await TestClient.connect(relay.wsUrl, SUBPROTOCOL);
  a.send({ type: "identify", id: "a" });
  await a.nextJson();
  const l = await TestClient.connect(relay.wsUrl);
  await relay.close();
  assertEquals((await a.expectClose()).code, 1001);
  assertEquals((await l.expectClose()).code, 1001);
  await Promise.all([a.close(), l.close()]);
  const refused = await fetch(relay.url + "/healthz").then(() => "served", (e) => String(e));
  assertMatch(refused, /error|refused/i);
});

test("serves the page, layui and nothing outside its roots", async () => {
  const root = await Deno.makeTempDir();
  await Deno.mkdir(`${root}/web/css`, { recursive: true });
  await Deno.writeTextFile(`${root}/web/index.html`, "<!doctype html><title>chat</title>");
  await Deno.writeTextFile(`${root}/web/css/a.css`, "body{}");
  await Deno.writeTextFile(`${root}/secret.txt`, "secret");
  try {
    await withRelay({ webRoot: `${root}/web` }, async (t) => {
      const get = async (path: string) => {
        const res = await fetch(t.relay.url + path);
        return [res.status, res.headers.get("content-type") ?? "", await res.text()] as const;
      };
      const [status, type, body] = await get("/");
      assertEquals([status, type], [200, "text/html; charset=utf-8"]);
      assertStringIncludes(body, "chat");
      assertEquals((await get("/css/a.css")).slice(0, 2), [200, "text/css; charset=utf-8"]);
      const layui = await get("/layui/layui.js");
      assertEquals(layui[0], 200);
      assertStringIncludes(layui[1], "javascript");
      assertEquals((await get("/layui/css/layui.css"))[0], 200);
      for (
        const path of [
          "/../secret.txt",
          "/%2e%2e/secret.txt",
          "/css/..%2f..%2fsecret.txt",
          "/missing",
          "/.hidden",
        ]
      ) {
        assertEquals((await get(path))[0], 404, path);
      }
      assertEquals((await get("/ws"))[0], 404);
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

test("layim-ws.v1 is selected iff offered, among other subprotocols", async () => {
  await withRelay({}, async (t) => {
    const both = await t.open(["chat", SUBPROTOCOL]);
    assertEquals(both.protocol, SUBPROTOCOL);
    const other = await t.open(["chat"]);
    assertEquals(other.protocol, "");
    other.send("legacy-user");
    await waitFor(() => t.relay.stats().sessions === 1);
    other.send({ type: "ping" });
    await other.expectSilence(50); // a legacy connection gets no control frames
  });
});

test("aborting the signal closes the relay", async () => {
  const controller = new AbortController();
  const relay = await serveRelay({ port: 0, webRoot: null, signal: controller.signal });
  const c = await TestClient.connect(relay.wsUrl);
  controller.abort();
  assertEquals((await c.expectClose()).code, 1001);
  await c.close();
  await relay.close();
});

/** A raw HTTP/1.1 GET with exactly these headers (fetch cannot set Host); status and body. */
async function rawGet(port: number, path: string, headers: Record<string, string>) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = [`GET ${path} HTTP/1.1`, "Connection: close"]
    .concat(Object.entries(headers).map(([k, v]) => `${k}: ${v}`));
  await conn.write(new TextEncoder().encode(head.join("\r\n") + "\r\n\r\n"));
  const text = await new Response(conn.readable).text();
  return { status: Number(text.split(" ")[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}

test("HTTP routes answer only the relay's own host names and IP addresses (DNS rebinding)", async () => {
  await withRelay(
    { origins: ["https://chat.example.com"], serverNames: ["relay.example.net"] },
    async (t) => {
      const port = t.relay.port;
      for (const path of ["/metrics", "/api/users", "/healthz"]) {
        // A page of evil.example whose name now resolves to 127.0.0.1 sends its own name.
        for (
          const host of [`evil.example:${port}`, "evil.example", `127.0.0.1.evil.example:${port}`]
        ) {
          assertEquals((await rawGet(port, path, { Host: host })).status, 421, `${path} ${host}`);
        }
        for (
          const host of [
            `127.0.0.1:${port}`,
            `localhost:${port}`,
            `LocalHost.:${port}`,
            `[::1]:${port}`,
            "10.1.2.3:8080",
            "[fe80::1]",
            "chat.example.com", // the host of an allowed origin
            "relay.example.net:443", // a served name
          ]
        ) {
          assertEquals((await rawGet(port, path, { Host: host })).status, 200, `${path} ${host}`);
        }
      }
      assertEquals(await metric(t.relay, 'layimws_frames_refused_total{reason="host"}'), 9);
    },
  );
});

test("/metrics behind a bearer token", async () => {
  await withRelay({ metrics: { token: "s3cret-metrics-token" } }, async (t) => {
    const url = t.relay.url + "/metrics";
    const none = await fetch(url);
    assertEquals([none.status, none.headers.get("www-authenticate")], [
      401,
      'Bearer realm="metrics"',
    ]);
    await none.body?.cancel();
    for (
      const header of ["Bearer wrong", "Bearer s3cret-metrics-toke", "Basic s3cret-metrics-token"]
    ) {
      const res = await fetch(url, { headers: { authorization: header } });
      assertEquals(res.status, 401, header);
      await res.body?.cancel();
    }
    const ok = await fetch(url, { headers: { authorization: "Bearer s3cret-metrics-token" } });
    assertEquals(ok.status, 200);
    assertStringIncludes(await ok.text(), "layimws_connections_open");
  });
});

test("/metrics on its own listener: not on the public one", async () => {
  await withRelay({ metrics: { port: 0 } }, async (t) => {
    const pub = await fetch(t.relay.url + "/metrics");
    assertEquals(pub.status, 404);
    await pub.body?.cancel();
    assert(t.relay.metricsUrl !== undefined && t.relay.metricsUrl !== t.relay.url + "/metrics");
    const own = await fetch(t.relay.metricsUrl);
    assertEquals(own.status, 200);
    assertStringIncludes(await own.text(), "layimws_connections_open");
    const other = await fetch(t.relay.metricsUrl.replace(/metrics$/, "api/users"));
    assertEquals(other.status, 404);
    await other.body?.cancel();
  });
});

test("the web root serves only the page's files: no deno.json, tests, sources or docs", async () => {
  await withRelay({ webRoot: undefined }, async (t) => {
    for (const path of ["/", "/index.html", "/app.js", "/layim.css", "/avatars/1001.svg"]) {
      const res = await fetch(t.relay.url + path);
      assertEquals(res.status, 200, path);
      await res.body?.cancel();
    }
    for (
      const path of [
        "/deno.json",
        "/chat_test.ts",
        "/testing.ts",
        "/layui.d.ts",
        "/README.md",
        "/CHAT_TEST.TS",
      ]
    ) {
      const res = await fetch(t.relay.url + path);
      assertEquals(res.status, 404, path);
      await res.body?.cancel();
    }
  });
});
