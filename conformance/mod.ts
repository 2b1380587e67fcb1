/**
 * The layim-ws conformance runner as a library: point it at any LayIM WebSocket server and get
 * a report of every case, each tied to the requirements of `spec/protocol.md`.
 *
 * ```ts
 * import { runConformance } from "@layim-ws/layim-ws/conformance";
 * const report = await runConformance({ url: "ws://127.0.0.1:8080/ws" });
 * console.log(report.summary, report.ok);
 * ```
 *
 * @module
 */
import { DEFAULT_LIMITS, type Limits, SUBPROTOCOL } from "../schemas/mod.ts";
import {
  type Case,
  CaseContext,
  CaseFailure,
  CaseSkip,
  type Group,
  type Level,
  type Profile,
  type RunSettings,
} from "./case.ts";
import { CASES } from "./cases/mod.ts";
import { ConnectError, type LoggedFrame, SimClient } from "./client.ts";
import { type Dialect, LEGACY_DIALECT } from "./dialect.ts";
import { loadRequirements } from "./requirements.ts";
import { fixedTokens, NO_TOKENS, secretTokens } from "./tokens.ts";

export {
  type BadTokenKind,
  type Case,
  type CaseContext,
  type Group,
  GROUPS,
  type Level,
  type Message,
  type OpenOptions,
  type Peer,
  type Profile,
  type RunSettings,
  type SendOptions,
  type TokenSource,
} from "./case.ts";
export type { ClientOptions, CloseInfo, Endpoint, LoggedFrame, ReceivedFrame } from "./client.ts";
export type { Dialect, IdentifyStyle, Json } from "./dialect.ts";
export type { Limits } from "../schemas/mod.ts";
export { DialectError, loadDialect, parseDialect } from "./dialect.ts";

/** Options of {@link runConformance}. Only `url` is required. */
export interface ConformanceOptions {
  /** WebSocket URL of the server under test, e.g. `ws://127.0.0.1:8080/ws`. */
  url: string;
  /** Second URL (another relay node) for the receiving side of each case; default `url`. */
  urlB?: string;
  /** `auto` (default) offers `layim-ws.v1` and falls back to legacy when it is not selected. */
  profile?: "auto" | Profile;
  /** A dialect of the legacy profile (see `dialect.ts`); implies the legacy profile. */
  dialect?: Dialect;
  /** Run only cases whose id matches one of these globs or prefixes (`routing`, `v1/*`). */
  only?: string[];
  /** Leave out cases whose id matches one of these globs or prefixes. */
  skip?: string[];
  /** Timeout for every expected frame or close, ms (default 3000). */
  timeoutMs?: number;
  /** Legacy: delay after identify before the session is assumed registered, ms (default 150). */
  settleMs?: number;
  /** Quiet window for "nothing arrives" checks, ms (default 250). */
  quietMs?: number;
  /** SHOULD findings fail the run. */
  strict?: boolean;
  /** Fixed token of user A: the cases use its `sub` (cases needing a third user are skipped). */
  tokenA?: string;
  /** Fixed token of user B. */
  tokenB?: string;
  /** HS256 secret: a token is minted for every random user (and refused ones for the token case). */
  jwtSecret?: string;
  /** `Origin` header sent with every handshake (for servers with an origin allow-list). */
  origin?: string;
  /** Called once the server has been probed, before the first case. */
  onStart?: (info: RunInfo) => void;
  /** Called with each result as its case finishes (console progress). */
  onResult?: (result: CaseResult) => void;
}

/** The status of one case: `finding` is a failed SHOULD, `info` an informational case. */
export type Status = "pass" | "fail" | "finding" | "skip" | "info";

/** A requirement a case checks, with its statement quoted from the spec when available. */
export interface Requirement {
  /** Requirement id, e.g. `ROUTE-3`. */
  id: string;
  /** The bracketed statement from `spec/protocol.md`, when the spec could be read. */
  text?: string;
}

/** The frames one simulated client sent and received during a case. */
export interface Transcript {
  /** The client's name in the case, e.g. `B2` (the second session of user B). */
  label: string;
  /** The user id it identified as. */
  user: string;
  /** The URL it connected to. */
  url: string;
  /** What it sent and received, in order (long transcripts keep their start and end). */
  frames: LoggedFrame[];
  /** Frames left out of the middle of a long transcript. */
  omitted: number;
}

/** The result of one case. */
export interface CaseResult {
  /** Stable case id, e.g. `routing/exactly-once`. */
  id: string;
  /** What the case checks, in one line. */
  title: string;
  /** The case group (first segment of the id). */
  group: Group;
  /** MUST, SHOULD or INFO. */
  level: Level;
  /** The requirements the case checks, quoted from the spec. */
  requirements: Requirement[];
  /** The outcome. */
  status: Status;
  /** Wall time of the case, ms. */
  durationMs: number;
  /** Why it was skipped, or the error that ended it. */
  reason?: string;
  /** What the failed check expected. */
  expected?: string;
  /** What it saw instead. */
  actual?: string;
  /** Informational findings (duplicate-session policy, what happened to an offender…). */
  notes: string[];
  /** Present for failures and findings. */
  transcripts?: Transcript[];
}

