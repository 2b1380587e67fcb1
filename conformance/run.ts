/**
 * The run loop: probe the server (reachable, which profile, another protocol?), run the selected
 * cases one by one, check between cases that the server still accepts connections, and turn
 * each outcome into a result that names the one requirement whose check failed, cause first.
 *
 * @module
 */
import {
  DEFAULT_LIMITS,
  isWebSocketUrl,
  type Limits,
  type Profile,
  SUBPROTOCOL,
} from "../schemas/protocol.ts";
import type { Ready } from "../schemas/types.ts";
import { type Baseline, type BaselineComparison, compareBaseline } from "./baseline.ts";
import { type Case, CaseFailure, CaseSkip, type Level } from "./case.ts";
import { CASES } from "./cases/mod.ts";
import { CaseContext, type RunSettings } from "./context.ts";
import { recognize } from "./detect.ts";
import { connectUrl, type Dialect, LEGACY_DIALECT } from "./dialect.ts";
import type { Peer } from "./peer.ts";
import { levelOf, loadRequirements } from "./requirements.ts";
import { fixedTokens, NO_TOKENS, secretTokens, type TokenSource } from "./tokens.ts";
import { describeEnd } from "./verify.ts";
import { type CloseRecord, HandshakeError, type LoggedFrame, WireClient } from "./wire.ts";

/** Options of {@link runConformance}. Only `url` is required. */
export interface ConformanceOptions {
  /** WebSocket URL of the server under test, e.g. `ws://127.0.0.1:8080/ws`. */
  url: string;
  /** Second URL (another relay node) for the receiving side of each case; default `url`. */
  urlB?: string;
  /** `auto` (default) offers `layim-ws.v1` and falls back to legacy when it is not selected. */
  profile?: "auto" | Profile;
  /** A dialect of the legacy profile (see `dialect.schema.json`); implies the legacy profile. */
  dialect?: Dialect;
  /** Run only cases whose id matches one of these globs or prefixes (`routing`, `v1/*`). */
  only?: string[];
  /** Leave out cases whose id matches one of these globs or prefixes. */
  skip?: string[];
  /** Timeout for every expected frame or close, ms (default 3000). */
  timeoutMs?: number;
  /** Legacy: delay after identify when the dialect names no login reply, ms (default 150). */
  settleMs?: number;
  /** Quiet window for "nothing arrives" checks, ms (default 250). */
  quietMs?: number;
  /** How long the server may take to process the end of a session, ms (default 1200). */
  cleanupMs?: number;
  /** The largest frame sent looking for a legacy frame size limit, bytes (default 16 MiB). */
  frameCeiling?: number;
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
  /** Expected failures: they are reported as known and do not make the run fail. */
  baseline?: Baseline;
  /** Called once the server has been probed, before the first case. */
  onStart?: (info: RunInfo) => void;
  /** Called with each result as its case finishes (console progress). */
  onResult?: (result: CaseResult) => void;
}

/**
 * The status of one case: `finding` is a failed SHOULD, `info` an informational case, `error`
 * a case that could not judge the server (it was unreachable, or the runner failed).
 */
export type Status = "pass" | "fail" | "finding" | "skip" | "info" | "error";

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
  /** How the connection ended (who, code, after which frame), if it did during the case. */
  end?: CloseRecord;
}

/** The result of one case. */
export interface CaseResult {
  /** Stable case id, e.g. `routing/exactly-once`. */
  id: string;
  /** What the case checks, in one line. */
  title: string;
  /** The case group (first segment of the id). */
  group: string;
  /** MUST, SHOULD or INFO: the failed requirement's level, else the case's. */
  level: Level;
  /** The requirements the case checks, quoted from the spec. */
  requirements: Requirement[];
  /** The outcome. */
  status: Status;
  /** On `fail` and `finding`: the id of the one requirement whose check failed. */
  requirement?: string;
  /** On `fail` and `finding`: what caused the failure, when it is not `actual` itself. */
  cause?: string;
  /** What the failed check expected. */
  expected?: string;
  /** What it saw instead. */
  actual?: string;
  /** Why it was skipped, or why it could not judge (`error`). */
  reason?: string;
  /** With a baseline: the baseline expects this failure. */
  known?: boolean;
  /** Wall time of the case, ms. */
  durationMs: number;
  /** Informational findings (what happened to an offender, limits found…). */
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
  timing: { timeoutMs: number; settleMs: number; quietMs: number; cleanupMs: number };
  /** The limits the cases used. */
  limits: Limits;
  /** Whether `limits` were advertised by the server (v1) rather than the defaults. */
  limitsAdvertised: boolean;
  /** Whether SHOULD findings fail the run. */
  strict: boolean;
  /** ISO time the run started. */
  startedAt: string;
}

