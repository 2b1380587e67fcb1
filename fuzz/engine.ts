/**
 * The fuzz engine: runs generated cases against a target, many connections at a time, while a
 * canary pair chats through it, and checks the invariants:
 *
 * - the target process never exits;
 * - no hang: after a case is written and the client half-closes, the target ends the
 *   connection within a bound; after a valid case it first answers a ping;
 * - the canary's messages arrive in order, none lost, none late.
 *
 * Case `i` of seed `s` is generated from its own seed (`caseSeed(s, i)`), so any case can be
 * replayed alone (`--seed s --case i`) and a failing one saved as a regression case.
 *
 * @module
 */
import fc from "fast-check";
import { RawSocket } from "../testing/raw_socket.ts";
import type { Case, CaseGenerator } from "./frames.ts";
import type { RunningTarget } from "./target.ts";

/** A case that broke an invariant. */
export interface Failure {
  seed: number;
  index: number;
  generator: string;
  invariant: string;
  /** The case's writes, hex-encoded (a regression case). */
  chunks: string[];
  raw: boolean;
}

/** Options of {@linkcode fuzz}. */
export interface FuzzOptions {
  seed: number;
  /** Stop after this many frames (as generated)… */
  frames: number;
  /** …or this many seconds, whichever comes first. */
  seconds: number;
  /** Connections fuzzed at once. */
  concurrency: number;
  /** The generators and their weights. */
  generators: Record<string, { arbitrary: CaseGenerator; weight: number }>;
  /** Time the target may take to end a connection after a case (covers its close timeout). */
  endWithinMs: number;
  /** Progress lines (every ~2 s). */
  progress?: (line: string) => void;
  /** Only this case (replay). */
  only?: number;
}

/** What a run did. */
export interface FuzzResult {
  cases: number;
  frames: number;
  bytes: number;
  seconds: number;
  /**
   * Close codes the target sent, by code ("none": the stream ended without one; "http": a case
   * sent from the TCP start, answered in HTTP; "3000-4999": echoed application codes).
   */
  closes: Record<string, number>;
  canaryMessages: number;
  failures: Failure[];
}

/** The seed of case `index` of a run with `seed`. */
export function caseSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index, 0xc2b2ae35)) | 0;
}

/** Generates case `index` of `seed`. */
export function generate(
  generators: FuzzOptions["generators"],
  seed: number,
  index: number,
): Case {
  const arbitrary = fc.oneof(
    ...Object.values(generators).map(({ arbitrary, weight }) => ({ arbitrary, weight })),
  );
  return fc.sample(arbitrary, { seed: caseSeed(seed, index), numRuns: 1 })[0];
}

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** Runs one case; resolves to the invariant it broke, or the close code seen. */
export async function runCase(
  target: { port: number; path: string },
  c: Case,
  endWithinMs: number,
): Promise<{ broken?: string; close: string }> {
  let socket: RawSocket;
  try {
    socket = c.raw
      ? await RawSocket.connect(target.port)
      : await RawSocket.open(target.port, target.path);
  } catch (error) {
    return {
      broken: `connect/upgrade failed: ${error instanceof Error ? error.message : error}`,
      close: "none",
    };
  }
  try {
    try {
      for (const chunk of c.chunks) await socket.write(chunk);
      if (c.valid) {
        // Valid traffic: the connection must still answer.
        const tag = crypto.getRandomValues(new Uint8Array(8));
        await socket.send({ opcode: 9, payload: tag });
        for (;;) {
          const frame = await socket.readFrame(endWithinMs).catch(() => undefined);
          if (frame === undefined) {
            return { broken: "no pong within the bound after valid traffic", close: "none" };
          }
          if (frame === null) {
            return { broken: "connection ended after valid traffic", close: "none" };
          }
          if (frame.opcode === 10 && hex(frame.payload) === hex(tag)) break;
          if (frame.opcode === 8) {
            // The relay may close on what its application refuses (binary 1003, a limit 1009),
            // never with a protocol error on valid traffic.
            const code = (frame.payload[0] << 8) | frame.payload[1];
            if (code === 1002 || code === 1007) {
              return { broken: `closed ${code} after valid traffic`, close: String(code) };
            }
            break;
          }
        }
      }
      await socket.conn.closeWrite();
    } catch {
      // The target closed or reset while we wrote: it may do that to bad input.
    }
    if (c.raw) {
      // The answer is HTTP (or nothing): only the end of the stream is checked.
      const ended = await socket.expectEnd(endWithinMs).then(() => true, () => false);
      return ended
        ? { close: "http" }
        : { broken: `connection not ended within ${endWithinMs} ms`, close: "http" };
    }
    let close = "none";
    const deadline = Date.now() + endWithinMs;
    for (;;) {
      const frame = await socket.readFrame(Math.max(1, deadline - Date.now())).catch(() =>
        undefined
      );
      if (frame === undefined) {
        return { broken: `connection not ended within ${endWithinMs} ms`, close };
      }
      if (frame === null) return { close };
      if (frame.opcode === 8 && close === "none") {
        close = frame.payload.length >= 2
          ? String((frame.payload[0] << 8) | frame.payload[1])
          : "1005";
      }
    }
  } finally {
    socket.close();
  }
}

