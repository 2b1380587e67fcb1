/**
 * Bench results: medians and min–max over repeats, the targets as ratios of medians, and the
 * outputs — a console table, `latest.json`, `REPORT.md` and the `cpu.svg` chart it shows
 * (hand-written SVG: CPU per message by relay, and the growth curves).
 *
 * @module
 */
import type { Metrics, ScenarioName } from "./scenarios.ts";

/** One run of one scenario variant against one relay. */
export interface Cell {
  scenario: ScenarioName;
  variant: string;
  x?: number;
  relay: string;
  repeat: number;
  metrics?: Metrics;
  error?: string;
}

/** Median, min and max of one metric over the repeats. */
export interface Stat {
  median: number;
  min: number;
  max: number;
}

/** The repeats of one scenario variant against one relay. */
export interface Summary {
  scenario: ScenarioName;
  variant: string;
  x?: number;
  relay: string;
  runs: number;
  errors: string[];
  /** Sum over runs of lost + out-of-order + duplicates + misrouted + errors. */
  failures: number;
  stats: Record<string, Stat>;
}

/** A relay of the run, or why it could not run. */
export interface RelayInfo {
  name: string;
  label: string;
  version?: string;
  missing?: string;
}

/** One target of issue 6, evaluated on medians of the same run. */
export interface TargetResult {
  target: string;
  /** Measured value (a ratio, or a count for the connections target). */
  value?: number;
  /** The bound `value` must not exceed (`atLeast`: must reach). */
  limit: number;
  atLeast?: boolean;
  met?: boolean;
  /** Why the target could not be attempted in full on this machine. */
  capped?: string;
  /** What was compared, with the spread seen between repeats. */
  detail: string;
}

/** Everything a run produced. */
export interface RunReport {
  mode: string;
  repeats: number;
  started: string;
  finished: string;
  machine: Record<string, string>;
  relays: RelayInfo[];
  /** The scenarios asked for; `missing`: why one could not run here. */
  scenarios: { name: string; description: string; missing?: string }[];
  cells: Cell[];
  summaries: Summary[];
  targets: TargetResult[];
  /** Markdown: where the reference relay's time goes (`--profile`). */
  profile?: string;
}

const VERIFY = ["lost", "outOfOrder", "duplicates", "misrouted", "errors"];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Groups cells by scenario, variant and relay; medians and ranges of every metric. */
export function summarize(cells: readonly Cell[]): Summary[] {
  const groups = new Map<string, Cell[]>();
  for (const cell of cells) {
    const key = `${cell.scenario}\u0000${cell.variant}\u0000${cell.relay}`;
    groups.get(key)?.push(cell) ?? groups.set(key, [cell]);
  }
  return [...groups.values()].map((group) => {
    const ok = group.filter((c) => c.metrics !== undefined);
    const stats: Record<string, Stat> = {};
    for (const name of Object.keys(ok[0]?.metrics ?? {})) {
      const values = ok.map((c) => c.metrics![name]).filter((v) => Number.isFinite(v));
      if (values.length === 0) continue;
      stats[name] = { median: median(values), min: Math.min(...values), max: Math.max(...values) };
    }
    const { scenario, variant, x, relay } = group[0];
    return {
      scenario,
      variant,
      x,
      relay,
      runs: ok.length,
      errors: group.flatMap((c) => c.error === undefined ? [] : [c.error]),
      failures: ok.reduce((n, c) => n + VERIFY.reduce((m, k) => m + (c.metrics![k] ?? 0), 0), 0),
      stats,
    };
  });
}

function find(
  summaries: readonly Summary[],
  scenario: string,
  relay: string,
  metric: string,
  variant = "",
): Stat | undefined {
  return summaries.find((s) =>
    s.scenario === scenario && s.relay === relay && s.variant === variant
  )
    ?.stats[metric];
}

const spread = (s: Stat) => s.median === 0 ? 0 : (s.max - s.min) / s.median;
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/** A number with 3 significant digits (integers above 1000 in full). */
export function fmt(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  return Number(value.toPrecision(3)).toString();
}

function describe(name: string, s: Stat | undefined): string {
  if (s === undefined) return `${name} –`;
  return `${name} ${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)}, spread ${pct(spread(s))})`;
}

/**
 * Evaluates the targets of issues 6 and 13 (a target whose figures are missing stays
 * unevaluated).
 */
