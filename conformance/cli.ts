/**
 * `deno task conformance`: runs the conformance cases against a server URL.
 *
 * Exit codes: 0 every MUST passed, 1 a MUST failed (or a SHOULD with `--strict`), 2 usage or
 * connection error.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { isWebSocketUrl } from "../schemas/protocol.ts";
import { BaselineError, loadBaseline, makeBaseline } from "./baseline.ts";
import { DialectError, loadDialect } from "./dialect.ts";
import {
  formatBaseline,
  formatHeader,
  formatRequirements,
  formatResult,
  formatSummary,
  toJUnit,
} from "./report.ts";
import {
  type ConformanceOptions,
  listCases,
  OtherProtocolError,
  runConformance,
  selectCases,
  SetupError,
} from "./run.ts";

const HELP = `Usage: deno task conformance --url ws://HOST:PORT/PATH [options]

Runs the layim-ws conformance cases against a LayIM WebSocket server.

Target
  --url URL            WebSocket URL of the server under test (required unless --list)
  --url-b URL          second URL (another relay node) for the receiving clients
  --profile P          auto (default: offer layim-ws.v1, fall back to legacy), legacy or v1
  --dialect FILE       JSON dialect of a legacy server (conformance/dialect.schema.json;
                       examples in conformance/dialects/)
  --origin ORIGIN      Origin header for servers with an origin allow-list
Auth
  --jwt-secret S       HS256 secret: mint a token per random user (env LAYIM_WS_JWT_SECRET)
  --token-a T          fixed token of user A (its sub is the user id); --token-b for user B
Selection
  --only IDS           run only these ids, prefixes or globs (comma list, repeatable)
  --skip IDS           leave these out (same syntax)
  --list               list the cases and exit
Timing (ms)
  --timeout MS         wait for an expected frame or close (default 3000)
  --settle MS          legacy: wait after identify, which has no acknowledgement (default 150)
  --quiet-ms MS        quiet window for "nothing arrives" checks (default 250)
  --cleanup-ms MS      how long the server may take to process the end of a session: legacy
                       cases wait this long before reusing an id, and stale-close probes over
                       it (default 1200)
  --frame-ceiling N    legacy: the largest frame sent looking for a frame size limit, bytes
                       (default 16777216)
Output
  --strict             SHOULD findings fail the run
  --report FILE.json   write the JSON report
  --junit FILE.xml     write a JUnit XML report
  --baseline FILE      expected failures (from --write-baseline): reported as known, they do
                       not fail the run; new failures and cases passing now are listed apart
  --write-baseline F   write this run's failures and findings as a baseline
  --verbose            show the requirements of every case
  --help, -h           this text

Exit: 0 every MUST passed (or failed as the baseline expects), 1 a MUST failed or a case
could not run, 2 usage or connection error, or the server speaks another protocol.
`;

/** A bad command line. */
class UsageError extends Error {}

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${name} must be a non-negative number, got ${value}`);
  }
  return n;
}

function list(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
}

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: "string" },
        "url-b": { type: "string" },
        profile: { type: "string" },
        dialect: { type: "string" },
        origin: { type: "string" },
        "jwt-secret": { type: "string" },
        "token-a": { type: "string" },
        "token-b": { type: "string" },
        only: { type: "string", multiple: true },
        skip: { type: "string", multiple: true },
        list: { type: "boolean" },
        timeout: { type: "string" },
        settle: { type: "string" },
        "quiet-ms": { type: "string" },
        "cleanup-ms": { type: "string" },
        "frame-ceiling": { type: "string" },
        baseline: { type: "string" },
        "write-baseline": { type: "string" },
        strict: { type: "boolean" },
        report: { type: "string" },
        junit: { type: "string" },
        verbose: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Runs the CLI with `args`; resolves with the exit code. `write` receives each output line. */
export async function main(
  args: string[],
  write: (line: string) => void = console.log,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Promise<number> {
  try {
    const v = parse(args);
    if (v.help) {
      write(HELP);
      return 0;
    }
    if (v.list) {
      const cases = selectCases(list(v.only), list(v.skip));
      for (const c of cases) {
        write(
          `${c.id.padEnd(34)} ${c.level.padEnd(6)} ${c.profiles.join("+").padEnd(13)} ` +
            `${c.requirements.join(",").padEnd(30)} ${c.title}`,
        );
      }
      write(`${cases.length} of ${listCases().length} cases`);
      return 0;
    }
    for (const [name, url] of [["url", v.url], ["url-b", v["url-b"]]]) {
      if (url !== undefined && !isWebSocketUrl(url)) {
        throw new UsageError(`--${name} must be a ws:// or wss:// URL, got ${url}`);
      }
    }
    if (!v.url) throw new UsageError("--url is required");
    const profile = v.profile ?? "auto";
    if (!["auto", "legacy", "v1"].includes(profile)) {
      throw new UsageError(`--profile must be auto, legacy or v1, got ${profile}`);
    }
    const options: ConformanceOptions = {
      url: v.url,
      urlB: v["url-b"],
      profile: profile as ConformanceOptions["profile"],
      dialect: v.dialect ? await loadDialect(v.dialect) : undefined,
      only: list(v.only),
      skip: list(v.skip),
      timeoutMs: number("timeout", v.timeout),
      settleMs: number("settle", v.settle),
      quietMs: number("quiet-ms", v["quiet-ms"]),
      cleanupMs: number("cleanup-ms", v["cleanup-ms"]),
      frameCeiling: number("frame-ceiling", v["frame-ceiling"]),
      baseline: v.baseline ? await loadBaseline(v.baseline) : undefined,
      strict: v.strict,
      tokenA: v["token-a"],
      tokenB: v["token-b"],
      jwtSecret: v["jwt-secret"] ?? env("LAYIM_WS_JWT_SECRET"),
      origin: v.origin,
      onStart: (info) => write(formatHeader(info)),
      onResult: (r) => write(formatResult(r, v.verbose)),
    };
    const report = await runConformance(options);
    for (const line of [...formatRequirements(report), ...formatBaseline(report)]) write(line);
    write(formatSummary(report));
    if (v.report) await Deno.writeTextFile(v.report, JSON.stringify(report, null, 2) + "\n");
    if (v.junit) await Deno.writeTextFile(v.junit, toJUnit(report));
    if (v["write-baseline"]) {
      const baseline = makeBaseline(report.results, {
        profile: report.profile,
        target: report.target.url,
      });
      await Deno.writeTextFile(v["write-baseline"], JSON.stringify(baseline, null, 2) + "\n");
      write(`wrote ${v["write-baseline"]}: ${baseline.failures.length} expected failures`);
    }
    return report.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof OtherProtocolError) {
      write(`${error.message[0].toUpperCase()}${error.message.slice(1)}.`);
      return 2;
    }
    if (
      error instanceof UsageError || error instanceof DialectError ||
      error instanceof BaselineError
    ) {
      write(`usage error: ${error.message} (see --help)`);
      return 2;
    }
    if (error instanceof SetupError) {
      write(`connection error: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
