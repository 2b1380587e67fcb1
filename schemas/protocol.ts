/**
 * Protocol constants of layim-ws version 1: the subprotocol name, the profiles, close codes,
 * error codes and default limits, and the check of a server's WebSocket URL.
 * `spec/protocol.md` is the normative text behind each value.
 *
 * @module
 */
import type { ErrorFrame, Undelivered } from "./types.ts";

/** The WebSocket subprotocol a client offers to select the v1 profile. */
export const SUBPROTOCOL = "layim-ws.v1";

/** A connection's profile: `legacy` (the seed's frames) or `v1` (the `layim-ws.v1` subprotocol). */
export type Profile = "legacy" | "v1";

/**
 * Whether `url` can name a layim-ws server: an absolute `ws://` or `wss://` URL with a host.
 *
 * ```ts
 * import { isWebSocketUrl } from "./protocol.ts";
 * isWebSocketUrl("ws://127.0.0.1:8080/ws"); // true
 * isWebSocketUrl("http://127.0.0.1:8080/"); // false
 * ```
 */
export function isWebSocketUrl(url: string): boolean {
  // The URL parser alone would take `ws:/host` for `ws://host`.
  return /^wss?:\/\/[^/?#\s]/i.test(url) && URL.canParse(url);
}

/** Close codes (spec section "Close codes"). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  tooBig: 1009,
  internalError: 1011,
  unauthorized: 4001,
  invalidIdentify: 4002,
  identifyTimeout: 4003,
  replaced: 4004,
  slowConsumer: 4005,
  keepaliveTimeout: 4006,
} as const;

/** A close code defined by this protocol. */
export type CloseCode = typeof CloseCode[keyof typeof CloseCode];

/** Error codes of v1 `error` frames, with whether the error ends the connection and how. */
export const ErrorCodes = {
  invalid_json: { fatal: false },
  invalid_frame: { fatal: false },
  invalid_id: { fatal: true, close: CloseCode.invalidIdentify },
  unauthorized: { fatal: true, close: CloseCode.unauthorized },
  not_identified: { fatal: false },
  already_identified: { fatal: false },
  sender_mismatch: { fatal: false },
  rate_limited: { fatal: false },
  frame_too_large: { fatal: true, close: CloseCode.tooBig },
  unsupported_data: { fatal: true, close: CloseCode.unsupportedData },
  internal_error: { fatal: true, close: CloseCode.internalError },
  watch_limit: { fatal: false },
  watch_refused: { fatal: false },
} as const satisfies Record<ErrorCode, { fatal: boolean; close?: CloseCode }>;

/** A v1 error code (from `error.schema.json`). */
export type ErrorCode = ErrorFrame["code"];

/** A reason of a v1 `undelivered` frame (from `undelivered.schema.json`). */
export type UndeliveredReason = Undelivered["reason"];

/** Limits a server applies to every connection; advertised in v1 `ready.limits`. */
export interface Limits {
  /** Largest text frame, in UTF-8 bytes; larger frames close the connection with 1009. */
  maxFrameBytes: number;
  /** Token bucket refill rate, frames per second per connection. */
  ratePerSecond: number;
  /** Token bucket size: frames a connection may send in a burst. */
  rateBurst: number;
  /** Open sessions per user on one relay; one more closes the oldest with 4004. */
  maxSessionsPerUser: number;
  /** Time allowed between the upgrade and a valid identify. */
  identifyTimeoutMs: number;
  /** A connection that shows no sign of life for this long is closed. */
  idleTimeoutMs: number;
  /** Unsent bytes a connection may hold before it is closed as a slow consumer (4005). */
  maxBufferedBytes: number;
}

/** The default limits (spec section "Limits"). */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameBytes: 64 * 1024,
  ratePerSecond: 100,
  rateBurst: 500,
  maxSessionsPerUser: 8,
  identifyTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  maxBufferedBytes: 1024 * 1024,
});