export function evaluateTargets(summaries: readonly Summary[]): TargetResult[] {
  const ratio = (
    target: string,
    limit: number,
    a: [string, string, string, string?],
    b: [string, string, string, string?],
  ): TargetResult => {
    const sa = find(summaries, a[0], a[1], a[2], a[3]);
    const sb = find(summaries, b[0], b[1], b[2], b[3]);
    const value = sa && sb ? sa.median / sb.median : undefined;
    return {
      target,
      value,
      limit,
      met: value === undefined ? undefined : value <= limit,
      detail: `${describe(`${a[1]} ${a[0]}${a[3] ? ` ${a[3]}` : ""}`, sa)} / ` +
        describe(`${b[1]} ${b[0]}${b[3] ? ` ${b[3]}` : ""}`, sb),
    };
  };
  return [...issue6Targets(summaries, ratio), ...transportTargets(summaries, ratio)];
}

/** A ratio target of {@linkcode evaluateTargets}: `a` over `b`, of medians. */
type RatioTarget = (
  target: string,
  limit: number,
  a: [string, string, string, string?],
  b: [string, string, string, string?],
) => TargetResult;

/**
 * The targets of issue 13: the reference relay on its own transport (`reftcp`, every check on)
 * against Bun, and idle connections up to the open files limit with RSS per connection flat.
 */
function transportTargets(summaries: readonly Summary[], ratio: RatioTarget): TargetResult[] {
  const low = find(summaries, "idle", "reftcp", "rssAddedKiBLow");
  const high = find(summaries, "idle", "reftcp", "rssAddedKiBHigh");
  const held = find(summaries, "idle", "reftcp", "held");
  const attempted = find(summaries, "idle", "reftcp", "attempted");
  const flat = low && high
    ? Math.max(low.median, high.median) / Math.min(low.median, high.median)
    : undefined;
  return [
    ratio("server/client CPU per message (legacy saturation): reftcp ≤ 0.9 × Bun", 0.9, [
      "saturation",
      "reftcp",
      "serverPerClientCpu",
    ], ["saturation", "bun", "serverPerClientCpu"]),
    ratio("p99 latency at 5,000 msg/s: reftcp ≤ 1.0 × Bun", 1, [
      "latency",
      "reftcp",
      "p99Ms",
    ], ["latency", "bun", "p99Ms"]),
    ratio("RSS per idle connection: reftcp ≤ 2 × Bun", 2, [
      "idle",
      "reftcp",
      "rssPerConnKiB",
    ], ["idle", "bun", "rssPerConnKiB"]),
    ratio("server CPU per connect: reftcp ≤ 1.0 × Bun", 1, [
      "connect",
      "reftcp",
      "cpuUsPerConn",
    ], ["connect", "bun", "cpuUsPerConn"]),
    {
      target: "idle connections held by reftcp up to the open files limit",
      value: held?.min,
      limit: attempted?.max ?? 20_000,
      atLeast: true,
      met: held === undefined || attempted === undefined ? undefined : held.min >= attempted.max,
      detail: held === undefined
        ? "not run"
        : `held ${fmt(held.min)}–${fmt(held.max)} of ${fmt(attempted?.max)} attempted`,
    },
    {
      target: "RSS per connection flat from 1,000 to the limit (what each half of the " +
        "connections past 1,000 added per connection): reftcp max/min ≤ 1.15",
      value: flat,
      limit: 1.15,
      met: flat === undefined ? undefined : flat <= 1.15,
      detail: `${describe("first half", low)}; ${describe("second half", high)} KiB`,
    },
  ];
}

