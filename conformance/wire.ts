/**
 * A WebSocket client that speaks RFC 6455 itself over TCP (or TLS), so that a test can do what
 * a browser cannot and see what a browser hides: custom handshake headers, binary and raw frames,
 * dropping the connection without a close frame, and a record of every frame and of how the
 * connection ended (code, reason, who closed it, after which frame).
 *
 * ```ts
 * import { WireClient } from "@layim-ws/layim-ws/conformance";
 * const ws = await WireClient.connect({ url: "ws://127.0.0.1:8080/ws", protocols: ["layim-ws.v1"] });
 * ws.sendText(JSON.stringify({ type: "identify", id: "1001" }));
 * const ready = await ws.waitFor((m) => m.json, 1000);
 * await ws.close();
 * console.log(ready, ws.closed?.by);
 * ```
 *
 * @module
 */

/** Data frame opcodes and control opcodes of RFC 6455 section 5.2. */
export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Options of {@link WireClient.connect}. */
export interface WireOptions {
  /** `ws://` or `wss://` URL. */
  url: string;
  /** Subprotocols offered in `Sec-WebSocket-Protocol`. */
  protocols?: readonly string[];
  /** Extra handshake headers (e.g. `Origin`). */
  headers?: Record<string, string>;
  /** Name in transcripts, e.g. `A`, `B2` (default `client`). */
  label?: string;
  /** `performance.now()` that times are measured from (default: when the client was created). */
  epoch?: number;
  /** Handshake timeout, ms (default 3000). */
  timeoutMs?: number;
  /**
   * Replaces (a string) or leaves out (null) one of the upgrade headers this client sends
   * (`Upgrade`, `Connection`, `Sec-WebSocket-Key`, `Sec-WebSocket-Version`), to test a server's
   * handshake checks; a 101 answer then fails with a wrong `Sec-WebSocket-Accept` unless the key
   * is kept.
   */
  replaceHeaders?: Record<string, string | null>;
  /**
   * Bytes written with the request, before the server's answer (frames a client sends before
   * the 101, which RFC 6455 §4.1 forbids it to).
   */
  early?: Uint8Array;
}

/** One entry of a client's transcript. */
export interface LoggedFrame {
  /** Direction, seen from the client. */
  dir: "sent" | "received";
  /** Milliseconds since the epoch of the client. */
  at: number;
  /** What it was. */
  kind: "text" | "binary" | "close" | "ping" | "pong" | "frame" | "end";
  /** The text payload, or a description of anything else. */
  text: string;
  /** Set on a frame the client tried to send after the connection had closed. */
  unsent?: true;
  /** For a data frame sent: its 1-based number among the data frames this client sent. */
  n?: number;
  /** A label the sender gave the frame (e.g. `offending`), for reports. */
  tag?: string;
}

/** A complete data message received (text or binary, reassembled from its fragments). */
export interface ReceivedMessage {
  /** `text` or `binary`. */
  kind: "text" | "binary";
  /** The text (for binary, a description). */
  text: string;
  /** The payload bytes. */
  data: Uint8Array;
  /** The parsed JSON value of a text message, `undefined` when it is not JSON. */
  json: unknown;
  /** Whether a text message was valid UTF-8. */
  utf8: boolean;
  /** Milliseconds since the epoch of the client. */
  at: number;
}

