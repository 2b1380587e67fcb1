/**
 * Dialects: JSON files that describe how a real LayIM server deviates from the legacy profile
 * in how clients identify, wrap outgoing messages and receive getMessage objects, so that the
 * same conformance cases run against it. See `dialects/*.json` for documented examples.
 *
 * @module
 */

/** A JSON value, as read from a dialect file. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** How a client tells the server who it is. */
export type IdentifyStyle =
  /** The legacy profile: the first text frame is the bare id. */
  | { mode: "first-frame" }
  /** A JSON first frame; every string `"{{id}}"` in the template becomes the id. */
  | { mode: "frame"; template: Json }
  /** The id is part of the URL path; `{id}` in `path` is replaced by the URL-encoded id. */
  | { mode: "path"; path: string }
  /** The id is a query parameter of the URL. */
  | { mode: "query"; param: string };

/** A description of one server's dialect of the legacy profile. */
export interface Dialect {
  /** Short name shown in reports. */
  name: string;
  /** What server or framework this dialect describes. */
  description?: string;
  /** How a client identifies. */
  identify: IdentifyStyle;
  /**
   * How to wrap an outgoing LayIM `{mine, to}` payload: the template value `"{{message}}"` is
   * replaced by the payload object. Absent: the payload is sent as-is.
   */
  send?: { template: Json };
  /** Where the getMessage object sits in an incoming frame, and which frames are chat messages. */
  receive?: {
    /** JSON pointer (RFC 6901) to the getMessage object; `""` (default) is the whole frame. */
    pointer?: string;
    /** A frame is a chat message when the value at `pointer` equals `equals`. */
    match?: { pointer: string; equals: Json };
  };
  /** The server only understands numeric ids: the runner uses random numeric ids. */
  numericIds?: boolean;
}

/** The legacy profile itself, the built-in default. */
export const LEGACY_DIALECT: Readonly<Dialect> = Object.freeze({
  name: "legacy",
  identify: { mode: "first-frame" } as const,
});

/** A dialect file is unreadable or does not describe a dialect. */
export class DialectError extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks a decoded dialect file and returns it typed; throws {@link DialectError}. */
export function parseDialect(value: unknown, source = "dialect"): Dialect {
  const bad = (what: string) => new DialectError(`${source}: ${what}`);
  if (!isObject(value)) throw bad("must be a JSON object");
  if (typeof value.name !== "string" || value.name === "") throw bad(`"name" must be a string`);
  const identify = value.identify;
  if (!isObject(identify)) throw bad(`"identify" must be an object`);
  switch (identify.mode) {
    case "first-frame":
      break;
    case "frame":
      if (!("template" in identify)) throw bad(`"identify.template" is required for mode frame`);
      break;
    case "path":
      if (typeof identify.path !== "string" || !identify.path.includes("{id}")) {
        throw bad(`"identify.path" must be a path containing {id}`);
      }
      break;
    case "query":
      if (typeof identify.param !== "string" || identify.param === "") {
        throw bad(`"identify.param" must be a query parameter name`);
      }
      break;
    default:
      throw bad(`"identify.mode" must be first-frame, frame, path or query`);
  }
  if (value.send !== undefined && !(isObject(value.send) && "template" in value.send)) {
    throw bad(`"send" must be an object with a "template"`);
  }
  const receive = value.receive;
  if (receive !== undefined) {
    if (!isObject(receive)) throw bad(`"receive" must be an object`);
    if (receive.pointer !== undefined && !isPointer(receive.pointer)) {
      throw bad(`"receive.pointer" must be a JSON pointer ("" or starting with /)`);
    }
    const match = receive.match;
    if (
      match !== undefined && !(isObject(match) && isPointer(match.pointer) && "equals" in match)
    ) {
      throw bad(`"receive.match" must be {"pointer": "/…", "equals": value}`);
    }
  }
  if (value.numericIds !== undefined && typeof value.numericIds !== "boolean") {
    throw bad(`"numericIds" must be true or false`);
  }
  return value as unknown as Dialect;
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

function isPointer(v: unknown): v is string {
  return typeof v === "string" && (v === "" || v.startsWith("/"));
}

/** Resolves a JSON pointer (RFC 6901) in `value`; `undefined` when it does not exist. */
export function resolvePointer(value: unknown, pointer: string): unknown {
  if (pointer === "") return value;
  let cur = value;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(cur)) cur = cur[Number(key)];
    else if (isObject(cur) && Object.hasOwn(cur, key)) cur = cur[key];
    else return undefined;
  }
  return cur;
}

function fill(template: Json, placeholder: string, replacement: unknown): unknown {
  if (template === placeholder) return replacement;
  if (typeof template === "string") {
    return typeof replacement === "string" || typeof replacement === "number"
      ? template.replaceAll(placeholder, String(replacement))
      : template;
  }
  if (Array.isArray(template)) return template.map((t) => fill(t, placeholder, replacement));
  if (isObject(template)) {
    return Object.fromEntries(
      Object.entries(template).map(([k, v]) => [k, fill(v, placeholder, replacement)]),
    );
  }
  return template;
}

/** The id as the dialect writes it in JSON: a number when the dialect uses numeric ids. */
export function jsonId(dialect: Dialect, id: string): string | number {
  return dialect.numericIds && /^-?\d+$/.test(id) ? Number(id) : id;
}

/** The URL a client of user `id` connects to (with `token` as a query parameter when given). */
export function connectUrl(dialect: Dialect, base: string, id: string, token?: string): string {
  const url = new URL(base);
  if (dialect.identify.mode === "path") {
    url.pathname = dialect.identify.path.replaceAll("{id}", encodeURIComponent(id));
  } else if (dialect.identify.mode === "query") {
    url.searchParams.set(dialect.identify.param, id);
  }
  if (token !== undefined) url.searchParams.set("token", token);
  return url.href;
}

/** The identify frame a client sends first, or `undefined` when the URL identifies it. */
export function identifyText(dialect: Dialect, id: string): string | undefined {
  switch (dialect.identify.mode) {
    case "first-frame":
      return id;
    case "frame":
      return JSON.stringify(fill(dialect.identify.template, "{{id}}", jsonId(dialect, id)));
    default:
      return undefined;
  }
}

/** The text of an outgoing chat message carrying the LayIM payload `message`. */
export function wrapMessage(dialect: Dialect, message: Record<string, unknown>): string {
  return JSON.stringify(
    dialect.send ? fill(dialect.send.template, "{{message}}", message) : message,
  );
}

/** The getMessage object in an incoming frame, or `undefined` when it is not a chat message. */
export function extractMessage(dialect: Dialect, frame: unknown): unknown {
  const match = dialect.receive?.match;
  if (
    match && JSON.stringify(resolvePointer(frame, match.pointer)) !== JSON.stringify(match.equals)
  ) {
    return undefined;
  }
  const message = resolvePointer(frame, dialect.receive?.pointer ?? "");
  if (!isObject(message)) return undefined;
  return match || message.type === "friend" ? message : undefined;
}