/** The targets of issue 6 (the reference relay on Deno's transport against its baselines). */
function issue6Targets(summaries: readonly Summary[], ratio: RatioTarget): TargetResult[] {
  const held = find(summaries, "idle", "ref", "held");
  const attempted = find(summaries, "idle", "ref", "attempted");
  const wanted = find(summaries, "idle", "ref", "wanted");
  const pairs = summaries
    .filter((s) => s.scenario === "growth-pairs" && s.relay === "ref" && s.stats.cpuUsPerMsg)
    .sort((a, b) => a.x! - b.x!);
  const medians = pairs.map((s) => s.stats.cpuUsPerMsg.median);
  const flat = pairs.length > 1 ? Math.max(...medians) / Math.min(...medians) : undefined;
  return [
    ratio("legacy saturation CPU/msg: ref ≤ 1.10 × min Deno relay", 1.1, [
      "saturation",
      "ref",
      "cpuUsPerMsg",
    ], ["saturation", "min", "cpuUsPerMsg"]),
    ratio("legacy saturation CPU/msg: ref ≤ 0.85 × Node ws", 0.85, [
      "saturation",
      "ref",
      "cpuUsPerMsg",
    ], ["saturation", "node", "cpuUsPerMsg"]),
    ratio("legacy saturation CPU/msg: ref ≤ 0.50 × seed Python", 0.5, [
      "saturation",
      "ref",
      "cpuUsPerMsg",
    ], ["saturation", "seed", "cpuUsPerMsg"]),
    ratio("v1 + ack saturation CPU/msg: ref ≤ 1.5 × min relay legacy", 1.5, [
      "saturation-v1",
      "ref",
      "cpuUsPerMsg",
    ], ["saturation", "min", "cpuUsPerMsg"]),
    ratio("p99 latency at 5,000 msg/s: ref ≤ 1.2 × min relay", 1.2, [
      "latency",
      "ref",
      "p99Ms",
    ], ["latency", "min", "p99Ms"]),
    ratio("(robust view) p99 as the median of 1-s windows: ref ≤ 1.2 × min relay", 1.2, [
      "latency",
      "ref",
      "p99WindowMedianMs",
    ], ["latency", "min", "p99WindowMedianMs"]),
    ratio("RSS per idle connection: ref ≤ 1.15 × min relay", 1.15, [
      "idle",
      "ref",
      "rssPerConnKiB",
    ], ["idle", "min", "rssPerConnKiB"]),
    {
      target: "connections held by ref (default settings) ≥ 20,000",
      value: held?.min,
      limit: 20_000,
      atLeast: true,
      met: held === undefined ? undefined : held.min >= 20_000,
      capped: attempted && wanted && held && attempted.max < wanted.min &&
          held.median >= attempted.median
        ? `all ${fmt(attempted.max)} attempted were held: the relay's open files limit ` +
          "(one descriptor per connection plus its own) allows no more here"
        : undefined,
      detail: held === undefined
        ? "not run"
        : `held ${fmt(held.min)}–${fmt(held.max)} of ${fmt(attempted?.max)} attempted`,
    },
    {
      target: "CPU/msg flat from 10 to 1,000 pairs: ref max/min ≤ 1.3",
      value: flat,
      limit: 1.3,
      met: flat === undefined ? undefined : flat <= 1.3,
      detail: pairs.length === 0
        ? "not run"
        : pairs.map((s) => describe(`${s.x} pairs`, s.stats.cpuUsPerMsg)).join("; "),
    },
  ];
}

const QUICK_NOTE: Record<string, string> = {
  quick: " — quick mode: runs too short and small to judge any target",
};

function stateOf(t: TargetResult): string {
  if (t.met === undefined) return "not evaluated";
  if (t.met) return "met";
  return t.capped ? "capped" : "NOT met";
}

const COLUMNS: Record<string, [metric: string, title: string][]> = {
  saturation: [["cpuUsPerMsg", "CPU µs/msg"], ["msgsPerSec", "msg/s"], [
    "genCpuUsPerMsg",
    "load gen µs/msg",
  ]],
  latency: [
    ["p50Ms", "p50 ms"],
    ["p99Ms", "p99 ms"],
    ["p99WindowMedianMs", "p99 1 s-window median"],
    ["p999Ms", "p99.9 ms"],
    [
      "maxMs",
      "max ms",
    ],
    ["cpuUsPerMsg", "CPU µs/msg"],
  ],
  idle: [
    ["held", "held"],
    ["rssPerConnKiB", "RSS KiB/conn"],
    [
      "rssPerConnKiB1k",
      "RSS KiB/conn at 1,000",
    ],
    ["rssAddedKiBHigh", "KiB added/conn, last half"],
    ["rssHeldMiB", "RSS MiB"],
    [
      "sampleMsgsPerSec",
      "sample msg/s",
    ],
  ],
  connect: [["connsPerSec", "conn/s"], ["p50Ms", "pair p50 ms"], ["p99Ms", "pair p99 ms"], [
    "cpuUsPerConn",
    "CPU µs/conn",
  ]],
  multinode: [
    ["msgsPerSec", "msg/s"],
    ["cpuUsPerMsg", "CPU µs/msg, all"],
    ["cpuUsPerMsgBy.node1", "node 1"],
    ["cpuUsPerMsgBy.node2", "node 2"],
    ["cpuUsPerMsgBy.redis", "Redis"],
    ["latency.p50Ms", "p50 ms"],
    ["latency.p99Ms", "p99 ms"],
    ["latency.p99WindowMedianMs", "p99 1 s-window median"],
  ],
  presence: [
    ["cpuUsPerCycle", "CPU µs/connect+disconnect, all"],
    ["cpuUsPerCycleBy.node1", "node 1"],
    ["cpuUsPerCycleBy.node2", "node 2"],
    ["cpuUsPerCycleBy.redis", "Redis"],
    ["cyclesPerSec", "cycles/s"],
    ["framesPerCycle", "presence frames/cycle"],
  ],
};

