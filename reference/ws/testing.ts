/**
 * Test helpers for the transport (used by its tests and by the fuzzer, never by the server):
 * a client frame encoder that can break every rule, and a raw TCP client that speaks HTTP and
 * frames byte by byte and waits for what the server does with timeouts.
 *
 * @module
 */

/** A client frame, with every field a test may want wrong. */
export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  /** FIN bit (default true). */
  fin?: boolean;
  /** RSV1–3 as a number 0–7. */
  rsv?: number;
  /** Masking key; null sends the frame unmasked (default: a random key). */
  mask?: Uint8Array | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a client frame as given (masked with a random key unless `mask: null`). */
export function encodeFrame(spec: FrameSpec): Uint8Array {
  const payload = typeof spec.payload === "string"
    ? encoder.encode(spec.payload)
    : spec.payload ?? new Uint8Array(0);
  const mask = spec.mask === undefined ? crypto.getRandomValues(new Uint8Array(4)) : spec.mask;
  const n = payload.length;
  const extended = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + extended + (mask ? 4 : 0) + n);
  out[0] = (spec.fin === false ? 0 : 0x80) | ((spec.rsv ?? 0) << 4) | spec.opcode;
  out[1] = (mask ? 0x80 : 0) | (n < 126 ? n : n < 65536 ? 126 : 127);
  let p = 2;
  if (extended === 2) {
    out[p++] = n >>> 8;
    out[p++] = n & 0xff;
  } else if (extended === 8) {
    new DataView(out.buffer).setBigUint64(p, BigInt(n));
    p += 8;
  }
  if (mask) {
    out.set(mask, p);
    p += 4;
    for (let i = 0; i < n; i++) out[p + i] = payload[i] ^ mask[i & 3];
  } else out.set(payload, p);
  return out;
}

/** A close frame payload: the code and a reason (bytes or text). */
export function closeBody(code: number, reason: Uint8Array | string = ""): Uint8Array {
  const text = typeof reason === "string" ? encoder.encode(reason) : reason;
  const out = new Uint8Array(2 + text.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/** A frame the server sent. */
export interface ServerFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** A close frame's code (1005 when empty) and reason. */
export function closeOf(frame: ServerFrame): { code: number; reason: string } {
  if (frame.payload.length < 2) return { code: 1005, reason: "" };
  return {
    code: (frame.payload[0] << 8) | frame.payload[1],
    reason: decoder.decode(frame.payload.subarray(2)),
  };
}

/** An HTTP response read by {@linkcode RawSocket.readResponse}. */
export interface RawResponse {
  status: number;
  headers: Headers;
  /** The body (content-length, chunked or until the end of the stream). */
  body: string;
}

/** Upgrade request headers of a well-behaved client, to change in tests. */
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
      const grown = new Uint8Array(this.#buf.length + n);
      grown.set(this.#buf);
      grown.set(chunk.subarray(0, n), this.#buf.length);
      this.#buf = grown;
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
    {
      let end;
      while ((end = decoder.decode(this.#buf).indexOf("\r\n\r\n")) < 0) {
        if (!await this.#moreBy(deadline, "response head")) {
          throw new Error("stream ended before a response head");
        }
      }
      const lines = decoder.decode(this.#take(end + 4)).split("\r\n").slice(0, -2);
      const status = Number(lines[0].split(" ")[1]);
      const headers = new Headers();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
      }
      return { status, headers };
    }
  }

  /** Reads a whole response: head and body. */
  async readResponse(timeoutMs = 2000, head = false): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    const more = () => this.#moreBy(deadline, "response");
    {
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
  }

  /** Reads the next frame; null when the stream ends first. */
  async readFrame(timeoutMs = 2000): Promise<ServerFrame | null> {
    const deadline = Date.now() + timeoutMs;
    {
      for (;;) {
        const b = this.#buf;
        if (b.length >= 2) {
          const code = b[1] & 0x7f;
          const masked = (b[1] & 0x80) !== 0;
          const extended = code === 126 ? 2 : code === 127 ? 8 : 0;
          const header = 2 + extended + (masked ? 4 : 0);
          if (b.length >= header) {
            const length = extended === 0
              ? code
              : extended === 2
              ? (b[2] << 8) | b[3]
              : Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
            if (b.length >= header + length) {
              const frame = this.#take(header + length);
              return {
                fin: (frame[0] & 0x80) !== 0,
                opcode: frame[0] & 0x0f,
                masked,
                payload: frame.slice(header),
              };
            }
          }
        }
        if (!await this.#moreBy(deadline, "frame")) return null;
      }
    }
  }

  /** Reads frames until a close frame (other frames are returned too); null at the end of the stream. */
  async readClose(
    timeoutMs = 2000,
  ): Promise<{ code: number; reason: string; before: ServerFrame[] } | null> {
    const before: ServerFrame[] = [];
    for (;;) {
      const frame = await this.readFrame(timeoutMs);
      if (frame === null) return null;
      if (frame.opcode === 8) return { ...closeOf(frame), before };
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

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
