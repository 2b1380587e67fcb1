/**
 * Network helpers for tests: a WebSocket client that queues what it receives and waits for
 * it with timeouts, a raw TCP WebSocket client for what browsers cannot do (never read,
 * vanish without a close frame, send an Origin), and a free port.
 *
 * @module
 */
import { settles, until, Wakeup } from "./wait.ts";

/** How a WebSocket ended. */
export interface Closed {
  code: number;
  reason: string;
}

/** A WebSocket client whose received frames wait in a queue until a test takes them. */
export class TestClient {
  /** The underlying socket. */
  readonly socket: WebSocket;
  #frames: (string | ArrayBuffer)[] = [];
  #closed: Closed | undefined;
  #wakeup = new Wakeup();
  #done: Promise<void>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => {
      this.#frames.push(e.data);
      this.#wakeup.wake();
    };
    this.#done = new Promise((resolve) => {
      socket.addEventListener("close", (e) => {
        this.#closed = { code: e.code, reason: e.reason };
        this.#wakeup.wake();
        resolve();
      });
    });
  }

  /** Opens a connection; rejects when the upgrade fails or takes longer than `timeoutMs`. */
  static async connect(
    url: string,
    protocols?: string | string[],
    timeoutMs = 2000,
  ): Promise<TestClient> {
    const socket = new WebSocket(url, protocols);
    const client = new TestClient(socket);
    const opened = new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () =>
        client.#done.then(() => reject(new Error(`connection to ${url} failed`)));
    });
    if (!await settles(opened, timeoutMs)) {
      socket.close();
      throw new Error(`no open within ${timeoutMs} ms`);
    }
    return client;
  }

  /** The subprotocol the server selected ("" for none). */
  get protocol(): string {
    return this.socket.protocol;
  }

  /** Sends a string as is, or any other value as JSON. */
  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The next received text frame; throws on a timeout, a binary frame or a close. */
  async next(timeoutMs = 1000): Promise<string> {
    await until(
      () => this.#frames.length > 0 || this.#closed !== undefined,
      timeoutMs,
      this.#wakeup,
    );
    const frame = this.#frames.shift();
    if (frame === undefined) {
      throw new Error(
        this.#closed
          ? `closed (${this.#closed.code} ${this.#closed.reason}) instead of a frame`
          : `no frame within ${timeoutMs} ms`,
      );
    }
    if (typeof frame !== "string") throw new Error("received a binary frame");
    return frame;
  }

  /** The next received frame, parsed as JSON. */
  async nextJson<T = Record<string, unknown>>(timeoutMs = 1000): Promise<T> {
    return JSON.parse(await this.next(timeoutMs));
  }

  /**
   * Waits for the server to close the connection; throws when a frame comes first (unless
   * `skipFrames`) or nothing happens within `timeoutMs`.
   */
  async expectClose(timeoutMs = 1000, skipFrames = false): Promise<Closed> {
    await until(
      () => this.#closed !== undefined || (!skipFrames && this.#frames.length > 0),
      timeoutMs,
      this.#wakeup,
    );
    if (!skipFrames && this.#frames.length > 0) {
      throw new Error(`received ${this.#frames[0]} instead of a close`);
    }
    if (!this.#closed) throw new Error(`no close within ${timeoutMs} ms`);
    return this.#closed;
  }

  /** Asserts that nothing arrives (no frame, no close) for `ms`. */
  async expectSilence(ms = 100): Promise<void> {
    await until(() => this.#frames.length > 0 || this.#closed !== undefined, ms, this.#wakeup);
    if (this.#frames.length > 0) throw new Error(`unexpected frame ${this.#frames[0]}`);
    if (this.#closed) throw new Error(`unexpected close ${this.#closed.code}`);
  }

  /** Frames received and not yet taken. */
  get pending(): number {
    return this.#frames.length;
  }

  /** Closes (if still open) and waits for the close to complete. */
  async close(code = 1000, reason = ""): Promise<void> {
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(code, reason);
    await this.#done;
  }

  /** Resolves when the connection has closed, from either side. */
  get done(): Promise<void> {
    return this.#done;
  }
}

/** One frame read by {@linkcode RawClient}. */
export interface RawFrame {
  opcode: number;
  payload: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A WebSocket client on a bare TCP connection, for behaviour no well-behaved client shows. */
export class RawClient {
  /** HTTP status of the handshake response. */
  readonly status: number;
  /** Header lines of the handshake response. */
  readonly headers: Headers;
  #conn: Deno.TcpConn;
  #buffer: Uint8Array<ArrayBuffer>;
  #open = true;

  private constructor(
    conn: Deno.TcpConn,
    status: number,
    headers: Headers,
    rest: Uint8Array<ArrayBuffer>,
  ) {
    this.#conn = conn;
    this.status = status;
    this.headers = headers;
    this.#buffer = rest;
  }

  /** Sends an upgrade request to `127.0.0.1:port` and reads the response head. */
  static async connect(
    port: number,
    options: { path?: string; headers?: Record<string, string> } = {},
  ): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const lines = [
      `GET ${options.path ?? "/ws"} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    ];
    await conn.write(encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    let data: Uint8Array<ArrayBuffer> = new Uint8Array(0);
    let end = -1;
    while (end < 0) {
      const chunk = new Uint8Array(4096);
      const n = await conn.read(chunk);
      if (n === null) {
        conn.close();
        throw new Error("connection closed during the handshake");
      }
      data = concat(data, chunk.subarray(0, n));
      end = decoder.decode(data).indexOf("\r\n\r\n");
    }
    const headEnd = indexOfCrlfCrlf(data);
    const head = decoder.decode(data.subarray(0, headEnd)).split("\r\n");
    const status = Number(head[0].split(" ")[1]);
    const headers = new Headers();
    for (const line of head.slice(1)) {
      const i = line.indexOf(":");
      headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
    }
    return new RawClient(conn, status, headers, data.subarray(headEnd + 4));
  }

  /** Sends one masked frame; `fin: false` starts or continues a fragmented message. */
  async sendFrame(
    opcode: number,
    payload: Uint8Array,
    { fin = true, rsv = 0 }: { fin?: boolean; rsv?: number } = {},
  ): Promise<void> {
    const len = payload.length;
    const first = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 15);
    const head = len < 126
      ? [first, 0x80 | len]
      : len < 65536
      ? [first, 0x80 | 126, len >> 8, len & 255]
      : [
        first,
        0x80 | 127,
        0,
        0,
        0,
        0,
        len >>> 24,
        (len >> 16) & 255,
        (len >> 8) & 255,
        len & 255,
      ];
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const masked = payload.map((b, i) => b ^ mask[i & 3]);
    await writeAll(this.#conn, concat(new Uint8Array(head), mask, masked));
  }

  /** Sends a text frame. */
  sendText(text: string): Promise<void> {
    return this.sendFrame(1, encoder.encode(text));
  }

  /** Reads the next frame, or null at the end of the stream; throws after `timeoutMs`. */
  async readFrame(timeoutMs = 1000): Promise<RawFrame | null> {
    const frame = this.#readFrame();
    try {
      if (!await settles(frame, timeoutMs)) throw new Error(`no frame within ${timeoutMs} ms`);
      return await frame;
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** Reads frames until a close frame; returns its code, or null when the stream ends first. */
  async readUntilClose(timeoutMs = 1000): Promise<number | null> {
    for (;;) {
      const frame = await this.readFrame(timeoutMs);
      if (frame === null) return null;
      if (frame.opcode === 8) return (frame.payload[0] << 8) | frame.payload[1];
    }
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#buffer.length < n) {
      const chunk = new Uint8Array(65536);
      const read = await this.#conn.read(chunk);
      if (read === null) return false;
      this.#buffer = concat(this.#buffer, chunk.subarray(0, read));
    }
    return true;
  }

  async #readFrame(): Promise<RawFrame | null> {
    if (!await this.#fill(2)) return null;
    const opcode = this.#buffer[0] & 15;
    let len = this.#buffer[1] & 127;
    let offset = 2;
    if (len === 126) {
      if (!await this.#fill(4)) return null;
      len = (this.#buffer[2] << 8) | this.#buffer[3];
      offset = 4;
    } else if (len === 127) {
      if (!await this.#fill(10)) return null;
      len = new DataView(this.#buffer.buffer, this.#buffer.byteOffset + 2, 8).getUint32(4);
      offset = 10;
    }
    if (!await this.#fill(offset + len)) return null;
    const payload = this.#buffer.slice(offset, offset + len);
    this.#buffer = this.#buffer.slice(offset + len);
    return { opcode, payload };
  }

  /** Drops the TCP connection without a close frame (idempotent). */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#conn.close();
  }
}

function indexOfCrlfCrlf(data: Uint8Array): number {
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) return i;
  }
  return -1;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}
