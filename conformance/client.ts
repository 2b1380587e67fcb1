/**
 * Simulated clients for the conformance runner: one over the standard `WebSocket` API and one
 * over a raw TCP socket (for abrupt connection loss). Both record every frame they send and
 * receive with its time, and wait for frames or the close with a timeout instead of sleeping.
 *
 * @module
 */

/** One frame a simulated client sent or received, as recorded in the case's transcript. */
export interface LoggedFrame {
  /** Direction, seen from the client. */
  dir: "sent" | "received";
  /** Milliseconds since the run started. */
  at: number;
  /** The text payload, or a description of a binary payload or close. */
  text: string;
}

/** A text frame received by a simulated client, with its JSON value when it parses. */
export interface ReceivedFrame {
  /** The text payload. */
  text: string;
  /** The parsed JSON value, or `undefined` when the text is not JSON. */
  json: unknown;
  /** Milliseconds since the run started. */
  at: number;
}

/** How a connection ended, as seen by the client. */
export interface CloseInfo {
  /** The close code (1006 when the connection was lost without a close frame). */
  code: number;
  /** The close reason. */
  reason: string;
  /** Milliseconds since the run started. */
  at: number;
}

/** The options shared by both kinds of simulated client. */
export interface ClientOptions {
  /** Name used in transcripts, e.g. `A`, `B2`. */
  label: string;
  /** The WebSocket URL. */
  url: string;
  /** Subprotocols offered in the handshake. */
  protocols?: string[];
  /** Extra handshake headers (e.g. `Origin`). */
  headers?: Record<string, string>;
  /** `performance.now()` at the start of the run; frame times are relative to it. */
  epoch: number;
}

/** The opening handshake failed or timed out. */
export class ConnectError extends Error {}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** What both kinds of simulated client share: the transcript and the waiting logic. */
export abstract class Endpoint {
  /** Name used in transcripts. */
  readonly label: string;
  /** Every frame sent and received, in order. */
  readonly log: LoggedFrame[] = [];
  /** Every text frame received, in order. */
  readonly received: ReceivedFrame[] = [];
  /** Set once the connection has closed. */
  closed: CloseInfo | undefined;
  readonly #epoch: number;
  readonly #wakers = new Set<() => void>();

  /** A client named `label` timing its frames from `epoch`. */
  constructor(label: string, epoch: number) {
    this.label = label;
    this.#epoch = epoch;
  }

  /** Milliseconds since the run started. */
  protected now(): number {
    return Math.round(performance.now() - this.#epoch);
  }

  /** Adds a frame to the transcript. */
  protected record(dir: "sent" | "received", text: string): void {
    this.log.push({ dir, at: this.now(), text });
  }

  /** Records a received text frame and wakes the waiters. */
  protected onText(text: string): void {
    this.record("received", text);
    this.received.push({ text, json: parseJson(text), at: this.now() });
    this.#wake();
  }

  /** Records the end of the connection and wakes the waiters. */
  protected onClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = { code, reason, at: this.now() };
    this.log.push({
      dir: "received",
      at: this.closed.at,
      text: `<closed ${code}${reason ? ` ${reason}` : ""}>`,
    });
    this.#wake();
  }

  #wake(): void {
    for (const wake of [...this.#wakers]) wake();
  }

  /** Resolves when `ready()` holds, on the next event, or after `timeoutMs` (then `false`). */
  protected async until(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wake = () => {};
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    try {
      while (!ready()) {
        const event = new Promise<"event">((resolve) => {
          wake = () => resolve("event");
          this.#wakers.add(wake);
        });
        const woke = await Promise.race([event, deadline]);
        this.#wakers.delete(wake);
        if (woke !== "event") return ready();
      }
      return true;
    } finally {
      this.#wakers.delete(wake);
      clearTimeout(timer);
    }
  }

  /**
   * Waits for the first received frame (already received or arriving within `timeoutMs`) for
   * which `pick` returns a value. Resolves `undefined` on timeout or when the connection closes
   * without such a frame.
   */
  async waitFor<T>(
    pick: (frame: ReceivedFrame) => T | undefined,
    timeoutMs: number,
  ): Promise<T | undefined> {
    let found: T | undefined;
    let scanned = 0;
    const ready = () => {
      for (; scanned < this.received.length; scanned++) {
        found = pick(this.received[scanned]);
        if (found !== undefined) return true;
      }
      return this.closed !== undefined;
    };
    await this.until(ready, timeoutMs);
    return found;
  }

  /** Waits for the connection to close; `undefined` when it is still open after `timeoutMs`. */
  async waitClose(timeoutMs: number): Promise<CloseInfo | undefined> {
    await this.until(() => this.closed !== undefined, timeoutMs);
    return this.closed;
  }

  /** Sends a text frame and records it. */
  abstract send(text: string): void;
  /** Ends the connection and resolves once it is closed (or after `timeoutMs`). */
  abstract close(timeoutMs: number): Promise<void>;
}

/** A simulated client over the standard `WebSocket` API, the way a browser page talks. */
export class SimClient extends Endpoint {
  readonly #ws: WebSocket;