/** A pair of legacy clients exchanging numbered messages through the target all along. */
export class Canary {
  /** Messages received in order so far. */
  received = 0;
  /** Why the canary failed, if it did. */
  problem: string | undefined;
  #a: RawSocket;
  #b: RawSocket;
  #ids: [string, string];
  #sent = [0, 0];
  #next = [1, 1];
  #lastArrival = [Date.now(), Date.now()];
  #timer: ReturnType<typeof setInterval> | undefined;
  #reading: Promise<void>[] = [];
  #stopped = false;

  private constructor(a: RawSocket, b: RawSocket, ids: [string, string]) {
    this.#a = a;
    this.#b = b;
    this.#ids = ids;
  }

  /** Connects and identifies both (legacy: the first frame is the id) and starts chatting. */
  static async start(target: { port: number; path: string }, everyMs = 20): Promise<Canary> {
    const tag = crypto.randomUUID().slice(0, 8);
    const ids: [string, string] = [`canaryA${tag}`, `canaryB${tag}`];
    const a = await RawSocket.open(target.port, target.path);
    const b = await RawSocket.open(target.port, target.path);
    await a.send({ opcode: 1, payload: ids[0] });
    await b.send({ opcode: 1, payload: ids[1] });
    const canary = new Canary(a, b, ids);
    await canary.#registered();
    canary.#reading = [canary.#read(b, 0), canary.#read(a, 1)];
    canary.#timer = setInterval(() => canary.#tick(), everyMs);
    return canary;
  }

