/**
 * The WebSocket opening handshake (RFC 6455 §4.2): the checks on the upgrade request, the
 * `Sec-WebSocket-Accept` hash and the 101 response.
 *
 * The hash uses `node:crypto`'s synchronous `createHash("sha1")`: measured on this machine
 * (`deno bench reference/ws/handshake_bench.ts`) it costs a few microseconds, several times
 * less than `crypto.subtle.digest`, which is asynchronous as well.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { fieldValues, hasToken, type RequestHead } from "./http.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`. */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** A valid key is 16 bytes in base64: 22 characters, the last of which leaves 4 bits zero, then `==`. */
const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/** Why an upgrade request was refused: the status and the headers to answer with. */
export interface HandshakeError {
  status: 400 | 426;
  reason: string;
  headers?: Record<string, string>;
}

/** The checked parts of a valid upgrade request. */
export interface UpgradeRequest {
  key: string;
  /** Subprotocols the client offered, in its order. */
  protocols: string[];
}

/** Checks the head of a GET request that asks for a WebSocket upgrade. */
export function checkUpgrade(head: RequestHead): UpgradeRequest | HandshakeError {
  const f = head.fields;
  if (head.method !== "GET") return { status: 400, reason: "a WebSocket upgrade must be a GET" };
  if (head.version !== "1.1") return { status: 400, reason: "a WebSocket upgrade needs HTTP/1.1" };
  if (!hasToken(fieldValues(f, "upgrade"), "websocket")) {
    return { status: 400, reason: "missing Upgrade: websocket" };
  }
  if (!hasToken(fieldValues(f, "connection"), "upgrade")) {
    return { status: 400, reason: "missing Connection: Upgrade" };
  }
  const version = fieldValues(f, "sec-websocket-version");
  if (version.length !== 1 || version[0] !== "13") {
    return {
      status: 426,
      reason: "unsupported Sec-WebSocket-Version",
      headers: { "sec-websocket-version": "13" },
    };
  }
  const keys = fieldValues(f, "sec-websocket-key");
  if (keys.length !== 1 || !KEY.test(keys[0])) {
    return { status: 400, reason: "invalid Sec-WebSocket-Key" };
  }
  const protocols = fieldValues(f, "sec-websocket-protocol").flatMap((v) => v.split(","))
    .map((p) => p.trim()).filter((p) => p !== "");
  return { key: keys[0], protocols };
}

/** Whether a check result is an error. */
export function isHandshakeError(
  value: UpgradeRequest | HandshakeError,
): value is HandshakeError {
  return "status" in value;
}

const encoder = new TextEncoder();

/** The bytes of the 101 response, with the selected subprotocol if any. */
export function switchingProtocols(key: string, protocol: string): Uint8Array {
  return encoder.encode(
    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n" +
      `sec-websocket-accept: ${acceptKey(key)}\r\n` +
      (protocol ? `sec-websocket-protocol: ${protocol}\r\n` : "") + "\r\n",
  );
}
