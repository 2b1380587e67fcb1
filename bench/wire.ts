/**
 * A lean RFC 6455 client over `Deno.connect`, for load generation: the deliberate copy of the
 * project's wire client (`conformance/wire.ts`), which logs every frame, masks each one with a
 * random key and holds two 64 KiB buffers per socket. The load generator shares two cores with
 * the relay under test, so here frames sent in the same tick are written with one syscall,
 * masking uses the all-zero key (legal, and the payload is copied as is), and buffers start
 * small so that 20,000 idle sockets stay cheap. Nothing of the wire client's codec is shared:
 * its `decodeFrame` copies every payload, where this parser unmasks in place.
 *
 * It answers pings and close frames; it never validates the server beyond the 101 status.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HANDSHAKE_END = [13, 10, 13, 10];
const KEY = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));

/** Options of {@linkcode connectWs}. */
export interface WsOptions {
  /** Subprotocol to offer (`Sec-WebSocket-Protocol`); none when absent. */
  protocol?: string;
  /** `Origin` header; none when absent. */
  origin?: string;
}

/** Close code reported when the TCP connection ended without a close frame. */
const ABNORMAL_CLOSE = 1006;

const MAX_READ_BUFFER = 256 * 1024;
let scratch = new Uint8Array(1024);

/** A client WebSocket connection; set `onText` and `onClose` before frames arrive. */
export class WsClient {
  /** Called with every text message. */
  onText: (text: string) => void = () => {};
  /** Called once when the connection ends, with the close code (1006: no close frame). */
  onClose: (code: number) => void = () => {};
  #conn: Deno.TcpConn;
  #in: Uint8Array;
  #inStart = 0;
  #inEnd: number;
  #out = new Uint8Array(256);
  #spare = new Uint8Array(256);
  #outLen = 0;
  #writing = false;
  #need = 0;
  #fragments: Uint8Array[] = [];
  #closed = false;

  constructor(conn: Deno.TcpConn, leftover: Uint8Array) {
    this.#conn = conn;
    this.#in = new Uint8Array(Math.max(4096, leftover.length * 2));
    this.#in.set(leftover);
    this.#inEnd = leftover.length;
  }

  /** Whether the connection has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Starts reading; frames already received with the handshake are delivered first. */
  start(): void {
    this.#readLoop().catch(() => this.#end(ABNORMAL_CLOSE));
  }