/** A failed requirement and the cases whose failure named it. */
export interface FailedRequirement {
  id: string;
  level: Level;
  cases: string[];
}

/** A whole run. */
export interface Report extends RunInfo {
  /** Wall time of the whole run, ms. */
  durationMs: number;
  /** One result per selected case, in run order. */
  results: CaseResult[];
  /** Counts by status (`findings` are failed SHOULDs; `known` are failures the baseline has). */
  summary: {
    passed: number;
    failed: number;
    skipped: number;
    findings: number;
    info: number;
    errors: number;
    known: number;
    total: number;
  };
  /** What is wrong, by requirement: each failed requirement with the cases that named it. */
  failedRequirements: FailedRequirement[];
  /** The comparison with the baseline, when one was given. */
  baseline?: BaselineComparison;
  /** True when no case failed beyond the baseline and none ended in an error. */
  ok: boolean;
}

/** The run could not start: bad options, the server is unreachable or refuses every identify. */
export class SetupError extends Error {}

/** The server speaks another protocol (Socket.IO, SockJS, STOMP…): the message says which. */
export class OtherProtocolError extends SetupError {}

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

function transcripts(peers: readonly Peer[]): Transcript[] {
  return peers.map((p) => {
    const all = p.wire.log.map((f) => ({
      ...f,
      text: f.text.length > 300 ? `${f.text.slice(0, 300)}… (${f.text.length} chars)` : f.text,
    }));
    const omitted = Math.max(0, all.length - MAX_FRAMES);
    const frames = omitted
      ? [...all.slice(0, MAX_FRAMES / 2), ...all.slice(all.length - MAX_FRAMES / 2)]
      : all;
    return { label: p.label, user: p.user, url: p.url, frames, omitted, end: p.wire.closed };
  });
}

/** The first end of a peer that the case did not ask for, as the cause of a failure. */
function unexpectedEnd(peers: readonly Peer[], before: number): string | undefined {
  const ends = peers
    .filter((p) => p.wire.closed && p.wire.closed.by !== "client" && !p.closeExpected)
    .filter((p) => p.wire.closed!.at <= before)
    .sort((x, y) => x.wire.closed!.at - y.wire.closed!.at);
  return ends.length ? describeEnd(ends[0]) : undefined;
}

/** The first connection the server ended, as the frames that stopped it. */
function firstEnd(peers: readonly Peer[]): string | undefined {
  const ends = peers
    .filter((p) => p.wire.closed && p.wire.closed.by !== "client")
    .sort((x, y) => x.wire.closed!.at - y.wire.closed!.at);
  return ends.length ? describeEnd(ends[0]) : undefined;
}

function tokenSource(o: ConformanceOptions): TokenSource {
  if (o.jwtSecret) return secretTokens(o.jwtSecret);
  const fixed = [o.tokenA, o.tokenB].filter((t): t is string => !!t);
  if (fixed.length === 0) return NO_TOKENS;
  try {
    return fixedTokens(fixed);
  } catch (error) {
    throw new SetupError((error as Error).message);
  }
}

/**
 * The URL a connection that does not identify can use: the target itself, or with a random id
 * in it when the dialect identifies by URL (such a server may have nothing at the bare path).
 */
function probeUrl(s: RunSettings, base: string): string {
  return connectUrl(s.dialect, base, new CaseContext(s).stranger());
}

