/**
 * The bench scenarios: what each measures, with what parameters in the full and the `--quick`
 * mode. Each variant runs against one relay and returns flat numeric metrics; every scenario
 * bounds its time and message count and verifies every delivery (see `load.ts`).
 *
 * @module
 */
import {
  connectRate,
  offerRate,
  type Profile,
  saturate,
  type SaturationResult,
  type Target,
} from "./load.ts";
import { presenceChurn } from "./presence.ts";
import { openFileLimit, ProcessProbe } from "./proc.ts";
import {
  type Deployment,
  redisMissing,
  type RelayName,
  type RelaySpec,
  startOneNode,
  startTwoNodes,
} from "./relays.ts";

/** Scenario names, in run order. */
export const SCENARIO_NAMES = [
  "saturation",
  "saturation-v1",
  "latency",
  "idle",
  "connect",
  "growth-pairs",
  "growth-size",
  "multinode",
  "presence",
] as const;

/** A scenario name (`--only`). */
export type ScenarioName = typeof SCENARIO_NAMES[number];

/** `full`: the default run (~10 min with 4 relays, 3 repeats); `quick`: seconds, for tests. */
export type Mode = "full" | "quick";

/** Metrics of one run of one variant against one relay. */
export type Metrics = Record<string, number>;

/** One parameter set of a scenario. */
export interface Variant {
  /** e.g. `pairs=100`; `""` when the scenario has one variant. */
  label: string;
  /** The x value of growth curves. */
  x?: number;
  /** Starts the processes it runs against itself, instead of one relay of `spec`. */
  start?(spec: RelaySpec): Promise<Deployment>;
  run(target: Target): Promise<Metrics>;
}

/** A scenario: a profile and its variants. */
export interface Scenario {
  name: ScenarioName;
  description: string;
  profile: Profile;
  /** Name of the figure compared between relays. */
  key: string;
  /** The relays run with their default settings (the reference relay without `--rate`). */
  defaults?: boolean;
  /** Only these relays (default: every relay that speaks `profile`). */
  relays?: readonly RelayName[];
  /** Why it cannot run here (a missing program), or undefined. */
  prepare?(): Promise<string | undefined>;
  variants(mode: Mode): Variant[];
}

/** Flat metrics: booleans as 0/1, nested records as `name.key` (e.g. `cpuUsPerMsgBy.redis`). */
const toMetrics = (result: object): Metrics =>
  Object.fromEntries(
    Object.entries(result).flatMap(([k, v]) =>
      typeof v === "object"
        ? Object.entries(v as Metrics).map(([sub, n]) => [`${k}.${sub}`, n])
        : [[k, typeof v === "boolean" ? Number(v) : v]]
    ),
  );

/** Undelivered messages allowed per direction: 32, fewer for large content (≤ 512 KiB). */
const windowFor = (contentBytes: number) =>
  Math.max(1, Math.min(32, Math.floor(512 * 1024 / contentBytes)));

function saturation(
  profile: Profile,
  o: {
    pairs: number;
    messages: number;
    contentBytes: number;
    window?: number;
    label?: string;
    x?: number;
  },
): Variant {
  return {
    label: o.label ?? "",
    x: o.x,
    run: async (target) => {
      const result = await saturate({ ...target, profile }, {
        pairs: o.pairs,
        messages: o.messages,
        warmup: Math.max(1000, Math.round(o.messages / 10)),
        window: o.window ?? windowFor(o.contentBytes),
        contentBytes: o.contentBytes,
        ack: profile === "v1",
        timeoutMs: 180_000,
      });
      // Server CPU over the load generator's own: the load the machine's other work shifts
      // least, since both slow down together.
      return {
        ...toMetrics(result),
        serverPerClientCpu: result.cpuUsPerMsg / result.genCpuUsPerMsg,
      };
    },
  };
}

const VERIFY = ["lost", "outOfOrder", "duplicates", "misrouted", "errors"] as const;

/**
 * One or two nodes of a relay: saturation, then latency at a fixed offered rate, on the same
 * processes. With two nodes the second peer of every pair is on node 2, so every message
 * crosses Redis; CPU is reported in total and per process (`cpuUsPerMsgBy.node1` …).
 */
