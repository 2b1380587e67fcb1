/**
 * Validators for every layim-ws frame, compiled once from the JSON Schemas in this folder.
 *
 * Client and server frames are dispatched on their `type` field to the one schema that can
 * match, so a hot path pays for a single compiled check and errors name the real problem
 * instead of every branch of a union.
 *
 * @module
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020";
import idSchema from "./id.schema.json" with { type: "json" };
import legacyIdentifySchema from "./legacy-identify.schema.json" with { type: "json" };
import identifySchema from "./identify.schema.json" with { type: "json" };
import sendMessageSchema from "./send-message.schema.json" with { type: "json" };
import getMessageSchema from "./get-message.schema.json" with { type: "json" };
import readySchema from "./ready.schema.json" with { type: "json" };
import ackSchema from "./ack.schema.json" with { type: "json" };
import undeliveredSchema from "./undelivered.schema.json" with { type: "json" };
import errorSchema from "./error.schema.json" with { type: "json" };
import pingSchema from "./ping.schema.json" with { type: "json" };
import pongSchema from "./pong.schema.json" with { type: "json" };
import clientFrameSchema from "./client-frame.schema.json" with { type: "json" };
import serverFrameSchema from "./server-frame.schema.json" with { type: "json" };
import watchSchema from "./watch.schema.json" with { type: "json" };
import presenceSchema from "./presence.schema.json" with { type: "json" };
import type {
  Ack,
  ClientFrame,
  ErrorFrame,
  GetMessage,
  Identify,
  LegacyIdentify,
  Ping,
  Pong,
  Presence,
  Ready,
  SendMessage,
  ServerFrame,
  Undelivered,
  UserId,
  Watch,
} from "./types.ts";

/** Every schema of the protocol, by file name. */
export const schemas = {
  "id.schema.json": idSchema,
  "legacy-identify.schema.json": legacyIdentifySchema,
  "identify.schema.json": identifySchema,
  "send-message.schema.json": sendMessageSchema,
  "get-message.schema.json": getMessageSchema,
  "ready.schema.json": readySchema,
  "ack.schema.json": ackSchema,
  "undelivered.schema.json": undeliveredSchema,
  "error.schema.json": errorSchema,
  "ping.schema.json": pingSchema,
  "pong.schema.json": pongSchema,
  "client-frame.schema.json": clientFrameSchema,
  "server-frame.schema.json": serverFrameSchema,
  "watch.schema.json": watchSchema,
  "presence.schema.json": presenceSchema,
} as const;

/** The name of a schema file in `schemas/`. */
export type SchemaName = keyof typeof schemas;

/** The outcome of validating a frame: the typed frame, or a human-readable error. */
export type Validation<T> =
  | { ok: true; frame: T }
  | { ok: false; code: "invalid_json" | "invalid_frame"; error: string };

const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: false });
for (const schema of Object.values(schemas)) ajv.addSchema(schema);

function compiled(name: SchemaName): ValidateFunction {
  const fn = ajv.getSchema(schemas[name].$id);
  if (!fn) throw new Error(`schema ${name} did not compile`);
  return fn;
}

const check = {
  legacyIdentify: compiled("legacy-identify.schema.json"),
  identify: compiled("identify.schema.json"),
  sendMessage: compiled("send-message.schema.json"),
  getMessage: compiled("get-message.schema.json"),
  ready: compiled("ready.schema.json"),
  ack: compiled("ack.schema.json"),
  undelivered: compiled("undelivered.schema.json"),
  error: compiled("error.schema.json"),
  ping: compiled("ping.schema.json"),
  pong: compiled("pong.schema.json"),
  watch: compiled("watch.schema.json"),
  presence: compiled("presence.schema.json"),
};

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.find((x) => x.keyword !== "oneOf") ?? errors?.[0];
  if (!e) return "frame is invalid";
  const where = e.instancePath === "" ? "frame" : e.instancePath;
  if (e.keyword === "additionalProperties") {
    return `${where} has unexpected property "${e.params.additionalProperty}"`;
  }
  if (e.keyword === "const") return `${where} must be ${JSON.stringify(e.params.allowedValue)}`;
  if (e.keyword === "enum") {
    return `${where} must be one of ${
      (e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")
    }`;
  }
  // The only patterns are the id rules (IDENT-1).
  if (e.keyword === "pattern") {
    return `${where} must not contain whitespace, control or format characters, or lone surrogates`;
  }
  return `${where} ${e.message ?? "is invalid"}`;
}

function run<T>(fn: ValidateFunction, value: unknown): Validation<T> {
  return fn(value)
    ? { ok: true, frame: value as T }
    : { ok: false, code: "invalid_frame", error: describe(fn.errors) };
}

function typeOf(value: unknown): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as { type?: unknown }).type
    : null;
}

function unknownType(type: unknown): Validation<never> {
  return {
    ok: false,
    code: "invalid_frame",
    error: type === null
      ? "frame must be a JSON object"
      : `unknown frame type ${JSON.stringify(type)}`,
  };
}

/** Validates a decoded client frame (identify, sendMessage, ping or watch). */
export function validateClientFrame(value: unknown): Validation<ClientFrame> {
  const type = typeOf(value);
  switch (type) {
    case undefined:
      return run<SendMessage>(check.sendMessage, value);
    case "identify":
      return run<Identify>(check.identify, value);
    case "ping":
      return run<Ping>(check.ping, value);
    case "watch":
      return run<Watch>(check.watch, value);
    default:
      return unknownType(type);
  }
}

/** Validates a decoded server frame (getMessage, ready, ack, undelivered, error, pong or presence). */
export function validateServerFrame(value: unknown): Validation<ServerFrame> {
  const type = typeOf(value);
  switch (type) {
    case "friend":
      return run<GetMessage>(check.getMessage, value);
    case "ready":
      return run<Ready>(check.ready, value);
    case "ack":
      return run<Ack>(check.ack, value);
    case "undelivered":
      return run<Undelivered>(check.undelivered, value);
    case "error":
      return run<ErrorFrame>(check.error, value);
    case "pong":
      return run<Pong>(check.pong, value);
    case "presence":
      return run<Presence>(check.presence, value);
    default:
      return unknownType(type);
  }
}

function parse<T>(text: string, validate: (value: unknown) => Validation<T>): Validation<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: "invalid_json", error: "frame is not valid JSON" };
  }
  return validate(value);
}

/** Parses and validates the text of a client frame. */
export function parseClientFrame(text: string): Validation<ClientFrame> {
  return parse(text, validateClientFrame);
}

/** Parses and validates the text of a server frame. */
export function parseServerFrame(text: string): Validation<ServerFrame> {
  return parse(text, validateServerFrame);
}

/** Validates a legacy first frame: the bare user id, taken literally. */
export function validateLegacyId(text: string): Validation<LegacyIdentify> {
  return run<LegacyIdentify>(check.legacyIdentify, text);
}

/** Validates a value against one named schema (used by tests and tools). */
export function validateWith(name: SchemaName, value: unknown): Validation<unknown> {
  return run(compiled(name), value);
}

/** The canonical string form of a user id: a JSON integer names the same user as its decimal string. */
export function normalizeId(id: UserId): string {
  return typeof id === "number" ? String(id) : id;
}

/** Whether `frame` is a chat message (a sendMessage) rather than a control frame. */
export function isSendMessage(frame: ClientFrame): frame is SendMessage {
  return !("type" in frame);
}
