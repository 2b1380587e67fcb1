/**
 * `serve`: an HTTP/1.1 + WebSocket server on `Deno.listen`. Plain GET and HEAD requests become
 * web-standard `Request`s for a handler whose `Response` is written back; a handler that
 * wants a WebSocket calls `info.upgrade()` and returns the placeholder response it got.
 *
 * It protects itself: a cap on open connections below the descriptor limit (503 beyond it,
 * accept errors such as EMFILE survived with a back-off), a header timeout against slowloris,
 * a handshake timeout on the handler, a header size limit (431), strict parsing (400), and no
 * request bodies (405 for other methods, 413/501 for bodies). One timer per server checks every
 * deadline (header, handshake, close, keepalive) each tick; connections own none.
 *
 * @module
 */
import { BufferPools, SlotPool } from "./buffers.ts";
import {
  type Keepalive,
  Socket,
  type SocketContext,
  type WebSocketConnection,
} from "./connection.ts";
import { Close } from "./frame.ts";
import {
  checkUpgrade,
  type HandshakeError,
  isHandshakeError,
  switchingProtocols,
} from "./handshake.ts";
import {
  fieldValues,
  hasToken,
  isHeadError,
  parseHead,
  plainResponse,
  type RequestHead,
  STATUS_TEXT,
} from "./http.ts";

/** Options of {@linkcode serve}; every field is optional. */
export interface ServeOptions {
  /** Interface to listen on (default `127.0.0.1`). */
  hostname?: string;
  /** Port (default 8080; 0 picks a free one). */
  port?: number;
  /** Aborting it shuts the server down. */
  signal?: AbortSignal;
  /** Called once listening. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Errors of handlers and callbacks, accept errors (default: one line on stderr). */
  onError?: (error: unknown, context: string) => void;
  /**
   * Open TCP connections at most; more are answered 503 and closed. Default: the descriptors
   * the process may still open when the server starts (the soft open files limit less those
   * open, read from `/proc/self/limits`, or probed by opening `/dev/null` until EMFILE) less a
   * reserve of an eighth of them, at most 64. Unbounded when neither works (no read
   * permission): accept errors are then the only limit, and they are survived.
   */
  maxConnections?: number;
  /** Time to receive a complete request head (default 10,000 ms; also the keep-alive idle time). */
  headerTimeoutMs?: number;
  /** Time from the head until the handler's response starts (default 15,000 ms). */
  handshakeTimeoutMs?: number;
  /** Largest request head (default 16 KiB): 431 beyond. */
  maxHeaderBytes?: number;
  /** Largest WebSocket message, all fragments together (default 1 MiB): 1009 beyond. */
  maxMessageBytes?: number;
  /** Time a close handshake may take before the TCP connection is dropped (default 3,000 ms). */
  closeTimeoutMs?: number;
}

/** What a WebSocket upgrade chooses. */
export interface UpgradeOptions {
  /** The subprotocol to select; must be one the client offered (default none). */
  protocol?: string;
  /** Keepalive: idle time before a ping and again before closing; 0 (default) disables it. */
  idleTimeoutMs?: number;
  /** Close code sent and reported when keepalive gives up (default 1001). */
  idleCloseCode?: number;
  /** This connection's largest message, all fragments together (default: the server's). */
  maxMessageBytes?: number;
}

/** The result of {@linkcode ServeInfo.upgrade}. */
export interface Upgrade {
  /** The connection; set its callbacks before returning `response`. */
  socket: WebSocketConnection;
  /** A placeholder: the handler returns it and the server answers 101 instead. */
  response: Response;
}

/** What the handler knows about a request besides the request itself. */
export interface ServeInfo {
  /** The peer's address. */
  remoteAddr: Deno.NetAddr;
  /**
   * Accepts the request as a WebSocket; throws an {@linkcode UpgradeError} (which the server
   * answers with its status when the handler lets it through) when the request is not a valid
   * upgrade (400, or 426 for another `Sec-WebSocket-Version`).
   */
  upgrade(options?: UpgradeOptions): Upgrade;
}

/** A request handler, as with `Deno.serve`. */
export type Handler = (req: Request, info: ServeInfo) => Response | Promise<Response>;

/** An invalid upgrade request; `response()` is what the server answers. */
export class UpgradeError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(error: HandshakeError) {
    super(error.reason);
    this.name = "UpgradeError";
    this.status = error.status;
    this.headers = error.headers ?? {};
  }

  /** A plain-text response with the status and headers of the refusal. */
  response(): Response {
    return new Response(this.message + "\n", {
      status: this.status,
      headers: { "content-type": "text/plain; charset=utf-8", ...this.headers },
    });
  }
}

