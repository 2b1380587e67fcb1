/**
 * The session state machine of one connection, without I/O:
 *
 * ```text
 * awaiting ──identify──────────────────────▶ identified
 *     └──identify, a token to check──▶ verifying ──┘
 * every state ──close, timeout, refusal, connection gone──▶ closed
 * ```
 *
 * A {@linkcode ClientSession} checks every frame (size, rate, schema), identifies the user
 * (verifying a token when the relay requires one), registers with the router, hands messages to
 * it and answers v1 control frames. It writes through a {@linkcode Transport} and is told what
 * happened on the connection by plain calls ({@linkcode SessionEvents}): a server's WebSocket
 * adapter connects the two, and tests drive a session with a fake transport.
 *
 * @module
 */
import { CloseCode, type ErrorCode, type Limits, type Profile } from "../schemas/protocol.ts";
import {
  isSendMessage,
  normalizeId,
  parseClientFrame,
  validateLegacyId,
} from "../schemas/validate.ts";
import { type Authenticator, AuthError, type Identity } from "./auth.ts";
import type { Directory, DirectoryUser } from "./directory.ts";
import { errorFrame, pongFrame, readyFrame } from "./frames.ts";
import { TokenBucket, tooLarge, utf8Length } from "./limits.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { Refusals } from "./refusals.ts";
import type { Presence } from "./presence.ts";
import type { Registry, Session } from "./registry.ts";
import type { Router } from "./router.ts";

/** What a session needs of its connection. */
export interface Transport {
  /** Writes one text frame; does nothing once the connection is closing (never throws). */
  send(text: string): void;
  /** Starts the closing handshake with `code`; idempotent, never throws. */
  close(code: number, reason: string): void;
  /** Bytes written and not yet sent: the session closes a peer that stops reading. */
  readonly bufferedAmount: number;
}

/** What a transport adapter reports to its session, one call per event of the connection. */
export interface SessionEvents {
  /** A text message arrived, whole. */
  text(data: string): void;
  /** A binary message arrived (the protocol has none: the session closes with 1003). */
  binary(): void;
  /**
   * A text message passed `maxFrameBytes` while the transport read it (a transport that
   * enforces the limit itself reports this instead of the text): the session refuses it as it
   * refuses an oversized `text` (v1: `frame_too_large`, then 1009).
   */
  tooBig(): void;
  /**
   * The connection is gone, with the close code the peer sent, 1006 when it vanished without a
   * close frame, or 4006 when it stopped answering keepalive pings. Calls after the first, and
   * after the session closed the connection itself, only mark the transport as done.
   */
  closed(code: number): void;
}

/**
 * Where a session is in its life. `awaiting`: connected, not yet identified; `verifying`: its
 * identify is waiting for the token's verification; `identified`: registered, messages flow;
 * `closed`: forgotten, whatever the transport still does.
 */
export type SessionState = "awaiting" | "verifying" | "identified" | "closed";

/** What the sessions of one relay share (the relay's `Hub`). */
export interface SessionContext {
  readonly limits: Readonly<Limits>;
  readonly registry: Registry<ClientSession>;
  readonly router: Router<ClientSession>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Counts refusals and logs them as summaries. */
  readonly refusals: Refusals;
  readonly auth?: Authenticator;
  readonly directory?: Directory;
  /** Watch lists and presence frames (spec section 13). */
  readonly presence: Presence<ClientSession>;
  /** Open sessions (connected, not yet closed). */
  readonly sessions: Set<ClientSession>;
}

/** The ref of a refused sendMessage, read again from its text (error path only). */
function refOf(text: string): string | undefined {
  try {
    const ref = JSON.parse(text)?.ref;
    if (typeof ref !== "string" || ref.length === 0 || ref.length > 256) return undefined;
    // The schemas count code points: up to 128 of them, astral ones included.
    return [...ref].length <= 128 ? ref : undefined;
  } catch {
    return undefined;
  }
}

function typeOf(text: string): unknown {
  try {
    return JSON.parse(text)?.type;
  } catch {
    return undefined;
  }
}

/** One connection's session: a {@linkcode Session} of the registry once identified. */
export class ClientSession implements Session, SessionEvents {
  readonly id: string;
  readonly profile: Profile;
  userId = "";
  username?: string;
  avatar?: string;
  /** The verified token's `friends` claim: whom this user may watch (PRES-8). */
  friends?: readonly string[];
  /** Resolves once the transport reported the connection gone ({@linkcode closed}). */
  readonly done: Promise<void>;
  #ctx: SessionContext;
  #transport: Transport;
  #state: SessionState = "awaiting";
  #token: string | null;
  #bucket: TokenBucket;
  #maxBuffered: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  // Frames that arrive while a token is verified, handled in order once identified.
  #queue: string[] = [];
  #queuedBytes = 0;
  // Frames for this session while the broker subscribes it: v1 `ready` must come first.
  #held: string[] | undefined;
  #heldBytes = 0;
  #ended!: () => void;

