/**
 * The load generator: saturation, fixed-rate latency, connect rate and idle connections, in
 * either profile against any relay URL, every delivery verified (see `clients.ts`).
 *
 * Standalone, against any relay:
 *
 * ```sh
 * deno run -A bench/load.ts --url ws://127.0.0.1:8080/ws --profile v1 --ack --pairs 50
 * deno run -A bench/load.ts --url ws://127.0.0.1:8080/ws --rate 5000 --seconds 10
 * # two nodes: the second peer of every pair on the other one, so every message crosses them
 * deno run -A bench/load.ts --url ws://127.0.0.1:8080/ws --url-b ws://127.0.0.1:8081/ws
 * ```
 *
 * `hold` (used by the idle scenario, one process per share of the connections because of the
 * per-process open files limit) opens connections, proves each is identified, prints
 * `{"held":N,"verified":M}` and keeps them until its standard input closes.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { isWebSocketUrl, type Profile } from "../schemas/protocol.ts";
import { Load, registerAlone, type Stream, type Target, type Verification } from "./clients.ts";
import { settles } from "../testing/wait.ts";
import { ProcessProbe } from "./proc.ts";

export type { Profile, Target, Verification };

/** Result of {@linkcode saturate}. */
export interface SaturationResult extends Verification {
  /** Deliveries measured (after the warm-up). */
  messages: number;
  seconds: number;
  msgsPerSec: number;
  /** Server CPU (user + system) per delivered message, µs; NaN without a pid. */
  cpuUsPerMsg: number;
  /** The part of each of the target's `pids` in it, by name. */
  cpuUsPerMsgBy: Record<string, number>;
  /** This load generator's own CPU per delivered message, µs (it shares the machine). */
  genCpuUsPerMsg: number;
  timedOut: boolean;
}

/** Result of {@linkcode offerRate}. */
export interface RateResult extends Verification {
  messages: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Median over the 1-second windows of each window's p99: robust to one stall of the machine. */
  p99WindowMedianMs: number;
  /** Rate actually achieved by the sender, msg/s. */
  offeredPerSec: number;
  cpuUsPerMsg: number;
  cpuUsPerMsgBy: Record<string, number>;
  timedOut: boolean;
}

/** Result of {@linkcode connectRate}. */
export interface ConnectResult extends Verification {
  pairs: number;
  /** Connections per second, connect + identify + first delivery each way. */
  connsPerSec: number;
  /** Per pair: both connects, identifies and one delivery each way, ms. */
  p50Ms: number;
  p99Ms: number;
  /** Server CPU per connection (upgrade, identify, one message, close excluded), µs. */
  cpuUsPerConn: number;
  /** Probes resent because the receiver was not registered yet (a legacy race, not a loss). */
  resent: number;
}

/** The server's CPU so far, µs: `pid` plus every process of `pids` (NaN with neither). */
export async function cpuReader(target: Target): Promise<() => number> {
  const pids = [target.pid, ...Object.values(target.pids ?? {})].filter((p) => p !== undefined);
  if (pids.length === 0) return () => NaN;
  const probes = await Promise.all(pids.map((pid) => ProcessProbe.open(pid)));
  return () => probes.reduce((sum, probe) => sum + probe.cpuMicros(), 0);
}

/** The CPU so far of each process of the target's `pids`, µs, by name. */
export async function cpuByProcess(target: Target): Promise<() => Record<string, number>> {
  const probes = await Promise.all(
    Object.entries(target.pids ?? {}).map(async ([name, pid]) =>
      [name, await ProcessProbe.open(pid)] as const
    ),
  );
  return () => Object.fromEntries(probes.map(([name, probe]) => [name, probe.cpuMicros()]));
}

/** Each process's CPU between two readings, per message. */
function perMessage(
  start: Record<string, number>,
  end: Record<string, number>,
  messages: number,
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(end).map(([name, us]) => [name, (us - start[name]) / messages]),
  );
}

/** Options of {@linkcode saturate}. */
export interface SaturationOptions {
  pairs: number;
  /** Messages measured, spread over both directions of every pair. */
  messages: number;
  /** Messages delivered before measuring starts (JIT, buffers). */
  warmup: number;
  /** Undelivered messages allowed per direction. */
  window: number;
  /** Length of `content`, bytes (ASCII). */
  contentBytes: number;
  /** v1 only: send a `ref` with every message and wait for every `ack`. */
  ack?: boolean;
  timeoutMs: number;
}

/**
 * Saturation: every direction of every pair keeps `window` messages outstanding until all are
 * delivered. The figure that matters is server CPU per delivered message.
 */
