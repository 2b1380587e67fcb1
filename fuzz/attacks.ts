/**
 * The attacks of issue 13 as functions against any legacy-profile relay (the transport's
 * regression tests run them against the project's transport; the CLI runs them against any
 * server, e.g. `deno task serve`, to show what it does):
 *
 * - `fragmented`: sockets that each send one huge text message in fragments, never identifying;
 *   the relay's peak RSS is sampled.
 * - `idle`: many TCP connections that send nothing (descriptor exhaustion, slowloris).
 * - `ignored-close`: a frame the relay closes on (binary), then the close frame is never
 *   answered: does the relay drop the TCP connection by itself?
 * - `violations`: an unmasked frame and invalid UTF-8: which close code comes back?
 *
 * Each checks, where it can, that the process is still alive and that a legacy pair can still
 * exchange a message afterwards.
 *
 * ```sh
 * deno task serve &   # or any relay
 * deno run -A fuzz/attacks.ts --url ws://127.0.0.1:8080/ws --pid $(pgrep -n -f reference/main.ts)
 * deno run -A fuzz/attacks.ts --url ws://127.0.0.1:8080/ws --only idle --count 19200
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { encodeFrame } from "../conformance/wire.ts";
import { RawSocket } from "../testing/raw_socket.ts";

/** Where the relay is. */
export interface AttackTarget {
  port: number;
  /** WebSocket path (default `/`). */
  path?: string;
  /** The relay's process id, for RSS and liveness (optional). */
  pid?: number;
}

const decoder = new TextDecoder();

/** Resident memory of `pid` in MiB, NaN when unknown. */
export function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]) / 1024;
  } catch {
    return NaN;
  }
}

/** Whether `pid` runs (not gone, not a zombie); true when unknown. */
export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return true;
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

/** Samples the peak RSS of `pid` until stopped. */
function peakSampler(pid: number | undefined): { stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    const now = rssMiB(pid);
    if (now > peak) peak = now;
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssMiB(pid));
    },
  };
}

/**
 * Whether a legacy pair can still exchange one message: A and B identify with fresh ids, A
 * sends to B (resent every 200 ms, since legacy has no acknowledgement), B must receive it.
 */
