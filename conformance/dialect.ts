/**
 * Dialects: small JSON files that describe how a real LayIM server deviates from the legacy
 * profile (how clients identify, write and receive chat messages, which ids it takes, what its
 * notices mean), so that the same conformance cases run against it. The format is
 * `dialect.schema.json`; `dialects/*.json` has an example of each feature.
 *
 * @module
 */
import { Ajv2020, type ErrorObject } from "ajv/dist/2020";
import dialectSchema from "./dialect.schema.json" with { type: "json" };

/** A JSON value, as read from a dialect file. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A frame matches when the value at `pointer` (RFC 6901) equals `equals`. */
export interface Match {
  pointer: string;
  equals: Json;
}

/** How a client tells the server who it is. */
export interface IdentifyStyle {
  /** `first-frame` (the bare id, legacy), `frame` (a JSON template), `path` or `query`. */
  mode: "first-frame" | "frame" | "path" | "query";
  /** `frame`: the first frame, with `{{id}}`, `{{username}}`, `{{avatar}}`, `{{token}}`. */
  template?: Json;
  /** `path`: the URL path with `{id}`, e.g. `/websocket/{id}`. */
  path?: string;
  /** `query`: the query parameter carrying the id. */
  param?: string;
  /** The server's login reply: the runner waits for it instead of the settle delay. */
  reply?: Match;
}

/** The getMessage members a receive rule can map or default. */
export type Member =
  | "username"
  | "avatar"
  | "id"
  | "type"
  | "content"
  | "timestamp"
  | "fromid"
  | "cid"
  | "mine";

/** One kind of incoming frame that carries a chat message. */
export interface ReceiveRule {
  /** Which frames this rule reads; absent: getMessage objects with `type` `"friend"`. */
  match?: Match;
  /** Where the getMessage object is in the frame (default `""`, the whole frame). */
  pointer?: string;
  /** Members found elsewhere in the frame: member name → pointer from the frame's root. */
  fields?: Partial<Record<Member, string>>;
  /** Members the page fills in when missing; `"{{now}}"` is the page's clock in ms. */
  defaults?: Partial<Record<Member, Json>>;
}

/** A description of one server's dialect of the legacy profile. */
export interface Dialect {
  /** Short name shown in reports. */
  name: string;
  /** What server or framework this dialect describes. */
  description?: string;
  /** How a client identifies. */
  identify: IdentifyStyle;
  /** Integer ids only: `true` (1000000–2147483647) or a range. */
  numericIds?: true | { min: number; max: number };
  /** The query parameter that carries the token (default `token`). */
  token?: { param: string };
  /** How to write an outgoing LayIM `{mine, to}` payload; absent: as-is. */
  send?: { template: Json };
  /** The kinds of frame that carry chat messages, tried in order. */
  receive?: ReceiveRule[];
  /** Server frames that mean something: `offline` (the last message's recipient is offline). */
  notices?: { match: Match; means: "offline" }[];
}

/** The legacy profile itself, the built-in default. */
export const LEGACY_DIALECT: Readonly<Dialect> = Object.freeze({
  name: "legacy",
  identify: { mode: "first-frame" } as const,
});

/** The id range of `numericIds: true`: ids a signed 32-bit integer holds. */
export const DEFAULT_ID_RANGE: Readonly<{ min: number; max: number }> = Object.freeze({
  min: 1_000_000,
  max: 2_147_483_647,
});

/** A dialect file is unreadable or does not describe a dialect. */
export class DialectError extends Error {}

const ajv = new Ajv2020({ strict: true, allErrors: true, discriminator: true });
const validate = ajv.compile(dialectSchema);

function describe(errors: ErrorObject[]): string {
  const messages = new Set<string>();
  for (const e of errors) {
    if (["oneOf", "propertyNames"].includes(e.keyword)) continue;
    if (e.keyword === "discriminator" && errors.length > 1) continue;
    const where = e.instancePath === "" ? "the dialect" : e.instancePath;
    if (e.propertyName !== undefined) {
      messages.add(`${where} has "${e.propertyName}", which is not a getMessage member`);
    } else if (e.keyword === "additionalProperties") {
      messages.add(`${where} has an unknown member "${e.params.additionalProperty}"`);
    } else if (e.keyword === "enum") {
      const allowed = (e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v));
      messages.add(`${where} must be one of ${allowed.join(", ")}`);
    } else if (e.keyword === "required") {
      messages.add(`${where} needs "${e.params.missingProperty}"`);
    } else if (e.keyword === "pattern" && e.instancePath.endsWith("/path")) {
      messages.add(`${where} must be a path starting with / and containing {id}`);
    } else if (e.keyword === "pattern") {
      messages.add(`${where} must be a JSON pointer ("" or starting with /)`);
    } else messages.add(`${where} ${e.message}`);
  }
  return [...messages].slice(0, 3).join("; ");
}

