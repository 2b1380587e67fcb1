/**
 * A raw TCP client for tests and the fuzzer: it writes bytes exactly as given (an HTTP request
 * head, frames that break any rule, a head cut anywhere) and reads HTTP responses and frames
 * only when asked, with timeouts. Unlike `WireClient` it never reads, answers a ping or a close
 * by itself, which is what tests of a server's keepalive, close timeout and back-pressure need.
 * Frames are encoded and decoded by `conformance/wire.ts`.
 *
 * @module
 */
import {
  concat,
  decodeFrame,
  encodeFrame,
  type FrameSpec,
  parseCloseBody,
  parseResponseHead,
  type WireFrame,
} from "../conformance/wire.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An HTTP response read by {@linkcode RawSocket.readResponse}. */
export interface RawResponse {
  status: number;
  headers: Headers;
  /** The body (content-length, chunked or until the end of the stream). */
  body: string;
}

/**
 * Upgrade request headers of a well-behaved client, to change in tests; the key is RFC 6455's
 * sample, whose `Sec-WebSocket-Accept` is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
 */
export function upgradeHeaders(port: number): Record<string, string> {
  return {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
  };
}

/** A raw TCP client: writes bytes as given, reads HTTP responses and frames with timeouts. */
export class RawSocket {
  readonly conn: Deno.TcpConn;
  #buf = new Uint8Array(0);
  #eof = false;
  #reading: Promise<boolean> | undefined;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Opens a TCP connection to `127.0.0.1:port`. */
  static async connect(port: number): Promise<RawSocket> {
    return new RawSocket(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Connects and upgrades (`path` default `/`); throws unless the answer is 101. */
  static async open(
    port: number,
    path = "/",
    headers: Record<string, string> = {},
  ): Promise<RawSocket> {
    const socket = await RawSocket.connect(port);
    await socket.request("GET", path, { ...upgradeHeaders(port), ...headers });
    const response = await socket.readHead();
    if (response.status !== 101) {
      socket.close();
      throw new Error(`upgrade answered ${response.status}`);
    }
    return socket;
  }

  /** Whether the server ended the stream. */
  get ended(): boolean {
    return this.#eof && this.#buf.length === 0;
  }

  /** Writes every byte (errors such as a reset are thrown). */
  async write(bytes: Uint8Array | string): Promise<void> {
    const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
    for (let at = 0; at < data.length;) at += await this.conn.write(data.subarray(at));
  }

  /** Writes one frame. */
  send(spec: FrameSpec): Promise<void> {
    return this.write(encodeFrame(spec));
  }

  /** Writes a request head. */
  request(method: string, path: string, headers: Record<string, string>): Promise<void> {
    const lines = [
      `${method} ${path} HTTP/1.1`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    return this.write(lines.join("\r\n") + "\r\n\r\n");
  }

  async #more(): Promise<boolean> {
    if (this.#eof) return false;
    this.#reading ??= (async () => {
      const chunk = new Uint8Array(65536);
      let n: number | null = null;
      try {
        n = await this.conn.read(chunk);
      } catch {
        n = null; // a reset ends the stream like a FIN
      }
      this.#reading = undefined;
      if (n === null) {
        this.#eof = true;
        return false;
      }
      this.#buf = concat([this.#buf, chunk.subarray(0, n)]);
      return true;
    })();
    return await this.#reading;
  }

  /**
   * Waits for more bytes until `deadline`: true when some came, false at the end of the stream;
   * throws on the deadline. Bytes always land in the buffer, so a timed-out wait loses none.
   */
  async #moreBy(deadline: number, what: string): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no ${what} in time`)),
        Math.max(0, deadline - Date.now()),
      );
    });
    try {
      return await Promise.race([this.#more(), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Reads a response head (status and headers); the body stays unread. */
  async readHead(timeoutMs = 2000): Promise<{ status: number; headers: Headers }> {
    const deadline = Date.now() + timeoutMs;
    let head;
    while ((head = parseResponseHead(this.#buf)) === undefined) {
      if (!await this.#moreBy(deadline, "response head")) {
        throw new Error("stream ended before a response head");
      }
    }
    this.#take(head.size);
    return { status: head.status, headers: head.headers };
  }

  /** Reads a whole response: head and body. */
  async readResponse(timeoutMs = 2000, head = false): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    const more = () => this.#moreBy(deadline, "response");
    const { status, headers } = await this.readHead(timeoutMs);
    const length = headers.get("content-length");
    let body: Uint8Array = new Uint8Array(0);
    if (head || status === 204 || status === 304) {
      // no body
    } else if (headers.get("transfer-encoding") === "chunked") {
      const parts: Uint8Array[] = [];
      for (;;) {
        let line;
        while ((line = decoder.decode(this.#buf).indexOf("\r\n")) < 0) {
          if (!await more()) throw new Error("stream ended inside a chunk");
        }
        const size = parseInt(decoder.decode(this.#take(line + 2)), 16);
        while (this.#buf.length < size + 2) {
          if (!await more()) throw new Error("stream ended inside a chunk");
        }
        parts.push(this.#take(size));
        this.#take(2);
        if (size === 0) break;
      }
      body = concat(parts);
    } else if (length !== null) {
      while (this.#buf.length < Number(length)) {
        if (!await more()) throw new Error("stream ended inside the body");
      }
      body = this.#take(Number(length));
    } else {
      while (await more()) { /* until the end of the stream */ }
      body = this.#take(this.#buf.length);
    }
    return { status, headers, body: decoder.decode(body) };
  }

  /** Reads the next frame; null when the stream ends first. */
  async readFrame(timeoutMs = 2000): Promise<WireFrame | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const decoded = decodeFrame(this.#buf);
      if (decoded !== undefined) {
        this.#take(decoded.size);
        return decoded.frame;
      }
      if (!await this.#moreBy(deadline, "frame")) return null;
    }
  }

  /** Reads frames until a close frame (other frames are returned too); null at the end of the stream. */
  async readClose(
    timeoutMs = 2000,
  ): Promise<{ code: number; reason: string; before: WireFrame[] } | null> {
    const before: WireFrame[] = [];
    for (;;) {
      const frame = await this.readFrame(timeoutMs);
      if (frame === null) return null;
      if (frame.opcode === 8) return { ...parseCloseBody(frame.payload), before };
      before.push(frame);
    }
  }

  /** Waits until the server ends the stream, dropping what arrives; throws after `timeoutMs`. */
  async expectEnd(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.#buf = new Uint8Array(0);
    while (await this.#moreBy(deadline, "end of stream")) this.#buf = new Uint8Array(0);
  }

  /** Closes the TCP connection (idempotent). */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}