  private constructor(ws: WebSocket, options: ClientOptions) {
    super(options.label, options.epoch);
    this.#ws = ws;
    ws.addEventListener("message", (e) => {
      if (typeof e.data === "string") this.onText(e.data);
      else this.record("received", `<binary frame>`);
    });
    ws.addEventListener("close", (e) => this.onClose(e.code, e.reason));
  }

  /** Opens a connection; rejects with {@link ConnectError} when the handshake fails or times out. */
  static open(options: ClientOptions, timeoutMs: number): Promise<SimClient> {
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(options.url, {
          protocols: options.protocols ?? [],
          headers: options.headers ?? {},
        });
      } catch (error) {
        reject(new ConnectError(`cannot open ${options.url}: ${(error as Error).message}`));
        return;
      }
      const client = new SimClient(ws, options);
      const timer = setTimeout(() => {
        ws.close();
        reject(new ConnectError(`no WebSocket handshake from ${options.url} in ${timeoutMs} ms`));
      }, timeoutMs);
      ws.addEventListener("open", () => {
        clearTimeout(timer);
        resolve(client);
      }, { once: true });
      ws.addEventListener("error", (e) => {
        clearTimeout(timer);
        reject(
          new ConnectError(
            `WebSocket handshake with ${options.url} failed: ${
              (e as ErrorEvent).message ?? "error"
            }`,
          ),
        );
      }, { once: true });
    });
  }

  /** The subprotocol the server selected (`""` for none). */
  get protocol(): string {
    return this.#ws.protocol;
  }

  /** Sends a text frame and records it. */
  send(text: string): void {
    this.record("sent", text);
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(text);
  }

  /** Sends a binary frame of `bytes` and records it. */
  sendBinary(bytes: Uint8Array<ArrayBuffer>): void {
    this.record("sent", `<binary ${bytes.byteLength} bytes>`);
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(bytes);
  }

  /** Unsent bytes queued by the WebSocket API. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /** Starts a clean close (1000) and waits for it to complete. */
  async close(timeoutMs: number): Promise<void> {
    if (!this.closed) {
      this.record("sent", "<close 1000>");
      this.#ws.close(1000);
    }
    await this.waitClose(timeoutMs);
  }
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** Encodes one masked client frame (RFC 6455 section 5.2). */
function encodeFrame(opcode: number, payload: Uint8Array): Uint8Array<ArrayBuffer> {
  const len = payload.byteLength;
  const headLen = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = new Uint8Array(headLen + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    new DataView(out.buffer).setUint16(2, len);
  } else {
    out[1] = 0x80 | 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(len));
  }
  const mask = crypto.getRandomValues(new Uint8Array(4));
  out.set(mask, headLen);
  for (let i = 0; i < len; i++) out[headLen + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

/**
 * A client speaking RFC 6455 itself over `Deno.connect`/`Deno.connectTls`, so that it can
 * drop the TCP connection without a close frame ({@link RawClient.destroy}): what a crashed
 * browser, a pulled cable or a killed process looks like to the server.
 */
export class RawClient extends Endpoint {
  readonly #conn: Deno.Conn;
  #buffer: Uint8Array = new Uint8Array(0);
  #fragments: Uint8Array[] = [];
  #reading: Promise<void> = Promise.resolve();
  #writing: Promise<void> = Promise.resolve();
  #destroyed = false;

  private constructor(conn: Deno.Conn, options: ClientOptions) {
    super(options.label, options.epoch);
    this.#conn = conn;
  }

  /** Connects and completes the opening handshake; rejects with {@link ConnectError}. */
  static async open(options: ClientOptions, timeoutMs: number): Promise<RawClient> {
    const url = new URL(options.url);
    const secure = url.protocol === "wss:";
    const port = Number(url.port || (secure ? 443 : 80));
    const hostname = url.hostname.replace(/^\[|\]$/g, "");
    let conn: Deno.Conn;
    try {
      conn = secure
        ? await Deno.connectTls({ hostname, port })
        : await Deno.connect({ hostname, port });
    } catch (error) {
      throw new ConnectError(`cannot connect to ${url.host}: ${(error as Error).message}`);
    }
    const client = new RawClient(conn, options);
    const timer = setTimeout(() => conn.close(), timeoutMs);
    try {
      await client.#handshake(url, options);
    } catch (error) {
      client.#destroyed = true;
      try {
        conn.close();
      } catch {
        // already closed by the timeout
      }
      throw new ConnectError(
        `raw handshake with ${options.url} failed: ${(error as Error).message}`,
      );
    } finally {
      clearTimeout(timer);
    }
    client.#reading = client.#readLoop();
    return client;
  }

  async #handshake(url: URL, options: ClientOptions): Promise<void> {
    const key = base64(crypto.getRandomValues(new Uint8Array(16)));
    const lines = [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
    ];
    if (options.protocols?.length) {
      lines.push(`Sec-WebSocket-Protocol: ${options.protocols.join(", ")}`);
    }
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      lines.push(`${name}: ${value}`);
    }
    await this.#write(encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    let head: Uint8Array = new Uint8Array(0);
    let end = -1;
    while (end < 0) {
      const chunk = await this.#readChunk();
      if (!chunk) throw new Error("connection closed during the handshake");
      head = concat(head, chunk);
      end = indexOfCrlfCrlf(head);
    }
    const text = decoder.decode(head.subarray(0, end));
    this.#buffer = head.subarray(end + 4);
    const [status, ...headers] = text.split("\r\n");
    if (!/^HTTP\/1\.1 101\b/.test(status)) throw new Error(`server answered ${status}`);
    const accept = headers.find((h) => /^sec-websocket-accept:/i.test(h))?.split(":")[1]?.trim();
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID)),
    );
    if (accept !== base64(digest)) throw new Error("wrong Sec-WebSocket-Accept");
  }

  async #readChunk(): Promise<Uint8Array | null> {
    const buf = new Uint8Array(16384);
    const n = await this.#conn.read(buf);
    return n === null ? null : buf.subarray(0, n);
  }

  async #write(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.byteLength;) off += await this.#conn.write(bytes.subarray(off));
  }

  async #readLoop(): Promise<void> {
    try {
      this.#parseFrames();
      while (!this.closed) {
        const chunk = await this.#readChunk();
        if (!chunk) break;
        this.#buffer = concat(this.#buffer, chunk);
        this.#parseFrames();
      }
    } catch {
      // the connection was destroyed or reset: reported as 1006 below
    }
    this.onClose(1006, "");
  }

  #parseFrames(): void {
    for (;;) {
      const b = this.#buffer;
      if (b.byteLength < 2) return;
      const opcode = b[0] & 0x0f;
      const fin = (b[0] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.byteLength < 4) return;
        len = new DataView(b.buffer, b.byteOffset).getUint16(2);
        off = 4;
      } else if (len === 127) {
        if (b.byteLength < 10) return;
        len = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(2));
        off = 10;
      }
      if (b.byteLength < off + len) return;
      const payload = b.slice(off, off + len);
      this.#buffer = b.subarray(off + len);
      if (opcode === 0x8) {
        const code = len >= 2 ? new DataView(payload.buffer).getUint16(0) : 1005;
        this.onClose(code, decoder.decode(payload.subarray(2)));
        return;
      }
      if (opcode === 0x1 || opcode === 0x0) {
        this.#fragments.push(payload);
        if (fin) {
          this.onText(decoder.decode(this.#fragments.reduce(concat)));
          this.#fragments = [];
        }
      } else if (opcode === 0x2) {
        this.record("received", `<binary frame>`);
      }
    }
  }

  /** Sends a masked text frame and records it. */
  send(text: string): void {
    this.record("sent", text);
    const frame = encodeFrame(0x1, encoder.encode(text));
    this.#writing = this.#writing.then(() => this.#write(frame)).catch(() => {});
  }

  /** Drops the TCP connection without a close frame and waits for the reader to stop. */
  async destroy(): Promise<void> {
    if (!this.#destroyed) {
      this.#destroyed = true;
      await this.#writing;
      this.record("sent", "<TCP connection dropped, no close frame>");
      try {
        this.#conn.close();
      } catch {
        // already closed by the peer
      }
    }
    await this.#reading;
  }

  /** Same as {@link RawClient.destroy}: a raw client never closes cleanly. */
  close(): Promise<void> {
    return this.destroy();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.byteLength; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}