function nodes(
  profile: Profile,
  count: 1 | 2,
  o: { pairs: number; messages: number; rate: number; seconds: number; warmupSeconds: number },
): Variant {
  const ack = profile === "v1";
  return {
    label: `nodes=${count}${ack ? " v1+ack" : ""}`,
    x: count,
    start: count === 1 ? startOneNode : startTwoNodes,
    run: async (target) => {
      const t = { ...target, profile };
      const sat = toMetrics(
        await saturate(t, {
          pairs: o.pairs,
          messages: o.messages,
          warmup: Math.max(1000, Math.round(o.messages / 10)),
          window: 32,
          contentBytes: 100,
          ack,
          timeoutMs: 180_000,
        }),
      );
      const rate = toMetrics(await offerRate(t, { ...o, contentBytes: 100, ack }));
      const latency = Object.fromEntries(
        Object.entries(rate).filter(([k]) => !(VERIFY as readonly string[]).includes(k))
          .map(([k, v]) => [`latency.${k}`, v]),
      );
      const verified = Object.fromEntries(VERIFY.map((k) => [k, sat[k] + rate[k]]));
      return { ...sat, ...latency, ...verified };
    },
  };
}

/**
 * Friends connecting and disconnecting while watchers follow them: one node or two via Redis
 * (watchers on node 2), the relay offering presence or not (`--presence off`); the same load.
 */
function presenceVariant(
  count: 1 | 2,
  on: boolean,
  o: { watchers: number; follows: number; friends: number; rounds: number },
): Variant {
  // No offline delay: each round's offline reports come at once, and rounds follow each other.
  const args = ["--presence", on ? "all" : "off", "--presence-offline-delay", "0", "--no-users"];
  return {
    label: `nodes=${count} presence=${on ? "on" : "off"}`,
    x: count,
    start: (spec) => count === 1 ? startOneNode(spec, args) : startTwoNodes(spec, args),
    run: async (target) =>
      toMetrics(
        await presenceChurn(target, { ...o, concurrency: 32, presence: on, timeoutMs: 120_000 }),
      ),
  };
}

/** Idle: hold identified connections (in helper processes), RSS per connection, then a sample. */
async function idle(target: Target, wanted: number, sample: number): Promise<Metrics> {
  if (target.pid === undefined) throw new Error("the idle scenario needs the server's pid");
  const probe = await ProcessProbe.open(target.pid);
  // Warm the relay (JIT, buffers) before the baseline, as the other scenarios do.
  await saturate(target, {
    pairs: 5,
    messages: 2000,
    warmup: 200,
    window: 8,
    contentBytes: 100,
    timeoutMs: 30_000,
  });
  const baseRss = probe.rssBytes();
  // The relay needs one descriptor per connection plus its own: stay under its open files limit.
  const limit = Math.min(openFileLimit(), 1e9);
  const total = Math.min(wanted, limit - probe.openFds() - 64);
  // A first thousand, then the rest in two halves, one holder at a time, with the RSS after
  // each: per connection at 1,000 and at the limit, and what each half added per connection.
  const first = Math.min(1000, total - 2 * sample);
  const rest = total - 2 * sample - first;
  const shares = [first, Math.ceil(rest / 2), Math.floor(rest / 2)].filter((n) => n > 0);
  const children: Holder[] = [];
  try {
    const reports: { held: number; verified: number }[] = [];
    const rss: number[] = [];
    for (const count of shares) {
      const child = new Holder(target, count);
      children.push(child);
      reports.push(await child.report());
      rss.push(probe.rssBytes());
    }
    const held = reports.reduce((n, r) => n + r.held, 0);
    const verified = reports.reduce((n, r) => n + r.verified, 0);
    const heldRss = rss.at(-1)!;
    const added = (i: number) => reports[i] ? (rss[i] - rss[i - 1]) / reports[i].held / 1024 : NaN;
    const exchange: SaturationResult = await saturate(target, {
      pairs: sample,
      messages: sample * 200,
      warmup: sample * 20,
      window: 8,
      contentBytes: 100,
      timeoutMs: 60_000,
    });
    return {
      wanted,
      attempted: total,
      held: held + 2 * sample,
      unverified: held - verified,
      rssBaseMiB: baseRss / 2 ** 20,
      rssHeldMiB: heldRss / 2 ** 20,
      rssPerConnKiB: (heldRss - baseRss) / held / 1024,
      held1k: reports[0].held,
      rssPerConnKiB1k: (rss[0] - baseRss) / reports[0].held / 1024,
      rssAddedKiBLow: added(1),
      rssAddedKiBHigh: added(2),
      sampleMsgsPerSec: exchange.msgsPerSec,
      lost: exchange.lost + held - verified,
      outOfOrder: exchange.outOfOrder,
      duplicates: exchange.duplicates,
      misrouted: exchange.misrouted,
      errors: exchange.errors,
    };
  } finally {
    await Promise.all(children.map((child) => child.close()));
  }
}

