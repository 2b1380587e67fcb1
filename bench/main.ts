/**
 * `deno task bench`: runs the scenarios against the reference relay and its baselines, each
 * relay a fresh subprocess on a free loopback port per run, interleaved and repeated; prints a
 * table and writes `bench/results/latest.json`, `REPORT.md` and `cpu.svg`.
 *
 * ```sh
 * deno task bench                       # full run (~10 min)
 * deno task bench --quick               # seconds: proves the tool works
 * deno task bench --only saturation --relays ref,min --repeat 5
 * deno task bench --url ws://127.0.0.1:8080/ws --pid 1234   # an external relay
 * deno task bench --profile             # also profile the reference relay under saturation
 * deno task bench --only multinode       # one node vs two via Redis: writes multinode.json
 * ```
 *
 * A run of the multinode scenario alone sits beside the last full run instead of replacing it:
 * it writes `multinode.json` and renders `REPORT.md` again from `latest.json` with it, leaving
 * `latest.json` and `cpu.svg` as they were. The report shows the newer multinode figures of the
 * two files.
 *
 * Exits 1 when a run fails or any delivery was lost, reordered, duplicated or misrouted.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { isWebSocketUrl } from "../schemas/protocol.ts";
import type { Target } from "./load.ts";
import { clockTicksPerSecond, openFileLimit } from "./proc.ts";
import { profileMarkdown, summarizeProfile } from "./profile.ts";
import {
  type Deployment,
  RELAY_NAMES,
  type RelayName,
  RELAYS,
  type RelaySpec,
  startRelay,
} from "./relays.ts";
import {
  type Cell,
  chart,
  consoleTable,
  evaluateTargets,
  markdown,
  type RelayInfo,
  type RunReport,
  summarize,
} from "./report.ts";
import { type Mode, SCENARIO_NAMES, type ScenarioName, SCENARIOS } from "./scenarios.ts";

const USAGE = `usage: deno task bench [--quick] [--only ${SCENARIO_NAMES.join(",")}]
       [--relays ${RELAY_NAMES.join(",")}] [--repeat N] [--url WS_URL [--pid PID]]
       [--profile] [--out DIR]`;

/** Options of {@linkcode runBench}. */
export interface BenchOptions {
  mode: Mode;
  scenarios: readonly ScenarioName[];
  relays: readonly RelayName[];
  repeats: number;
  /** An external relay instead of `relays`. */
  url?: string;
  pid?: number;
  /** Profile the reference relay under saturation and add the findings to the report. */
  profile: boolean;
  /** Results folder. */
  out: string;
  /** Progress lines. */
  log: (line: string) => void;
}

/** A relay the run can start, or an external one. */
interface Runnable {
  info: RelayInfo;
  spec?: RelaySpec;
  profiles: readonly string[];
}