/** What a run targets and how, known once the server has been probed. */
export interface RunInfo {
  /** The URLs of the run (`urlB` equals `url` unless `--url-b` was given). */
  target: { url: string; urlB: string };
  /** The profile that ran (auto resolves to one of them). */
  profile: Profile;
  /** The dialect name (`legacy` when none was given). */
  dialect: string;
  /** The timing settings in force, ms. */
  timing: { timeoutMs: number; settleMs: number; quietMs: number };
  /** The limits the cases used. */
  limits: Limits;
  /** Whether `limits` were advertised by the server (v1) rather than the defaults. */
  limitsAdvertised: boolean;
  /** Whether SHOULD findings fail the run. */
  strict: boolean;
  /** ISO time the run started. */
  startedAt: string;
}

/** A whole run. */
export interface Report extends RunInfo {
  /** Wall time of the whole run, ms. */
  durationMs: number;
  /** One result per selected case, in run order. */
  results: CaseResult[];
  /** Counts by status (`findings` are failed SHOULDs). */
  summary: {
    passed: number;
    failed: number;
    skipped: number;
    findings: number;
    info: number;
    total: number;
  };
  /** True when no case failed (every MUST passed; with `strict`, every SHOULD too). */
  ok: boolean;
}

/** The run could not start: bad options, the server is unreachable or refuses every identify. */
export class SetupError extends Error {}

/** Every case, for `--list` and documentation. */
export function listCases(): readonly Case[] {
  return CASES;
}

function pattern(p: string): (id: string) => boolean {
  if (p.includes("*")) {
    const re = new RegExp(
      "^" + p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$",
    );
    return (id) => re.test(id);
  }
  const prefix = p.replace(/\/$/, "");
  return (id) => id === prefix || id.startsWith(prefix + "/");
}

/** The cases selected by `only` and `skip` (globs with `*`, or id prefixes such as `routing`). */
export function selectCases(only: string[] = [], skip: string[] = []): Case[] {
  const keep = only.map(pattern);
  const drop = skip.map(pattern);
  return CASES.filter((c) =>
    (keep.length === 0 || keep.some((m) => m(c.id))) && !drop.some((m) => m(c.id))
  );
}

const MAX_FRAMES = 30;

function transcript(ctx: CaseContext): Transcript[] {
  return ctx.peers.map((p) => {
    const all = p.client.log.map((f) => ({
      ...f,
      text: f.text.length > 300 ? `${f.text.slice(0, 300)}… (${f.text.length} chars)` : f.text,
    }));
    const omitted = Math.max(0, all.length - MAX_FRAMES);
    const frames = omitted
      ? [...all.slice(0, MAX_FRAMES / 2), ...all.slice(all.length - MAX_FRAMES / 2)]
      : all;
    return { label: p.label, user: p.user, url: p.url, frames, omitted };
  });
}

function tokenSource(o: ConformanceOptions) {
  if (o.jwtSecret) return secretTokens(o.jwtSecret);
  const fixed = [o.tokenA, o.tokenB].filter((t): t is string => !!t);
  if (fixed.length === 0) return NO_TOKENS;
  try {
    return fixedTokens(fixed);
  } catch (error) {
    throw new SetupError((error as Error).message);
  }
}

async function detectProfile(o: ConformanceOptions, s: RunSettings): Promise<Profile> {
  if (o.dialect) {
    if (o.profile === "v1") {
      throw new SetupError("a dialect describes a legacy server: drop --profile v1");
    }
    return "legacy";
  }
  if (o.profile === "legacy") return "legacy";
  let probe: SimClient;
  try {
    probe = await SimClient.open(
      { label: "probe", url: s.url, protocols: [SUBPROTOCOL], headers: s.headers, epoch: s.epoch },
      s.timeoutMs,
    );
  } catch (error) {
    // Some legacy servers refuse a handshake offering an unknown subprotocol: retry without.
    if (o.profile === "v1" || !(error instanceof ConnectError)) throw error;
    const plain = await SimClient.open(
      { label: "probe", url: s.url, headers: s.headers, epoch: s.epoch },
      s.timeoutMs,
    );
    await plain.close(s.timeoutMs);
    return "legacy";
  }
  const selected = probe.protocol === SUBPROTOCOL;
  await probe.close(s.timeoutMs);
  if (!selected && o.profile === "v1") {
    throw new SetupError(`the server did not select ${SUBPROTOCOL}; try --profile legacy or auto`);
  }
  return selected ? "v1" : "legacy";
}