function columnsOf(scenario: string): [string, string][] {
  return COLUMNS[scenario] ?? COLUMNS.saturation;
}

function verdict(s: Summary): string {
  if (s.errors.length > 0) return `ERROR: ${s.errors[0].split("\n")[0]}`;
  return s.failures === 0 ? "ok" : `FAIL (${s.failures} lost/reordered/…)`;
}

function rows(summaries: readonly Summary[]): { head: string[]; body: string[][] }[] {
  const tables = new Map<string, Summary[]>();
  for (const s of summaries) {
    const key = `${s.scenario}${s.variant ? ` ${s.variant}` : ""}`;
    tables.get(key)?.push(s) ?? tables.set(key, [s]);
  }
  return [...tables.entries()].map(([title, group]) => {
    const columns = columnsOf(group[0].scenario);
    return {
      head: [title, ...columns.map(([, t]) => t), "verified"],
      body: group.map((s) => [
        s.relay,
        ...columns.map(([m]) => {
          const stat = s.stats[m];
          return stat ? `${fmt(stat.median)} (${fmt(stat.min)}–${fmt(stat.max)})` : "–";
        }),
        verdict(s),
      ]),
    };
  });
}

/** The cost of presence by node count: CPU per cycle with / without, of medians and per repeat. */
export interface PresenceCost {
  nodes: number;
  off?: Stat;
  on?: Stat;
  /** on / off, of medians. */
  ratio?: number;
  /** on / off of each repeat that ran both. */
  repeats: number[];
}

/** The presence cost of a run, one entry per node count that ran. */
export function presenceCost(report: RunReport, metric = "cpuUsPerCycle"): PresenceCost[] {
  return [1, 2].flatMap((nodes) => {
    const label = (on: boolean) => `nodes=${nodes} presence=${on ? "on" : "off"}`;
    const stat = (on: boolean) =>
      report.summaries.find((s) => s.scenario === "presence" && s.variant === label(on))
        ?.stats[metric];
    const [off, on] = [stat(false), stat(true)];
    if (!off && !on) return [];
    const cell = (on: boolean, repeat: number) =>
      report.cells.find((c) =>
        c.scenario === "presence" && c.variant === label(on) && c.repeat === repeat
      )?.metrics?.[metric];
    const repeats = [...new Set(report.cells.map((c) => c.repeat))].sort((a, b) => a - b)
      .flatMap((r) => {
        const [a, b] = [cell(false, r), cell(true, r)];
        return a && b ? [b / a] : [];
      });
    return [{ nodes, off, on, ratio: off && on ? on.median / off.median : undefined, repeats }];
  });
}

function presenceLines(report: RunReport): string[] {
  return presenceCost(report).map((c) =>
    `presence cost, ${c.nodes === 1 ? "one node" : "two nodes via Redis"}: ${
      fmt(c.ratio)
    } × the CPU per connect + disconnect without presence (per repeat: ${
      c.repeats.map(fmt).join(", ") || "–"
    })`
  );
}

/** The console table: one block per scenario variant, then the targets. */
export function consoleTable(report: RunReport): string {
  const out: string[] = [];
  for (const { head, body } of rows(report.summaries)) {
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
    out.push(line(head), ...body.map(line), "");
  }
  for (const r of [...report.relays, ...report.scenarios].filter((r) => r.missing)) {
    out.push(`${r.name}: missing (${r.missing})`);
  }
  const cost = presenceLines(report);
  if (cost.length) out.push(...cost, "");
  out.push(`targets (medians of this run; value / limit)${QUICK_NOTE[report.mode] ?? ""}:`);
  for (const t of report.targets) {
    const state = stateOf(t);
    out.push(`  ${state.padEnd(13)} ${fmt(t.value)} / ${fmt(t.limit)}  ${t.target}`);
  }
  return out.join("\n");
}

