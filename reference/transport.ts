/**
 * The WebSocket transport: HTTP routes, the checks made before an upgrade (path, Origin,
 * token), and one {@linkcode Connection} per socket running the state machine
 * awaiting identify → identified → closed.
 *
 * @module
 */
import {
  CloseCode,
  type ErrorCode,
  type Limits,
  type Profile,
  SUBPROTOCOL,
} from "../schemas/protocol.ts";
import {
  isSendMessage,
  normalizeId,
  parseClientFrame,
  validateLegacyId,
} from "../schemas/validate.ts";
import { type Authenticator, AuthError, type Identity } from "./auth.ts";
import type { Directory, DirectoryUser } from "./directory.ts";
import { TokenBucket, tooLarge } from "./limits.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { OriginPolicy } from "./origin.ts";
import type { Registry, Session } from "./registry.ts";
import { errorFrame, pongFrame, readyFrame } from "./frames.ts";
import type { Router } from "./router.ts";
import { LAYUI_DIST, serveFile } from "./static.ts";

/** Everything the connections of one relay share. */
export interface RelayContext {
  readonly limits: Limits;
  readonly registry: Registry<Connection>;
  readonly router: Router<Connection>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly auth?: Authenticator;
  readonly directory?: Directory;
  readonly webRoot: string | null;
  /** Prefix of session ids, unique per relay process. */
  readonly node: string;
  /** Open connections (upgraded, not yet closed). */
  readonly connections: Set<Connection>;
  /** Set when the relay stops accepting connections. */
  closing: boolean;
}

const AWAITING = 0;
const VERIFYING = 1;
const IDENTIFIED = 2;
const CLOSED = 3;

const OPEN = 1; // WebSocket.OPEN
const IDLE_REASON = "No response from ping frame.";

let sessionSeq = 0;