/** A `load.ts hold` process: it holds connections until its standard input closes. */
class Holder {
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;

  constructor(target: Target, count: number) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("load.ts", import.meta.url).pathname,
        "hold",
        "--url",
        target.url,
        "--profile",
        target.profile,
        "--count",
        String(count),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Waits for the `{"held","verified"}` line. */
  async report(): Promise<{ held: number; verified: number }> {
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await this.#lines.read();
      if (done) throw new Error("a holder process ended before holding its connections");
      text += value;
    }
    return JSON.parse(text);
  }

  /** Closes its standard input and waits for it to exit. */
  async close(): Promise<void> {
    await this.#child.stdin.close().catch(() => {});
    while (!(await this.#lines.read()).done) { /* drain until exit */ }
    await this.#child.status;
  }
}

/** The scenarios, in run order. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: "saturation",
    description: "legacy, 50 pairs both ways, a window of 32 outstanding per direction, " +
      "200,000 messages (+10% warm-up); server CPU µs per delivered message",
    profile: "legacy",
    key: "cpuUsPerMsg",
    variants: (mode) => [
      mode === "quick"
        ? saturation("legacy", { pairs: 10, messages: 4000, contentBytes: 100 })
        : saturation("legacy", { pairs: 50, messages: 200_000, contentBytes: 100 }),
    ],
  },
  {
    name: "saturation-v1",
    description: "as saturation, v1 profile, every message with a ref and its ack awaited",
    profile: "v1",
    key: "cpuUsPerMsg",
    variants: (mode) => [
      mode === "quick"
        ? saturation("v1", { pairs: 10, messages: 4000, contentBytes: 100 })
        : saturation("v1", { pairs: 50, messages: 200_000, contentBytes: 100 }),
    ],
  },
  {
    name: "latency",
    description: "legacy, 50 pairs, 5,000 msg/s offered for 10 s (after 1 s warm-up); " +
      "delivery latency percentiles",
    profile: "legacy",
    key: "p99Ms",
    variants: (mode) => {
      const o = mode === "quick"
        ? { pairs: 10, rate: 1000, seconds: 0.5, warmupSeconds: 0.1 }
        : { pairs: 50, rate: 5000, seconds: 10, warmupSeconds: 1 };
      return [{
        label: "",
        run: async (target) =>
          toMetrics(await offerRate({ ...target, profile: "legacy" }, { ...o, contentBytes: 100 })),
      }];
    },
  },
  {
    name: "idle",
    description: "legacy, 20,000 identified idle connections (capped by the open files limit), " +
      "relays with their default settings, server RSS per connection at 1,000 and at the " +
      "limit, and what each half of the rest added per connection; then 50 pairs exchange " +
      "10,000 messages",
    profile: "legacy",
    key: "rssPerConnKiB",
    defaults: true,
    variants: (mode) => [{
      label: "",
      run: (target) =>
        mode === "quick"
          ? idle({ ...target, profile: "legacy" }, 300, 5)
          : idle({ ...target, profile: "legacy" }, 20_000, 50),
    }],
  },
  {
    name: "connect",
    description: "legacy, 1,000 pairs, 32 at a time: connect + identify both, one delivery " +
      "each way; connections per second",
    profile: "legacy",
    key: "connsPerSec",
    variants: (mode) => [{
      label: "",
      run: async (target) =>
        toMetrics(
          await connectRate(
            { ...target, profile: "legacy" },
            mode === "quick" ? { pairs: 20, concurrency: 8 } : { pairs: 1000, concurrency: 32 },
          ),
        ),
    }],
  },
  {
    name: "growth-pairs",
    description: "legacy saturation at 10, 100, 1,000 pairs (60,000 messages each), the same " +
      "window of 4 per direction at every size (so each connection batches alike and what " +
      "grows is the number of connections); CPU per message should stay flat",
    profile: "legacy",
    key: "cpuUsPerMsg",
    variants: (mode) =>
      (mode === "quick" ? [2, 10, 50] : [10, 100, 1000]).map((pairs) =>
        saturation("legacy", {
          pairs,
          messages: mode === "quick" ? 2000 : 60_000,
          contentBytes: 100,
          window: 4,
          label: `pairs=${pairs}`,
          x: pairs,
        })
      ),
  },
  {
    name: "growth-size",
    description: "legacy saturation, 50 pairs, content of 100 B, 4 KiB, 60 KiB",
    profile: "legacy",
    key: "cpuUsPerMsg",
    variants: (mode) =>
      ([[100, 60_000], [4096, 30_000], [61_440, 6000]] as const).map(([contentBytes, messages]) =>
        saturation("legacy", {
          pairs: mode === "quick" ? 5 : 50,
          messages: mode === "quick" ? Math.round(messages / 30) : messages,
          contentBytes,
          label: `content=${contentBytes}B`,
          x: contentBytes,
        })
      ),
  },
  {
    name: "multinode",
    description: "the reference relay (each transport) alone vs two nodes sharing a " +
      "redis-server (`--redis`), " +
      "every pair with one peer on each node so every message crosses Redis; legacy, then v1 " +
      "with every ack awaited: saturation, 50 pairs, window 32, 50,000 messages (+10% warm-up), " +
      "then latency at 2,000 msg/s offered for 5 s (after 1 s warm-up) on the same processes; " +
      "server CPU µs per delivered message in total and per process (relay nodes, Redis)",
    profile: "legacy",
    key: "cpuUsPerMsg",
    relays: ["ref", "reftcp"],
    prepare: redisMissing,
    variants: (mode) => {
      const o = mode === "quick"
        ? { pairs: 5, messages: 2000, rate: 1000, seconds: 0.5, warmupSeconds: 0.1 }
        : { pairs: 50, messages: 50_000, rate: 2000, seconds: 5, warmupSeconds: 1 };
      return [nodes("legacy", 1, o), nodes("legacy", 2, o), nodes("v1", 1, o), nodes("v1", 2, o)];
    },
  },
  {
    name: "presence",
    description: "the cost of presence: 1,000 v1 watchers each following 50 of 1,000 friends " +
      "(each friend followed by 50), the friends connecting (identify, ready) and disconnecting, " +
      "32 at a time, 3 rounds after a warm-up round, every round settled before the next (every " +
      "watcher told each transition, online then offline, verified); the relay with " +
      "`--presence all` vs the same load with `--presence off`, one node and two via Redis " +
      "(watchers on node 2, friends on node 1), no offline delay; server CPU µs per connect + " +
      "disconnect, all processes",
    profile: "v1",
    key: "cpuUsPerCycle",
    // A cost of the relay's logic, not of its transport: measured on the default one.
    relays: ["reftcp"],
    prepare: redisMissing,
    variants: (mode) => {
      const o = mode === "quick"
        ? { watchers: 40, follows: 5, friends: 40, rounds: 1 }
        : { watchers: 1000, follows: 50, friends: 1000, rounds: 3 };
      return [
        presenceVariant(1, false, o),
        presenceVariant(1, true, o),
        presenceVariant(2, false, o),
        presenceVariant(2, true, o),
      ];
    },
  },
];