/** The multinode figures compared, one node vs two nodes via Redis, ratios two / one. */
const MULTINODE_ROWS: [metric: string, title: string][] = [
  ["msgsPerSec", "saturation msg/s"],
  ["cpuUsPerMsg", "server CPU µs/msg, all processes"],
  ["cpuUsPerMsgBy.node1", "— node 1"],
  ["cpuUsPerMsgBy.node2", "— node 2"],
  ["cpuUsPerMsgBy.redis", "— redis-server"],
  ["latency.p50Ms", "latency p50 ms (2,000 msg/s offered)"],
  ["latency.p99Ms", "latency p99 ms"],
  ["latency.p99WindowMedianMs", "latency p99, median of 1-s windows"],
  ["latency.cpuUsPerMsg", "server CPU µs/msg at 2,000 msg/s, all processes"],
];

/**
 * The "several nodes" section: from `report`, or from `side` (a multinode-only run) when that is
 * newer or `report` has no multinode figures.
 */
function multinodeSection(report: RunReport, side?: RunReport): string[] {
  const has = (r?: RunReport) => r?.scenarios.some((s) => s.name === "multinode") ? r : undefined;
  const from = [has(report), has(side)].filter((r) => r !== undefined)
    .sort((a, b) => b.finished.localeCompare(a.finished))[0];
  if (!from) return [];
  const scenario = from.scenarios.find((s) => s.name === "multinode")!;
  const out = [
    "## One node vs two nodes via Redis",
    "",
    `Run ${from.started} → ${from.finished}, mode \`${from.mode}\`, ${from.repeats} repeat(s), ` +
    `commit ${from.machine.commit}${
      from === side ? " (a multinode-only run, `multinode.json`)" : ""
    }.`,
    `\`multinode\`: ${scenario.description}. Server CPU is utime+stime of each process from ` +
    '`/proc/PID/stat`; "all" sums the relay nodes and Redis. Median (min–max) over the repeats; ' +
    "ratio: two nodes / one node, of medians.",
    "",
  ];
  if (scenario.missing) return [...out, `**missing**: ${scenario.missing}`, ""];
  const all = from.summaries.filter((s) => s.scenario === "multinode");
  for (
    const [relay, suffix] of [...new Set(all.map((s) => s.relay))].flatMap((r) =>
      ["", " v1+ack"].map((x) => [r, x])
    )
  ) {
    const summaries = all.filter((s) => s.relay === relay);
    const one = summaries.find((s) => s.variant === `nodes=1${suffix}`);
    const two = summaries.find((s) => s.variant === `nodes=2${suffix}`);
    if (!one && !two) continue;
    const cell = (s: Summary | undefined, m: string) =>
      s?.stats[m]
        ? `${fmt(s.stats[m].median)} (${fmt(s.stats[m].min)}–${fmt(s.stats[m].max)})`
        : "–";
    out.push(
      `| \`${relay}\`, ${
        suffix ? "v1, every ack awaited" : "legacy"
      } | one node | two nodes via Redis | ratio |`,
      "|---|---|---|---|",
      ...MULTINODE_ROWS.filter(([m]) => one?.stats[m] || two?.stats[m]).map(([m, title]) => {
        const ratio = one?.stats[m] && two?.stats[m]
          ? fmt(two.stats[m].median / one.stats[m].median)
          : "–";
        return `| ${title} | ${cell(one, m)} | ${cell(two, m)} | ${ratio} |`;
      }),
      `| verified | ${one ? verdict(one) : "–"} | ${two ? verdict(two) : "–"} | |`,
      "",
    );
  }
  return out;
}

/** Issue 13's figures: scenario, metric, column title, and the factor shown (ms → µs). */
const ISSUE13: [scenario: string, metric: string, title: string, factor: number][] = [
  ["saturation", "cpuUsPerMsg", "server CPU µs/msg", 1],
  ["saturation", "serverPerClientCpu", "server/client CPU", 1],
  ["latency", "p99Ms", "p99 µs at 5,000 msg/s", 1000],
  ["idle", "rssPerConnKiB1k", "RSS KiB per idle conn, 1,000 held", 1],
  ["idle", "rssPerConnKiB", "RSS KiB per idle conn, at the limit", 1],
  ["idle", "rssAddedKiBHigh", "RSS KiB added per conn, last half", 1],
  ["connect", "cpuUsPerConn", "server CPU µs per connect", 1],
];

/**
 * The table of issue 13 for every relay of the run (median and min–max over the repeats), the
 * same figures as ratios to Bun's medians, and what they project to a million connections.
 */