/** One decoded frame (the payload unmasked), see {@link decodeFrame}. */
export interface WireFrame {
  fin: boolean;
  /** The three RSV bits, as a number 0–7. */
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** One frame as it arrived, for checks on framing itself. */
export interface RawFrame extends WireFrame {
  /** Milliseconds since the epoch of the client. */
  at: number;
}

/** How a connection ended. */
export interface CloseRecord {
  /** The close code: the one received (server) or sent (client), 1005 without one, 1006 when lost. */
  code: number;
  /** The close reason. */
  reason: string;
  /**
   * Who ended it: `server` (its close frame came first), `client` (this client's close or
   * {@link WireClient.destroy}), or `network` (the TCP connection ended without a close frame).
   */
  by: "client" | "server" | "network";
  /** Milliseconds since the epoch of the client. */
  at: number;
  /** The last data frame this client sent before the end, with its 1-based number. */
  afterSent?: { n: number; at: number; text: string };
}

/** A frame to write as-is with {@link WireClient.sendFrame}. */
export interface FrameSpec {
  opcode: number;
  /** The payload: bytes, or a string sent as its UTF-8 (default empty). */
  payload?: Uint8Array | string;
  /** Default true. */
  fin?: boolean;
  /** RSV bits 0–7, default 0. */
  rsv?: number;
  /** Mask the payload, as clients must (default true). */
  masked?: boolean;
  /** The 4-byte masking key, for reproducible bytes (default: a random key). */
  mask?: Uint8Array;
}

/** The opening handshake failed: no TCP connection, no 101 answer, or a wrong accept key. */
export class HandshakeError extends Error {
  /** A short description of the failure. */
  constructor(
    message: string,
    /** The HTTP status, when the server answered. */
    readonly status?: number,
    /** The response headers, when the server answered. */
    readonly headers?: Headers,
    /** The start of the response body, when the server answered without upgrading. */
    readonly body?: string,
  ) {
    super(message);
  }
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder();

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The bytes of a frame's payload (a string as its UTF-8). */
function payloadOf(spec: FrameSpec): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  return typeof payload === "string" ? encoder.encode(payload) : payload;
}

/**
 * Encodes one frame (RFC 6455 section 5.2) exactly as described, masked unless `masked` is
 * false; no rule is checked, so that a test can break any of them.
 *
 * @example
 * ```ts
 * import { encodeFrame, Opcode } from "@layim-ws/layim-ws/conformance";
 * encodeFrame({ opcode: Opcode.text, payload: "hi", mask: new Uint8Array(4) });
 * // Uint8Array [0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69]
 * ```
 */
export function encodeFrame(spec: FrameSpec): Uint8Array<ArrayBuffer> {
  const payload = payloadOf(spec);
  const masked = spec.masked ?? true;
  const len = payload.byteLength;
  const headLen = (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);
  const out = new Uint8Array(headLen + len);
  out[0] = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) & 7) << 4 | (spec.opcode & 0x0f);
  const maskBit = masked ? 0x80 : 0;
  let off = 2;
  if (len < 126) out[1] = maskBit | len;
  else if (len < 65536) {
    out[1] = maskBit | 126;
    new DataView(out.buffer).setUint16(2, len);
    off = 4;
  } else {
    out[1] = maskBit | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(len));
    off = 10;
  }
  if (!masked) {
    out.set(payload, off);
    return out;
  }
  const mask = spec.mask ?? crypto.getRandomValues(new Uint8Array(4));
  out.set(mask.subarray(0, 4), off);
  off += 4;
  for (let i = 0; i < len; i++) out[off + i] = payload[i] ^ mask[i & 3];
  return out;
}

/**
 * Decodes the frame at the start of `bytes`: the frame (payload copied and unmasked) and how
 * many bytes it took, or `undefined` while it is not complete.
 */
export function decodeFrame(bytes: Uint8Array): { frame: WireFrame; size: number } | undefined {
  if (bytes.byteLength < 2) return undefined;
  const b0 = bytes[0];
  const b1 = bytes[1];
  const masked = (b1 & 0x80) !== 0;
  let len = b1 & 0x7f;
  let off = 2;
  if (len === 126) {
    if (bytes.byteLength < 4) return undefined;
    len = (bytes[2] << 8) | bytes[3];
    off = 4;
  } else if (len === 127) {
    if (bytes.byteLength < 10) return undefined;
    len = Number(new DataView(bytes.buffer, bytes.byteOffset + 2, 8).getBigUint64(0));
    off = 10;
  }
  const maskOff = off;
  if (masked) off += 4;
  if (bytes.byteLength < off + len) return undefined;
  const payload = bytes.slice(off, off + len);
  if (masked) {
    for (let i = 0; i < len; i++) payload[i] ^= bytes[maskOff + (i & 3)];
  }
  const frame = { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload };
  return { frame, size: off + len };
}

