/**
 * A strict HTTP/1.1 request head parser, for what a WebSocket upgrade and plain GET routes
 * need: the request line in origin form, header fields without obsolete line folding, CRLF
 * line ends only, a size limit. No request bodies: the server refuses them.
 *
 * @module
 */

/** A parsed request head. */
export interface RequestHead {
  method: string;
  /** The origin-form target, `/path?query`. */
  target: string;
  /** `1.0` or `1.1`. */
  version: "1.0" | "1.1";
  /** Field names (lower case) and values, alternating, in arrival order. */
  fields: string[];
  /** Bytes of the head including its final CRLF CRLF. */
  length: number;
}

/** Why a head was refused: the status to answer with, and a short reason for the body. */
export interface HeadError {
  status: 400 | 431 | 505;
  reason: string;
}

// Characters of a token (RFC 9110 §5.6.2): ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;

/** Index of CR LF CR LF in `buf[from - 3..end)`, -1 when absent, -2 at a bare CR or LF. */
function headEnd(buf: Uint8Array, from: number, end: number): number {
  for (let i = Math.max(0, from - 3); i < end; i++) {
    const c = buf[i];
    if (c === LF && (i === 0 || buf[i - 1] !== CR)) return -2;
    if (c === CR && i + 1 < end && buf[i + 1] !== LF) return -2;
    if (c === CR && i + 3 < end && buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) {
      return i;
    }
  }
  return -1;
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += 4096) {
    s += String.fromCharCode.apply(null, buf.subarray(i, Math.min(end, i + 4096)) as never);
  }
  return s;
}

const bad = (reason: string): HeadError => ({ status: 400, reason });

/**
 * Parses the request head in `buf[0..end)`. Returns null while the head is incomplete and
 * still under `maxBytes`; a {@linkcode HeadError} for a malformed or oversized head. `scanned`
 * (bytes already searched by an earlier call) makes repeated calls linear.
 *
 * @example
 * ```ts
 * import { parseHead } from "./http.ts";
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
 * parseHead(bytes, bytes.length, 16384); // { method: "GET", target: "/", version: "1.1", … }
 * ```
 */
export function parseHead(
  buf: Uint8Array,
  end: number,
  maxBytes: number,
  scanned = 0,
): RequestHead | HeadError | null {
  const stop = headEnd(buf, scanned, Math.min(end, maxBytes));
  if (stop === -2) return bad("bare CR or LF in the head");
  if (stop < 0) {
    if (end >= maxBytes) return { status: 431, reason: "request header too large" };
    return null;
  }
  // Request line: method SP origin-form SP HTTP/1.x CRLF.
  let p = 0;
  while (p < stop && buf[p] < 128 && TCHAR[buf[p]]) p++;
  if (p === 0 || buf[p] !== SP) return bad("malformed request line");
  const method = latin1(buf, 0, p);
  const targetStart = ++p;
  if (buf[p] !== 0x2f) return bad("request target must be a path");
  while (p < stop && buf[p] > SP && buf[p] < 0x7f) p++;
  if (buf[p] !== SP) return bad("malformed request target");
  const target = latin1(buf, targetStart, p);
  p++;
  if (
    buf[p] !== 0x48 || buf[p + 1] !== 0x54 || buf[p + 2] !== 0x54 || buf[p + 3] !== 0x50 ||
    buf[p + 4] !== 0x2f
  ) return bad("malformed HTTP version");
  const major = buf[p + 5];
  const dot = buf[p + 6];
  const minor = buf[p + 7];
  if (dot !== 0x2e || major < 0x30 || major > 0x39 || minor < 0x30 || minor > 0x39) {
    return bad("malformed HTTP version");
  }
  p += 8;
  if (buf[p] !== CR || buf[p + 1] !== LF) return bad("malformed request line");
  if (major !== 0x31 || (minor !== 0x30 && minor !== 0x31)) {
    return { status: 505, reason: "HTTP version not supported" };
  }
  const version = minor === 0x31 ? "1.1" : "1.0";
  p += 2;
  // Header fields: token ":" OWS value OWS CRLF; no folding, no bare CR or LF, no NUL.
  const fields: string[] = [];
  while (p < stop + 2) {
    const nameStart = p;
    while (p < stop && buf[p] < 128 && TCHAR[buf[p]]) p++;
    if (p === nameStart) {
      return bad(buf[p] === SP || buf[p] === HTAB ? "obsolete line folding" : "malformed header");
    }
    if (buf[p] !== 0x3a) return bad("malformed header name");
    const name = latin1(buf, nameStart, p).toLowerCase();
    p++;
    while (buf[p] === SP || buf[p] === HTAB) p++;
    const valueStart = p;
    let valueEnd = p;
    for (; p < stop + 2; p++) {
      const c = buf[p];
      if (c === CR) break;
      if ((c < SP && c !== HTAB) || c === 0x7f) return bad("invalid character in header value");
      if (c !== SP && c !== HTAB) valueEnd = p + 1;
    }
    if (buf[p] !== CR || buf[p + 1] !== LF) return bad("malformed header line");
    fields.push(name, latin1(buf, valueStart, valueEnd));
    p += 2;
    if (fields.length > 200) return { status: 431, reason: "too many header fields" };
  }
  return { method, target, version, fields, length: stop + 4 };
}

/** Whether a parse result is an error. */
export function isHeadError(value: RequestHead | HeadError): value is HeadError {
  return "status" in value;
}

/** The values of field `name` (lower case) in `fields`. */
export function fieldValues(fields: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) out.push(fields[i + 1]);
  return out;
}

/** Whether a comma-separated field value list holds `token` (case-insensitive). */
export function hasToken(values: readonly string[], token: string): boolean {
  for (const value of values) {
    for (const item of value.split(",")) {
      if (item.trim().toLowerCase() === token) return true;
    }
  }
  return false;
}

/** Reason phrases of the statuses a relay answers with. */
export const STATUS_TEXT: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

const encoder = new TextEncoder();

/** A complete plain-text response with `Connection: close` (for refusals made by the server). */
export function plainResponse(
  status: number,
  body: string,
  extra: Record<string, string> = {},
): Uint8Array {
  const text = body + "\n";
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}`,
    "content-type: text/plain; charset=utf-8",
    `content-length: ${encoder.encode(text).length}`,
    "connection: close",
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
  ];
  return encoder.encode(lines.join("\r\n") + "\r\n\r\n" + text);
}