function transportSection(report: RunReport): string[] {
  const relays = report.relays.filter((r) => !r.missing).map((r) => r.name);
  const stat = (relay: string, scenario: string, metric: string) =>
    find(report.summaries, scenario, relay, metric);
  if (!relays.some((r) => ISSUE13.some(([sc, m]) => stat(r, sc, m)))) return [];
  const scaled = (s: Stat | undefined, k: number) =>
    s ? `${fmt(s.median * k)} (${fmt(s.min * k)}–${fmt(s.max * k)})` : "–";
  const head = `| relay | ${ISSUE13.map(([, , t]) => t).join(" | ")} |`;
  const rule = `|---|${ISSUE13.map(() => "---:").join("|")}|`;
  const out = [
    "## The transports against every baseline (issue 13's table)",
    "",
    "Legacy profile. Server CPU per message: `saturation` (50 pairs); server/client CPU: the " +
    "relay's CPU over the load generator's own, per message, in the same run (the steadiest " +
    "figure on a shared machine); p99: `latency`; RSS per idle connection: `idle`, after the " +
    "first 1,000 identified connections and with every connection the open files limit " +
    "allows, and the RSS the last half of them added per connection (without the relay's " +
    "fixed growth in its first connections); CPU per connect: `connect` (connect + identify + one delivery each way, per " +
    "connection). Median (min–max) over the repeats.",
    "",
    head,
    rule,
    ...relays.map((r) =>
      `| \`${r}\` | ${ISSUE13.map(([sc, m, , k]) => scaled(stat(r, sc, m), k)).join(" | ")} |`
    ),
    "",
  ];
  if (relays.includes("bun")) {
    out.push(
      "As ratios to Bun's medians (below 1: better than Bun):",
      "",
      head,
      rule,
      ...relays.map((r) =>
        `| \`${r}\` | ${
          ISSUE13.map(([sc, m]) => {
            const a = stat(r, sc, m);
            const b = stat("bun", sc, m);
            return a && b ? `${fmt(a.median / b.median)}×` : "–";
          }).join(" | ")
        } |`
      ),
      "",
    );
  }
  out.push(
    "Projected to 1,000,000 connections from the medians above: the RSS the last half of the " +
      "idle connections added per connection, times a million (the process's base and its " +
      "growth in the first connections left out, a few tens of MB), and the server CPU of a " +
      "reconnect storm (a million connects, as `connect` measures them). Assumed: each " +
      "connection beyond the limit costs what one cost near it (the kernel's own socket " +
      "memory, outside RSS, is not counted); the process may open a million descriptors; " +
      "the connects come at the pace the relay sustains; one process on one core (several " +
      "processes divide the time, not the CPU).",
    "",
    "| relay | RSS for 1,000,000 idle connections | CPU for 1,000,000 connects |",
    "|---|---:|---:|",
    ...relays.flatMap((r) => {
      const rss = stat(r, "idle", "rssAddedKiBHigh") ?? stat(r, "idle", "rssPerConnKiB");
      const cpu = stat(r, "connect", "cpuUsPerConn");
      if (!rss && !cpu) return [];
      return [
        `| \`${r}\` | ${rss ? `${fmt(rss.median * 1024 * 1e6 / 1e9)} GB` : "–"} | ${
          cpu ? `${fmt(cpu.median)} s` : "–"
        } |`,
      ];
    }),
    "",
  );
  return out;
}

/**
 * `REPORT.md`: machine, targets, every table, the chart, the profile findings if any, and the
 * multinode comparison (from `side`, a multinode-only run, when that is newer).
 */
