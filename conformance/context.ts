/**
 * The context a case runs in: the run's settings, random users, and the simulated peers it
 * opens (every one is closed when the case ends, and its transcript goes into the report).
 *
 * @module
 */
import { ErrorCodes, type Limits, type Profile, SUBPROTOCOL } from "../schemas/protocol.ts";
import type { Ready } from "../schemas/types.ts";
import { CaseFailure, CaseSkip } from "./case.ts";
import { carries, connectUrl, DEFAULT_ID_RANGE, type Dialect, idRange } from "./dialect.ts";
import { Peer } from "./peer.ts";
import type { TokenSource } from "./tokens.ts";
import { WireClient, type WireOptions } from "./wire.ts";

/** Settings shared by every case of a run. */
export interface RunSettings {
  /** URL of the server under test. */
  url: string;
  /** URL for clients opened with `node: "b"`. */
  urlB: string;
  /** The profile the run speaks. */
  profile: Profile;
  /** The dialect (the built-in legacy one unless given). */
  dialect: Dialect;
  /** True when the dialect is the built-in legacy profile (exact frames apply). */
  builtin: boolean;
  /** Timeout for any expected frame or close, ms. */
  timeoutMs: number;
  /** Legacy: delay after identify when the dialect names no login reply, ms. */
  settleMs: number;
  /** Quiet window for "nothing arrives" checks, ms. */
  quietMs: number;
  /** How long a server may take to process the end of a session, ms. */
  cleanupMs: number;
  /** The largest frame the runner sends looking for a frame size limit, bytes. */
  frameCeiling: number;
  /** The limits the cases use. */
  limits: Limits;
  /** Whether `limits` were advertised by the server (v1 `ready`) rather than the defaults. */
  advertised: boolean;
  /** The optional features the server's `ready` listed (v1; none for legacy). */
  features: readonly string[];
  /** The server's presence parameters (`ready.presence`), when it offers presence. */
  presence?: Ready["presence"];
  /** Extra handshake headers (e.g. `Origin`). */
  headers: Record<string, string>;
  /** Where tokens come from. */
  tokens: TokenSource;
  /** `performance.now()` at the start of the run. */
  epoch: number;
  /** Every id handed out in this run (random ids never repeat within a run). */
  used: Set<string>;
}

/** Options of {@link CaseContext.open}. */
export interface OpenOptions {
  /** Connect to `--url-b` instead of `--url` (a recipient on another relay node). */
  node?: "a" | "b";
  /** Override the subprotocols offered (default: the run's profile). */
  protocols?: string[];
  /** The token to send (legacy: in the URL; v1: in identify); default: the user's token. */
  token?: string | null;
  /** Users the token names as friends (whom this user may watch), when tokens are minted. */
  friends?: readonly string[];
  /** Handshake changes for cases that test the server's WebSocket layer. */
  wire?: Pick<WireOptions, "replaceHeaders" | "early">;
}

/** Resolves after `ms`: only for settle delays, quiet windows and poll intervals. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function randomBelow(n: number): number {
  const [hi, lo] = crypto.getRandomValues(new Uint32Array(2));
  return Math.floor(((hi * 2 ** 32 + lo) / 2 ** 64) * n);
}

/** The context one case runs in. */
export class CaseContext {
  /** Every peer opened by the case, in order. */
  readonly peers: Peer[] = [];
  /** Informational findings, shown with the result. */
  readonly notes: string[] = [];
  readonly #settings: RunSettings;
  readonly #labels = new Map<string, string>();
  readonly #sessions = new Map<string, number>();
  #fixed = 0;
  #seq = 0;

  /** A fresh context (no peers yet) for one case of a run with `settings`. */
  constructor(settings: RunSettings) {
    this.#settings = settings;
  }