/** Whether the server accepts a WebSocket handshake; the error when it does not within the timeout. */
async function reachable(s: RunSettings): Promise<string | undefined> {
  const deadline = performance.now() + s.timeoutMs;
  for (const base of new Set([s.url, s.urlB])) {
    const url = probeUrl(s, base);
    for (;;) {
      try {
        const probe = await WireClient.connect({
          url,
          label: "health",
          headers: s.headers,
          timeoutMs: Math.max(100, deadline - performance.now()),
        });
        await probe.close(1000, "", s.timeoutMs);
        break;
      } catch (error) {
        // A refused connection fails at once: retry briefly in case it was a momentary backlog.
        if (performance.now() + 50 > deadline) return (error as Error).message;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
  return undefined;
}

/** Opens the probe connection: the profile the server takes, and another protocol if any. */
async function detectProfile(o: ConformanceOptions, s: RunSettings): Promise<Profile> {
  if (o.dialect && o.profile === "v1") {
    throw new SetupError("a dialect describes a legacy server: drop --profile v1");
  }
  const offer = !o.dialect && o.profile !== "legacy";
  const url = probeUrl(s, s.url);
  const open = (protocols: string[]) =>
    WireClient.connect({
      url,
      label: "probe",
      protocols,
      headers: s.headers,
      epoch: s.epoch,
      timeoutMs: s.timeoutMs,
    });
  let probe: WireClient;
  try {
    probe = await open(offer ? [SUBPROTOCOL] : []);
  } catch (error) {
    if (!(error instanceof HandshakeError)) throw error;
    const other = recognize({ handshake: error });
    if (other) throw new OtherProtocolError(other);
    // Some legacy servers refuse a handshake offering an unknown subprotocol: retry without.
    if (!offer || o.profile === "v1") throw new SetupError(error.message);
    try {
      probe = await open([]);
    } catch (again) {
      if (!(again instanceof HandshakeError)) throw again;
      throw new SetupError(recognize({ handshake: again }) ?? again.message);
    }
  }
  // Engine.IO and SockJS speak first: give the server a quiet window to do so.
  await probe.until(() => probe.received.length > 0, s.quietMs);
  const other = recognize({ protocol: probe.protocol, received: probe.received });
  await probe.close(1000, "", s.timeoutMs);
  if (other) throw new OtherProtocolError(other);
  const selected = probe.protocol === SUBPROTOCOL;
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
    try {
      const ready = await ctx.identified(peer);
      await peer.wire.until(() => peer.wire.received.length > 0, s.quietMs);
      const other = recognize({ received: peer.wire.received });
      if (other) throw new OtherProtocolError(other);
      return ready;
    } catch (error) {
      if (!(error instanceof CaseFailure)) throw error;
      const other = recognize({ received: peer.wire.received });
      if (other) throw new OtherProtocolError(other);
      const auth = /\b4001\b|unauthorized/.test(error.actual);
      throw new SetupError(
        auth
          ? `the server requires a token (${error.actual}): pass --jwt-secret or --token-a/--token-b`
          : `the server refused a valid identify: expected ${error.expected}, got ${error.actual}`,
      );
    }
  } catch (error) {
    if (error instanceof HandshakeError) throw new SetupError(error.message);
    throw error;
  } finally {
    await ctx.closeAll();
  }
}

/** Runs one case and judges it (the health check afterwards is the caller's). */
async function runCase(
  c: Case,
  settings: RunSettings,
  strict: boolean,
  quotes: Map<string, string>,
): Promise<{ result: CaseResult; ctx?: CaseContext }> {
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
    return { result };
  }
  const ctx = new CaseContext(settings);
  try {
    await c.run(ctx);
  } catch (error) {
    if (error instanceof CaseSkip) {
      result.status = "skip";
      result.reason = error.message;
    } else if (error instanceof CaseFailure) {
      const requirement = error.requirement ?? c.requirements[0];
      const text = quotes.get(requirement);
      const level: Level = text ? levelOf(text) === "MUST" ? "MUST" : "SHOULD" : c.level;
      result.requirement = requirement;
      result.level = level;
      result.expected = error.expected;
      result.actual = error.actual;
      result.cause = error.cause ?? unexpectedEnd(ctx.peers, ctx.now());
      if (!result.requirements.some((r) => r.id === requirement)) {
        result.requirements.push({ id: requirement, text });
      }
      result.status = level === "MUST" || strict ? "fail" : "finding";
      result.transcripts = transcripts(ctx.peers);
    } else {
      result.status = "error";
      result.reason = error instanceof HandshakeError
        ? error.message
        : `runner error: ${(error as Error)?.stack ?? error}`;
      result.transcripts = transcripts(ctx.peers);
    }
  } finally {
    await ctx.closeAll();
  }
  result.notes = ctx.notes;
  result.durationMs = Math.round(performance.now() - start);
  return { result, ctx };
}

/** The failed requirements of `results`, in the order they first failed. */
function byRequirement(results: readonly CaseResult[]): FailedRequirement[] {
  const out = new Map<string, FailedRequirement>();
  for (const r of results) {
    if ((r.status !== "fail" && r.status !== "finding") || !r.requirement) continue;
    const entry = out.get(r.requirement) ?? { id: r.requirement, level: r.level, cases: [] };
    entry.cases.push(r.id);
    out.set(r.requirement, entry);
  }
  return [...out.values()];
}

/**
 * Runs the selected cases against `options.url` and resolves with the report. Rejects with
 * {@link SetupError} when the run cannot start (unreachable server, auth required without
 * tokens, a v1 run against a server without v1), {@link OtherProtocolError} when the server
 * speaks another protocol.
 */
export async function runConformance(options: ConformanceOptions): Promise<Report> {
  const started = new Date();
  const epoch = performance.now();
  for (const [name, url] of [["url", options.url], ["url-b", options.urlB]]) {
    if (url !== undefined && !isWebSocketUrl(url)) {
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
    cleanupMs: options.cleanupMs ?? 1200,
    frameCeiling: options.frameCeiling ?? 16 * 1024 * 1024,
    limits: { ...DEFAULT_LIMITS },
    advertised: false,
    features: [],
    headers: options.origin ? { origin: options.origin } : {},
    tokens: tokenSource(options),
    epoch,
    used: new Set(),
  };
  settings.profile = await detectProfile(options, settings);
  const ready = await probeIdentify(settings);
  if (ready?.limits) {
    settings.limits = { ...DEFAULT_LIMITS, ...ready.limits as Partial<Limits> };
    settings.advertised = true;
  }
  if (Array.isArray(ready?.features)) settings.features = ready.features.map(String);
  if (typeof ready?.presence === "object") settings.presence = ready.presence as Ready["presence"];
  if (settings.urlB !== settings.url) {
    const down = await reachable({ ...settings, url: settings.urlB });
    if (down) throw new SetupError(down);
  }
  const info: RunInfo = {
    target: { url: settings.url, urlB: settings.urlB },
    profile: settings.profile,
    dialect: dialect.name,
    timing: {
      timeoutMs: settings.timeoutMs,
      settleMs: settings.settleMs,
      quietMs: settings.quietMs,
      cleanupMs: settings.cleanupMs,
    },
    limits: settings.limits,
    limitsAdvertised: settings.advertised,
    strict: options.strict ?? false,
    startedAt: started.toISOString(),
  };
  options.onStart?.(info);
  const quotes = await loadRequirements();
  const results: CaseResult[] = [];
  let downSince: string | undefined;
  for (const c of selectCases(options.only, options.skip)) {
    let result: CaseResult;
    if (downSince !== undefined) {
      result = {
        id: c.id,
        title: c.title,
        group: c.group,
        level: c.level,
        requirements: c.requirements.map((id) => ({ id, text: quotes.get(id) })),
        status: "error",
        reason: `server unreachable since ${downSince}`,
        durationMs: 0,
        notes: [],
      };
    } else {
      const run = await runCase(c, settings, options.strict ?? false, quotes);
      result = run.result;
      const down = run.ctx && await reachable(settings);
      if (down && run.ctx) {
        // This case's frames stopped the server: that, not its own check, is its verdict.
        downSince = c.id;
        const first = firstEnd(run.ctx.peers);
        Object.assign(
          result,
          {
            status: "fail",
            level: "MUST",
            requirement: "ROBUST-1",
            cause: `the server stopped accepting connections during this case${
              first ? `; first ${first}` : ""
            }`,
            expected: "the server to keep accepting connections whatever a client sends",
            actual: down,
            reason: undefined,
            transcripts: transcripts(run.ctx.peers),
          } satisfies Partial<CaseResult>,
        );
        if (!result.requirements.some((r) => r.id === "ROBUST-1")) {
          result.requirements.push({ id: "ROBUST-1", text: quotes.get("ROBUST-1") });
        }
      }
    }
    if (options.baseline && compareBaseline([result], options.baseline).known.length) {
      result.known = true;
    }
    results.push(result);
    options.onResult?.(result);
  }
  const baseline = options.baseline ? compareBaseline(results, options.baseline) : undefined;
  const count = (s: Status) => results.filter((r) => r.status === s).length;
  const summary = {
    passed: count("pass"),
    failed: count("fail"),
    skipped: count("skip"),
    findings: count("finding"),
    info: count("info"),
    errors: count("error"),
    known: results.filter((r) => r.known).length,
    total: results.length,
  };
  const unexpectedFails = results.filter((r) => r.status === "fail" && !r.known).length;
  return {
    ...info,
    durationMs: Math.round(performance.now() - epoch),
    results,
    summary,
    failedRequirements: byRequirement(results),
    baseline,
    ok: unexpectedFails === 0 && summary.errors === 0,
  };
}
