/**
 * `deno task conformance`: runs the conformance cases against a server URL.
 *
 * Exit codes: 0 every MUST passed, 1 a MUST failed (or a SHOULD with `--strict`), 2 usage or
 * connection error.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type ConformanceOptions,
  DialectError,
  listCases,
  loadDialect,
  runConformance,
  selectCases,
  SetupError,
} from "./mod.ts";
import { formatHeader, formatResult, formatSummary, toJUnit } from "./report.ts";

const HELP = `Usage: deno task conformance --url ws://HOST:PORT/PATH [options]

Runs the layim-ws conformance cases against a LayIM WebSocket server.

Target
  --url URL            WebSocket URL of the server under test (required unless --list)
  --url-b URL          second URL (another relay node) for the receiving clients
  --profile P          auto (default: offer layim-ws.v1, fall back to legacy), legacy or v1
  --dialect FILE       JSON dialect of a legacy server (see conformance/dialects/)
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
Output
  --strict             SHOULD findings fail the run
  --report FILE.json   write the JSON report
  --junit FILE.xml     write a JUnit XML report
  --verbose            show the requirements of every case
  --help, -h           this text

Exit: 0 every MUST passed, 1 a MUST failed, 2 usage or connection error.
`;

/** A bad command line. */
class UsageError extends Error {}

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a number of ms`);
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
          `${c.id.padEnd(34)} ${c.level.padEnd(6)} ${c.profiles.join("+").padEnd(10)} ` +
            `${c.requirements.join(",").padEnd(28)} ${c.title}`,
        );
      }
      write(`${cases.length} of ${listCases().length} cases`);
      return 0;
    }
    for (const [name, url] of [["url", v.url], ["url-b", v["url-b"]]]) {
      if (url !== undefined && !/^wss?:\/\/./.test(url)) {
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
      strict: v.strict,
      tokenA: v["token-a"],
      tokenB: v["token-b"],
      jwtSecret: v["jwt-secret"] ?? env("LAYIM_WS_JWT_SECRET"),
      origin: v.origin,
      onStart: (info) => write(formatHeader(info)),
      onResult: (r) => write(formatResult(r, v.verbose)),
    };
    const report = await runConformance(options);
    write(formatSummary(report));
    if (v.report) await Deno.writeTextFile(v.report, JSON.stringify(report, null, 2) + "\n");
    if (v.junit) await Deno.writeTextFile(v.junit, toJUnit(report));
    return report.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof UsageError || error instanceof DialectError) {
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