  #message(from: number, content: string): string {
    return JSON.stringify({
      mine: { username: "canary", avatar: "", id: this.#ids[from], mine: true, content },
      to: { username: "canary", avatar: "", id: this.#ids[1 - from], type: "friend" },
    });
  }

  /** Legacy has no acknowledgement: probe both ways until each side is registered. */
  async #registered(): Promise<void> {
    for (const [from, to] of [[0, 1], [1, 0]] as const) {
      const socket = [this.#a, this.#b][from];
      const peer = [this.#a, this.#b][to];
      const deadline = Date.now() + 5000;
      for (;;) {
        if (Date.now() > deadline) throw new Error("the canary could not register");
        await socket.send({ opcode: 1, payload: this.#message(from, "probe") });
        const frame = await peer.readFrame(200).catch(() => undefined);
        if (frame === null) throw new Error("the canary was disconnected while registering");
        if (frame && new TextDecoder().decode(frame.payload).includes('"probe"')) break;
      }
      // Drain probes resent before the first one arrived.
      while (await peer.readFrame(50).then((f) => f !== null, () => false)) { /* drop */ }
    }
  }

  #tick(): void {
    const now = Date.now();
    for (const from of [0, 1]) {
      const to = 1 - from;
      if (this.#sent[from] >= this.#next[to] && now - this.#lastArrival[to] > 3000) {
        this.problem ??= `canary ${from ? "B→A" : "A→B"}: message ${
          this.#next[to]
        } not arrived within 3 s`;
      }
      const socket = from === 0 ? this.#a : this.#b;
      socket.send({ opcode: 1, payload: this.#message(from, `seq-${++this.#sent[from]}`) }).catch(
        () => {
          this.problem ??= "canary: send failed";
        },
      );
    }
  }

  async #read(socket: RawSocket, side: number): Promise<void> {
    const decoder = new TextDecoder();
    while (!this.#stopped) {
      const frame = await socket.readFrame(1000).catch(() => undefined);
      if (this.#stopped) return;
      if (frame === undefined) continue;
      if (frame === null) {
        this.problem ??= `canary ${side ? "A" : "B"} disconnected`;
        return;
      }
      if (frame.opcode === 9) {
        await socket.send({ opcode: 10, payload: frame.payload }).catch(() => {});
        continue;
      }
      if (frame.opcode !== 1) continue;
      const seq = Number(/seq-(\d+)/.exec(decoder.decode(frame.payload))?.[1]);
      if (seq !== this.#next[side]) {
        this.problem ??= `canary ${side ? "B→A" : "A→B"}: got ${seq}, expected ${this.#next[side]}`;
      }
      this.#next[side] = seq + 1;
      this.#lastArrival[side] = Date.now();
      this.received++;
    }
  }

  /** Stops chatting, checks the last messages arrived, and closes both. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const deadline = Date.now() + 3000;
    while (!this.problem && (this.#next[1] <= this.#sent[0] || this.#next[0] <= this.#sent[1])) {
      if (Date.now() > deadline) {
        this.problem = "canary: the last messages did not arrive";
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.#stopped = true;
    this.#a.close();
    this.#b.close();
    await Promise.all(this.#reading);
  }
}

/** Runs the fuzzer against a running target. */
export async function fuzz(target: RunningTarget, o: FuzzOptions): Promise<FuzzResult> {
  const started = performance.now();
  const result: FuzzResult = {
    cases: 0,
    frames: 0,
    bytes: 0,
    seconds: 0,
    closes: {},
    canaryMessages: 0,
    failures: [],
  };
  const canary = await Canary.start(target);
  const deadline = started + o.seconds * 1000;
  let next = o.only ?? 0;
  const last = o.only ?? Infinity;
  let lastReport = started;
  const failed = (index: number, c: Case, invariant: string) => {
    result.failures.push({
      seed: o.seed,
      index,
      generator: c.generator,
      invariant,
      chunks: c.chunks.map(hex),
      raw: c.raw,
    });
  };
  const worker = async () => {
    while (
      next <= last && result.frames < o.frames && performance.now() < deadline &&
      result.failures.length === 0 && canary.problem === undefined
    ) {
      const index = next++;
      const c = generate(o.generators, o.seed, index);
      result.cases++;
      result.frames += c.frames;
      result.bytes += c.chunks.reduce((n, chunk) => n + chunk.length, 0);
      const outcome = await runCase(target, c, o.endWithinMs);
      // Codes 3000–4999 are echoed from the case's own close frames: one bucket.
      const code = Number(outcome.close) >= 3000 && Number(outcome.close) <= 4999
        ? "3000-4999"
        : outcome.close;
      result.closes[code] = (result.closes[code] ?? 0) + 1;
      if (target.exited) {
        failed(index, c, `the target exited (${target.exited.code}): ${target.tail}`);
      } else if (outcome.broken) failed(index, c, outcome.broken);
      const now = performance.now();
      if (o.progress && now - lastReport > 2000) {
        lastReport = now;
        const s = (now - started) / 1000;
        o.progress(
          `${result.frames.toLocaleString("en-US")} frames, ${
            result.cases.toLocaleString("en-US")
          } cases ` +
            `in ${s.toFixed(0)} s (${
              Math.round(result.frames / s).toLocaleString("en-US")
            } frames/s); ` +
            `canary ${canary.received} in order`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: o.only === undefined ? o.concurrency : 1 }, worker));
  await canary.stop();
  if (canary.problem) {
    result.failures.push({
      seed: o.seed,
      index: -1,
      generator: "canary",
      invariant: canary.problem,
      chunks: [],
      raw: false,
    });
  }
  if (target.exited && result.failures.length === 0) {
    result.failures.push({
      seed: o.seed,
      index: -1,
      generator: "-",
      invariant: "the target exited",
      chunks: [],
      raw: false,
    });
  }
  result.canaryMessages = canary.received;
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
