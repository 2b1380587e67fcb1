/**
 * Every frame the relay writes, serialized: getMessage to recipients; `ready`, `ack`,
 * `undelivered`, `error`, `pong` and `presence` to v1 connections. The schemas in `schemas/` define these shapes
 * and `frames_test.ts` checks each builder against them.
 *
 * The two frames of every message (getMessage and its `ack`) are built with their fields in one
 * fixed order and without intermediate objects: they are on the relay's hot path.
 *
 * ```ts
 * import { ackFrame, errorFrame } from "./frames.ts";
 * ackFrame("r1", "n-1", 1764115140000); // '{"type":"ack","ref":"r1","cid":"n-1","timestamp":1764115140000}'
 * errorFrame("not_identified", "identify first");
 * ```
 *
 * @module
 */
import type { Ready } from "../schemas/types.ts";
import {
  type ErrorCode,
  type Limits,
  SUBPROTOCOL,
  type UndeliveredReason,
} from "../schemas/protocol.ts";

/** The optional features a v1 `ready` advertises. */
export const FEATURES: readonly string[] = Object.freeze(["ack", "undelivered", "ping"]);

/** Display fields of the identified user in `ready`, when the relay knows any. */
export interface ReadyUser {
  username: string;
  avatar: string;
  sign?: string;
}

/**
 * A getMessage from `from` (the identified sender) as LayIM's `getMessage` takes it. `cid` is a
 * relay-made server message id; every recipient session is sent this same text.
 */
export function getMessageFrame(
  from: string,
  username: string,
  avatar: string,
  content: string,
  timestamp: number,
  cid: string,
): string {
  return JSON.stringify({
    username,
    avatar,
    id: from,
    type: "friend",
    content,
    timestamp,
    fromid: from,
    cid,
    mine: false,
  });
}

/**
 * An `ack` of the sendMessage with `ref`. `cid` must be one of the relay's own message ids
 * (letters, digits and `-`, nothing JSON escapes): it is written without encoding.
 */
export function ackFrame(ref: string, cid: string, timestamp: number): string {
  return `{"type":"ack","ref":${JSON.stringify(ref)},"cid":"${cid}","timestamp":${timestamp}}`;
}

/** An `undelivered` for the sendMessage with `ref` to `to`. */
export function undeliveredFrame(ref: string, to: string, reason: UndeliveredReason): string {
  return JSON.stringify({ type: "undelivered", ref, to, reason });
}

/** An `error`; `ref` names the refused sendMessage, when it had one. */
export function errorFrame(code: ErrorCode, message: string, ref?: string): string {
  return JSON.stringify(
    ref === undefined ? { type: "error", code, message } : { type: "error", code, message, ref },
  );
}

/** The `pong` answering a `ping`, echoing its `data`. */
export function pongFrame(data?: string): string {
  return JSON.stringify({ type: "pong", data });
}

/** The features of a relay that also offers presence. */
const WITH_PRESENCE: readonly string[] = Object.freeze([...FEATURES, "presence"]);

/**
 * The `ready` that answers a v1 identify of `id` on session `session`; with `presence` (its
 * parameters) it lists the feature `presence`.
 */
export function readyFrame(
  id: string,
  session: string,
  limits: Readonly<Limits>,
  user: ReadyUser | undefined,
  presence?: Ready["presence"],
): string {
  return JSON.stringify({
    type: "ready",
    id,
    session,
    protocol: SUBPROTOCOL,
    limits,
    features: presence ? WITH_PRESENCE : FEATURES,
    presence,
    user,
  });
}

/** A `presence` frame: the answer to the watch with `ref`, or (without) a change. */
export function presenceFrame(
  online: readonly string[],
  offline: readonly string[],
  ref?: string,
): string {
  return JSON.stringify(
    ref === undefined
      ? { type: "presence", online, offline }
      : { type: "presence", online, offline, ref },
  );
}

/** The `error` refusing a watch that names users this user may not follow (PRES-8). */
export function watchRefusedFrame(ids: readonly string[], ref?: string): string {
  const message = `not allowed to watch ${ids.length} of these users`;
  return JSON.stringify(
    ref === undefined
      ? { type: "error", code: "watch_refused", message, ids }
      : { type: "error", code: "watch_refused", message, ref, ids },
  );
}