/** Checks a decoded dialect file against `dialect.schema.json`; throws {@link DialectError}. */
export function parseDialect(value: unknown, source = "dialect"): Dialect {
  if (!validate(value)) throw new DialectError(`${source}: ${describe(validate.errors ?? [])}`);
  const dialect = value as unknown as Dialect;
  const range = idRange(dialect);
  if (range && range.max - range.min < 10_000) {
    throw new DialectError(
      `${source}: /numericIds must span at least 10000 ids (min ${range.min}, max ${range.max})`,
    );
  }
  return dialect;
}

/** Reads and checks a dialect file; throws {@link DialectError} naming the file. */
export async function loadDialect(path: string): Promise<Dialect> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new DialectError(`${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DialectError(`${path}: not JSON (${(error as Error).message})`);
  }
  return parseDialect(value, path);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function pointerKeys(pointer: string): string[] {
  return pointer === ""
    ? []
    : pointer.slice(1).split("/").map((k) => k.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** Resolves a JSON pointer (RFC 6901) in `value`; `undefined` when it does not exist. */
export function resolvePointer(value: unknown, pointer: string): unknown {
  let cur = value;
  for (const key of pointerKeys(pointer)) {
    if (Array.isArray(cur)) cur = cur[Number(key)];
    else if (isObject(cur) && Object.hasOwn(cur, key)) cur = cur[key];
    else return undefined;
  }
  return cur;
}

/** Sets the value at `pointer` in `target`, creating objects on the way (for fixtures). */
export function setPointer(target: Record<string, unknown>, pointer: string, value: unknown): void {
  const keys = pointerKeys(pointer);
  let cur: Record<string, unknown> = target;
  for (const key of keys.slice(0, -1)) {
    if (!isObject(cur[key])) cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[keys.at(-1)!] = value;
}

/** Whether `frame` satisfies `match`. */
export function matches(frame: unknown, match: Match): boolean {
  return JSON.stringify(resolvePointer(frame, match.pointer)) === JSON.stringify(match.equals);
}

const PLACEHOLDER = /\{\{([\w.]+)\}\}/g;

/**
 * Fills the `{{name}}` placeholders of `template` from `lookup`: a string that is exactly one
 * placeholder becomes the value itself, one inside a longer string its text.
 */
export function fill(template: Json, lookup: (name: string) => unknown): unknown {
  if (typeof template === "string") {
    const whole = template.match(/^\{\{([\w.]+)\}\}$/);
    if (whole) return lookup(whole[1]);
    return template.replace(PLACEHOLDER, (_, name: string) => {
      const v = lookup(name);
      return v === undefined || v === null
        ? ""
        : typeof v === "object"
        ? JSON.stringify(v)
        : String(v);
    });
  }
  if (Array.isArray(template)) return template.map((t) => fill(t, lookup));
  if (isObject(template)) {
    return Object.fromEntries(
      Object.entries(template).map(([k, v]) => [k, fill(v as Json, lookup)]),
    );
  }
  return template;
}

/** The value at a dotted path (`to.id`) of `value`. */
export function pathValue(value: unknown, path: string): unknown {
  let cur = value;
  for (const key of path.split(".")) cur = isObject(cur) ? cur[key] : undefined;
  return cur;
}

/** The id range a dialect uses, or `undefined` when it takes any string id. */
export function idRange(dialect: Dialect): { min: number; max: number } | undefined {
  const n = dialect.numericIds;
  return n === undefined ? undefined : n === true ? DEFAULT_ID_RANGE : n;
}

/** The id as the dialect writes it in JSON: a number when the dialect uses numeric ids. */
export function jsonId(dialect: Dialect, id: string): string | number {
  return dialect.numericIds && /^-?\d+$/.test(id) ? Number(id) : id;
}

/** The URL a client of user `id` connects to (the token as a query parameter when given). */
export function connectUrl(dialect: Dialect, base: string, id: string, token?: string): string {
  const url = new URL(base);
  if (dialect.identify.mode === "path") {
    url.pathname = dialect.identify.path!.replaceAll("{id}", encodeURIComponent(id));
  } else if (dialect.identify.mode === "query") {
    url.searchParams.set(dialect.identify.param!, id);
  }
  if (token !== undefined) url.searchParams.set(dialect.token?.param ?? "token", token);
  return url.href;
}

/** What an identify template can say about the client. */
export interface IdentifyValues {
  username: string;
  avatar: string;
  token?: string;
}

/** The identify frame a client sends first, or `undefined` when the URL identifies it. */
export function identifyText(
  dialect: Dialect,
  id: string,
  values: IdentifyValues = { username: "", avatar: "" },
): string | undefined {
  switch (dialect.identify.mode) {
    case "first-frame":
      return id;
    case "frame": {
      const vars: Record<string, unknown> = { ...values, id: jsonId(dialect, id) };
      return JSON.stringify(fill(dialect.identify.template!, (name) => vars[name]));
    }
    default:
      return undefined;
  }
}

function placeholders(template: Json, out: string[] = []): string[] {
  if (typeof template === "string") {
    for (const m of template.matchAll(PLACEHOLDER)) out.push(m[1]);
  } else if (Array.isArray(template)) template.forEach((t) => placeholders(t, out));
  else if (isObject(template)) Object.values(template).forEach((t) => placeholders(t as Json, out));
  return out;
}

/**
 * Whether the dialect's outgoing frames carry the payload member at `path` (`to.type`,
 * `mine.extra`): always without a send template or with `{{message}}`, otherwise only when a
 * placeholder names it or a member containing it.
 */
export function carries(dialect: Dialect, path: string): boolean {
  if (!dialect.send) return true;
  return placeholders(dialect.send.template).some((name) =>
    name === "message" || name === path || path.startsWith(name + ".")
  );
}

/** The text of an outgoing chat message carrying the LayIM payload `message`. */
export function wrapMessage(dialect: Dialect, message: Record<string, unknown>): string {
  if (!dialect.send) return JSON.stringify(message);
  return JSON.stringify(
    fill(dialect.send.template, (name) => name === "message" ? message : pathValue(message, name)),
  );
}

/** A chat message read from a frame. */
export interface ReadMessage {
  /** The getMessage object as the page hands it to `layim.getMessage`. */
  message: Record<string, unknown>;
  /** Which receive rule read it (0 for the built-in one). */
  rule: number;
  /** The members the page filled in from `defaults`. */
  filled: Member[];
}

const BUILTIN_RULE: ReceiveRule = {};

/** The chat message in an incoming frame, or `undefined` when the frame is not one. */
export function readMessage(dialect: Dialect, frame: unknown): ReadMessage | undefined {
  if (isLoginReply(dialect, frame) || noticeOf(dialect, frame)) return undefined;
  const rules = dialect.receive ?? [BUILTIN_RULE];
  for (const [rule, r] of rules.entries()) {
    if (r.match && !matches(frame, r.match)) continue;
    const base = resolvePointer(frame, r.pointer ?? "");
    if (!isObject(base)) continue;
    const message: Record<string, unknown> = { ...base };
    for (const [member, pointer] of Object.entries(r.fields ?? {})) {
      const v = resolvePointer(frame, pointer!);
      if (v !== undefined) message[member] = v;
    }
    const filled: Member[] = [];
    for (const [member, value] of Object.entries(r.defaults ?? {})) {
      if (message[member] !== undefined) continue;
      message[member] = value === "{{now}}" ? Date.now() : value;
      filled.push(member as Member);
    }
    if (!r.match && message.type !== "friend") continue;
    return { message, rule, filled };
  }
  return undefined;
}

/** What a server notice means, or `undefined` when `frame` is not one. */
export function noticeOf(dialect: Dialect, frame: unknown): "offline" | undefined {
  return dialect.notices?.find((n) => matches(frame, n.match))?.means;
}

/** Whether `frame` is the dialect's login reply. */
export function isLoginReply(dialect: Dialect, frame: unknown): boolean {
  const reply = dialect.identify.reply;
  return reply !== undefined && matches(frame, reply);
}