  /** Queues a text frame; frames queued in the same tick go out in one write. */
  send(text: string): void {
    if (this.#closed) return;
    if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
    const length = encoder.encodeInto(text, scratch).written;
    this.#frame(0x81, scratch.subarray(0, length));
  }

  /** Sends a close frame (1000) and closes the socket once it is written. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#frame(0x88, new Uint8Array([0x03, 0xe8]));
    await this.#flush();
    this.#end(1000);
  }

  #frame(opcode: number, payload: Uint8Array): void {
    const length = payload.length;
    const header = length < 126 ? 6 : length < 65536 ? 8 : 14;
    const need = this.#outLen + header + length;
    if (need > this.#out.length) {
      const grown = new Uint8Array(Math.max(need, this.#out.length * 2));
      grown.set(this.#out.subarray(0, this.#outLen));
      this.#out = grown;
    }
    const out = this.#out;
    let p = this.#outLen;
    out[p++] = opcode;
    if (length < 126) {
      out[p++] = 0x80 | length;
    } else if (length < 65536) {
      out[p++] = 0x80 | 126;
      out[p++] = length >>> 8;
      out[p++] = length & 0xff;
    } else {
      out[p++] = 0x80 | 127;
      out.fill(0, p, p + 4);
      p += 4;
      out[p++] = length >>> 24;
      out[p++] = (length >>> 16) & 0xff;
      out[p++] = (length >>> 8) & 0xff;
      out[p++] = length & 0xff;
    }
    out.fill(0, p, p + 4); // the all-zero masking key
    p += 4;
    out.set(payload, p);
    this.#outLen = p + length;
    if (!this.#writing) queueMicrotask(() => this.#flush());
  }

  async #flush(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#outLen > 0 && !this.#closed) {
        const buffer = this.#out;
        const length = this.#outLen;
        this.#out = this.#spare.length >= length ? this.#spare : new Uint8Array(length);
        this.#outLen = 0;
        let written = 0;
        while (written < length) {
          written += await this.#conn.write(buffer.subarray(written, length));
        }
        this.#spare = buffer;
      }
    } catch {
      this.#end(ABNORMAL_CLOSE);
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(): Promise<void> {
    while (!this.#closed) {
      this.#parse();
      if (this.#closed) return;
      this.#makeRoom();
      const space = this.#in.length - this.#inEnd;
      const n = await this.#conn.read(this.#in.subarray(this.#inEnd));
      if (n === null) return this.#end(ABNORMAL_CLOSE);
      this.#inEnd += n;
      // A full read means more is waiting: read bigger chunks (fewer ops) from now on.
      if (n === space && this.#in.length < MAX_READ_BUFFER) this.#need = this.#in.length * 2;
    }
  }

  /** Moves the unparsed bytes to the front or grows the buffer, so that a read has room. */
  #makeRoom(): void {
    const pending = this.#inEnd - this.#inStart;
    const need = Math.max(this.#need, pending + 1);
    if (this.#inEnd < this.#in.length && this.#in.length - this.#inStart >= need) return;
    const target = need <= this.#in.length
      ? this.#in
      : new Uint8Array(Math.max(need, this.#in.length * 2));
    target.set(this.#in.subarray(this.#inStart, this.#inEnd));
    this.#in = target;
    this.#inStart = 0;
    this.#inEnd = pending;
    this.#need = 0;
  }

  #parse(): void {
    const buf = this.#in;
    let p = this.#inStart;
    while (!this.#closed) {
      const available = this.#inEnd - p;
      if (available < 2) break;
      const b0 = buf[p];
      const b1 = buf[p + 1];
      let length = b1 & 0x7f;
      let header = 2;
      if (length === 126) {
        if (available < 4) break;
        length = (buf[p + 2] << 8) | buf[p + 3];
        header = 4;
      } else if (length === 127) {
        if (available < 10) break;
        length = buf[p + 6] * 2 ** 24 + ((buf[p + 7] << 16) | (buf[p + 8] << 8) | buf[p + 9]);
        header = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) header += 4;
      if (available < header + length) {
        this.#need = Math.max(this.#need, header + length);
        break;
      }
      const payload = buf.subarray(p + header, p + header + length);
      if (masked) {
        for (let i = 0; i < length; i++) payload[i] ^= buf[p + header - 4 + (i & 3)];
      }
      p += header + length;
      this.#onFrame(b0 & 0x80, b0 & 0x0f, payload);
    }
    this.#inStart = p;
    if (p === this.#inEnd) this.#inStart = this.#inEnd = 0;
  }

  #onFrame(fin: number, opcode: number, payload: Uint8Array): void {
    switch (opcode) {
      case 0x0:
      case 0x1:
        if (!fin || this.#fragments.length > 0) {
          this.#fragments.push(payload.slice());
          if (!fin) return;
          const whole = new Uint8Array(this.#fragments.reduce((n, f) => n + f.length, 0));
          let offset = 0;
          for (const fragment of this.#fragments) {
            whole.set(fragment, offset);
            offset += fragment.length;
          }
          this.#fragments = [];
          return this.onText(decoder.decode(whole));
        }
        return this.onText(decoder.decode(payload));
      case 0x8: {
        const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        this.#frame(0x88, payload.slice(0, 2));
        this.#flush().finally(() => this.#end(code));
        return;
      }
      case 0x9:
        return this.#frame(0x8a, payload.slice());
    }
  }

  #end(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer
    }
    this.onClose(code);
  }
}

/**
 * Opens a WebSocket to a `ws://` URL (the handshake only; call `start()` after setting the
 * handlers). Rejects when the server does not answer 101 or the subprotocol offered is refused.
 */
export async function connectWs(url: string, options: WsOptions = {}): Promise<WsClient> {
  const target = new URL(url);
  const port = Number(target.port || 80);
  const conn = await Deno.connect({ hostname: target.hostname, port });
  try {
    conn.setNoDelay(true);
    const lines = [
      `GET ${target.pathname}${target.search} HTTP/1.1`,
      `Host: ${target.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${KEY}`,
      "Sec-WebSocket-Version: 13",
    ];
    if (options.protocol) lines.push(`Sec-WebSocket-Protocol: ${options.protocol}`);
    if (options.origin) lines.push(`Origin: ${options.origin}`);
    const request = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
    let written = 0;
    while (written < request.length) written += await conn.write(request.subarray(written));
    let buffer = new Uint8Array(1024);
    let filled = 0;
    let end = -1;
    while (end < 0) {
      if (filled === buffer.length) {
        const grown = new Uint8Array(buffer.length * 2);
        grown.set(buffer);
        buffer = grown;
      }
      const n = await conn.read(buffer.subarray(filled));
      if (n === null) throw new Error(`${url}: connection closed during the handshake`);
      filled += n;
      end = indexOf(buffer.subarray(0, filled), HANDSHAKE_END);
    }
    const head = decoder.decode(buffer.subarray(0, end));
    const status = head.slice(0, head.indexOf("\r\n"));
    if (!/^HTTP\/1\.1 101\b/.test(status)) throw new Error(`${url}: upgrade refused: ${status}`);
    const selected = /\r\nsec-websocket-protocol:[ \t]*([^\r]*)/i.exec(head)?.[1].trim() ?? "";
    if (options.protocol && selected !== options.protocol) {
      throw new Error(`${url}: subprotocol ${options.protocol} not selected`);
    }
    return new WsClient(conn, buffer.slice(end + 4, filled));
  } catch (error) {
    conn.close();
    throw error;
  }
}

function indexOf(haystack: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