/** A running server. */
export interface Server {
  readonly addr: Deno.NetAddr;
  /** Open TCP connections (HTTP and WebSocket). */
  readonly connections: number;
  /** Connections answered 503 because the cap was reached, since the start. */
  readonly refused: number;
  /** Resolves when the server has shut down. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting, ends HTTP connections, closes open WebSockets with 1001 and resolves when
   * every connection is gone (a close handshake takes at most the close timeout).
   */
  shutdown(): Promise<void>;
}

/** Something with deadlines the server's tick checks: a connection in either phase. */
interface Tracked {
  tick(now: number): void;
  /** Ends it for shutdown (an HTTP connection at once, a WebSocket with a close frame). */
  shutdown(): void;
}

const SLOT_BYTES = 256;
const METHODS_ALLOWED = "GET, HEAD";
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "content-length",
]);
/** Bodies up to this size without a content-length are sent with one; larger ones chunked. */
const BUFFER_BODY_BYTES = 65536;
const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
const HEAD: RequestInit = { method: "HEAD" };

const PROBE_MAX = 65536;

/**
 * The descriptors this process may still open: from the soft limit in `/proc/self/limits`
 * (readable with `--allow-all` only), else by opening `/dev/null` until EMFILE (at most
 * 65,536 times, a few milliseconds per thousand) and closing them again; Infinity when neither
 * is possible.
 */
function descriptorsLeft(): number {
  // Queried first, so that a terminal user is never prompted for these permissions.
  const granted = (path: string) =>
    Deno.permissions.querySync({ name: "read", path }).state === "granted";
  try {
    if (!granted("/proc/self/limits")) throw new Error("no permission");
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const value = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
    if (value === "unlimited") return Infinity;
    let open = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) open++;
    if (value !== undefined && Number(value) > 0) return Number(value) - open;
  } catch {
    // Without --allow-all: probe.
  }
  if (!granted("/dev/null")) return Infinity;
  const files: Deno.FsFile[] = [];
  try {
    while (files.length < PROBE_MAX) files.push(Deno.openSync("/dev/null"));
  } catch (error) {
    if (files.length === 0) return Infinity;
    if (!(error instanceof Error) || !/too many open files/i.test(error.message)) {
      for (const file of files) file.close();
      return Infinity;
    }
  }
  for (const file of files) file.close();
  return files.length;
}

/**
 * The default connection cap: the descriptors left at start (see `maxConnections`) less a
 * reserve of an eighth of them, at most 64, for the process's own files.
 */
