/**
 * A simulated LayIM client: one session of a user over a {@link WireClient}, speaking the run's
 * profile (legacy, a dialect of it, or v1) for identify, sendMessage and what it receives.
 *
 * @module
 */
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import type { Profile } from "../schemas/protocol.ts";
import {
  type Dialect,
  identifyText,
  isLoginReply,
  jsonId,
  noticeOf,
  readMessage,
  wrapMessage,
} from "./dialect.ts";
import type { ReceivedMessage, WireClient } from "./wire.ts";

/** A LayIM getMessage object as received (members checked by the cases, not assumed). */
export type Message = Record<string, unknown>;

/** What a peer needs to know about the run. */
export interface PeerSettings {
  profile: Profile;
  dialect: Dialect;
  timeoutMs: number;
}

/** Options of {@link Peer.send}. */
export interface SendOptions {
  /** v1 correlation string, asking for an outcome frame. */
  ref?: string;
  /** Overrides `mine.id` (default: the sender's own id, as LayIM sets it). */
  mineId?: string | number;
  /** Extra members merged into `mine` (`undefined` removes one). */
  mine?: Record<string, unknown>;
  /** Extra members merged into `to` (e.g. `type: "group"`). */
  to?: Record<string, unknown>;
}

const OUTCOMES = new Set(["ack", "undelivered", "error"]);

/** The tag of frames sent as bad input ({@link Peer.offend}). */
export const OFFENDING = "offending";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whether a presence frame's `online` or `offline` member lists `user`. */
function listed(ids: unknown, user: string): boolean {
  return Array.isArray(ids) && ids.includes(user);
}

function defined(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}

/** One simulated client session of a user. */
export class Peer {
  /** The token sent when identifying (v1), if any. */
  token: string | undefined;
  /** Set when the case expects the server to end this connection (a refusal, a fatal offence). */
  closeExpected = false;
  /** The data frames (by number) the server is known to have handled with the connection open. */
  handledUpTo = 0;

  /** A peer of `user` over `wire`, in a run with `settings`. */
  constructor(
    readonly settings: PeerSettings,
    readonly user: string,
    readonly wire: WireClient,
  ) {}

  /** Name in transcripts, e.g. `A`, `B2`. */
  get label(): string {
    return this.wire.label;
  }

  /** The URL it connected to. */
  get url(): string {
    return this.wire.url;
  }

  /** The subprotocol the server selected (`""` for none). */
  get protocol(): string {
    return this.wire.protocol;
  }

  /** Whether the connection is still open. */
  get open(): boolean {
    return this.wire.open;
  }

  /** The display name this client uses in its frames. */
  get username(): string {
    return `user ${this.label}`;
  }

