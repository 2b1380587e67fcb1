/**
 * One upgraded WebSocket connection on a `Deno.TcpConn`: reading and checking client frames,
 * reassembling fragmented messages within the message limit, the close handshake with a hard
 * drop, keepalive pings, and batched writes (everything sent in one tick goes out in one
 * `write`).
 *
 * Per connection it keeps a few numbers, a 256-byte read slot from a shared slab while idle
 * (a larger pooled buffer only while a frame or a burst does not fit in it), and a pooled
 * output buffer only while bytes wait to be written.
 *
 * @module
 */
import type { BufferPools, SlotPool } from "./buffers.ts";
import {
  Close,
  closePayload,
  headerError,
  headerSize,
  newHeader,
  Opcode,
  parseClose,
  parseHeader,
  unmask,
  writeHeader,
} from "./frame.ts";
import { decodeUtf8, Utf8Stream } from "./utf8.ts";

/** What a session needs of a connection (the relay's transport interface). */
export interface Transport {
  /** Sends a text message. */
  send(text: string): void;
  /** Starts the close handshake; the connection is gone for sure a few seconds later. */
  close(code: number, reason: string): void;
  /** Bytes accepted by `send` and not yet written to the socket. */
  readonly bufferedAmount: number;
}

/**
 * A server-side WebSocket. Set the `on…` callbacks before the handler returns the upgrade
 * response: frames are read only once the 101 response is on its way.
 *
 * - `onText(text)`: a complete, valid UTF-8 text message;
 * - `onBinary(data)`: a complete binary message (a copy the callee may keep);
 * - `onClose(code, reason)`: once, when the TCP connection is gone. `code` is the one of the
 *   close handshake (the peer's when it started it, 1005 when its close frame had none; this
 *   side's when it did, also when it failed the connection with 1002, 1007, 1009 or dropped it
 *   after the close timeout), the keepalive close code, or 1006 when the connection was lost
 *   without a close frame.
 *
 * A callback that throws is reported to the server's `onError` and fails the connection (1011).
 */
export interface WebSocketConnection extends Transport {
  onText: (text: string) => void;
  onBinary: (data: Uint8Array) => void;
  onClose: (code: number, reason: string) => void;
  /** The selected subprotocol, "" for none. */
  readonly protocol: string;
  /** 0 connecting (101 not sent yet), 1 open, 2 closing, 3 closed (as `WebSocket.readyState`). */
  readonly readyState: number;
  /** Sends a binary message. */
  sendBinary(data: Uint8Array): void;
  /** Sends a ping (at most 125 bytes of payload). */
  ping(data?: Uint8Array): void;
}

/** What the connections of one server share (made by the server). */
export interface SocketContext {
  readonly maxMessageBytes: number;
  readonly closeTimeoutMs: number;
  readonly slots: SlotPool;
  readonly pools: BufferPools;
  /** Flushes `socket` at the end of this tick, together with every other one sent to. */
  schedule(socket: Socket): void;
  /** The connection is gone (after its TCP connection is closed). */
  release(socket: Socket): void;
  onError(error: unknown, context: string): void;
}

/** Keepalive settings of one connection. */
export interface Keepalive {
  /** Idle time before a ping, and again before giving up; 0 disables keepalive. */
  idleTimeoutMs: number;
  /** Close code sent and reported when the peer stays silent (default 1001). */
  idleCloseCode: number;
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** After the output is written: nothing, close the TCP connection, or half-close and drain. */
const AFTER_NONE = 0;
const AFTER_CLOSE = 1;
const AFTER_SHUTDOWN = 2;

/** Bytes read and dropped after a failure before the TCP connection is dropped. */
const DRAIN_BUDGET = 1 << 20;

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
const noop = () => {};
// parse() is synchronous and every field is copied out before a callback runs: one record serves all.
const H = newHeader();

/** {@linkcode WebSocketConnection}'s implementation; the server drives `start`, `tick`, `abandon`. */
export class Socket implements WebSocketConnection {
  onText: (text: string) => void = noop;
  onBinary: (data: Uint8Array) => void = noop;
  onClose: (code: number, reason: string) => void = noop;
  readonly protocol: string;
  readonly #ctx: SocketContext;
  readonly #conn: Deno.TcpConn;
  #state = CONNECTING;
  #after = AFTER_NONE;
  /** Input is read and dropped (after a failure, until EOF, the deadline or the budget). */
  #draining = false;
  #drained = 0;
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  /** Bytes the frame at #start needs in the buffer. */
  #need = 0;
  /** Opcode of the message in progress (0: none) and its payload bytes so far. */
  #msgOp = 0;
  #msgBytes = 0;
  #text: Utf8Stream | undefined;
  #binary: Uint8Array[] | undefined;
  #out: Uint8Array | undefined;
  #outLen = 0;
  #inflight = 0;
  #writing = false;
  #queued = false;
  #closeCode: number = Close.abnormal;
  #closeReason = "";
  #closeSent = false;
  #deadline = 0;
  #idleMs: number;
  #idleCode: number;
  #active = false;
  #idleSince = 0;
  #pinged = false;