export function defaultMaxConnections(left: number = descriptorsLeft()): number {
  if (!Number.isFinite(left)) return Number.MAX_SAFE_INTEGER;
  return Math.max(1, left - Math.min(64, Math.floor(left / 8)));
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be positive`);
  return value;
}

/**
 * Starts a server; throws when it cannot listen.
 *
 * @example
 * ```ts ignore
 * import { serve } from "./server.ts";
 * serve({ port: 8080 }, (req, info) => {
 *   if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("hi");
 *   const { socket, response } = info.upgrade();
 *   socket.onText = (text) => socket.send(text);
 *   return response;
 * });
 * ```
 */
export function serve(options: ServeOptions, handler: Handler): Server {
  return new HttpServer(options, handler);
}

class HttpServer implements Server, SocketContext {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  readonly maxMessageBytes: number;
  readonly closeTimeoutMs: number;
  readonly slots = new SlotPool(SLOT_BYTES);
  readonly pools = new BufferPools();
  readonly headerTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxHeaderBytes: number;
  readonly maxConnections: number;
  readonly handler: Handler;
  readonly #listener: Deno.TcpListener;
  readonly #tracked = new Set<Tracked>();
  readonly #onError: (error: unknown, context: string) => void;
  #dirty: Socket[] = [];
  #spare: Socket[] = [];
  #timer: ReturnType<typeof setInterval>;
  #tickMs: number;
  #closing = false;
  #refused = 0;
  #done!: () => void;
  #shutdown: Promise<void> | undefined;

  constructor(options: ServeOptions, handler: Handler) {
    this.handler = handler;
    this.headerTimeoutMs = positive("headerTimeoutMs", options.headerTimeoutMs, 10_000);
    this.handshakeTimeoutMs = positive("handshakeTimeoutMs", options.handshakeTimeoutMs, 15_000);
    this.closeTimeoutMs = positive("closeTimeoutMs", options.closeTimeoutMs, 3000);
    this.maxHeaderBytes = positive("maxHeaderBytes", options.maxHeaderBytes, 16384);
    this.maxMessageBytes = positive("maxMessageBytes", options.maxMessageBytes, 1 << 20);
    this.maxConnections = positive(
      "maxConnections",
      options.maxConnections,
      defaultMaxConnections(),
    );
    this.#onError = options.onError ??
      ((error, context) =>
        console.error(`ws server: ${context}: ${error instanceof Error ? error.message : error}`));
    this.#listener = Deno.listen({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 8080,
      transport: "tcp",
    });
    this.addr = this.#listener.addr;
    this.finished = new Promise((resolve) => this.#done = resolve);
    // Deadlines are checked at a quarter of the shortest timeout (between 10 ms and 1 s).
    const tick = Math.min(
      1000,
      Math.max(
        10,
        Math.min(this.headerTimeoutMs, this.handshakeTimeoutMs, this.closeTimeoutMs) / 4,
      ),
    );
    this.#tickMs = tick;
    this.#timer = setInterval(() => this.#tick(), tick);
    options.signal?.addEventListener("abort", () => this.shutdown(), { once: true });
    options.onListen?.(this.addr);
    this.#acceptLoop();
  }

  get connections(): number {
    return this.#tracked.size;
  }

  get refused(): number {
    return this.#refused;
  }

  onError(error: unknown, context: string): void {
    try {
      this.#onError(error, context);
    } catch {
      // A failing error reporter must not take the server down.
    }
  }

  schedule(socket: Socket): void {
    if (this.#dirty.push(socket) === 1) queueMicrotask(() => this.#flushAll());
  }

  #flushAll(): void {
    const dirty = this.#dirty;
    this.#dirty = this.#spare;
    for (let i = 0; i < dirty.length; i++) dirty[i].flush();
    dirty.length = 0;
    this.#spare = dirty;
  }

  release(tracked: Tracked): void {
    this.#tracked.delete(tracked);
    if (this.#closing && this.#tracked.size === 0) this.#finish();
  }

  track(tracked: Tracked): void {
    this.#tracked.add(tracked);
  }

  /**
   * A connection's keepalive of `idleMs`: it is checked each tick, and a tick longer than a
   * quarter of it would let a dead peer outlive its bound by most of a tick per step.
   */
  keepalive(idleMs: number): void {
    const tick = Math.max(10, idleMs / 4);
    if (idleMs === 0 || tick >= this.#tickMs || this.#closing) return;
    this.#tickMs = tick;
    clearInterval(this.#timer);
    this.#timer = setInterval(() => this.#tick(), tick);
  }

  #tick(): void {
    const now = Date.now();
    for (const tracked of this.#tracked) tracked.tick(now);
  }

  async #acceptLoop(): Promise<void> {
    let backoff = 0;
    while (!this.#closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing || error instanceof Deno.errors.BadResource) break;
        // EMFILE, ENFILE, ECONNABORTED…: wait a little (doubling up to 1 s) and accept again.
        if (backoff === 0) this.onError(error, "accept");
        backoff = Math.min(1000, backoff === 0 ? 10 : backoff * 2);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        continue;
      }
      backoff = 0;
      if (this.#tracked.size >= this.maxConnections) {
        this.#refused++;
        refuse(conn, plainResponse(503, "too many connections", { "retry-after": "1" }));
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch {
        // The peer is already gone; the first read says so.
      }
      const http = new HttpConnection(this, conn);
      this.#tracked.add(http);
      http.run();
    }
  }

  shutdown(): Promise<void> {
    if (this.#shutdown) return this.#shutdown;
    this.#closing = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const tracked of [...this.#tracked]) tracked.shutdown();
    if (this.#tracked.size === 0) this.#finish();
    return this.#shutdown = this.finished;
  }

  #finish(): void {
    clearInterval(this.#timer);
    this.#done();
  }
}

/** Writes a refusal and closes, without waiting on a peer that does not read. */
function refuse(conn: Deno.Conn, response: Uint8Array): void {
  conn.write(response).catch(() => {}).finally(() => {
    try {
      conn.close();
    } catch {
      // already closed
    }
  });
}

/** A TCP connection until it is upgraded or closed: reads request heads, answers them. */
class HttpConnection implements Tracked {
  readonly #server: HttpServer;
  readonly #conn: Deno.TcpConn;
  #buf: Uint8Array;
  #end = 0;
  #scanned = 0;
  #deadline: number;
  /** Still waiting for a request head: a timeout may answer 408. */
  #reading = true;
  #closed = false;

  constructor(server: HttpServer, conn: Deno.TcpConn) {
    this.#server = server;
    this.#conn = conn;
    this.#buf = server.slots.take();
    this.#deadline = Date.now() + server.headerTimeoutMs;
  }

  tick(now: number): void {
    if (now < this.#deadline || this.#closed) return;
    if (this.#reading) refuse(this.#conn, plainResponse(408, "request timeout"));
    this.#close(!this.#reading);
  }

  shutdown(): void {
    this.#close(true);
  }

  #close(now: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.release(this);
    if (now || !this.#reading) {
      try {
        this.#conn.close();
      } catch {
        // already closed
      }
    }
  }

  async run(): Promise<void> {
    let upgraded = false;
    try {
      while (!this.#closed) {
        const head = await this.#readHead();
        if (head === null) break;
        const outcome = await this.#respond(head);
        if (outcome === "upgraded") {
          upgraded = true;
          break;
        }
        if (outcome === "close") break;
        this.#deadline = Date.now() + this.#server.headerTimeoutMs;
        this.#reading = true;
      }
    } catch (error) {
      if (!this.#closed) this.#server.onError(error, "http");
    } finally {
      if (!upgraded) this.#close(true);
      this.#releaseBuffer();
    }
  }

  #releaseBuffer(): void {
    const buf = this.#buf;
    if (buf.length === 0) return;
    this.#buf = EMPTY;
    if (buf.length === this.#server.slots.size) this.#server.slots.give(buf);
    else this.#server.pools.give(buf);
  }

  /** Reads until a complete head; null when the connection ends or was refused. */
  async #readHead(): Promise<RequestHead | null> {
    const server = this.#server;
    for (;;) {
      if (this.#end > 0) {
        const head = parseHead(this.#buf, this.#end, server.maxHeaderBytes, this.#scanned);
        if (head !== null) {
          if (!isHeadError(head)) return head;
          await this.#writeAll(plainResponse(head.status, head.reason));
          return null;
        }
        this.#scanned = this.#end;
      }
      if (this.#end === this.#buf.length) {
        const grown = server.pools.take(Math.min(server.maxHeaderBytes, this.#buf.length * 4));
        grown.set(this.#buf.subarray(0, this.#end));
        this.#releaseBuffer();
        this.#buf = grown;
      }
      const n = await this.#conn.read(this.#buf.subarray(this.#end));
      if (n === null || this.#closed) return null;
      this.#end += n;
    }
  }

  async #respond(head: RequestHead): Promise<"keep" | "close" | "upgraded"> {
    const server = this.#server;
    this.#reading = false;
    this.#deadline = Date.now() + server.handshakeTimeoutMs;
    const fields = head.fields;
    if (head.method !== "GET" && head.method !== "HEAD") {
      await this.#writeAll(plainResponse(405, "method not allowed", { allow: METHODS_ALLOWED }));
      return "close";
    }
    const hosts = fieldValues(fields, "host");
    if (head.version === "1.1" && hosts.length !== 1) {
      await this.#writeAll(plainResponse(400, "exactly one Host header is required"));
      return "close";
    }
    if (fieldValues(fields, "transfer-encoding").length > 0) {
      await this.#writeAll(plainResponse(501, "request bodies are not supported"));
      return "close";
    }
    const lengths = fieldValues(fields, "content-length");
    if (lengths.some((v) => v !== "0")) {
      await this.#writeAll(plainResponse(413, "request bodies are not supported"));
      return "close";
    }
    let request: Request;
    try {
      // Appending to the request's own headers costs a third of passing a Headers init.
      request = new Request(
        `http://${hosts[0] ?? "localhost"}${head.target}`,
        head.method === "HEAD" ? HEAD : undefined,
      );
      const headers = request.headers;
      for (let i = 0; i < fields.length; i += 2) headers.append(fields[i], fields[i + 1]);
    } catch {
      await this.#writeAll(plainResponse(400, "malformed request"));
      return "close";
    }
    // The bytes after the head: the first WebSocket frames, or the next request.
    const rest = head.length === this.#end ? EMPTY : this.#buf.slice(head.length, this.#end);
    let socket: Socket | undefined;
    let placeholder: Response | undefined;
    const info: ServeInfo = {
      remoteAddr: this.#conn.remoteAddr,
      upgrade: (options: UpgradeOptions = {}) => {
        if (socket !== undefined) throw new TypeError("upgrade() was already called");
        const checked = checkUpgrade(head);
        if (isHandshakeError(checked)) throw new UpgradeError(checked);
        const protocol = options.protocol ?? "";
        if (protocol !== "" && !checked.protocols.includes(protocol)) {
          throw new TypeError(`subprotocol ${protocol} was not offered`);
        }
        const keepalive: Keepalive = {
          idleTimeoutMs: options.idleTimeoutMs ?? 0,
          idleCloseCode: options.idleCloseCode ?? Close.goingAway,
        };
        server.keepalive(keepalive.idleTimeoutMs);
        socket = new Socket(
          server,
          this.#conn,
          protocol,
          switchingProtocols(checked.key, protocol),
          keepalive,
          positive("maxMessageBytes", options.maxMessageBytes, server.maxMessageBytes),
        );
        placeholder = new Response(null, { status: 200 });
        return { socket, response: placeholder };
      },
    };
    let response: Response;
    try {
      response = await server.handler(request, info);
    } catch (error) {
      if (error instanceof UpgradeError) response = error.response();
      else {
        server.onError(error, "handler");
        response = new Response("internal server error\n", { status: 500 });
      }
    }
    if (socket !== undefined && response === placeholder && !this.#closed) {
      this.#closed = true;
      server.release(this);
      server.track(socket);
      this.#releaseBuffer();
      socket.start(rest);
      return "upgraded";
    }
    socket?.abandon();
    if (this.#closed) {
      await response.body?.cancel().catch(() => {});
      return "close";
    }
    const upgradeAsked = fieldValues(fields, "upgrade").length > 0;
    const keep = head.version === "1.1" && !upgradeAsked &&
      !hasToken(fieldValues(fields, "connection"), "close");
    const kept = await this.#writeResponse(head, response, keep);
    if (!kept) return "close";
    this.#buf.set(rest);
    this.#end = rest.length;
    this.#scanned = 0;
    return "keep";
  }

  /** Writes `response`; resolves to whether the connection can take another request. */
  async #writeResponse(head: RequestHead, response: Response, keep: boolean): Promise<boolean> {
    const status = response.status;
    const lines = [
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? (response.statusText || "Unknown")}`,
    ];
    for (const [name, value] of response.headers) {
      if (!HOP_BY_HOP.has(name)) lines.push(`${name}: ${value}`);
    }
    const declared = response.headers.get("content-length");
    const body = response.body;
    const bodyless = head.method === "HEAD" || status === 204 || status === 304;
    if (bodyless || body === null) {
      await body?.cancel().catch(() => {});
      if (declared !== null && head.method === "HEAD") lines.push(`content-length: ${declared}`);
      else if (!bodyless) lines.push("content-length: 0");
      lines.push(`connection: ${keep ? "keep-alive" : "close"}`);
      await this.#writeAll(encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
      return keep;
    }
    const reader = body.getReader();
    try {
      // Read what the body has up to a limit: a short body gets a content-length.
      const chunks: Uint8Array[] = [];
      let size = 0;
      let ended = false;
      while (size < BUFFER_BODY_BYTES) {
        const { value, done } = await reader.read();
        if (done) {
          ended = true;
          break;
        }
        chunks.push(value);
        size += value.length;
      }
      let chunked = false;
      if (declared !== null && /^\d+$/.test(declared)) lines.push(`content-length: ${declared}`);
      else if (ended) lines.push(`content-length: ${size}`);
      else if (head.version === "1.1") {
        lines.push("transfer-encoding: chunked");
        chunked = true;
      } else keep = false;
      lines.push(`connection: ${keep ? "keep-alive" : "close"}`);
      const start = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
      const first = concat([start, ...(chunked ? chunks.map(chunk) : chunks)]);
      await this.#writeAll(first);
      let sent = size;
      while (!ended) {
        const { value, done } = await reader.read();
        if (done) break;
        sent += value.length;
        await this.#writeAll(chunked ? chunk(value) : value);
      }
      if (chunked) await this.#writeAll(encoder.encode("0\r\n\r\n"));
      // A body shorter or longer than declared leaves the connection unusable.
      return keep && (declared === null || Number(declared) === sent);
    } finally {
      reader.releaseLock();
    }
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) {
      // A peer that stops reading gets the header timeout per write, then is dropped.
      this.#deadline = Date.now() + this.#server.headerTimeoutMs;
      at += await this.#conn.write(bytes.subarray(at));
    }
  }
}

function chunk(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0) return bytes;
  return concat([
    encoder.encode(bytes.length.toString(16) + "\r\n"),
    bytes,
    encoder.encode("\r\n"),
  ]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