async function machine(): Promise<Record<string, string>> {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1];
  const memory = Deno.systemMemoryInfo();
  const git = await new Deno.Command("git", {
    args: ["describe", "--always", "--dirty"],
    cwd: new URL("../", import.meta.url).pathname,
  })
    .output().then((o) => new TextDecoder().decode(o.stdout).trim()).catch(() => "");
  return {
    commit: git || "unknown",
    cpu: `${cpu ?? "unknown"} × ${navigator.hardwareConcurrency} logical cores`,
    memory: `${(memory.total / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    "clock ticks/s": String(await clockTicksPerSecond()),
    "open files limit": String(openFileLimit()),
    "load average at start": Deno.loadavg().map((l) => l.toFixed(2)).join(" "),
    network: "loopback only (127.0.0.1); load generator on the same machine and cores",
  };
}

async function runnables(o: BenchOptions): Promise<Runnable[]> {
  if (o.url) {
    return [{ info: { name: "url", label: o.url }, profiles: ["legacy", "v1"] }];
  }
  return await Promise.all(o.relays.map(async (name) => {
    const spec = RELAYS[name];
    const missing = await spec.prepare();
    return {
      info: { name, label: spec.label, version: spec.version, missing },
      spec: missing ? undefined : spec,
      profiles: spec.profiles,
    };
  }));
}

function headline(metrics: Record<string, number>, key: string): string {
  const shown = [key, "msgsPerSec", "held"].filter((k, i, a) => k in metrics && a.indexOf(k) === i);
  const check = ["lost", "outOfOrder", "duplicates", "misrouted", "errors"]
    .filter((k) => metrics[k] > 0).map((k) => `${k} ${metrics[k]}`);
  return [
    ...shown.map((k) => `${k} ${Number(metrics[k].toPrecision(4))}`),
    check.length ? `FAIL ${check.join(" ")}` : "verified",
  ].join(", ");
}

/** Starts one relay of `spec` for a run (the default when a variant starts nothing itself). */
async function startOne(spec: RelaySpec, defaults?: boolean): Promise<Deployment> {
  const relay = await startRelay(spec, { defaults });
  return { target: { url: relay.url, pid: relay.pid }, stop: () => relay.stop() };
}

/** A run of the multinode scenario alone: it sits beside the last full run (see above). */
function besideFullRun(o: BenchOptions): boolean {
  return !o.url && o.scenarios.length > 0 && o.scenarios.every((s) => s === "multinode");
}

async function readReport(path: string): Promise<RunReport | undefined> {
  return await Deno.readTextFile(path).then(JSON.parse).catch(() => undefined);
}

/** Runs the bench and writes the results; resolves to the report. */
export async function runBench(o: BenchOptions): Promise<RunReport> {
  const started = new Date().toISOString();
  const info = await machine();
  const relays = await runnables(o);
  for (const r of relays) if (r.info.missing) o.log(`${r.info.name}: missing (${r.info.missing})`);
  const usable = relays.filter((r) => !r.info.missing);
  const missing = new Map<ScenarioName, string>();
  for (const s of SCENARIOS.filter((s) => o.scenarios.includes(s.name))) {
    const why = s.relays && (o.url || !s.relays.some((r) => o.relays.includes(r)))
      ? `runs only against ${s.relays.join(", ")}, started by the bench (not with --url)`
      : await s.prepare?.();
    if (why) missing.set(s.name, why);
    if (why) o.log(`${s.name}: missing (${why})`);
  }
  const scenarios = SCENARIOS.filter((s) => o.scenarios.includes(s.name) && !missing.has(s.name));
  const cells: Cell[] = [];
  for (let repeat = 1; repeat <= o.repeats; repeat++) {
    // Rotate the relay order each repeat, so none always runs first or right after another.
    const shift = (repeat - 1) % Math.max(1, usable.length);
    const order = [...usable.slice(shift), ...usable.slice(0, shift)];
    for (const scenario of scenarios) {
      for (const variant of scenario.variants(o.mode)) {
        const runs = order.filter((r) =>
          r.profiles.includes(scenario.profile) &&
          (!scenario.relays || scenario.relays.includes(r.info.name as RelayName))
        );
        for (const relay of runs) {
          const cell: Cell = {
            scenario: scenario.name,
            variant: variant.label,
            x: variant.x,
            relay: relay.info.name,
            repeat,
          };
          const began = performance.now();
          const running = relay.spec
            ? await (variant.start?.(relay.spec) ?? startOne(relay.spec, scenario.defaults))
              .catch((e) => e as Error)
            : null;
          try {
            if (running instanceof Error) throw running;
            const target: Target = running
              ? { ...running.target, profile: scenario.profile }
              : { url: o.url!, profile: scenario.profile, pid: o.pid };
            cell.metrics = await variant.run(target);
          } catch (error) {
            cell.error = error instanceof Error ? error.message : String(error);
          } finally {
            if (running && !(running instanceof Error)) await running.stop();
          }
          cells.push(cell);
          const seconds = ((performance.now() - began) / 1000).toFixed(1);
          o.log(
            `[${repeat}/${o.repeats}] ${scenario.name}${
              variant.label ? ` ${variant.label}` : ""
            } ` +
              `${relay.info.name}: ${
                cell.metrics ? headline(cell.metrics, scenario.key) : `ERROR ${cell.error}`
              } (${seconds} s)`,
          );
        }
      }
    }
  }
  const summaries = summarize(cells);
  const report: RunReport = {
    mode: o.mode,
    repeats: o.repeats,
    started,
    finished: new Date().toISOString(),
    machine: info,
    relays: relays.map((r) => r.info),
    scenarios: SCENARIOS.filter((s) => o.scenarios.includes(s.name))
      .map(({ name, description }) => ({ name, description, missing: missing.get(name) })),
    cells,
    summaries,
    targets: o.url ? [] : evaluateTargets(summaries),
    profile: o.profile && !o.url ? await profileReference(o) : undefined,
  };
  await Deno.mkdir(o.out, { recursive: true });
  const json = (r: RunReport) => JSON.stringify(r, null, 2) + "\n";
  if (besideFullRun(o)) {
    report.targets = [];
    await Deno.writeTextFile(`${o.out}/multinode.json`, json(report));
    const full = await readReport(`${o.out}/latest.json`);
    await Deno.writeTextFile(`${o.out}/REPORT.md`, markdown(full ?? report, report));
    return report;
  }
  await Deno.writeTextFile(`${o.out}/latest.json`, json(report));
  await Deno.writeTextFile(`${o.out}/cpu.svg`, chart(summaries));
  const side = await readReport(`${o.out}/multinode.json`);
  await Deno.writeTextFile(`${o.out}/REPORT.md`, markdown(report, side));
  return report;
}

/** Profiles the reference relay on each transport under both saturation loads and `connect`. */
async function profileReference(o: BenchOptions): Promise<string> {
  const sections = [
    "`deno run --cpu-prof reference/main.ts` under each saturation load and a connect storm, " +
    "start-up samples left out. Time in V8 built-ins (`JSON.parse`, `JSON.stringify`) counts as self " +
    "time of their JS caller; `op_*` are calls into Deno's Rust side.",
  ];
  for (const relay of [RELAYS.ref, RELAYS.reftcp]) {
    for (const name of ["saturation", "saturation-v1", "connect"] as const) {
      sections.push(`### ${name}, \`${relay.name}\``, await profileScenario(o, name, relay));
    }
  }
  return sections.join("\n\n");
}