  /**
   * Starts the session of a new connection, with the transport's `profile` (negotiated at the
   * upgrade), the legacy `?token=` of the upgrade URL, and the peer's address (for the log).
   */
  constructor(
    ctx: SessionContext,
    transport: Transport,
    id: string,
    profile: Profile,
    token: string | null,
    ip: string,
  ) {
    this.#ctx = ctx;
    this.#transport = transport;
    this.id = id;
    this.profile = profile;
    this.#token = token;
    this.#bucket = new TokenBucket(ctx.limits.ratePerSecond, ctx.limits.rateBurst);
    this.#maxBuffered = ctx.limits.maxBufferedBytes;
    this.done = new Promise((resolve) => this.#ended = resolve);
    ctx.sessions.add(this);
    ctx.metrics.connectionsOpen = ctx.sessions.size;
    this.#timer = setTimeout(
      () => this.close(CloseCode.identifyTimeout, "identify timeout"),
      ctx.limits.identifyTimeoutMs,
    );
    ctx.logger.event("connect", { session: this.id, profile, ip });
  }

  /** Where the session is in its life. */
  get state(): SessionState {
    return this.#state;
  }

  /**
   * Writes a text frame; a peer that stops reading is closed once its unsent bytes pass the cap.
   * Frames held until `ready` count against the same cap: they are this session's send buffer.
   */
  send(text: string): void {
    if (this.#state === "closed") return;
    if (this.#held) {
      this.#heldBytes += utf8Length(text);
      if (this.#heldBytes > this.#maxBuffered) this.close(CloseCode.slowConsumer, "slow consumer");
      else this.#held.push(text);
      return;
    }
    const transport = this.#transport;
    transport.send(text);
    if (transport.bufferedAmount > this.#maxBuffered) {
      this.close(CloseCode.slowConsumer, "slow consumer");
    }
  }

  /** Closes the connection and forgets the session at once (the close may never be confirmed). */
  close(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#finish(code);
    this.#transport.close(code, reason);
  }

  text(data: string): void {
    if (this.#state === "closed") return;
    this.#ctx.metrics.framesIn++;
    if (tooLarge(data, this.#ctx.limits.maxFrameBytes)) {
      this.#fatal("frame_too_large", "frame too large", CloseCode.tooBig);
      return;
    }
    // One clock read per frame, shared by the rate limit and the message timestamp. Every
    // frame takes a token from the first one on: a flood before identify is limited too.
    const now = Date.now();
    if (!this.#bucket.take(now)) this.#rateLimited(data);
    else if (this.#state === "identified") this.#frame(data, now);
    else if (this.#state === "awaiting") this.#identifyFrame(data);
    else if (this.#queuedBytes + data.length <= this.#maxBuffered) {
      // Verifying: the bucket bounds the count, the send-buffer cap the size.
      this.#queue.push(data);
      this.#queuedBytes += data.length;
    } else this.#rateLimited(data);
  }

  tooBig(): void {
    if (this.#state === "closed") return;
    this.#ctx.metrics.framesIn++;
    this.#fatal("frame_too_large", "frame too large", CloseCode.tooBig);
  }

  binary(): void {
    if (this.#state === "closed") return;
    this.#fatal("unsupported_data", "binary frames are not supported", CloseCode.unsupportedData);
  }

  closed(code: number): void {
    this.#finish(code);
    this.#ended();
  }

  #finish(code: number): void {
    if (this.#state === "closed") return;
    const identified = this.#state === "identified";
    this.#state = "closed";
    clearTimeout(this.#timer);
    this.#queue.length = 0;
    const ctx = this.#ctx;
    ctx.sessions.delete(this);
    ctx.metrics.connectionsOpen = ctx.sessions.size;
    if (identified) ctx.presence.forget(this);
    if (identified && ctx.router.detach(this)) this.#gauges();
    ctx.metrics.closed(code);
    ctx.logger.event("close", { session: this.id, user: this.userId || undefined, code });
  }

  #gauges(): void {
    const { metrics, registry } = this.#ctx;
    metrics.sessionsOpen = registry.sessions;
    metrics.usersOnline = registry.users;
  }

  #fatal(code: ErrorCode, message: string, closeCode: number, ref?: string): void {
    this.#refuse(code);
    if (this.profile === "v1") this.send(errorFrame(code, message, ref));
    this.close(closeCode, message);
  }

  #refuse(reason: string): void {
    this.#ctx.refusals.add(reason, { session: this.id, user: this.userId || undefined });
  }

  #rateLimited(text: string): void {
    this.#refuse("rate_limited");
    if (this.profile !== "v1") return;
    const frame = errorFrame("rate_limited", "too many frames", refOf(text));
    if (this.#state === "identified") this.#ctx.router.reply(this, frame);
    else this.send(frame);
  }

  #frame(text: string, now: number): void {
    const result = parseClientFrame(text);
    if (!result.ok) {
      this.#refuse(result.code);
      if (this.profile === "v1") {
        this.#ctx.router.reply(this, errorFrame(result.code, result.error, refOf(text)));
      }
      return;
    }
    const frame = result.frame;
    if (isSendMessage(frame)) this.#ctx.router.send(this, frame, now);
    else if (this.profile === "legacy") this.#refuse("invalid_frame");
    else if (frame.type === "ping") this.send(pongFrame(frame.data));
    else if (frame.type === "watch") {
      this.#ctx.presence.watch(this, frame, (text, reason) => {
        this.#refuse(reason);
        this.#ctx.router.reply(this, text);
      }, now);
    } else {
      this.#refuse("already_identified");
      this.send(errorFrame("already_identified", "this connection is already identified"));
    }
  }

  #identifyFrame(text: string): void {
    if (this.profile === "legacy") {
      if (validateLegacyId(text).ok) this.#identify(text, this.#token);
      else this.#fatal("invalid_id", "invalid id", CloseCode.invalidIdentify);
      return;
    }
    const result = parseClientFrame(text);
    if (!result.ok) {
      if (result.code === "invalid_frame" && typeOf(text) === "identify") {
        this.#fatal("invalid_id", result.error, CloseCode.invalidIdentify);
      } else {
        this.#refuse(result.code);
        this.send(errorFrame(result.code, result.error, refOf(text)));
      }
      return;
    }
    const frame = result.frame;
    if (!isSendMessage(frame) && frame.type === "identify") {
      this.#identify(normalizeId(frame.id), frame.token ?? this.#token);
    } else {
      this.#refuse("not_identified");
      this.send(errorFrame("not_identified", "identify first", refOf(text)));
    }
  }

  #identify(id: string, token: string | null | undefined): void {
    const auth = this.#ctx.auth;
    if (!auth) {
      this.#register(id, undefined);
      return;
    }
    if (!token) {
      this.#fatal("unauthorized", "a token is required", CloseCode.unauthorized);
      return;
    }
    this.#state = "verifying";
    auth.verify(token).then(
      (identity) => {
        if (this.#state !== "verifying") return;
        if (identity.sub !== id) {
          this.#fatal("unauthorized", "the token is for another user", CloseCode.unauthorized);
        } else this.#register(id, identity);
      },
      (error) => {
        if (this.#state !== "verifying") return;
        const why = error instanceof AuthError ? `token refused: ${error.reason}` : "invalid token";
        this.#fatal("unauthorized", why, CloseCode.unauthorized);
      },
    );
  }

  #register(id: string, identity: Identity | undefined): void {
    const ctx = this.#ctx;
    const entry = ctx.directory?.get(id);
    this.userId = id;
    this.username = identity?.name ?? entry?.username;
    this.avatar = identity?.avatar ?? entry?.avatar;
    this.friends = identity?.friends;
    clearTimeout(this.#timer);
    this.#state = "identified";
    // Registered before ready is sent: a message routed once ready is out reaches it.
    const subscribed = ctx.router.attach(this);
    this.#gauges();
    if (subscribed) {
      this.#held = [];
      // The broker bounds the wait (a broker that is down or hung answers within its timeout).
      subscribed.then(() => {
        if (this.#state !== "identified") return;
        const held = this.#held!;
        this.#held = undefined;
        this.#ready(id, entry);
        for (const text of held) this.send(text);
      });
    } else this.#ready(id, entry);
  }

  #ready(id: string, entry: DirectoryUser | undefined): void {
    const ctx = this.#ctx;
    if (this.profile === "v1") {
      const known = this.username !== undefined || this.avatar !== undefined;
      const user = known
        ? { username: this.username ?? "", avatar: this.avatar ?? "", sign: entry?.sign }
        : undefined;
      this.send(readyFrame(id, this.id, ctx.limits, user, ctx.presence.ready));
    }
    ctx.logger.event("identify", { session: this.id, user: id, profile: this.profile });
    const queue = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    for (const text of queue) {
      if (this.#state !== "identified") break;
      this.#frame(text, Date.now());
    }
  }
}