  /** The run's settings. */
  get settings(): Readonly<RunSettings> {
    return this.#settings;
  }
  /** The profile of the run. */
  get profile(): Profile {
    return this.#settings.profile;
  }
  /** The dialect (the built-in legacy one unless `--dialect` was given). */
  get dialect(): Dialect {
    return this.#settings.dialect;
  }
  /** True when running the built-in legacy profile or v1 (exact frames apply). */
  get builtin(): boolean {
    return this.#settings.builtin;
  }
  /** The limits: advertised by the server (v1) or the protocol defaults. */
  get limits(): Limits {
    return this.#settings.limits;
  }
  /** Whether {@link CaseContext.limits} were advertised by the server. */
  get advertised(): boolean {
    return this.#settings.advertised;
  }
  /** Timeout for any expected frame or close. */
  get timeoutMs(): number {
    return this.#settings.timeoutMs;
  }
  /** How long a server may take to process the end of a session. */
  get cleanupMs(): number {
    return this.#settings.cleanupMs;
  }
  /** The token source of the run. */
  get tokens(): TokenSource {
    return this.#settings.tokens;
  }
  /** The optional features the server's `ready` listed. */
  get features(): readonly string[] {
    return this.#settings.features;
  }

  /** Skips the case unless the server's `ready` listed `feature`. */
  needsFeature(feature: string): void {
    if (!this.features.includes(feature)) {
      this.skip(`the server does not offer ${feature} (not in ready.features)`);
    }
  }

  /**
   * Skips the case unless the run's outgoing frames carry the payload member at `path` (a
   * dialect whose send template flattens LayIM's object may leave it out).
   */
  needs(path: string, why: string): void {
    if (this.profile === "legacy" && !carries(this.dialect, path)) {
      this.skip(`the dialect's send template does not carry ${path}, needed ${why}`);
    }
  }

