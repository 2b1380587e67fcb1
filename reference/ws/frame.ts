/**
 * The RFC 6455 frame codec, pure: header parsing into a reusable record, the checks a server
 * makes on every client frame header, unmasking, server frame headers and close payloads.
 *
 * @module
 */

/** Opcodes (RFC 6455 §5.2). */
export const Opcode = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Close codes this codec produces or checks (RFC 6455 §7.4.1). */
export const Close = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  noStatus: 1005,
  abnormal: 1006,
  invalidPayload: 1007,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
} as const;

/** A parsed frame header; {@linkcode parseHeader} fills one record again and again. */
export interface FrameHeader {
  fin: boolean;
  /** The three reserved bits (RSV1–3), as the top nibble of byte 0 without FIN: 0 when clear. */
  rsv: number;
  opcode: number;
  masked: boolean;
  /** Payload length; above 2^53 only when the 64-bit length's top bit is set (always refused). */
  length: number;
  /** Header bytes including the masking key. */
  headerLength: number;
  /** The masking key as one little-endian 32-bit word (key byte 0 in the low byte). */
  mask: number;
}

/** A fresh header record for {@linkcode parseHeader}. */
export function newHeader(): FrameHeader {
  return { fin: false, rsv: 0, opcode: 0, masked: false, length: 0, headerLength: 0, mask: 0 };
}

/**
 * Parses the frame header at `buf[p..end)` into `h`; returns false when the header is not
 * complete yet (nothing in `h` is then meaningful).
 *
 * @example
 * ```ts
 * import { newHeader, parseHeader } from "./frame.ts";
 * const h = newHeader();
 * parseHeader(new Uint8Array([0x81, 0x85, 1, 2, 3, 4]), 0, 6, h); // true: masked text, 5 bytes
 * ```
 */
export function parseHeader(buf: Uint8Array, p: number, end: number, h: FrameHeader): boolean {
  const available = end - p;
  if (available < 2) return false;
  const b0 = buf[p];
  const b1 = buf[p + 1];
  let length = b1 & 0x7f;
  let header = 2;
  if (length === 126) {
    if (available < 4) return false;
    length = (buf[p + 2] << 8) | buf[p + 3];
    header = 4;
  } else if (length === 127) {
    if (available < 10) return false;
    const hi = ((buf[p + 2] << 24) | (buf[p + 3] << 16) | (buf[p + 4] << 8) | buf[p + 5]) >>> 0;
    const lo = ((buf[p + 6] << 24) | (buf[p + 7] << 16) | (buf[p + 8] << 8) | buf[p + 9]) >>> 0;
    length = hi * 2 ** 32 + lo;
    header = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  if (masked) {
    if (available < header + 4) return false;
    h.mask = (buf[p + header] | (buf[p + header + 1] << 8) | (buf[p + header + 2] << 16) |
      (buf[p + header + 3] << 24)) >>> 0;
    header += 4;
  } else h.mask = 0;
  h.fin = (b0 & 0x80) !== 0;
  h.rsv = b0 & 0x70;
  h.opcode = b0 & 0x0f;
  h.masked = masked;
  h.length = length;
  h.headerLength = header;
  return true;
}

/**
 * The close code a server answers a client frame header with, or 0 when it is acceptable:
 * 1002 for an unmasked frame, reserved bits without an extension, a reserved opcode, a control
 * frame that is fragmented or longer than 125 bytes, a 64-bit length with its top bit set, a
 * continuation without a message in progress, or a new data frame inside one.
 */
export function headerError(h: FrameHeader, inMessage: boolean): number {
  if (!h.masked || h.rsv !== 0 || h.length >= 2 ** 63) return Close.protocolError;
  switch (h.opcode) {
    case Opcode.continuation:
      return inMessage ? 0 : Close.protocolError;
    case Opcode.text:
    case Opcode.binary:
      return inMessage ? Close.protocolError : 0;
    case Opcode.close:
    case Opcode.ping:
    case Opcode.pong:
      return h.fin && h.length <= 125 ? 0 : Close.protocolError;
    default:
      return Close.protocolError;
  }
}

/** XORs `buf[start..end)` in place with the little-endian masking word `mask`. */
export function unmask(buf: Uint8Array, start: number, end: number, mask: number): void {
  if (mask === 0) return;
  let i = start;
  // Long payloads: bytes up to a 4-byte boundary, then whole words through an Int32Array view.
  if (end - start >= 32) {
    const lead = (4 - ((buf.byteOffset + i) & 3)) & 3;
    for (let k = 0; k < lead; k++, i++) buf[i] ^= mask >>> (8 * k);
    const rotated = lead === 0 ? mask : ((mask >>> (8 * lead)) | (mask << (32 - 8 * lead)));
    const words = (end - i) >>> 2;
    const view = new Int32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] ^= rotated;
    i += words * 4;
    for (let k = 0; i < end; k++, i++) buf[i] ^= rotated >>> (8 * k);
    return;
  }
  for (let k = 0; i < end; k++, i++) buf[i] ^= mask >>> (8 * (k & 3));
}

/** Header bytes of an unmasked server frame with a payload of `length` bytes. */
export function headerSize(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/**
 * Writes an unmasked, final server frame header at `out[p]` (room for
 * {@linkcode headerSize} bytes needed); returns the offset after it.
 */
export function writeHeader(out: Uint8Array, p: number, opcode: number, length: number): number {
  out[p++] = 0x80 | opcode;
  if (length < 126) {
    out[p++] = length;
  } else if (length < 65536) {
    out[p++] = 126;
    out[p++] = length >>> 8;
    out[p++] = length & 0xff;
  } else {
    out[p++] = 127;
    const hi = Math.floor(length / 2 ** 32);
    out[p++] = hi >>> 24;
    out[p++] = (hi >>> 16) & 0xff;
    out[p++] = (hi >>> 8) & 0xff;
    out[p++] = hi & 0xff;
    out[p++] = length >>> 24;
    out[p++] = (length >>> 16) & 0xff;
    out[p++] = (length >>> 8) & 0xff;
    out[p++] = length & 0xff;
  }
  return p;
}

/** Whether `code` may be sent or received in a close frame (RFC 6455 §7.4). */
export function isValidCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

const encoder = new TextEncoder();

/** The payload of a close frame; throws a RangeError for a code or reason that is not allowed. */
export function closePayload(code: number, reason: string): Uint8Array {
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw new RangeError(`close code ${code} may not be sent`);
  }
  const text = encoder.encode(reason);
  if (text.length > 123) throw new RangeError("close reason longer than 123 bytes");
  const out = new Uint8Array(2 + text.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/** A received close frame's code (1005 when empty) and reason, or the close code to fail with. */
export type ParsedClose = { code: number; reason: string } | { error: number };

/**
 * Reads a received close payload: one byte, a code that may not be sent (1005, 1006, 1015,
 * 1004, out of range) → 1002; a reason that is not UTF-8 → 1007.
 */
export function parseClose(
  payload: Uint8Array,
  decode: (bytes: Uint8Array) => string | undefined,
): ParsedClose {
  if (payload.length === 0) return { code: Close.noStatus, reason: "" };
  if (payload.length === 1) return { error: Close.protocolError };
  const code = (payload[0] << 8) | payload[1];
  if (!isValidCloseCode(code)) return { error: Close.protocolError };
  const reason = decode(payload.subarray(2));
  return reason === undefined ? { error: Close.invalidPayload } : { code, reason };
}
