/**
 * `deno task soak`: the reference relay under a long, churning v1 load, with every guarantee
 * checked (see `ledger.ts`) and the relay's memory measured before and after.
 *
 * ```sh
 * deno task soak                                  # 200 clients, 1,000,000 messages
 * deno task soak --duration 30                    # 30 seconds instead (what the test suite runs)
 * deno task soak --messages 5000000 --report soak.json
 * ```
 *
 * It starts the relay as a child process (`reference/main.ts`, no page, no directory, the rate
 * limit raised out of the way: the soak is about what is delivered, not about floods), reads
 * its resident memory from `/metrics`, runs the clients (`run.ts`), waits until every connection
 * is gone and reads the memory again. Exit code 0 when nothing was violated and the memory came
 * back within `--rss-bound` MiB of its start, 1 otherwise, 2 for a usage error.
 *
 * @module
 */
import { spawnRelay } from "../testing/relay_process.ts";
import { until } from "../testing/wait.ts";
import { runSoak, type SoakOptions, type SoakProgress, type SoakResult } from "./run.ts";

/** What `deno task soak` does, as options. */
export interface SoakRunOptions extends Omit<SoakOptions, "url" | "onProgress"> {
  /** Allowed growth of the relay's resident memory after everyone left, in MiB. */
  rssBoundMiB: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** The outcome of a soak against a relay process. */
export interface SoakReport extends SoakResult {
  /**
   * Resident memory of the relay before the run, at its peak sample, and after everyone left
   * (once back within the bound, or when the wait ended), with how long that took; its V8 heap
   * in use before and after.
   */
  rss: {
    startMiB: number;
    peakMiB: number;
    endMiB: number;
    boundMiB: number;
    settledAfterS: number;
    heapStartMiB: number;
    heapEndMiB: number;
    ok: boolean;
  };
  seed: number;
  clients: number;
  users: number;
  ok: boolean;
}

const MiB = 1024 * 1024;
// How long the relay's memory may take to come back after everyone left.
const SETTLE_MS = 60_000;

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return line ? Number(line.slice(name.length + 1)) : NaN;
}

function round(n: number, digits = 1): number {
  return Math.round(n * 10 ** digits) / 10 ** digits;
}