export async function pairWorks(t: AttackTarget, timeoutMs = 5000): Promise<boolean> {
  const tag = crypto.randomUUID().slice(0, 8);
  let a: RawSocket | undefined;
  let b: RawSocket | undefined;
  try {
    a = await RawSocket.open(t.port, t.path ?? "/");
    b = await RawSocket.open(t.port, t.path ?? "/");
    await a.send({ opcode: 1, payload: `a${tag}` });
    await b.send({ opcode: 1, payload: `b${tag}` });
    const message = JSON.stringify({
      mine: { username: "a", avatar: "", id: `a${tag}`, mine: true, content: `probe-${tag}` },
      to: { username: "b", avatar: "", id: `b${tag}`, type: "friend" },
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await a.send({ opcode: 1, payload: message });
      const frame = await b.readFrame(200).catch(() => undefined);
      if (frame === null) return false;
      if (frame && decoder.decode(frame.payload).includes(`probe-${tag}`)) return true;
    }
    return false;
  } catch {
    return false;
  } finally {
    a?.close();
    b?.close();
  }
}

/** What `fragmented` saw. */
export interface FragmentedResult {
  /** Close codes received, one per socket (null: the TCP connection ended without one). */
  closes: (number | null)[];
  /** MiB each socket wrote before it stopped (the relay closed or the total was sent). */
  sentMiB: number[];
  rssBaseMiB: number;
  rssPeakMiB: number;
  alive: boolean;
}

/** Sends one `totalBytes` text message in `fragmentBytes` fragments on each of `sockets` sockets. */
export async function fragmented(
  t: AttackTarget,
  o: { sockets: number; totalBytes: number; fragmentBytes: number; timeoutMs?: number },
): Promise<FragmentedResult> {
  const payload = new Uint8Array(o.fragmentBytes).fill(0x61);
  const first = encodeFrame({ opcode: 1, payload, fin: false });
  const next = encodeFrame({ opcode: 0, payload, fin: false });
  const rssBaseMiB = rssMiB(t.pid);
  const sampler = peakSampler(t.pid);
  const one = async (): Promise<[number | null, number]> => {
    const socket = await RawSocket.open(t.port, t.path ?? "/");
    let sent = 0;
    let stopped = false;
    const closed = socket.readClose(o.timeoutMs ?? 120_000).then((c) => c?.code ?? null, () => null)
      .finally(() => stopped = true);
    try {
      for (let frame = first; sent < o.totalBytes && !stopped; frame = next) {
        await socket.write(frame);
        sent += o.fragmentBytes;
      }
    } catch {
      // The relay closed or reset the connection.
    }
    const code = await closed;
    socket.close();
    return [code, sent / 2 ** 20];
  };
  const results = await Promise.all(Array.from({ length: o.sockets }, one));
  return {
    closes: results.map(([code]) => code),
    sentMiB: results.map(([, mib]) => mib),
    rssBaseMiB,
    rssPeakMiB: sampler.stop(),
    alive: alive(t.pid),
  };
}

/** What `idle` saw. */
export interface IdleResult {
  opened: number;
  /** Connections that could not even be opened. */
  failed: number;
  /** Of those opened, how many the relay ended (EOF, a reset, or a 503/408 response) while held. */
  endedByServer: number;
  alive: boolean;
  /** A legacy pair worked while they were held / after they were closed. */
  pairDuring: boolean;
  pairAfter: boolean;
}

/** Opens `count` TCP connections that send nothing and holds them for `holdMs`. */
export async function idle(
  t: AttackTarget,
  o: { count: number; holdMs: number },
): Promise<IdleResult> {
  const sockets: RawSocket[] = [];
  let failed = 0;
  let ended = 0;
  for (let i = 0; i < o.count; i += 200) {
    const batch = await Promise.all(
      Array.from(
        { length: Math.min(200, o.count - i) },
        () =>
          RawSocket.connect(t.port).catch(() => {
            failed++;
            return undefined;
          }),
      ),
    );
    for (const socket of batch) {
      if (socket === undefined) continue;
      sockets.push(socket);
      socket.expectEnd(o.holdMs + 60_000).then(() => ended++, () => {});
    }
  }
  const started = Date.now();
  const pairDuring = await pairWorks(t, Math.min(5000, o.holdMs));
  const rest = o.holdMs - (Date.now() - started);
  if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
  const endedByServer = ended;
  const stillAlive = alive(t.pid);
  for (const socket of sockets) socket.close();
  const pairAfter = stillAlive && await pairWorks(t);
  return {
    opened: sockets.length,
    failed,
    endedByServer,
    alive: stillAlive,
    pairDuring,
    pairAfter,
  };
}

/** What `ignoredClose` saw. */
export interface IgnoredCloseResult {
  sockets: number;
  /** Close frames received after the binary frame. */
  closeFrames: number;
  /** TCP connections the relay ended by itself within the wait, and the slowest, ms. */
  dropped: number;
  slowestDropMs: number;
}

/** Sends a binary frame on each socket (a legacy relay closes), never answers the close. */
export async function ignoredClose(
  t: AttackTarget,
  o: { sockets: number; waitMs: number },
): Promise<IgnoredCloseResult> {
  const one = async (): Promise<[boolean, number | null]> => {
    const socket = await RawSocket.open(t.port, t.path ?? "/");
    try {
      await socket.send({ opcode: 2, payload: new Uint8Array([1, 2, 3]) });
      const started = Date.now();
      const close = await socket.readClose(o.waitMs).catch(() => undefined);
      const ended = close === null ||
        await socket.expectEnd(Math.max(1, o.waitMs - (Date.now() - started))).then(
          () => true,
          () => false,
        );
      return [close !== null && close !== undefined, ended ? Date.now() - started : null];
    } finally {
      socket.close();
    }
  };
  const results = await Promise.all(Array.from({ length: o.sockets }, one));
  const drops = results.map(([, ms]) => ms).filter((ms) => ms !== null);
  return {
    sockets: o.sockets,
    closeFrames: results.filter(([close]) => close).length,
    dropped: drops.length,
    slowestDropMs: drops.length ? Math.max(...drops) : NaN,
  };
}

/** How a relay answered one protocol violation. */
export type Answer = number | "no close frame, TCP ended" | "nothing (accepted)";

async function answer(t: AttackTarget, bytes: Uint8Array): Promise<Answer> {
  const socket = await RawSocket.open(t.port, t.path ?? "/");
  try {
    await socket.write(bytes);
    const close = await socket.readClose(1000).catch(() => undefined);
    if (close === undefined) return "nothing (accepted)";
    return close === null ? "no close frame, TCP ended" : close.code;
  } finally {
    socket.close();
  }
}

/** An unmasked text frame and a text frame of invalid UTF-8: RFC 6455 wants 1002 and 1007. */
export async function violations(t: AttackTarget): Promise<{ unmasked: Answer; utf8: Answer }> {
  return {
    unmasked: await answer(t, encodeFrame({ opcode: 1, payload: "1001", masked: false })),
    utf8: await answer(t, encodeFrame({ opcode: 1, payload: new Uint8Array([0x31, 0xff, 0xfe]) })),
  };
}

const ATTACKS = ["fragmented", "idle", "ignored-close", "violations"] as const;

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: "string" },
      pid: { type: "string" },
      only: { type: "string" },
      count: { type: "string", default: "19200" },
      "hold-ms": { type: "string", default: "15000" },
      sockets: { type: "string", default: "8" },
      mib: { type: "string", default: "60" },
      "fragment-kib": { type: "string", default: "1024" },
      "wait-ms": { type: "string", default: "10000" },
    },
  });
  if (!values.url) {
    console.error(
      "usage: fuzz/attacks.ts --url ws://127.0.0.1:PORT/PATH [--pid PID] " +
        `[--only ${ATTACKS.join(",")}] [--count N] [--hold-ms MS] [--sockets N] [--mib N]`,
    );
    Deno.exit(2);
  }
  const url = new URL(values.url);
  const t: AttackTarget = {
    port: Number(url.port),
    path: url.pathname + url.search,
    pid: values.pid === undefined ? undefined : Number(values.pid),
  };
  const only = values.only?.split(",") ?? ATTACKS;
  const print = (name: string, result: unknown) =>
    console.log(`${name}: ${JSON.stringify(result)} (process ${alive(t.pid) ? "alive" : "GONE"})`);
  if (only.includes("violations")) print("violations", await violations(t));
  if (only.includes("ignored-close")) {
    print(
      "ignored-close",
      await ignoredClose(t, { sockets: 20, waitMs: Number(values["wait-ms"]) }),
    );
  }
  if (only.includes("fragmented")) {
    const mib = Number(values.mib);
    print(
      "fragmented",
      await fragmented(t, {
        sockets: Number(values.sockets),
        totalBytes: mib * 2 ** 20,
        fragmentBytes: Number(values["fragment-kib"]) * 1024,
      }),
    );
  }
  if (only.includes("idle")) {
    print(
      "idle",
      await idle(t, { count: Number(values.count), holdMs: Number(values["hold-ms"]) }),
    );
  }
}

if (import.meta.main) await main(Deno.args);