async function profileScenario(
  o: BenchOptions,
  name: ScenarioName,
  spec: RelaySpec,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "layim-ws-prof-" });
  try {
    const spawned = performance.now();
    const relay = await startRelay(spec, {
      runtimeFlags: ["--cpu-prof", `--cpu-prof-dir=${dir}`],
    });
    const loaded = performance.now();
    const scenario = SCENARIOS.find((s) => s.name === name)!;
    try {
      const metrics = await scenario.variants(o.mode)[0].run({
        url: relay.url,
        profile: scenario.profile,
        pid: relay.pid,
      });
      o.log(`profile: ${name} ${spec.name} under --cpu-prof: ${headline(metrics, scenario.key)}`);
    } finally {
      await relay.stop("SIGINT");
    }
    const files = [...Deno.readDirSync(dir)].filter((f) => f.name.endsWith(".cpuprofile"));
    if (files.length === 0) return "No profile written: the relay did not exit cleanly on SIGINT.";
    const profile = JSON.parse(Deno.readTextFileSync(`${dir}/${files[0].name}`));
    return profileMarkdown(summarizeProfile(profile, loaded - spawned));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function list<T extends string>(value: string | undefined, all: readonly T[], what: string): T[] {
  if (value === undefined) return [...all];
  const items = value.split(",").map((v) => v.trim()).filter(Boolean);
  const bad = items.filter((v) => !all.includes(v as T));
  if (bad.length > 0) throw new Error(`unknown ${what}: ${bad.join(", ")}\n${USAGE}`);
  return items as T[];
}

/** Parses the command line into {@linkcode BenchOptions}. */
export function parseBenchArgs(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      relays: { type: "string" },
      repeat: { type: "string" },
      url: { type: "string" },
      pid: { type: "string" },
      profile: { type: "boolean", default: false },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) throw new Error(USAGE);
  const mode: Mode = values.quick ? "quick" : "full";
  const repeats = Number(values.repeat ?? (mode === "quick" ? 1 : 3));
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`bad --repeat\n${USAGE}`);
  const pid = values.pid === undefined ? undefined : Number(values.pid);
  if (pid !== undefined && !Number.isInteger(pid)) throw new Error(`bad --pid\n${USAGE}`);
  if (values.url !== undefined && !isWebSocketUrl(values.url)) {
    throw new Error(`--url must be a ws:// URL\n${USAGE}`);
  }
  return {
    mode,
    scenarios: list(values.only, SCENARIO_NAMES, "scenario"),
    relays: list(values.relays, RELAY_NAMES, "relay"),
    repeats,
    url: values.url,
    pid,
    profile: values.profile,
    out: values.out ?? new URL("results", import.meta.url).pathname,
    log: (line) => console.error(line),
  };
}

if (import.meta.main) {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(2);
  }
  const report = await runBench(options);
  console.log(consoleTable(report));
  const files = besideFullRun(options)
    ? "multinode.json, REPORT.md"
    : "latest.json, REPORT.md, cpu.svg";
  console.log(`\nwritten: ${options.out}/${files}`);
  const failed = report.summaries.some((s) => s.errors.length > 0 || s.failures > 0);
  Deno.exit(failed ? 1 : 0);
}