function format(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Starts a relay process, soaks it and reports; the relay is stopped at the end. */
export async function soakRelay(options: SoakRunOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const relay = await spawnRelay([
    "--no-web",
    "--no-users",
    "--rate",
    "1000000",
    "--burst",
    "1000000",
  ]);
  try {
    const rss = () => metric(relay.url, "process_resident_memory_bytes");
    const heap = () => metric(relay.url, "nodejs_heap_size_used_bytes");
    const startMiB = await rss() / MiB;
    const heapStartMiB = await heap() / MiB;
    let peakMiB = startMiB;
    log(
      `soak: ${options.clients} clients as ${options.users} users against ${relay.wsUrl} ` +
        `(seed ${options.seed}); relay RSS ${round(startMiB)} MiB`,
    );
    const onProgress = (p: SoakProgress) => {
      rss().then((bytes) => {
        peakMiB = Math.max(peakMiB, bytes / MiB);
        const s = p.elapsedMs / 1000;
        log(
          `soak: ${round(s)} s  sent ${format(p.counts.sent)} (${format(p.counts.sent / s)}/s)  ` +
            `acked ${format(p.counts.acked)}  undelivered ${
              format(p.counts.offline + p.counts.unavailable)
            }  received ${format(p.counts.received)}  sessions ${p.open} open, ` +
            `${format(p.counts.sessions)} so far  relay RSS ${round(bytes / MiB)} MiB  ` +
            `violations ${p.violations}`,
        );
      }, () => {});
    };
    const result = await runSoak({ ...options, url: relay.wsUrl, onProgress });
    // Every connection gone, as the relay sees it; then the memory, given time to shrink: V8
    // gives its heap back some 15 s after the load stops (its memory reducer).
    await until(async () => await metric(relay.url, "layimws_connections_open") === 0, 10_000);
    const left = performance.now();
    let endMiB = await rss() / MiB;
    peakMiB = Math.max(peakMiB, endMiB);
    while (endMiB - startMiB > options.rssBoundMiB && performance.now() - left < SETTLE_MS) {
      await new Promise((resolve) => setTimeout(resolve, 500)); // polling: nothing announces it
      endMiB = await rss() / MiB;
    }
    const settledAfterS = round((performance.now() - left) / 1000);
    const heapEndMiB = await heap() / MiB;
    const rssOk = endMiB - startMiB <= options.rssBoundMiB;
    log(`soak: everyone left; relay RSS ${round(endMiB)} MiB after ${settledAfterS} s`);
    return {
      ...result,
      rss: {
        startMiB: round(startMiB),
        peakMiB: round(Math.max(peakMiB, endMiB)),
        endMiB: round(endMiB),
        boundMiB: options.rssBoundMiB,
        settledAfterS,
        heapStartMiB: round(heapStartMiB),
        heapEndMiB: round(heapEndMiB),
        ok: rssOk,
      },
      seed: options.seed,
      clients: options.clients,
      users: options.users,
      ok: result.violationCount === 0 && result.connectFailures === 0 && rssOk,
    };
  } finally {
    await relay.stop();
  }
}

const USAGE = `usage: deno task soak [--clients N] [--users N] [--messages N | --duration S]
       [--window N] [--life MS] [--pause MS] [--seed N] [--rss-bound MIB] [--report FILE.json]`;

/** Parses the command line; a usage error is thrown as an Error with a one-line message. */
export function parseSoakArgs(args: string[]): SoakRunOptions & { report?: string } {
  const o: SoakRunOptions & { report?: string } = {
    clients: 200,
    users: 100,
    messages: 1_000_000,
    window: 16,
    meanLifeMs: 3000,
    meanPauseMs: 500,
    seed: Math.floor(Math.random() * 2 ** 31),
    rssBoundMiB: 32,
  };
  const ints: Record<string, (n: number) => void> = {
    "--clients": (n) => o.clients = n,
    "--users": (n) => o.users = n,
    "--messages": (n) => o.messages = n,
    "--duration": (n) => {
      o.durationMs = n * 1000;
      if (!args.includes("--messages")) o.messages = undefined;
    },
    "--window": (n) => o.window = n,
    "--life": (n) => o.meanLifeMs = n,
    "--pause": (n) => o.meanPauseMs = n,
    "--seed": (n) => o.seed = n,
    "--rss-bound": (n) => o.rssBoundMiB = n,
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split("=", 2);
    if (flag === "--help" || flag === "-h") throw new Error(USAGE);
    const value = inline ?? args[++i];
    if (flag === "--report") {
      if (!value) throw new Error(`--report needs a file name\n${USAGE}`);
      o.report = value;
      continue;
    }
    const set = ints[flag];
    if (!set) throw new Error(`unknown flag ${flag}\n${USAGE}`);
    const n = Number(value);
    if (!/^\d+$/.test(value ?? "") || !Number.isSafeInteger(n) || (n === 0 && flag !== "--seed")) {
      throw new Error(`${flag} needs a positive integer, got ${JSON.stringify(value)}`);
    }
    set(n);
  }
  return o;
}

function summary(r: SoakReport): string {
  const c = r.counts;
  const rows = [
    ["messages sent", format(c.sent)],
    ["acked", format(c.acked)],
    ["undelivered offline / unavailable", `${format(c.offline)} / ${format(c.unavailable)}`],
    ["errors", format(c.errors)],
    ["getMessage frames received", format(c.received)],
    ["deliveries owed and checked", format(c.required)],
    ["sessions (left cleanly)", `${format(c.sessions)} (${format(c.left)})`],
    ["connect failures", format(r.connectFailures)],
    ["violations", format(r.violationCount)],
    [
      "relay RSS start / peak / end",
      `${r.rss.startMiB} / ${r.rss.peakMiB} / ${r.rss.endMiB} MiB, ${r.rss.settledAfterS} s ` +
      `after everyone left (bound: start + ${r.rss.boundMiB} MiB: ` +
      `${r.rss.ok ? "ok" : "EXCEEDED"})`,
    ],
    ["relay V8 heap used start / end", `${r.rss.heapStartMiB} / ${r.rss.heapEndMiB} MiB`],
    ["time", `${round(r.elapsedMs / 1000)} s (${format(c.sent / (r.elapsedMs / 1000))} msg/s)`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n");
}

if (import.meta.main) {
  let options;
  try {
    options = parseSoakArgs(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  const report = await soakRelay({ ...options, log: (line) => console.log(line) });
  console.log(`\nsoak: ${report.ok ? "PASSED" : "FAILED"}\n${summary(report)}`);
  for (const v of report.violations) console.log(`  violation: ${v}`);
  if (options.report) {
    await Deno.writeTextFile(options.report, JSON.stringify(report, null, 2) + "\n");
    console.log(`written: ${options.report}`);
  }
  Deno.exit(report.ok ? 0 : 1);
}