export function markdown(report: RunReport, side?: RunReport): string {
  const out = [
    "# layim-ws bench report",
    "",
    `Run ${report.started} → ${report.finished}, mode \`${report.mode}\`, ` +
    `${report.repeats} repeat(s), scenarios interleaved (each relay a fresh process per run). ` +
    "Figures: median (min–max) over the repeats; ratios are of medians. " +
    "Server CPU is utime+stime of the relay process from `/proc/PID/stat`.",
    "",
    "## Machine",
    "",
    ...Object.entries(report.machine).map(([k, v]) => `- ${k}: ${v}`),
    "",
    "## Relays",
    "",
    ...report.relays.map((r) =>
      `- \`${r.name}\`: ${r.label}${r.version ? ` — ${r.version}` : ""}` +
      (r.missing ? ` — **missing**: ${r.missing}` : "")
    ),
    "",
    "## Targets",
    "",
    ...(QUICK_NOTE[report.mode] ? [`Mode \`${report.mode}\`${QUICK_NOTE[report.mode]}.`, ""] : []),
    "| target | value | limit | |",
    "|---|---|---|---|",
    ...report.targets.map((t) =>
      `| ${t.target} | ${fmt(t.value)} | ${t.atLeast ? "≥ " : "≤ "}${fmt(t.limit)} | ${
        stateOf(t)
      } |`
    ),
    "",
    ...report.targets.map((t) =>
      `- ${t.target}: ${t.detail}${t.capped ? `; capped: ${t.capped}` : ""}`
    ),
    "",
    ...transportSection(report),
    "## CPU per message",
    "",
    "![Server CPU per delivered message by relay, and its growth with pairs and content size](cpu.svg)",
    "",
    "## Scenarios",
    "",
    ...report.scenarios.filter((s) => s.name !== "multinode").map((s) =>
      `- \`${s.name}\`: ${s.description}${s.missing ? ` — **missing**: ${s.missing}` : ""}`
    ),
    "",
  ];
  for (const { head, body } of rows(report.summaries.filter((s) => s.scenario !== "multinode"))) {
    out.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
    out.push(...body.map((r) => `| ${r.join(" | ")} |`), "");
  }
  const costs = presenceCost(report);
  if (costs.length) {
    const cell = (s?: Stat) => s ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : "–";
    out.push(
      "## The cost of presence",
      "",
      "Server CPU µs per connect + disconnect of a friend followed by 50 watchers, all processes, " +
        "median (min–max) over the repeats; ratio: with presence / without, of medians, and of each " +
        "repeat (the spread of those is the noise of the machine).",
      "",
      "| deployment | without presence | with presence | ratio | ratio per repeat |",
      "|---|---|---|---|---|",
      ...costs.map((c) =>
        `| ${c.nodes === 1 ? "one node" : "two nodes via Redis"} | ${cell(c.off)} | ${
          cell(c.on)
        } | ${fmt(c.ratio)} | ${c.repeats.map(fmt).join(", ")} |`
      ),
      "",
    );
  }
  if (report.profile) {
    out.push("## Where the reference relay's time goes", "", report.profile, "");
  }
  out.push(...multinodeSection(report, side));
  return out.join("\n");
}

const COLORS: Record<string, string> = {
  ref: "#ff9896",
  reftcp: "#d62728",
  min: "#1f77b4",
  tcp: "#17becf",
  node: "#2ca02c",
  bun: "#ff7f0e",
  seed: "#9467bd",
};
const color = (relay: string) => COLORS[relay] ?? "#7f7f7f";

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A "nice" upper bound for an axis. */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((v) => v >= value)!;
}

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Maps values to y coordinates of a panel, with the values to draw grid lines at. */
interface YScale {
  y(value: number): number;
  ticks: number[];
}

function linear(p: Panel, max: number): YScale {
  return { y: (v) => p.y + p.h - (p.h * v) / max, ticks: [0, 1, 2, 3, 4].map((i) => max * i / 4) };
}

/** Decades from below the smallest to above the largest value. */
function logarithmic(p: Panel, values: number[]): YScale {
  const positive = values.filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.min(...positive, 1)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...positive, 10))));
  return {
    y: (v) => p.y + p.h - (p.h * (Math.log10(Math.max(v, 10 ** lo)) - lo)) / (hi - lo),
    ticks: Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i)),
  };
}

function axis(p: Panel, scale: YScale, title: string, label: string): string[] {
  const out = [
    `<text x="${p.x + p.w / 2}" y="${p.y - 12}" text-anchor="middle" font-weight="bold">${
      escape(title)
    }</text>`,
    `<text x="${p.x - 38}" y="${p.y + p.h / 2}" text-anchor="middle" transform="rotate(-90 ${
      p.x - 38
    } ${p.y + p.h / 2})">${escape(label)}</text>`,
  ];
  for (const tick of scale.ticks) {
    const y = scale.y(tick);
    out.push(
      `<line x1="${p.x}" y1="${y}" x2="${p.x + p.w}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${p.x - 4}" y="${y + 4}" text-anchor="end">${fmt(tick)}</text>`,
    );
  }
  out.push(
    `<line x1="${p.x}" y1="${p.y + p.h}" x2="${p.x + p.w}" y2="${p.y + p.h}" stroke="#333"/>`,
  );
  return out;
}