export async function saturate(target: Target, o: SaturationOptions): Promise<SaturationResult> {
  const load = new Load(target, o.contentBytes, o.ack === true);
  try {
    const peers = await load.open(o.pairs * 2, 64);
    const streams: Stream[] = [];
    for (let i = 0; i < o.pairs; i++) streams.push(...load.pair(peers[2 * i], peers[2 * i + 1]));
    await load.register(streams, 500, 20_000);
    const perStream = Math.ceil((o.messages + o.warmup) / streams.length);
    for (const s of streams) s.plan(perStream, o.window, false);
    const total = perStream * streams.length;
    const warmup = total - o.messages;
    const cpu = await cpuReader(target);
    const cpuBy = await cpuByProcess(target);
    const ownCpu = await cpuReader({ url: target.url, profile: target.profile, pid: Deno.pid });
    let delivered = 0;
    let acked = 0;
    let startCpu = cpu();
    let startCpuBy = cpuBy();
    let startOwnCpu = ownCpu();
    let startTime = performance.now();
    const finished = new Promise<void>((resolve) => {
      const check = () => {
        if (delivered === total && (!load.ack || acked === total)) resolve();
      };
      load.onDelivered = (stream) => {
        if (++delivered === warmup) {
          startCpu = cpu();
          startCpuBy = cpuBy();
          startOwnCpu = ownCpu();
          startTime = performance.now();
        }
        stream.pump();
        check();
      };
      load.onAcked = () => {
        acked++;
        check();
      };
    });
    for (const s of streams) s.pump();
    const timedOut = !await settles(finished, o.timeoutMs);
    const seconds = (performance.now() - startTime) / 1000;
    const measured = Math.max(0, delivered - warmup);
    const cpuUsPerMsg = (cpu() - startCpu) / measured;
    return {
      messages: measured,
      seconds,
      msgsPerSec: measured / seconds,
      cpuUsPerMsg,
      cpuUsPerMsgBy: perMessage(startCpuBy, cpuBy(), measured),
      genCpuUsPerMsg: (ownCpu() - startOwnCpu) / measured,
      timedOut,
      ...load.verification(),
    };
  } finally {
    await load.close();
  }
}

/** Options of {@linkcode offerRate}. */
export interface RateOptions {
  pairs: number;
  /** Offered messages per second, all directions together. */
  rate: number;
  /** Measured duration. */
  seconds: number;
  /** Duration offered before measuring. */
  warmupSeconds: number;
  contentBytes: number;
  ack?: boolean;
}

/**
 * Latency at a fixed offered rate: messages are sent on schedule (not waiting for deliveries)
 * round-robin over all directions; each delivery's latency is its receive time minus its send
 * time, both taken in this process.
 */
export async function offerRate(target: Target, o: RateOptions): Promise<RateResult> {
  const load = new Load(target, o.contentBytes, o.ack === true);
  try {
    const peers = await load.open(o.pairs * 2, 64);
    const streams: Stream[] = [];
    for (let i = 0; i < o.pairs; i++) streams.push(...load.pair(peers[2 * i], peers[2 * i + 1]));
    await load.register(streams, 500, 20_000);
    const total = Math.ceil(o.rate * (o.seconds + o.warmupSeconds) / streams.length) *
      streams.length;
    for (const s of streams) s.plan(total / streams.length, Infinity, true);
    const latencies = new Float64Array(total);
    const windows = new Uint16Array(total);
    let samples = 0;
    let delivered = 0;
    let acked = 0;
    const cpu = await cpuReader(target);
    const cpuBy = await cpuByProcess(target);
    const start = performance.now();
    const measureFrom = start + o.warmupSeconds * 1000;
    let startCpu = NaN;
    let startCpuBy: Record<string, number> = {};
    const finished = new Promise<void>((resolve) => {
      const check = () => {
        if (delivered === total && (!load.ack || acked === total)) resolve();
      };
      load.onDelivered = (stream, seq) => {
        const sentAt = stream.sendTimes![seq];
        if (sentAt >= measureFrom) {
          windows[samples] = Math.floor((sentAt - measureFrom) / 1000);
          latencies[samples++] = performance.now() - sentAt;
        }
        delivered++;
        check();
      };
      load.onAcked = () => {
        acked++;
        check();
      };
    });
    let offered = 0;
    while (offered < total) {
      const now = performance.now();
      if (Number.isNaN(startCpu) && now >= measureFrom) {
        startCpu = cpu();
        startCpuBy = cpuBy();
      }
      const due = Math.min(total, Math.floor((now - start) * o.rate / 1000));
      for (; offered < due; offered++) streams[offered % streams.length].sendNext();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const sendSeconds = (performance.now() - start) / 1000;
    const timedOut = !await settles(finished, 10_000);
    const cpuUsed = cpu() - startCpu;
    const p99Windows = windowP99s(latencies.subarray(0, samples), windows.subarray(0, samples));
    const sorted = latencies.subarray(0, samples).sort();
    const at = (q: number) => quantile(sorted, q);
    return {
      messages: samples,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      p999Ms: at(0.999),
      maxMs: sorted[samples - 1] ?? NaN,
      p99WindowMedianMs: quantile(p99Windows, 0.5),
      offeredPerSec: total / sendSeconds,
      cpuUsPerMsg: cpuUsed / samples,
      cpuUsPerMsgBy: perMessage(startCpuBy, cpuBy(), samples),
      timedOut,
      ...load.verification(),
    };
  } finally {
    await load.close();
  }
}

/** The `q` quantile of sorted values (NaN when empty). */
function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** The p99 of each 1-second window (by send time), sorted. */
function windowP99s(latencies: Float64Array, windows: Uint16Array): Float64Array {
  const groups: number[][] = [];
  for (let i = 0; i < latencies.length; i++) (groups[windows[i]] ??= []).push(latencies[i]);
  return Float64Array.from(
    groups.filter((g) => g.length > 0).map((g) => quantile(Float64Array.from(g).sort(), 0.99)),
  ).sort();
}

/** Options of {@linkcode connectRate}. */
export interface ConnectOptions {
  pairs: number;
  /** Pairs being set up at once. */
  concurrency: number;
}

/**
 * Connect rate: each pair connects and identifies A, then B, then sends one message B → A and
 * one A → B (resent until delivered, see {@linkcode Load.register}); connections stay open until
 * all pairs are done.
 */
export async function connectRate(target: Target, o: ConnectOptions): Promise<ConnectResult> {
  const load = new Load(target, 16, false);
  try {
    const cpu = await cpuReader(target);
    const times = new Float64Array(o.pairs);
    let resent = 0;
    let next = 0;
    const startCpu = cpu();
    const start = performance.now();
    const worker = async () => {
      while (next < o.pairs) {
        const index = next++;
        const t0 = performance.now();
        const a = await load.connect(`${load.prefix}${2 * index}`);
        const b = await load.connect(`${load.prefix}${2 * index + 1}`);
        const [ab, ba] = load.pair(a, b);
        resent += await registerAlone(ba) + await registerAlone(ab);
        times[index] = performance.now() - t0;
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.concurrency, o.pairs) }, worker));
    const seconds = (performance.now() - start) / 1000;
    const cpuUsPerConn = (cpu() - startCpu) / (2 * o.pairs);
    times.sort();
    return {
      pairs: o.pairs,
      connsPerSec: 2 * o.pairs / seconds,
      p50Ms: times[Math.floor(0.5 * o.pairs)],
      p99Ms: times[Math.min(o.pairs - 1, Math.floor(0.99 * o.pairs))],
      cpuUsPerConn,
      resent,
      ...load.verification(),
    };
  } finally {
    await load.close();
  }
}

