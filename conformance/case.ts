/**
 * What a conformance case is (data plus a small function) and the context it runs in: simulated
 * peers, random users, tokens, the profile's way of identifying and sending, and checks that end
 * the case with expected vs. actual.
 *
 * @module
 */
import { ErrorCodes, type Limits, SUBPROTOCOL, validateServerFrame } from "../schemas/mod.ts";
import {
  type ClientOptions,
  type Endpoint,
  RawClient,
  type ReceivedFrame,
  SimClient,
} from "./client.ts";
import {
  connectUrl,
  type Dialect,
  extractMessage,
  identifyText,
  jsonId,
  wrapMessage,
} from "./dialect.ts";

/** The profile a run speaks: the seed's legacy format (or a dialect of it), or `layim-ws.v1`. */
export type Profile = "legacy" | "v1";
/** How a case's failure counts: MUST fails the run, SHOULD is a finding, INFO only reports. */
export type Level = "MUST" | "SHOULD" | "INFO";
/** The case groups, in run order. */
export const GROUPS = ["identify", "routing", "offline", "cleanup", "robustness", "v1"] as const;
/** A case group. */
export type Group = typeof GROUPS[number];

/** One conformance case: stable id, what it checks, and the function that checks it. */
export interface Case {
  /** Stable id, `group/name`, used by `--only`/`--skip` and in reports. */
  id: string;
  /** What the case checks, in one line. */
  title: string;
  /** The group, the first segment of `id`. */
  group: Group;
  /** Requirement ids of `spec/protocol.md` this case checks, e.g. `ROUTE-1`. */
  requirements: readonly string[];
  /** How a failure counts. */
  level: Level;
  /** The profiles the case applies to; it is skipped in the others. */
  profiles: readonly Profile[];
  /** Runs the case; throws {@link CaseFailure} (via the context's checks) or {@link CaseSkip}. */
  run(ctx: CaseContext): Promise<void>;
}

/** A check failed: what the case expected and what it saw. */
export class CaseFailure extends Error {
  constructor(readonly expected: string, readonly actual: string) {
    super(`expected ${expected}, got ${actual}`);
  }
}

/** The case cannot run against this target (for example it needs tokens). */
export class CaseSkip extends Error {}

/** Where tokens for the run's users come from. */
export interface TokenSource {
  /** The token for `user`, or `undefined` when the run uses no tokens. */
  tokenFor(user: string): Promise<string | undefined>;
  /** Fixed users (from `--token-a/--token-b`): the case must use these ids, in order. */
  readonly fixedUsers?: readonly string[];
  /** Mints a refused token of `kind` for `user`; absent when the run cannot mint tokens. */
  badToken?(user: string, kind: BadTokenKind): Promise<string>;
}

/** The kinds of bad token a run with a secret can mint. */
export type BadTokenKind = "wrong-key" | "expired" | "alg-none" | "other-sub";

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
  /** True when the dialect is the built-in legacy profile (exact close codes and frames apply). */
  builtin: boolean;
  /** Timeout for any expected frame or close, ms. */
  timeoutMs: number;
  /** Legacy: delay after identify, ms. */
  settleMs: number;
  /** Quiet window for "nothing arrives" checks, ms. */
  quietMs: number;
  /** The limits the cases use. */
  limits: Limits;
  /** Whether `limits` were advertised by the server (v1 `ready`) rather than the defaults. */
  advertised: boolean;
  /** Extra handshake headers (e.g. `Origin`). */
  headers: Record<string, string>;
  /** Where tokens come from. */
  tokens: TokenSource;
  /** `performance.now()` at the start of the run. */
  epoch: number;
}

/** A LayIM getMessage object as received (fields checked by the cases, not assumed). */
export type Message = Record<string, unknown>;

/** Options of {@link CaseContext.open}. */
export interface OpenOptions {
  /** Connect to `--url-b` instead of `--url` (a recipient on another relay node). */
  node?: "a" | "b";
  /** Use a raw TCP client that can drop the connection without a close frame. */
  raw?: boolean;
  /** Override the subprotocols offered (default: the run's profile). */
  protocols?: string[];
  /** The token to put in the URL (legacy) or identify frame (v1); default: the user's token. */
  token?: string | null;
}

/** Options of {@link Peer.send}. */
export interface SendOptions {
  /** v1 correlation string, asking for an outcome frame. */
  ref?: string;
  /** Overrides `mine.id` (default: the sender's own id, as LayIM sets it). */
  mineId?: string | number;
  /** Extra members of the LayIM payload, merged into `mine` and `to`. */
  mine?: Record<string, unknown>;
  /** Extra members merged into `to` (e.g. `type: "group"` for an invalid frame). */
  to?: Record<string, unknown>;
}