function bars(p: Panel, summaries: readonly Summary[]): string[] {
  const items = summaries
    .filter((s) => s.scenario === "saturation" || s.scenario === "saturation-v1")
    .filter((s) => s.stats.cpuUsPerMsg)
    .map((s) => ({
      label: s.scenario === "saturation" ? s.relay : `${s.relay} v1+ack`,
      relay: s.relay,
      stat: s.stats.cpuUsPerMsg,
    }));
  const scale = linear(p, niceMax(Math.max(0, ...items.map((i) => i.stat.max))));
  const out = axis(p, scale, "Saturation: server CPU per message", "µs per delivered message");
  const slot = p.w / Math.max(1, items.length);
  items.forEach((item, i) => {
    const x = p.x + slot * i + slot * 0.15;
    const w = slot * 0.7;
    const y = scale.y;
    out.push(
      `<rect x="${x}" y="${y(item.stat.median)}" width="${w}" height="${
        p.y + p.h - y(item.stat.median)
      }" fill="${color(item.relay)}" opacity="${item.label.includes("v1") ? 0.55 : 0.9}"/>`,
      `<line x1="${x + w / 2}" y1="${y(item.stat.min)}" x2="${x + w / 2}" y2="${
        y(item.stat.max)
      }" stroke="#000"/>`,
      `<text x="${x + w / 2}" y="${y(item.stat.max) - 4}" text-anchor="middle">${
        fmt(item.stat.median)
      }</text>`,
      `<text x="${x + w / 2}" y="${p.y + p.h + 14}" text-anchor="middle">${
        escape(item.label)
      }</text>`,
    );
  });
  return out;
}

function curves(
  p: Panel,
  summaries: readonly Summary[],
  scenario: string,
  title: string,
  xLabel: string,
  log: boolean,
): string[] {
  const series = new Map<string, Summary[]>();
  for (const s of summaries) {
    if (s.scenario !== scenario || s.x === undefined || !s.stats.cpuUsPerMsg) continue;
    series.get(s.relay)?.push(s) ?? series.set(s.relay, [s]);
  }
  const all = [...series.values()].flat();
  const medians = all.map((s) => s.stats.cpuUsPerMsg.median);
  const scale = log ? logarithmic(p, medians) : linear(p, niceMax(Math.max(0, ...medians)));
  const xs = [...new Set(all.map((s) => s.x!))].sort((a, b) => a - b);
  const out = axis(p, scale, title, `µs per delivered message${log ? " (log)" : ""}`);
  const lx = (v: number) =>
    xs.length < 2 ? p.x + p.w / 2 : p.x + 10 + ((p.w - 20) * Math.log(v / xs[0])) /
        Math.log(xs[xs.length - 1] / xs[0]);
  const ly = scale.y;
  for (const v of xs) {
    out.push(`<text x="${lx(v)}" y="${p.y + p.h + 14}" text-anchor="middle">${fmt(v)}</text>`);
  }
  out.push(
    `<text x="${p.x + p.w / 2}" y="${p.y + p.h + 30}" text-anchor="middle">${
      escape(xLabel)
    }</text>`,
  );
  let legend = 0;
  for (const [relay, points] of series) {
    points.sort((a, b) => a.x! - b.x!);
    const path = points.map((s) => `${lx(s.x!)},${ly(s.stats.cpuUsPerMsg.median)}`).join(" ");
    out.push(
      `<polyline points="${path}" fill="none" stroke="${color(relay)}" stroke-width="2"/>`,
      ...points.map((s) =>
        `<circle cx="${lx(s.x!)}" cy="${ly(s.stats.cpuUsPerMsg.median)}" r="3" fill="${
          color(relay)
        }"/>`
      ),
      `<text x="${p.x + 8}" y="${p.y + 14 + 14 * legend++}" fill="${color(relay)}">${
        escape(relay)
      }</text>`,
    );
  }
  return out;
}

/** `cpu.svg`: saturation CPU per message by relay, and the two growth curves. */
export function chart(summaries: readonly Summary[]): string {
  const h = 220;
  const body = [
    ...bars({ x: 60, y: 40, w: 300, h }, summaries),
    ...curves(
      { x: 440, y: 40, w: 240, h },
      summaries,
      "growth-pairs",
      "CPU per message vs pairs",
      "pairs (log scale)",
      false,
    ),
    ...curves(
      { x: 760, y: 40, w: 240, h },
      summaries,
      "growth-size",
      "CPU per message vs content",
      "content bytes (log scale)",
      true,
    ),
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="1030" height="310" viewBox="0 0 1030 310" ` +
    `font-family="sans-serif" font-size="11">`,
    `<rect width="1030" height="310" fill="#fff"/>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}