/** Connections held by {@linkcode hold}. */
export interface Held {
  /** Connections open and identified. */
  held: number;
  /** Connections proven identified: each received a message from its neighbour. */
  verified: number;
  /** Closes them all. */
  close(): Promise<void>;
}

/**
 * Opens `count` identified connections and proves each is registered (connection i sends a
 * probe to connection i+1, resent until delivered); they stay open, idle, until `close()`.
 */
export async function hold(target: Target, count: number): Promise<Held> {
  const load = new Load(target, 16, false);
  const peers = await load.open(count, 128).catch(async (error) => {
    await load.close();
    throw error;
  });
  const streams = peers.map((p, i) => load.stream(p, peers[(i + 1) % count]));
  await load.register(streams, 2000, 60_000).catch(() => {});
  return {
    held: peers.filter((p) => !p.ws.closed).length,
    verified: streams.filter((s) => s.isRegistered).length,
    close: () => load.close(),
  };
}

function positive(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n > 0)) throw new Error(`not a positive number: ${value}`);
  return n;
}

async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      "url-b": { type: "string" },
      profile: { type: "string", default: "legacy" },
      ack: { type: "boolean", default: false },
      pid: { type: "string" },
      pairs: { type: "string" },
      messages: { type: "string" },
      window: { type: "string" },
      content: { type: "string" },
      rate: { type: "string" },
      seconds: { type: "string" },
      count: { type: "string" },
    },
  });
  const urlB = values["url-b"];
  if (
    !values.url || !isWebSocketUrl(values.url) || (urlB !== undefined && !isWebSocketUrl(urlB)) ||
    (values.profile !== "legacy" && values.profile !== "v1")
  ) {
    throw new Error(
      "usage: load.ts [hold] --url ws://HOST:PORT/PATH [--url-b WS_URL] [--profile legacy|v1] …",
    );
  }
  const target: Target = {
    url: values.url,
    urlB,
    profile: values.profile,
    pid: values.pid === undefined ? undefined : positive(values.pid, 0),
  };
  if (positionals[0] === "hold") {
    const held = await hold(target, positive(values.count, 1000));
    console.log(JSON.stringify({ held: held.held, verified: held.verified }));
    for await (const _ of Deno.stdin.readable) { /* held until standard input closes */ }
    return held.close();
  }
  const pairs = positive(values.pairs, 50);
  const contentBytes = positive(values.content, 100);
  const result = values.rate === undefined
    ? await saturate(target, {
      pairs,
      messages: positive(values.messages, 200_000),
      warmup: 20_000,
      window: positive(values.window, 32),
      contentBytes,
      ack: values.ack,
      timeoutMs: 300_000,
    })
    : await offerRate(target, {
      pairs,
      rate: positive(values.rate, 5000),
      seconds: positive(values.seconds, 10),
      warmupSeconds: 1,
      contentBytes,
      ack: values.ack,
    });
  console.log(JSON.stringify(result));
}

if (import.meta.main) await main(Deno.args);