/** The ref of a refused sendMessage, read again from its text (error path only). */
function refOf(text: string): string | undefined {
  try {
    const ref = JSON.parse(text)?.ref;
    return typeof ref === "string" && ref.length > 0 && ref.length <= 128 ? ref : undefined;
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

/** One upgraded WebSocket; a {@linkcode Session} of the registry once identified. */
export class Connection implements Session {
  readonly id: string;
  readonly profile: Profile;
  userId = "";
  username?: string;
  avatar?: string;
  /** Resolves on the socket's close event. */
  readonly done: Promise<void>;
  #ctx: RelayContext;
  #socket: WebSocket;
  #state = AWAITING;
  #token: string | null;
  #bucket: TokenBucket;
  #maxBuffered: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #queue: string[] = [];
  // Frames for this session while the broker subscribes it: v1 `ready` must come first.
  #held: string[] | undefined;

  constructor(
    ctx: RelayContext,
    socket: WebSocket,
    profile: Profile,
    token: string | null,
    ip: string,
  ) {
    this.#ctx = ctx;
    this.#socket = socket;
    this.profile = profile;
    this.#token = token;
    this.id = `${ctx.node}.${(++sessionSeq).toString(36)}`;
    this.#bucket = new TokenBucket(ctx.limits.ratePerSecond, ctx.limits.rateBurst);
    this.#maxBuffered = ctx.limits.maxBufferedBytes;
    ctx.connections.add(this);
    ctx.metrics.connectionsOpen = ctx.connections.size;
    this.#timer = setTimeout(
      () => this.close(CloseCode.identifyTimeout, "identify timeout"),
      ctx.limits.identifyTimeoutMs,
    );
    this.done = new Promise((resolve) => {
      socket.onclose = (e) => {
        this.#finish(
          e.code === 1001 && e.reason === IDLE_REASON ? CloseCode.keepaliveTimeout : e.code,
        );
        resolve();
      };
    });
    socket.onerror = (e) => {
      const idle = e instanceof ErrorEvent && e.message === IDLE_REASON;
      this.#finish(idle ? CloseCode.keepaliveTimeout : 1006);
    };
    socket.onmessage = (e) => this.#onMessage(e.data);
    ctx.logger.event("connect", { session: this.id, profile, ip });
  }

  /** Writes a text frame; a peer that stops reading is closed once its unsent bytes pass the cap. */
  send(text: string): void {
    const socket = this.#socket;
    if (this.#state === CLOSED || socket.readyState !== OPEN) return;
    if (this.#held) {
      this.#held.push(text);
      return;
    }
    socket.send(text);
    if (socket.bufferedAmount > this.#maxBuffered) {
      this.close(CloseCode.slowConsumer, "slow consumer");
    }
  }

  /** Closes the connection and forgets it at once (the close event may never come). */
  close(code: number, reason: string): void {
    if (this.#state === CLOSED) return;
    this.#finish(code);
    try {
      this.#socket.close(code, reason);
    } catch {
      // Not open yet or already closing: the connection is forgotten either way.
    }
  }

  #finish(code: number): void {
    if (this.#state === CLOSED) return;
    const identified = this.#state === IDENTIFIED;
    this.#state = CLOSED;
    clearTimeout(this.#timer);
    this.#queue.length = 0;
    const ctx = this.#ctx;
    ctx.connections.delete(this);
    ctx.metrics.connectionsOpen = ctx.connections.size;
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
    this.#ctx.metrics.refused(reason);
    this.#ctx.logger.event("refuse", {
      session: this.id,
      user: this.userId || undefined,
      reason,
    });
  }

  #onMessage(data: unknown): void {
    if (this.#state === CLOSED) return;
    if (typeof data !== "string") {
      this.#fatal("unsupported_data", "binary frames are not supported", CloseCode.unsupportedData);
      return;
    }
    this.#ctx.metrics.framesIn++;
    if (tooLarge(data, this.#ctx.limits.maxFrameBytes)) {
      this.#fatal("frame_too_large", "frame too large", CloseCode.tooBig);
    } else if (this.#state === IDENTIFIED) this.#frame(data);
    else if (this.#state === AWAITING) this.#identifyFrame(data);
    else if (this.#queue.length < this.#ctx.limits.rateBurst) this.#queue.push(data);
    else this.#refuse("rate_limited");
  }

  #frame(text: string): void {
    // One clock read per frame, shared by the rate limit and the message timestamp.
    const now = Date.now();
    if (!this.#bucket.take(now)) {
      this.#refuse("rate_limited");
      if (this.profile === "v1") {
        this.#ctx.router.reply(this, errorFrame("rate_limited", "too many frames", refOf(text)));
      }
      return;
    }
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
    else if (frame.type === "ping") {
      this.send(pongFrame(frame.data));
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
    this.#state = VERIFYING;
    auth.verify(token).then(
      (identity) => {
        if (this.#state !== VERIFYING) return;
        if (identity.sub !== id) {
          this.#fatal("unauthorized", "the token is for another user", CloseCode.unauthorized);
        } else this.#register(id, identity);
      },
      (error) => {
        if (this.#state !== VERIFYING) return;
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
    clearTimeout(this.#timer);
    this.#state = IDENTIFIED;
    // Registered before ready is sent: a message routed once ready is out reaches it.
    const subscribed = ctx.router.attach(this);
    this.#gauges();
    if (subscribed) {
      this.#held = [];
      subscribed.then(() => {
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
      this.send(readyFrame(id, this.id, ctx.limits, user));
    }
    ctx.logger.event("identify", { session: this.id, user: id, profile: this.profile });
    const queue = this.#queue;
    this.#queue = [];
    for (const text of queue) {
      if (this.#state !== IDENTIFIED) break;
      this.#frame(text);
    }
  }
}

function text(status: number, body: string): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function json(value: unknown): Response {
  return new Response(JSON.stringify(value), {
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/** The HTTP handler of a relay: WebSocket upgrades on `/ws` and `/`, then the HTTP routes. */
export function createHandler(
  ctx: RelayContext,
  origins: OriginPolicy,
  brokerState: () => "up" | "down",
): Deno.ServeHandler<Deno.NetAddr> {
  return async (req, info) => {
    const url = new URL(req.url);
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      return upgrade(ctx, origins, req, url, info.remoteAddr.hostname);
    }
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "method not allowed");
    switch (url.pathname) {
      case "/healthz":
        return json({
          status: "ok",
          connections: ctx.connections.size,
          sessions: ctx.registry.sessions,
          users: ctx.registry.users,
          broker: brokerState(),
        });
      case "/metrics":
        ctx.metrics.brokerUp = brokerState() === "up" ? 1 : 0;
        return new Response(await ctx.metrics.render(), {
          headers: { "content-type": ctx.metrics.contentType },
        });
      case "/api/users":
        return json({ users: ctx.directory?.list() ?? [] });
    }
    if (url.pathname.startsWith("/layui/")) {
      return serveFile(LAYUI_DIST, url.pathname.slice("/layui/".length), req.method);
    }
    if (ctx.webRoot === null) return text(404, "not found");
    return serveFile(ctx.webRoot, url.pathname, req.method);
  };
}

function upgrade(
  ctx: RelayContext,
  origins: OriginPolicy,
  req: Request,
  url: URL,
  ip: string,
): Response {
  if (url.pathname !== "/ws" && url.pathname !== "/") return text(404, "not found");
  if (ctx.closing) return text(503, "shutting down");
  const origin = req.headers.get("origin");
  if (!origins.allows(origin)) {
    ctx.metrics.refused("origin");
    ctx.logger.event("refuse", { reason: "origin", origin: origin ?? "", ip });
    return text(403, "origin not allowed");
  }
  const offered = req.headers.get("sec-websocket-protocol")?.split(",") ?? [];
  const v1 = offered.some((p) => p.trim() === SUBPROTOCOL);
  let upgraded;
  try {
    upgraded = Deno.upgradeWebSocket(req, {
      protocol: v1 ? SUBPROTOCOL : undefined,
      idleTimeout: ctx.limits.idleTimeoutMs / 1000,
    });
  } catch {
    return text(400, "bad websocket upgrade");
  }
  new Connection(ctx, upgraded.socket, v1 ? "v1" : "legacy", url.searchParams.get("token"), ip);
  return upgraded.response;
}