const OUTCOMES = new Set(["ack", "undelivered", "error"]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One simulated client session of a user, with helpers that speak the run's profile. */
export class Peer {
  /** The token sent when identifying, if any. */
  token: string | undefined;
  /** A peer of `ctx` for `user`, over `client` connected to `url`. */
  constructor(
    readonly ctx: CaseContext,
    readonly user: string,
    readonly client: Endpoint,
    readonly url: string,
  ) {}

  /** Name in transcripts, e.g. `A`, `B2`. */
  get label(): string {
    return this.client.label;
  }

  /** The subprotocol the server selected (`""` for none). */
  get protocol(): string {
    return this.client instanceof SimClient ? this.client.protocol : "";
  }

  /** Whether the connection is still open. */
  get open(): boolean {
    return this.client.closed === undefined;
  }

  /** Sends a text frame as-is. */
  sendText(text: string): void {
    this.client.send(text);
  }

  /** Sends the identify frame for `id` (default: this peer's user), in the run's profile. */
  identify(id: string | number = this.user): void {
    if (this.ctx.profile === "v1") {
      const frame: Record<string, unknown> = { type: "identify", id };
      if (this.token !== undefined) frame.token = this.token;
      this.sendText(JSON.stringify(frame));
    } else {
      const text = identifyText(this.ctx.dialect, String(id));
      if (text !== undefined) this.sendText(text);
    }
  }

  /** Sends a LayIM sendMessage to `to` with `content`. */
  send(to: string | number, content: string, options: SendOptions = {}): void {
    this.sendText(this.messageText(to, content, options));
  }

  /** The text of a LayIM sendMessage frame as this peer's profile and dialect write it. */
  messageText(to: string | number, content: string, options: SendOptions = {}): string {
    const payload: Record<string, unknown> = {
      mine: {
        username: `user ${this.label}`,
        avatar: "",
        id: options.mineId ?? jsonId(this.ctx.dialect, this.user),
        mine: true,
        content,
        ...options.mine,
      },
      to: {
        username: "friend",
        id: typeof to === "number" ? to : jsonId(this.ctx.dialect, to),
        avatar: "",
        type: "friend",
        ...options.to,
      },
    };
    if (options.ref !== undefined) payload.ref = options.ref;
    return this.ctx.profile === "v1"
      ? JSON.stringify(payload)
      : wrapMessage(this.ctx.dialect, payload);
  }

  /** The chat message in `frame`, if it is one (per profile and dialect). */
  messageOf(frame: ReceivedFrame): Message | undefined {
    if (this.ctx.profile === "v1") {
      return isObject(frame.json) && frame.json.type === "friend" ? frame.json : undefined;
    }
    return extractMessage(this.ctx.dialect, frame.json) as Message | undefined;
  }

  /** Every chat message received so far. */
  messages(): Message[] {
    return this.client.received.flatMap((f): Message[] => {
      const m = this.messageOf(f);
      return m ? [m] : [];
    });
  }

  /** Every chat message received so far with exactly this content. */
  messagesWith(content: string): Message[] {
    return this.messages().filter((m) => m.content === content);
  }

  /** Waits for a chat message with `content`; `undefined` on timeout or close. */
  waitMessage(content: string, timeoutMs = this.ctx.timeoutMs): Promise<Message | undefined> {
    return this.client.waitFor((f) => {
      const m = this.messageOf(f);
      return m && m.content === content ? m : undefined;
    }, timeoutMs);
  }

  /** Waits until `count` chat messages satisfying `filter` have arrived; returns them. */
  async waitMessages(
    count: number,
    filter: (m: Message) => boolean = () => true,
    timeoutMs = this.ctx.timeoutMs,
  ): Promise<Message[]> {
    await this.client.waitFor(
      () => this.messages().filter(filter).length >= count ? true : undefined,
      timeoutMs,
    );
    return this.messages().filter(filter);
  }

  /** Waits for a JSON frame satisfying `match`; `undefined` on timeout or close. */
  waitFrame(
    match: (frame: Record<string, unknown>) => boolean,
    timeoutMs = this.ctx.timeoutMs,
  ): Promise<Record<string, unknown> | undefined> {
    return this.client.waitFor(
      (f) => isObject(f.json) && match(f.json) ? f.json : undefined,
      timeoutMs,
    );
  }

  /** Every received JSON frame of v1 control `type`. */
  framesOfType(type: string): Record<string, unknown>[] {
    return this.client.received.flatMap((f) =>
      isObject(f.json) && f.json.type === type ? [f.json] : []
    );
  }

  /** Waits for the v1 outcome frame (ack, undelivered or error) carrying `ref`. */
  waitOutcome(
    ref: string,
    timeoutMs: number = this.ctx.timeoutMs,
  ): Promise<Record<string, unknown> | undefined> {
    return this.waitFrame((f) => OUTCOMES.has(f.type as string) && f.ref === ref, timeoutMs);
  }

  /** Every v1 outcome frame received carrying `ref`. */
  outcomes(ref: string): Record<string, unknown>[] {
    return this.client.received.flatMap((f) =>
      isObject(f.json) && OUTCOMES.has(f.json.type as string) && f.json.ref === ref ? [f.json] : []
    );
  }

  /** Ends the connection (clean close, or TCP drop for a raw peer) and waits for it. */
  close(): Promise<void> {
    return this.client.close(this.ctx.timeoutMs);
  }
}

/** The context a case runs in. Every peer it opens is closed when the case ends. */
export class CaseContext {
  /** Every peer opened by the case, in order (their transcripts go into failure reports). */
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

  /** The profile of the run. */
  get profile(): Profile {
    return this.#settings.profile;
  }
  /** The dialect (the built-in legacy one unless `--dialect` was given). */
  get dialect(): Dialect {
    return this.#settings.dialect;
  }
  /** True when running the built-in legacy profile or v1 (exact codes and frames apply). */
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
  /** The token source of the run. */
  get tokens(): TokenSource {
    return this.#settings.tokens;
  }

  /**
   * A new random user id for this case (`c` + base36, or digits when `numeric` or the dialect
   * uses numeric ids). With fixed token users, hands those out in order and skips beyond them.
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

  /**
   * A random user id that is never connected (an offline recipient, a spoofed sender): it
   * needs no token, so it is available with fixed token users too.
   */
  stranger(): string {
    return this.#random();
  }

  #random(numeric = false, length?: number): string {
    let id = numeric || this.dialect.numericIds
      ? String(7_000_000_000 + Math.floor(Math.random() * 1_000_000_000_000))
      : "c" + crypto.getRandomValues(new Uint32Array(2)).reduce((s, n) => s + n.toString(36), "");
    if (length !== undefined) id = id.padEnd(length, "x").slice(0, length);
    return id;
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

  /** Opens a connection for `user` without identifying (the URL identifies in path/query dialects). */
  async open(user: string, options: OpenOptions = {}): Promise<Peer> {
    const s = this.#settings;
    const token = options.token === null
      ? undefined
      : options.token ?? await s.tokens.tokenFor(user);
    const base = options.node === "b" ? s.urlB : s.url;
    const v1 = s.profile === "v1";
    // v1 carries the token in the identify frame; legacy in the URL (IDENT-11).
    const url = v1 ? base : connectUrl(s.dialect, base, user, token);
    const clientOptions: ClientOptions = {
      label: this.#label(user),
      url,
      protocols: options.protocols ?? (v1 ? [SUBPROTOCOL] : []),
      headers: s.headers,
      epoch: s.epoch,
    };
    const client = options.raw
      ? await RawClient.open(clientOptions, s.timeoutMs)
      : await SimClient.open(clientOptions, s.timeoutMs);
    const peer = new Peer(this, user, client, url);
    if (v1) peer.token = token;
    this.peers.push(peer);
    return peer;
  }

  /**
   * Opens and identifies a session of `user`; resolves once it is registered: on `ready` (v1)
   * or after the settle delay (legacy, which has no acknowledgement). Fails the case when the
   * server refuses.
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
        this.fail(
          `a ready frame for ${peer.label} (user ${peer.user})`,
          ready ? JSON.stringify(ready) : this.#closedOrNothing(peer),
        );
      }
      return ready;
    }
    await this.settle();
    if (!peer.open) {
      this.fail(
        `${peer.label} (user ${peer.user}) to stay open after identify`,
        this.#closedOrNothing(peer),
      );
    }
    return undefined;
  }

  #closedOrNothing(peer: Peer): string {
    const c = peer.client.closed;
    return c ? `close ${c.code}${c.reason ? ` (${c.reason})` : ""}` : "nothing";
  }

  /** Legacy: waits the settle delay after identify. v1 never needs it (it waits for `ready`). */
  async settle(): Promise<void> {
    if (this.profile === "legacy") await delay(this.#settings.settleMs);
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

  /** Fails the case unless `ok`. */
  check(ok: unknown, expected: string, actual: string | (() => string)): asserts ok {
    if (!ok) this.fail(expected, typeof actual === "function" ? actual() : actual);
  }

  /** Fails the case. */
  fail(expected: string, actual: string): never {
    throw new CaseFailure(expected, actual);
  }

  /** Records an informational finding shown with the result. */
  note(text: string): void {
    this.notes.push(text);
  }

  /** Skips the case with a reason. */
  skip(reason: string): never {
    throw new CaseSkip(reason);
  }

  /** Waits for `content` at `to`, sent by `from`; fails the case when it does not arrive. */
  async delivered(to: Peer, content: string, from: Peer): Promise<Message> {
    const m = await to.waitMessage(content);
    this.check(
      m,
      `${to.label} to receive ${from.label}'s message ${JSON.stringify(content)}`,
      () =>
        `nothing within ${this.timeoutMs} ms${to.open ? "" : ` (${this.#closedOrNothing(to)})`}`,
    );
    this.check(
      String(m.id) === from.user && String(m.fromid ?? m.id) === from.user,
      `id and fromid ${JSON.stringify(from.user)} (${from.label})`,
      `id ${JSON.stringify(m.id)}, fromid ${JSON.stringify(m.fromid)}`,
    );
    return m;
  }

  /** After a quiet window, fails unless `peer` received exactly `count` messages with `content`. */
  async exactly(peer: Peer, content: string, count: number): Promise<void> {
    await this.quiet();
    const n = peer.messagesWith(content).length;
    this.check(
      n === count,
      `${peer.label} to receive ${JSON.stringify(content)} ${times(count)}`,
      `${times(n)}`,
    );
  }

  /** Fails unless `peer` received no chat message at all. */
  nothingAt(peer: Peer, why: string): void {
    const got = peer.messages();
    this.check(
      got.length === 0,
      `${peer.label} (user ${peer.user}) to receive nothing (${why})`,
      () => `${got.length} message(s): ${JSON.stringify(got[0])}`,
    );
  }

  /** v1: waits for an `error` frame with `code` (and `ref` when given) and checks its shape. */
  async expectError(peer: Peer, code: string, ref?: string): Promise<Record<string, unknown>> {
    const err = await peer.waitFrame((f) =>
      f.type === "error" && (ref === undefined || f.ref === ref)
    );
    this.check(
      err?.code === code,
      `an error frame with code ${code}${ref ? ` and ref ${ref}` : ""} to ${peer.label}`,
      err ? JSON.stringify(err) : this.#closedOrNothing(peer),
    );
    const shape = validateServerFrame(err);
    this.check(
      shape.ok,
      "an error frame valid against error.schema.json",
      () => `${JSON.stringify(err)}: ${shape.ok ? "" : shape.error}`,
    );
    return err;
  }

  /** Waits for `peer` to be closed with `code`; fails otherwise. */
  async expectClose(peer: Peer, code: number, why: string): Promise<void> {
    const closed = await peer.client.waitClose(this.timeoutMs);
    this.check(
      closed?.code === code,
      `${peer.label} closed with ${code} (${why})`,
      closed ? `close ${closed.code}` : `still open after ${this.timeoutMs} ms`,
    );
  }

  /**
   * Connects two new users: A, then B on node `"b"` (on another relay node when `--url-b` is
   * given). Resolves once both are registered, as {@link CaseContext.connect} does.
   */
  async pair(): Promise<[Peer, Peer]> {
    const a = await this.connect(this.user());
    const b = await this.connect(this.user(), { node: "b" });
    return [a, b];
  }

  /**
   * Sends a new message (content labelled `label`) from `from` to `to`'s user and waits for it
   * at `to` as {@link CaseContext.delivered} does; fails the case when it does not arrive.
   * Returns the content sent.
   */
  async expectDelivery(from: Peer, to: Peer, label?: string): Promise<string> {
    const content = this.content(label);
    from.send(to.user, content);
    await this.delivered(to, content, from);
    return content;
  }

  /** Fails unless A → B and B → A both still deliver (other sessions keep working). */
  async expectWorking(a: Peer, b: Peer): Promise<void> {
    const ab = this.content("still-ab");
    const ba = this.content("still-ba");
    a.send(b.user, ab);
    b.send(a.user, ba);
    await this.delivered(b, ab, a);
    await this.delivered(a, ba, b);
  }

  /** Fails unless a brand-new user can identify and receive a message from `from`. */
  async expectReachable(from: Peer): Promise<void> {
    const fresh = await this.connect(this.user(), { node: "b" });
    await this.expectDelivery(from, fresh, "reachable");
  }

  /** Closes every peer of the case and waits for them. */
  async closeAll(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.close().catch(() => {})));
  }
}

function times(n: number): string {
  return n === 1 ? "exactly once" : `${n} times`;
}

/** Resolves after `ms`: only for the legacy settle delay, quiet windows and poll intervals. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