/** An HTTP response head read by {@link parseResponseHead}. */
export interface ResponseHead {
  /** The status line, e.g. `HTTP/1.1 101 Switching Protocols`. */
  statusLine: string;
  status: number;
  headers: Headers;
  /** Bytes the head took, its final empty line included. */
  size: number;
}

/** Parses the HTTP response head at the start of `bytes`; `undefined` while it is not complete. */
export function parseResponseHead(bytes: Uint8Array): ResponseHead | undefined {
  let end = -1;
  for (let i = 0; i + 3 < bytes.byteLength && end < 0; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      end = i;
    }
  }
  if (end < 0) return undefined;
  const [statusLine, ...headerLines] = lenientUtf8.decode(bytes.subarray(0, end)).split("\r\n");
  const headers = new Headers();
  for (const line of headerLines) {
    const i = line.indexOf(":");
    if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return { statusLine, status: Number(statusLine.split(" ")[1]), headers, size: end + 4 };
}

/** A close frame's payload: the code, then the reason (text as UTF-8, or bytes as given). */
export function closeBody(code: number, reason: Uint8Array | string = ""): Uint8Array {
  const text = typeof reason === "string" ? encoder.encode(reason) : reason;
  const out = new Uint8Array(2 + text.byteLength);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/** A close frame's code (1005 without one) and reason, decoded leniently. */
export function parseCloseBody(payload: Uint8Array): { code: number; reason: string } {
  if (payload.byteLength < 2) return { code: 1005, reason: "" };
  return { code: (payload[0] << 8) | payload[1], reason: lenientUtf8.decode(payload.subarray(2)) };
}

/** A growable byte queue: append at the end, consume from the front, amortised O(n). */
class ByteQueue {
  #buf = new Uint8Array(65536);
  #start = 0;
  #end = 0;

  get length(): number {
    return this.#end - this.#start;
  }

  push(bytes: Uint8Array): void {
    if (this.#end + bytes.byteLength > this.#buf.byteLength) {
      const need = this.length + bytes.byteLength;
      if (need <= this.#buf.byteLength) this.#buf.copyWithin(0, this.#start, this.#end);
      else {
        const next = new Uint8Array(Math.max(need, this.#buf.byteLength * 2));
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      }
      this.#end = this.length;
      this.#start = 0;
    }
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.byteLength;
  }

  /** A view of `n` bytes at `i` from the front (valid until the next push). */
  view(i: number, n: number): Uint8Array {
    return this.#buf.subarray(this.#start + i, this.#start + i + n);
  }

  /** Drops `n` bytes from the front. */
  consume(n: number): void {
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }
}

function describeClose(code: number, reason: string): string {
  return `${code}${reason ? ` ${JSON.stringify(reason)}` : ""}`;
}

/**
 * One WebSocket client connection. Every frame sent and received is logged with its time;
 * `waitFor` and `waitClose` wait for an event with a timeout instead of sleeping. Pings are
 * answered with pongs; a close frame from the server is answered as RFC 6455 requires.
 */
export class WireClient {
  /** The URL it connected to. */
  readonly url: string;
  /** Name in transcripts. */
  readonly label: string;
  /** The subprotocol the server selected (`""` for none). */
  readonly protocol: string;
  /** The handshake response headers. */
  readonly responseHeaders: Headers;
  /** Every frame sent and received, in order. */
  readonly log: LoggedFrame[] = [];
  /** Every complete data message received, in order. */
  readonly received: ReceivedMessage[] = [];
  /** Every frame received, as it arrived. */
  readonly frames: RawFrame[] = [];
  /** Set once the connection has ended. */
  closed: CloseRecord | undefined;
  readonly #conn: Deno.Conn;
  readonly #epoch: number;
  readonly #in = new ByteQueue();
  readonly #wakers = new Set<() => void>();
  #fragments: Uint8Array[] = [];
  #fragmentOpcode = 0;
  #out: Uint8Array[] = [];
  #flushing: Promise<void> | undefined;
  #closeSent = false;
  #tcpClosed = false;
  #destroyed = false;
  #peerEnded = false;
  #sent = 0;
  #lastSent: { n: number; at: number; text: string } | undefined;
  readonly #reading: Promise<void>;

  private constructor(
    conn: Deno.Conn,
    options: WireOptions,
    epoch: number,
    protocol: string,
    headers: Headers,
    rest: Uint8Array,
  ) {
    this.#conn = conn;
    this.url = options.url;
    this.label = options.label ?? "client";
    this.#epoch = epoch;
    this.protocol = protocol;
    this.responseHeaders = headers;
    this.#in.push(rest);
    this.#reading = this.#readLoop();
  }

  /** Opens a connection and completes the opening handshake; rejects with {@link HandshakeError}. */
  static async connect(options: WireOptions): Promise<WireClient> {
    const epoch = options.epoch ?? performance.now();
    const timeoutMs = options.timeoutMs ?? 3000;
    let url: URL;
    try {
      url = new URL(options.url);
      if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new Error("not ws:// or wss://");
    } catch (error) {
      throw new HandshakeError(`bad URL ${options.url}: ${(error as Error).message}`);
    }
    const secure = url.protocol === "wss:";
    const port = Number(url.port || (secure ? 443 : 80));
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    let timer: ReturnType<typeof setTimeout> | undefined;
    let conn: Deno.Conn | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        try {
          conn?.close();
        } catch {
          // already closed
        }
        reject(new HandshakeError(`no WebSocket handshake from ${options.url} in ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([
        (async () => {
          try {
            conn = secure
              ? await Deno.connectTls({ hostname, port })
              : await Deno.connect({ hostname, port });
          } catch (error) {
            throw new HandshakeError(`cannot connect to ${url.host}: ${(error as Error).message}`);
          }
          const client = await WireClient.#handshake(conn, url, options, epoch);
          // Completed just after the timeout fired: nobody will use it.
          if (timedOut) await client.destroy();
          return client;
        })(),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  static async #handshake(
    conn: Deno.Conn,
    url: URL,
    options: WireOptions,
    epoch: number,
  ): Promise<WireClient> {
    const upgrade: Record<string, string> = {
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": base64(crypto.getRandomValues(new Uint8Array(16))),
      "Sec-WebSocket-Version": "13",
    };
    const key = upgrade["Sec-WebSocket-Key"];
    const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
    for (const [name, value] of Object.entries(upgrade)) {
      const replaced = Object.entries(options.replaceHeaders ?? {})
        .find(([n]) => n.toLowerCase() === name.toLowerCase());
      const sent = replaced ? replaced[1] : value;
      if (sent !== null) lines.push(`${name}: ${sent}`);
    }
    if (options.protocols?.length) {
      lines.push(`Sec-WebSocket-Protocol: ${options.protocols.join(", ")}`);
    }
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      lines.push(`${name}: ${value}`);
    }
    const fail = (message: string, status?: number, headers?: Headers, body?: string) => {
      try {
        conn.close();
      } catch {
        // already closed
      }
      return new HandshakeError(message, status, headers, body);
    };
    const request = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
    try {
      await writeAll(conn, options.early ? concat([request, options.early]) : request);
    } catch (error) {
      throw fail(`cannot send the handshake to ${url.host}: ${(error as Error).message}`);
    }
    const q = new ByteQueue();
    let head: ResponseHead | undefined;
    const buf = new Uint8Array(16384);
    while ((head = parseResponseHead(q.view(0, q.length))) === undefined) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (error) {
        throw fail(`handshake with ${options.url} failed: ${(error as Error).message}`);
      }
      if (n === null) {
        throw fail(`handshake with ${options.url} failed: the server closed the connection`);
      }
      q.push(buf.subarray(0, n));
    }
    const { statusLine, status, headers } = head;
    q.consume(head.size);
    if (status !== 101) {
      const body = await readBody(conn, q, headers);
      throw fail(
        `handshake with ${options.url} failed: the server answered ${statusLine.trim()}`,
        status,
        headers,
        body,
      );
    }
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID)));
    if (headers.get("sec-websocket-accept") !== base64(digest)) {
      throw fail(
        `handshake with ${options.url} failed: wrong Sec-WebSocket-Accept`,
        status,
        headers,
      );
    }
    const rest = q.view(0, q.length).slice();
    return new WireClient(
      conn,
      options,
      epoch,
      headers.get("sec-websocket-protocol") ?? "",
      headers,
      rest,
    );
  }

  /** Milliseconds since the epoch of this client. */
  now(): number {
    return Math.round(performance.now() - this.#epoch);
  }

  /** Whether the server ended the TCP connection (a FIN or a reset), not this client. */
  get peerEnded(): boolean {
    return this.#peerEnded;
  }

  /** Whether the connection is still open (no close begun, not lost). */
  get open(): boolean {
    return this.closed === undefined;
  }

  /** Data frames sent so far. */
  get sentCount(): number {
    return this.#sent;
  }

  #record(entry: Omit<LoggedFrame, "at">): void {
    const logged = { ...entry, at: this.now() } as LoggedFrame;
    if (logged.tag === undefined) delete logged.tag;
    if (logged.unsent === undefined) delete logged.unsent;
    this.log.push(logged);
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  #end(record: Omit<CloseRecord, "at" | "afterSent">): void {
    if (this.closed) return;
    this.closed = { ...record, at: this.now(), afterSent: this.#lastSent };
    this.#wake();
  }

  /** Sends a text frame and logs it (with `tag`, a label for reports). */
  sendText(text: string, tag?: string): void {
    this.#sendData("text", text, Opcode.text, encoder.encode(text), tag);
  }

  /** Sends a binary frame and logs it (with `tag`, a label for reports). */
  sendBinary(bytes: Uint8Array, tag?: string): void {
    this.#sendData("binary", `<binary ${bytes.byteLength} bytes>`, Opcode.binary, bytes, tag);
  }

  #sendData(
    kind: "text" | "binary",
    text: string,
    opcode: number,
    payload: Uint8Array,
    tag: string | undefined,
  ): void {
    if (this.closed || this.#closeSent) {
      this.#record({ dir: "sent", kind, text, unsent: true, tag });
      return;
    }
    const n = ++this.#sent;
    this.#record({ dir: "sent", kind, text, n, tag });
    this.#lastSent = { n, at: this.now(), text };
    this.#write(encodeFrame({ opcode, payload }));
  }

  /**
   * Sends one frame exactly as described (any opcode, fin, RSV bits, masked or not). A close
   * frame sent this way starts the closing handshake as this client's: the server's close frame
   * is then its answer, recorded as the end (`by: "server"`) and not answered again.
   */
  sendFrame(spec: FrameSpec): void {
    const text = `<frame opcode ${spec.opcode}${spec.fin === false ? " no-fin" : ""}` +
      `${spec.rsv ? ` rsv ${spec.rsv}` : ""}${spec.masked === false ? " unmasked" : ""}, ` +
      `${payloadOf(spec).byteLength} bytes>`;
    if (this.#tcpClosed) {
      this.#record({ dir: "sent", kind: "frame", text, unsent: true });
      return;
    }
    this.#record({ dir: "sent", kind: "frame", text });
    if (spec.opcode < 8) this.#lastSent = { n: ++this.#sent, at: this.now(), text };
    if (spec.opcode === Opcode.close) this.#closeSent = true;
    this.#write(encodeFrame(spec));
  }

  /** Writes raw bytes on the connection (anything, framed or not). */
  sendBytes(bytes: Uint8Array): void {
    const text = `<${bytes.byteLength} raw bytes>`;
    if (this.#tcpClosed) {
      this.#record({ dir: "sent", kind: "frame", text, unsent: true });
      return;
    }
    this.#record({ dir: "sent", kind: "frame", text });
    this.#write(bytes.slice());
  }

  /** Sends a ping frame. */
  ping(payload: Uint8Array = new Uint8Array(0)): void {
    if (this.closed || this.#closeSent) return;
    this.#record({ dir: "sent", kind: "ping", text: `<ping ${payload.byteLength} bytes>` });
    this.#write(encodeFrame({ opcode: Opcode.ping, payload }));
  }

  #write(bytes: Uint8Array): void {
    this.#out.push(bytes);
    this.#flushing ??= this.#flush();
  }

  async #flush(): Promise<void> {
    try {
      while (this.#out.length > 0) {
        const parts = this.#out;
        this.#out = [];
        await writeAll(this.#conn, parts.length === 1 ? parts[0] : concat(parts));
      }
    } catch {
      // The peer is gone: the read loop sees the end and records it.
      this.#out = [];
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Resolves when every queued frame has been written (or the connection failed). */
  async flushed(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(65536);
    try {
      this.#parse();
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) break;
        this.#in.push(buf.subarray(0, n));
        this.#parse();
      }
    } catch {
      // reset or closed locally: the end is recorded below
    }
    this.#peerEnded = !this.#destroyed;
    this.#tcpClosed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    if (!this.closed) {
      this.#record({ dir: "received", kind: "end", text: "<connection lost, no close frame>" });
      this.#end({ code: 1006, reason: "", by: "network" });
    }
    this.#wake();
  }

  #parse(): void {
    for (;;) {
      const decoded = decodeFrame(this.#in.view(0, this.#in.length));
      if (decoded === undefined) return;
      this.#in.consume(decoded.size);
      const frame: RawFrame = { ...decoded.frame, at: this.now() };
      this.frames.push(frame);
      this.#onFrame(frame);
    }
  }

  #onFrame(f: RawFrame): void {
    switch (f.opcode) {
      case Opcode.close: {
        const { code, reason } = parseCloseBody(f.payload);
        this.#record({
          dir: "received",
          kind: "close",
          text: `<close ${describeClose(code, reason)}>`,
        });
        if (!this.closed) this.#end({ code, reason, by: "server" });
        if (!this.#closeSent) {
          // Answer with the same code, then let the server close the TCP connection.
          this.#closeSent = true;
          this.#write(encodeFrame({ opcode: Opcode.close, payload: f.payload.subarray(0, 2) }));
        }
        this.#wake();
        return;
      }
      case Opcode.ping:
        this.#record({
          dir: "received",
          kind: "ping",
          text: `<ping ${f.payload.byteLength} bytes>`,
        });
        if (!this.#closeSent) this.#write(encodeFrame({ opcode: Opcode.pong, payload: f.payload }));
        return;
      case Opcode.pong:
        this.#record({
          dir: "received",
          kind: "pong",
          text: `<pong ${f.payload.byteLength} bytes>`,
        });
        this.#wake();
        return;
      case Opcode.text:
      case Opcode.binary:
        this.#fragmentOpcode = f.opcode;
        this.#fragments = [f.payload];
        break;
      case Opcode.continuation:
        this.#fragments.push(f.payload);
        break;
      default:
        this.#record({
          dir: "received",
          kind: "frame",
          text: `<frame with reserved opcode ${f.opcode}>`,
        });
        return;
    }
    if (!f.fin) return;
    const parts = this.#fragments;
    this.#fragments = [];
    const data = parts.length === 1 ? parts[0] : concat(parts);
    if (this.#fragmentOpcode === Opcode.binary) {
      const text = `<binary ${data.byteLength} bytes>`;
      this.#record({ dir: "received", kind: "binary", text });
      this.received.push({
        kind: "binary",
        text,
        data,
        json: undefined,
        utf8: true,
        at: this.now(),
      });
    } else {
      let text: string;
      let utf8 = true;
      try {
        text = strictUtf8.decode(data);
      } catch {
        text = lenientUtf8.decode(data);
        utf8 = false;
      }
      this.#record({ dir: "received", kind: "text", text });
      this.received.push({ kind: "text", text, data, json: parseJson(text), utf8, at: this.now() });
    }
    this.#wake();
  }

  /** Resolves when `ready()` holds (true), or after `timeoutMs` (then whatever `ready()` says). */
  async until(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wake = () => {};
    const deadline = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    try {
      while (!ready()) {
        const event = new Promise<"event">((resolve) => {
          wake = () => resolve("event");
          this.#wakers.add(wake);
        });
        const woke = await Promise.race([event, deadline]);
        this.#wakers.delete(wake);
        if (woke === "timeout") return ready();
      }
      return true;
    } finally {
      this.#wakers.delete(wake);
      clearTimeout(timer);
    }
  }

  /**
   * Waits for the first received message (already received or arriving within `timeoutMs`)
   * for which `pick` returns a value. Resolves `undefined` on timeout, or once the connection
   * has ended without such a message.
   */
  async waitFor<T>(
    pick: (message: ReceivedMessage) => T | undefined,
    timeoutMs: number,
  ): Promise<T | undefined> {
    let found: T | undefined;
    let scanned = 0;
    await this.until(() => {
      for (; scanned < this.received.length; scanned++) {
        found = pick(this.received[scanned]);
        if (found !== undefined) return true;
      }
      return this.closed !== undefined;
    }, timeoutMs);
    return found;
  }

  /** Waits for the connection to end; `undefined` when it is still open after `timeoutMs`. */
  async waitClose(timeoutMs: number): Promise<CloseRecord | undefined> {
    await this.until(() => this.closed !== undefined, timeoutMs);
    return this.closed;
  }

  /**
   * Starts the closing handshake with `code` and waits (up to `timeoutMs`) for the server's
   * close frame and the end of the TCP connection; drops the connection after the timeout.
   */
  async close(code = 1000, reason = "", timeoutMs = 3000): Promise<CloseRecord> {
    if (!this.closed && !this.#closeSent) {
      this.#closeSent = true;
      this.#record({ dir: "sent", kind: "close", text: `<close ${describeClose(code, reason)}>` });
      this.#end({ code, reason, by: "client" });
      this.#write(encodeFrame({ opcode: Opcode.close, payload: closeBody(code, reason) }));
    }
    const ended = await this.until(() => this.#tcpClosed, timeoutMs);
    if (!ended) await this.destroy();
    return this.closed!;
  }

  /**
   * Drops the TCP connection without a close frame (what a crashed browser or a pulled cable
   * looks like to the server) and waits for the reader to stop.
   */
  async destroy(): Promise<void> {
    await this.flushed();
    if (!this.#tcpClosed) {
      if (!this.closed) {
        this.#record({
          dir: "sent",
          kind: "end",
          text: "<TCP connection dropped, no close frame>",
        });
        this.#end({ code: 1006, reason: "", by: "client" });
      }
      this.#tcpClosed = true;
      this.#destroyed = true;
      try {
        this.#conn.close();
      } catch {
        // already closed by the peer
      }
    }
    await this.#reading;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.byteLength;) off += await conn.write(bytes.subarray(off));
}

/** The bytes of `parts`, one after the other, in one array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/** Reads what a non-101 answer carries (up to 4 KiB, briefly), for a useful error message. */
async function readBody(conn: Deno.Conn, q: ByteQueue, headers: Headers): Promise<string> {
  const want = Math.min(Number(headers.get("content-length") ?? 4096) || 0, 4096);
  const buf = new Uint8Array(4096);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 200));
  try {
    while (q.length < want) {
      const n = await Promise.race([conn.read(buf).catch(() => null), stop]);
      if (n === null) break;
      q.push(buf.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  return lenientUtf8.decode(q.view(0, Math.min(q.length, 4096)));
}