  /** Milliseconds since the start of the run (the time base of transcripts). */
  now(): number {
    return Math.round(performance.now() - this.#settings.epoch);
  }

  /**
   * A new random user id (`c` + base36, or an integer in the dialect's range when it uses
   * numeric ids or `numeric` is set). With fixed token users, hands those out in order.
   */
  user(options: { numeric?: boolean; length?: number } = {}): string {
    const fixed = this.#settings.tokens.fixedUsers;
    if (fixed) {
      if (options.numeric && !/^\d+$/.test(fixed[this.#fixed] ?? "")) {
        throw new CaseSkip("needs a random numeric user id; pass --jwt-secret instead of tokens");
      }
      if (options.length !== undefined) {
        throw new CaseSkip("needs a random user id; pass --jwt-secret instead of tokens");
      }
      const id = fixed[this.#fixed++];
      if (id === undefined) {
        throw new CaseSkip(`needs ${fixed.length + 1} users; pass --jwt-secret to mint tokens`);
      }
      return id;
    }
    return this.#random(options.numeric, options.length);
  }

  /** A random id that is never connected (an offline recipient, a spoofed sender). */
  stranger(): string {
    return this.#random();
  }

  #random(numeric = false, length?: number): string {
    const range = idRange(this.dialect) ?? (numeric ? DEFAULT_ID_RANGE : undefined);
    for (;;) {
      let id = range
        ? String(range.min + randomBelow(range.max - range.min + 1))
        : "c" + crypto.getRandomValues(new Uint32Array(2)).reduce((s, n) => s + n.toString(36), "");
      if (length !== undefined) id = id.padEnd(length, "x").slice(0, length);
      if (!this.#settings.used.has(id)) {
        this.#settings.used.add(id);
        return id;
      }
    }
  }

  #label(user: string): string {
    let base = this.#labels.get(user);
    if (!base) {
      base = String.fromCharCode(65 + (this.#labels.size % 26));
      this.#labels.set(user, base);
    }
    const n = (this.#sessions.get(user) ?? 0) + 1;
    this.#sessions.set(user, n);
    return n === 1 ? base : `${base}${n}`;
  }

  /** The label `user`'s sessions have (e.g. `B` for B, B2, B3), once one was opened. */
  labelOf(user: string): string {
    return this.#labels.get(user) ?? user;
  }

  /** Opens a connection for `user` without identifying (path/query dialects identify by URL). */
  async open(user: string, options: OpenOptions = {}): Promise<Peer> {
    const s = this.#settings;
    const token = options.token === null
      ? undefined
      : options.token ?? await s.tokens.tokenFor(user, options.friends);
    const base = options.node === "b" ? s.urlB : s.url;
    const v1 = s.profile === "v1";
    // v1 carries the token in the identify frame; legacy in the URL (IDENT-11).
    const url = v1 ? base : connectUrl(s.dialect, base, user, token);
    const wire = await WireClient.connect({
      url,
      label: this.#label(user),
      protocols: options.protocols ?? (v1 ? [SUBPROTOCOL] : []),
      headers: s.headers,
      epoch: s.epoch,
      timeoutMs: s.timeoutMs,
      ...options.wire,
    });
    const peer = new Peer(s, user, wire);
    peer.token = token;
    this.peers.push(peer);
    return peer;
  }

  /**
   * Opens and identifies a session of `user`; resolves once it is registered: on `ready` (v1),
   * on the dialect's login reply, or after the settle delay (legacy has no acknowledgement).
   */
  async connect(user: string, options: OpenOptions = {}): Promise<Peer> {
    const peer = await this.open(user, options);
    peer.identify();
    await this.identified(peer);
    return peer;
  }

  /** Waits until `peer`'s identify is accepted (see {@link CaseContext.connect}). */
  async identified(peer: Peer): Promise<Record<string, unknown> | undefined> {
    if (this.profile === "v1") {
      const ready = await peer.waitFrame((f) =>
        f.type === "ready" ||
        f.type === "error" && ErrorCodes[f.code as keyof typeof ErrorCodes]?.fatal === true
      );
      if (ready?.type !== "ready") {
        throw new CaseFailure(
          `a ready frame for ${peer.label} (user ${peer.user})`,
          ready ? JSON.stringify(ready) : closedOrNothing(peer, this.timeoutMs),
          "IDENT-4",
        );
      }
      return ready;
    }
    if (this.dialect.identify.reply) {
      const reply = await peer.waitFrame((f) => peer.isLoginReply(f));
      if (!reply) {
        throw new CaseFailure(
          `the login reply ${JSON.stringify(this.dialect.identify.reply)} for ${peer.label}`,
          closedOrNothing(peer, this.timeoutMs),
          "IDENT-6",
        );
      }
      return reply;
    }
    await delay(this.#settings.settleMs);
    if (!peer.open) {
      throw new CaseFailure(
        `${peer.label} (user ${peer.user}) to stay open after identify`,
        closedOrNothing(peer, this.timeoutMs),
        "IDENT-3",
      );
    }
    return undefined;
  }

  /**
   * Connects two new users: A, then B on node `"b"` (on another relay node when `--url-b` is
   * given). Resolves once both are registered.
   */
  async pair(): Promise<[Peer, Peer]> {
    const a = await this.connect(this.user());
    const b = await this.connect(this.user(), { node: "b" });
    return [a, b];
  }

  /** Waits the quiet window, after which "nothing arrived" is taken as nothing will. */
  quiet(): Promise<void> {
    return delay(this.#settings.quietMs);
  }

  /** A unique content string for this case's messages. */
  content(label = "m"): string {
    return `${label}-${++this.#seq}-${crypto.randomUUID().slice(0, 8)}`;
  }

  /** A unique v1 ref. */
  ref(): string {
    return `r${++this.#seq}`;
  }

  /** Records an informational finding shown with the result. */
  note(text: string): void {
    this.notes.push(text);
  }

  /** Skips the case with a reason. */
  skip(reason: string): never {
    throw new CaseSkip(reason);
  }

  /** Closes every peer of the case and waits for them. */
  async closeAll(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.close().catch(() => {})));
  }
}

/** How `peer` ended, or "nothing" (within `timeoutMs`) while it is open. */
export function closedOrNothing(peer: Peer, timeoutMs: number): string {
  const c = peer.wire.closed;
  if (!c) return `nothing within ${timeoutMs} ms`;
  if (c.by === "network") return "the connection was lost without a close frame (1006)";
  return `${c.by === "server" ? "closed by the server" : "closed"} with ${c.code}${
    c.reason ? ` ${JSON.stringify(c.reason)}` : ""
  }`;
}