/** Identifies one random user to learn the limits and catch auth problems before the cases. */
async function probeIdentify(s: RunSettings): Promise<Record<string, unknown> | undefined> {
  const ctx = new CaseContext(s);
  try {
    const peer = await ctx.open(ctx.user());
    peer.identify();
    return await ctx.identified(peer);
  } catch (error) {
    if (!(error instanceof CaseFailure)) throw error;
    const auth = /\b4001\b|unauthorized/.test(error.actual);
    throw new SetupError(
      auth
        ? `the server requires a token (${error.actual}): pass --jwt-secret or --token-a/--token-b`
        : `the server refused a valid identify: expected ${error.expected}, got ${error.actual}`,
    );
  } finally {
    await ctx.closeAll();
  }
}

async function runCase(
  c: Case,
  settings: RunSettings,
  strict: boolean,
  quotes: Map<string, string>,
): Promise<CaseResult> {
  const start = performance.now();
  const result: CaseResult = {
    id: c.id,
    title: c.title,
    group: c.group,
    level: c.level,
    requirements: c.requirements.map((id) => ({ id, text: quotes.get(id) })),
    status: c.level === "INFO" ? "info" : "pass",
    durationMs: 0,
    notes: [],
  };
  if (!c.profiles.includes(settings.profile)) {
    result.status = "skip";
    result.reason = `applies to the ${c.profiles.join(" and ")} profile only`;
    return result;
  }
  const ctx = new CaseContext(settings);
  try {
    await c.run(ctx);
  } catch (error) {
    if (error instanceof CaseSkip) {
      result.status = "skip";
      result.reason = error.message;
    } else {
      if (error instanceof CaseFailure) {
        result.expected = error.expected;
        result.actual = error.actual;
      } else {
        result.reason = `${error instanceof ConnectError ? "" : "error: "}${
          (error as Error).message ?? error
        }`;
      }
      result.status = c.level === "MUST" || (c.level === "SHOULD" && strict)
        ? "fail"
        : c.level === "SHOULD"
        ? "finding"
        : "info";
      result.transcripts = transcript(ctx);
    }
  } finally {
    await ctx.closeAll();
  }
  result.notes = ctx.notes;
  result.durationMs = Math.round(performance.now() - start);
  return result;
}

/**
 * Runs the selected cases against `options.url` and resolves with the report. Rejects with
 * {@link SetupError} when the run cannot start (unreachable server, auth required without
 * tokens, a v1 run against a server without v1).
 */
export async function runConformance(options: ConformanceOptions): Promise<Report> {
  const started = new Date();
  const epoch = performance.now();
  for (const [name, url] of [["url", options.url], ["url-b", options.urlB]]) {
    if (url !== undefined && !/^wss?:\/\/./.test(url)) {
      throw new SetupError(`--${name} must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
    }
  }
  const dialect = options.dialect ?? LEGACY_DIALECT;
  const settings: RunSettings = {
    url: options.url,
    urlB: options.urlB ?? options.url,
    profile: "legacy",
    dialect,
    builtin: !options.dialect,
    timeoutMs: options.timeoutMs ?? 3000,
    settleMs: options.settleMs ?? 150,
    quietMs: options.quietMs ?? 250,
    limits: { ...DEFAULT_LIMITS },
    advertised: false,
    headers: options.origin ? { origin: options.origin } : {},
    tokens: tokenSource(options),
    epoch,
  };
  try {
    settings.profile = await detectProfile(options, settings);
    const ready = await probeIdentify(settings);
    if (ready?.limits) {
      settings.limits = { ...DEFAULT_LIMITS, ...ready.limits as Partial<Limits> };
      settings.advertised = true;
    }
    if (settings.urlB !== settings.url) {
      const probe = await SimClient.open(
        { label: "probe-b", url: settings.urlB, headers: settings.headers, epoch },
        settings.timeoutMs,
      );
      await probe.close(settings.timeoutMs);
    }
  } catch (error) {
    if (error instanceof ConnectError) throw new SetupError(error.message);
    throw error;
  }
  const info: RunInfo = {
    target: { url: settings.url, urlB: settings.urlB },
    profile: settings.profile,
    dialect: dialect.name,
    timing: {
      timeoutMs: settings.timeoutMs,
      settleMs: settings.settleMs,
      quietMs: settings.quietMs,
    },
    limits: settings.limits,
    limitsAdvertised: settings.advertised,
    strict: options.strict ?? false,
    startedAt: started.toISOString(),
  };
  options.onStart?.(info);
  const quotes = await loadRequirements();
  const results: CaseResult[] = [];
  for (const c of selectCases(options.only, options.skip)) {
    const result = await runCase(c, settings, options.strict ?? false, quotes);
    results.push(result);
    options.onResult?.(result);
  }
  const count = (s: Status) => results.filter((r) => r.status === s).length;
  const summary = {
    passed: count("pass"),
    failed: count("fail"),
    skipped: count("skip"),
    findings: count("finding"),
    info: count("info"),
    total: results.length,
  };
  return {
    ...info,
    durationMs: Math.round(performance.now() - epoch),
    results,
    summary,
    ok: summary.failed === 0,
  };
}