  get #v1(): boolean {
    return this.settings.profile === "v1" && this.wire.protocol === SUBPROTOCOL;
  }

  /** Sends a text frame as-is. */
  sendText(text: string): void {
    this.wire.sendText(text);
  }

  /** Sends a frame the case means as bad input: a close after it is blamed on it. */
  offend(text: string | Uint8Array): void {
    if (typeof text === "string") this.wire.sendText(text, OFFENDING);
    else this.wire.sendBinary(text, OFFENDING);
  }

  /** Sends the identify frame for `id` (default: this peer's user), in the run's profile. */
  identify(id: string | number = this.user): void {
    if (this.#v1) {
      const frame: Record<string, unknown> = { type: "identify", id };
      if (this.token !== undefined) frame.token = this.token;
      this.sendText(JSON.stringify(frame));
      return;
    }
    const text = identifyText(this.settings.dialect, String(id), {
      username: this.username,
      avatar: "",
      token: this.token,
    });
    if (text !== undefined) this.sendText(text);
  }

  /** Sends a LayIM sendMessage to `to` with `content`. */
  send(to: string | number, content: unknown, options: SendOptions = {}): void {
    this.sendText(this.messageText(to, content, options));
  }

  /** The text of a LayIM sendMessage frame as this peer's profile and dialect write it. */
  messageText(to: string | number, content: unknown, options: SendOptions = {}): string {
    const dialect = this.settings.dialect;
    const payload: Record<string, unknown> = {
      mine: defined({
        username: this.username,
        avatar: "",
        id: options.mineId ?? jsonId(dialect, this.user),
        mine: true,
        content,
        ...options.mine,
      }),
      to: defined({
        username: "friend",
        id: typeof to === "number" ? to : jsonId(dialect, to),
        avatar: "",
        type: "friend",
        ...options.to,
      }),
    };
    if (options.ref !== undefined) payload.ref = options.ref;
    return this.#v1 ? JSON.stringify(payload) : wrapMessage(dialect, payload);
  }

  /** The chat message in `frame`, if it is one (per profile and dialect). */
  messageOf(frame: ReceivedMessage): Message | undefined {
    if (this.#v1) {
      return isObject(frame.json) && frame.json.type === "friend" ? frame.json : undefined;
    }
    return readMessage(this.settings.dialect, frame.json)?.message;
  }

  /** The members of the message with `content` that the page filled in (dialect defaults). */
  filledBy(content: string): string[] {
    for (const f of this.wire.received) {
      const read = readMessage(this.settings.dialect, f.json);
      if (read?.message.content === content) return read.filled;
    }
    return [];
  }

  /** Every chat message received so far. */
  messages(): Message[] {
    return this.wire.received.flatMap((f): Message[] => {
      const m = this.messageOf(f);
      return m ? [m] : [];
    });
  }

  /** Every chat message received so far with exactly this content. */
  messagesWith(content: unknown): Message[] {
    return this.messages().filter((m) => m.content === content);
  }

  /** Waits for a chat message with `content`; `undefined` on timeout or close. */
  waitMessage(content: unknown, timeoutMs = this.settings.timeoutMs): Promise<Message | undefined> {
    return this.wire.waitFor((f) => {
      const m = this.messageOf(f);
      return m && m.content === content ? m : undefined;
    }, timeoutMs);
  }

  /** Waits until `count` chat messages satisfying `filter` have arrived; returns them. */
  async waitMessages(
    count: number,
    filter: (m: Message) => boolean = () => true,
    timeoutMs = this.settings.timeoutMs,
  ): Promise<Message[]> {
    await this.wire.waitFor(
      () => this.messages().filter(filter).length >= count ? true : undefined,
      timeoutMs,
    );
    return this.messages().filter(filter);
  }

  /** Waits for a JSON frame satisfying `match`; `undefined` on timeout or close. */
  waitFrame(
    match: (frame: Record<string, unknown>) => boolean,
    timeoutMs = this.settings.timeoutMs,
  ): Promise<Record<string, unknown> | undefined> {
    return this.wire.waitFor(
      (f) => isObject(f.json) && match(f.json) ? f.json : undefined,
      timeoutMs,
    );
  }

  /** Whether `frame` is the dialect's login reply. */
  isLoginReply(frame: unknown): boolean {
    return isLoginReply(this.settings.dialect, frame);
  }

  /** Every dialect notice with this meaning received so far. */
  notices(means: "offline"): number {
    return this.wire.received.filter((f) => noticeOf(this.settings.dialect, f.json) === means)
      .length;
  }

  /** Waits until more than `seen` notices with this meaning have arrived. */
  async waitNotice(means: "offline", seen: number, timeoutMs: number): Promise<boolean> {
    await this.wire.waitFor(() => this.notices(means) > seen ? true : undefined, timeoutMs);
    return this.notices(means) > seen;
  }

  /** Every received JSON frame of v1 control `type`. */
  framesOfType(type: string): Record<string, unknown>[] {
    return this.wire.received.flatMap((f) =>
      isObject(f.json) && f.json.type === type ? [f.json] : []
    );
  }

  /** Waits for the v1 outcome frame (ack, undelivered or error) carrying `ref`. */
  waitOutcome(
    ref: string,
    timeoutMs = this.settings.timeoutMs,
  ): Promise<Record<string, unknown> | undefined> {
    return this.waitFrame((f) => OUTCOMES.has(f.type as string) && f.ref === ref, timeoutMs);
  }

  /** Every v1 outcome frame received carrying `ref`. */
  outcomes(ref: string): Record<string, unknown>[] {
    return this.wire.received.flatMap((f) =>
      isObject(f.json) && OUTCOMES.has(f.json.type as string) && f.json.ref === ref ? [f.json] : []
    );
  }

  /** v1 presence: sends a `watch` frame for `ids`. */
  watch(
    ids: readonly (string | number)[],
    options: { mode?: "replace" | "add"; ref?: string } = {},
  ) {
    this.sendText(JSON.stringify({ type: "watch", ids, ...options }));
  }

  /** The state of `user` as the presence frames received so far tell it, if they do. */
  presenceOf(user: string): "online" | "offline" | undefined {
    let state: "online" | "offline" | undefined;
    for (const f of this.framesOfType("presence")) {
      if (listed(f.online, user)) state = "online";
      else if (listed(f.offline, user)) state = "offline";
    }
    return state;
  }

  /** Presence frames received so far that report `user`, in order. */
  presenceFramesAbout(user: string): Record<string, unknown>[] {
    return this.framesOfType("presence").filter((f) =>
      listed(f.online, user) || listed(f.offline, user)
    );
  }

  /** Waits until the presence frames report `user` as `state`; false on timeout or close. */
  async waitPresence(
    user: string,
    state: "online" | "offline",
    timeoutMs = this.settings.timeoutMs,
  ): Promise<boolean> {
    await this.wire.waitFor(() => this.presenceOf(user) === state ? true : undefined, timeoutMs);
    return this.presenceOf(user) === state;
  }

  /** Waits for the answer to the watch with `ref`: its `presence` frame, or an `error`. */
  waitWatchAnswer(
    ref: string,
    timeoutMs = this.settings.timeoutMs,
  ): Promise<Record<string, unknown> | undefined> {
    return this.waitFrame(
      (f) => (f.type === "presence" || f.type === "error") && f.ref === ref,
      timeoutMs,
    );
  }

  /** Ends the connection cleanly and waits for the end of the closing handshake. */
  async close(): Promise<void> {
    await this.wire.close(1000, "", this.settings.timeoutMs);
  }

  /** Drops the TCP connection without a close frame. */
  drop(): Promise<void> {
    return this.wire.destroy();
  }
}