  constructor(
    ctx: SocketContext,
    conn: Deno.TcpConn,
    protocol: string,
    response: Uint8Array,
    keepalive: Keepalive,
  ) {
    this.#ctx = ctx;
    this.#conn = conn;
    this.protocol = protocol;
    this.#buf = ctx.slots.take();
    this.#idleMs = keepalive.idleTimeoutMs;
    this.#idleCode = keepalive.idleCloseCode;
    this.#reserve(response.length);
    this.#out!.set(response);
    this.#outLen = response.length;
  }

  get readyState(): number {
    return this.#state;
  }

  get bufferedAmount(): number {
    return this.#outLen + this.#inflight;
  }

  send(text: string): void {
    if (this.#state > OPEN) return;
    const max = text.length * 3;
    const guess = headerSize(max);
    this.#reserve(guess + max);
    const out = this.#out!;
    const p = this.#outLen;
    const length = encoder.encodeInto(text, out.subarray(p + guess)).written;
    const header = headerSize(length);
    if (header !== guess) out.copyWithin(p + header, p + guess, p + guess + length);
    writeHeader(out, p, Opcode.text, length);
    this.#outLen = p + header + length;
    this.#schedule();
  }

  sendBinary(data: Uint8Array): void {
    if (this.#state > OPEN) return;
    this.#frame(Opcode.binary, data);
  }

  ping(data: Uint8Array = EMPTY): void {
    if (data.length > 125) throw new RangeError("a ping payload is at most 125 bytes");
    if (this.#state > OPEN) return;
    this.#frame(Opcode.ping, data);
  }

  close(code: number = Close.normal, reason = ""): void {
    if (this.#state > OPEN) return;
    const payload = closePayload(code, reason);
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#sendClose(payload);
  }

  /** Starts the connection once the handler returned its upgrade response. */
  start(leftover: Uint8Array): void {
    this.#state = this.#closeSent ? CLOSING : OPEN;
    this.#idleSince = Date.now();
    if (this.#state === CLOSING) this.#deadline = this.#idleSince + this.#ctx.closeTimeoutMs;
    if (leftover.length > this.#buf.length) this.#grow(leftover.length);
    this.#buf.set(leftover);
    this.#end = leftover.length;
    this.#schedule();
    this.#readLoop();
  }

  /** The handler did not return the upgrade response: nothing was sent, nothing will be. */
  abandon(): void {
    this.#state = CLOSED;
    this.#releaseBuffers();
  }

  /** Called by the server every tick: the close deadline and keepalive. */
  tick(now: number): void {
    if (this.#state === CLOSING) {
      if (now >= this.#deadline) this.#finish();
      return;
    }
    if (this.#state !== OPEN || this.#idleMs === 0) return;
    if (this.#active) {
      this.#active = false;
      this.#idleSince = now;
      this.#pinged = false;
    } else if (!this.#pinged) {
      if (now - this.#idleSince >= this.#idleMs) {
        this.#pinged = true;
        this.#frame(Opcode.ping, EMPTY);
      }
    } else if (now - this.#idleSince >= 2 * this.#idleMs) {
      this.#closeCode = this.#idleCode;
      this.#closeReason = "keepalive timeout";
      this.#sendClose(closePayload(this.#idleCode, this.#closeReason));
      this.#after = AFTER_CLOSE;
    }
  }

  /** Server shutdown: closes an open connection with 1001 (the close deadline bounds it). */
  shutdown(): void {
    if (this.#state <= OPEN) this.close(Close.goingAway, "server shutting down");
  }

  #sendClose(payload: Uint8Array): void {
    this.#frame(Opcode.close, payload);
    this.#closeSent = true;
    if (this.#state === OPEN) {
      this.#state = CLOSING;
      this.#deadline = Date.now() + this.#ctx.closeTimeoutMs;
    }
  }

  /** Fails the connection (RFC 6455 §7.1.7): a close frame, then half-close and drain. */
  #fail(code: number, reason: string): void {
    if (this.#state === CLOSED) return;
    if (!this.#closeSent) {
      this.#closeCode = code;
      this.#closeReason = reason;
      this.#sendClose(closePayload(code, reason));
    }
    if (this.#state === OPEN) this.#state = CLOSING;
    this.#deadline = Date.now() + this.#ctx.closeTimeoutMs;
    this.#draining = true;
    this.#after = AFTER_SHUTDOWN;
    this.#schedule();
  }

  async #readLoop(): Promise<void> {
    const conn = this.#conn;
    try {
      if (this.#end > 0) this.#received(0, 1);
      while (this.#state !== CLOSED) {
        if (this.#end === this.#buf.length) this.#grow(this.#end + 1);
        const space = this.#buf.length - this.#end;
        const n = await conn.read(this.#buf.subarray(this.#end));
        if (this.#state === CLOSED) break;
        if (n === null) {
          this.#finish();
          break;
        }
        this.#active = true;
        this.#end += n;
        this.#received(n, space);
      }
    } catch {
      this.#finish();
    } finally {
      // Only now is the read buffer no longer written to by a pending read.
      this.#releaseRead();
    }
  }

  /** Parses what arrived (`n` bytes into `space`), then sizes the read buffer for what comes. */
  #received(n: number, space: number): void {
    if (this.#draining) {
      // Input after a failure is read and dropped, up to a budget: enough for the peer to see
      // the close frame, not a way to keep the server reading at line rate.
      this.#drained += n;
      if (this.#drained > DRAIN_BUDGET) return this.#finish();
      this.#start = this.#end = 0;
      return;
    }
    this.#parse();
    if (this.#state === CLOSED) return;
    const slots = this.#ctx.slots;
    const onSlot = this.#buf.length === slots.size;
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      // A read that filled its buffer means more is coming: read into one four times larger. A
      // larger one goes back to its pool once a read would have fitted in a slot.
      if (n === space && this.#buf.length < this.#ctx.pools.max) {
        this.#swap(this.#ctx.pools.take(this.#buf.length * 4));
      } else if (n < slots.size && !onSlot) this.#swap(slots.take());
      return;
    }
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#need > this.#buf.length) this.#grow(this.#need);
    else if (n === space && this.#buf.length < this.#ctx.pools.max) {
      this.#grow(this.#buf.length * 4);
    }
  }

  #parse(): void {
    const buf = this.#buf;
    const limit = this.#ctx.maxMessageBytes;
    let p = this.#start;
    this.#need = 0;
    while (this.#state !== CLOSED && !this.#draining) {
      if (!parseHeader(buf, p, this.#end, H)) {
        this.#need = 14;
        break;
      }
      const error = headerError(H, this.#msgOp !== 0);
      if (error !== 0) return this.#fail(error, "protocol error");
      const opcode = H.opcode;
      if (opcode < 8 && H.length > limit - this.#msgBytes) {
        return this.#fail(Close.tooBig, "message too big");
      }
      const total = H.headerLength + H.length;
      if (this.#end - p < total) {
        this.#need = total;
        break;
      }
      const start = p + H.headerLength;
      p += total;
      this.#start = p;
      unmask(buf, start, p, H.mask);
      try {
        this.#frameIn(H.fin, opcode, buf.subarray(start, p));
      } catch (error) {
        this.#ctx.onError(error, "websocket callback");
        return this.#fail(Close.internalError, "internal error");
      }
    }
  }

  #frameIn(fin: boolean, opcode: number, payload: Uint8Array): void {
    switch (opcode) {
      case Opcode.text:
        if (fin) {
          if (this.#state !== OPEN) return;
          const text = decodeUtf8(payload);
          if (text === undefined) return this.#fail(Close.invalidPayload, "invalid UTF-8");
          return this.onText(text);
        }
        this.#msgOp = Opcode.text;
        this.#msgBytes = payload.length;
        if (this.#state !== OPEN) return;
        this.#text = new Utf8Stream();
        if (!this.#text.push(payload)) this.#fail(Close.invalidPayload, "invalid UTF-8");
        return;
      case Opcode.binary:
        if (fin) {
          if (this.#state === OPEN) this.onBinary(payload.slice());
          return;
        }
        this.#msgOp = Opcode.binary;
        this.#msgBytes = payload.length;
        if (this.#state === OPEN) this.#binary = [payload.slice()];
        return;
      case Opcode.continuation:
        return this.#continuation(fin, payload);
      case Opcode.close:
        return this.#closeIn(payload);
      case Opcode.ping:
        if (this.#state === OPEN) this.#frame(Opcode.pong, payload);
        return;
    }
  }

  #continuation(fin: boolean, payload: Uint8Array): void {
    this.#msgBytes += payload.length;
    const text = this.#text;
    const binary = this.#binary;
    if (fin) {
      this.#msgOp = 0;
      this.#msgBytes = 0;
      this.#text = undefined;
      this.#binary = undefined;
    }
    if (this.#state !== OPEN) return;
    if (text !== undefined) {
      if (!fin) {
        if (!text.push(payload)) this.#fail(Close.invalidPayload, "invalid UTF-8");
        return;
      }
      const whole = text.finish(payload);
      if (whole === undefined) return this.#fail(Close.invalidPayload, "invalid UTF-8");
      return this.onText(whole);
    }
    if (binary === undefined) return;
    binary.push(payload.slice());
    if (!fin) return;
    const whole = new Uint8Array(binary.reduce((n, part) => n + part.length, 0));
    let at = 0;
    for (const part of binary) {
      whole.set(part, at);
      at += part.length;
    }
    this.onBinary(whole);
  }

  #closeIn(payload: Uint8Array): void {
    const parsed = parseClose(payload, decodeUtf8);
    if ("error" in parsed) {
      return this.#fail(
        parsed.error,
        parsed.error === Close.invalidPayload ? "invalid UTF-8" : "protocol error",
      );
    }
    if (!this.#closeSent) {
      // The peer starts the close: echo its code, then close the TCP connection.
      this.#closeCode = parsed.code;
      this.#closeReason = parsed.reason;
      this.#sendClose(parsed.code === Close.noStatus ? EMPTY : payload.subarray(0, 2));
    }
    this.#draining = true;
    this.#after = AFTER_CLOSE;
    this.#schedule();
  }

  /** Makes room for `n` more output bytes (a pooled buffer, only while bytes wait in it). */
  #reserve(n: number): void {
    const pools = this.#ctx.pools;
    const out = this.#out;
    if (out === undefined) {
      this.#out = pools.take(n);
      this.#outLen = 0;
    } else if (this.#outLen + n > out.length) {
      const grown = pools.take(Math.max(out.length * 2, this.#outLen + n));
      grown.set(out.subarray(0, this.#outLen));
      pools.give(out);
      this.#out = grown;
    }
  }

  #frame(opcode: number, payload: Uint8Array): void {
    this.#reserve(headerSize(payload.length) + payload.length);
    const p = writeHeader(this.#out!, this.#outLen, opcode, payload.length);
    this.#out!.set(payload, p);
    this.#outLen = p + payload.length;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#queued || this.#writing || this.#state === CONNECTING) return;
    this.#queued = true;
    this.#ctx.schedule(this);
  }

  /** Writes what is pending (called by the server at the end of the tick). */
  flush(): void {
    this.#queued = false;
    if (this.#writing || this.#state === CLOSED) return;
    if (this.#outLen > 0) this.#write();
    else this.#flushed();
  }

  async #write(): Promise<void> {
    this.#writing = true;
    const conn = this.#conn;
    try {
      while (this.#outLen > 0 && this.#state !== CLOSED) {
        const buffer = this.#out!;
        const length = this.#outLen;
        this.#out = undefined;
        this.#outLen = 0;
        this.#inflight = length;
        let written = 0;
        while (written < length) {
          written += await conn.write(buffer.subarray(written, length));
          this.#inflight = length - written;
        }
        this.#ctx.pools.give(buffer);
      }
    } catch {
      this.#writing = false;
      this.#inflight = 0;
      return this.#finish();
    }
    this.#writing = false;
    if (this.#state !== CLOSED) this.#flushed();
  }

  #flushed(): void {
    if (this.#after === AFTER_CLOSE) this.#finish();
    else if (this.#after === AFTER_SHUTDOWN) {
      this.#after = AFTER_NONE;
      // Half-close and keep reading until EOF: closing with unread input would send a reset
      // that can destroy the close frame before the peer reads it.
      this.#conn.closeWrite().catch(() => this.#finish());
    }
  }

  #grow(need: number): void {
    // Never more than the frame needs beyond the pooled sizes: the message limit bounds it.
    const grown = this.#ctx.pools.take(need);
    grown.set(this.#buf.subarray(this.#start, this.#end));
    this.#end -= this.#start;
    this.#start = 0;
    this.#swap(grown);
  }

  /** Replaces the (empty or already copied) read buffer, returning the old one to its pool. */
  #swap(next: Uint8Array): void {
    const old = this.#buf;
    this.#buf = next;
    this.#giveRead(old);
  }

  #giveRead(buf: Uint8Array): void {
    if (buf.length === this.#ctx.slots.size) this.#ctx.slots.give(buf);
    else this.#ctx.pools.give(buf);
  }

  #releaseRead(): void {
    const buf = this.#buf;
    if (buf.length === 0) return;
    this.#buf = EMPTY;
    this.#giveRead(buf);
  }

  #releaseBuffers(): void {
    if (this.#out !== undefined && !this.#writing) this.#ctx.pools.give(this.#out);
    this.#out = undefined;
    this.#outLen = 0;
    this.#text = undefined;
    this.#binary = undefined;
  }

  #finish(): void {
    if (this.#state === CLOSED) return;
    const wasConnecting = this.#state === CONNECTING;
    this.#state = CLOSED;
    this.#releaseBuffers();
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    if (wasConnecting) return;
    this.#ctx.release(this);
    try {
      this.onClose(this.#closeCode, this.#closeReason);
    } catch (error) {
      this.#ctx.onError(error, "websocket onClose");
    }
  }
}
