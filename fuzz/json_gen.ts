/**
 * Fuzz cases at the level of the relay's frames (fast-check arbitraries): what one connection
 * sends, as WebSocket messages, to the whole relay. Random JSON; near-misses of every client
 * frame (each field missing, of every wrong type, too long, empty, with controls, format
 * characters or lone surrogates, extra fields, `__proto__`, duplicated keys); deep nesting; huge
 * strings around the frame limit; binary messages; raw frames over TCP (any opcode, reserved
 * bits, fragments, invalid UTF-8); and valid traffic, whose outcomes are checked exactly.
 *
 * A case may first identify as a fresh user, so the frames reach an identified session too.
 *
 * ```ts
 * import fc from "fast-check";
 * import { RELAY_GENERATORS } from "./json_gen.ts";
 * const [c] = fc.sample(RELAY_GENERATORS["near-miss"].arbitrary, { seed: 1, numRuns: 1 });
 * c.messages.length; // the frames of one connection
 * ```
 *
 * @module
 */
import fc from "fast-check";

/** One raw WebSocket frame, written as is (the client masks it unless `unmasked`). */
export interface RawFrame {
  fin: boolean;
  /** The three reserved bits, 0–7. */
  rsv: number;
  opcode: number;
  payload: Uint8Array;
}

/** What one fuzzed connection does. */
export interface RelayCase {
  /** The generator's name. */
  generator: string;
  profile: "v1" | "legacy";
  /** Identify validly first (as a fresh user), so the messages reach an identified session. */
  identified: boolean;
  /** Whole messages: text, or binary bytes. */
  messages: (string | Uint8Array)[];
  /** Raw frames instead of whole messages (written over TCP after the upgrade). */
  raw?: RawFrame[];
}

/** A named generator with its weight in a mixed run. */
export interface RelayGenerator {
  arbitrary: fc.Arbitrary<RelayCase>;
  weight: number;
}

// Strings that break things: controls, format characters (zero-width, bidi), lone surrogates,
// the replacement character, line separators, astral characters, long runs.
const NASTY = [
  "",
  " ",
  "\u0000",
  "\n",
  "\u007f",
  "\u0085",
  "\u200b",
  "\u200d",
  "\u202e",
  "\u2066",
  "\ufeff",
  "\ud800",
  "\udc00",
  "\ud800\ud800",
  "\ufffd",
  "\u2028",
  "😀",
  "\u{e0041}",
  "__proto__",
  "constructor",
  '"',
  "\\",
  "face[微笑]",
];

const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  {
    weight: 2,
    arbitrary: fc.array(fc.constantFrom(...NASTY, "a", "1"), { maxLength: 12 })
      .map((parts) => parts.join("")),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 60, max: 140 }), fc.constantFrom("a", "é", "用", "😀"))
      .map(([n, c]) => c.repeat(n)),
  },
);

/** Every wrong value a field can take. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    2 ** 53 + 1,
    -(2 ** 53) - 1,
    1e308,
    [],
    {},
    [1, "a"],
    { id: "x" },
  ),
  nastyString,
  fc.jsonValue({ maxDepth: 3 }),
);

/** A valid client frame as a value: identify, sendMessage (to an online or offline user), ping. */
const validFrame = (self: string, peers: string[]): fc.Arbitrary<Record<string, unknown>> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant({ type: "identify", id: self }) },
    {
      weight: 5,
      arbitrary: fc.record({
        mine: fc.record(
          {
            id: fc.constant(self),
            content: fc.oneof(nastyString, fc.string({ maxLength: 200 })),
            username: nastyString,
            avatar: fc.string({ maxLength: 30 }),
            mine: fc.boolean(),
          },
          { requiredKeys: ["content"] },
        ),
        to: fc.record({
          id: fc.constantFrom(...peers, "fz-offline"),
          type: fc.constant("friend"),
          username: fc.string({ maxLength: 20 }),
        }, { requiredKeys: ["id", "type"] }),
        ref: fc.option(fc.string({ minLength: 1, maxLength: 128 }), { nil: undefined }),
      }, { requiredKeys: ["mine", "to"] }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ type: fc.constant("ping"), data: fc.string({ maxLength: 40 }) }, {
        requiredKeys: ["type"],
      }),
    },
  );

/** The paths of every field of a value, its root included. */
function paths(value: unknown, prefix: string[] = []): string[][] {
  const out = [prefix];
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  }
  return out;
}

type Mutation =
  | { kind: "set"; at: number; value: unknown }
  | { kind: "drop"; at: number }
  | { kind: "extra"; at: number; key: string; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: wrongValue }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("extra" as const),
      at: fc.nat(),
      key: fc.oneof(fc.constantFrom("__proto__", "type", "ref", "constructor"), nastyString),
      value: wrongValue,
    }),
  },
);

/** `value` with one mutation applied at one of its paths (a copy). */
function mutate(value: Record<string, unknown>, m: Mutation): unknown {
  const copy = structuredClone(value);
  const all = paths(copy);
  const path = all[m.at % all.length];
  if (path.length === 0) return m.kind === "set" ? m.value : copy;
  const parent = path.slice(0, -1).reduce<Record<string, unknown>>(
    (o, k) => o[k] as Record<string, unknown>,
    copy,
  );
  const key = path[path.length - 1];
  if (m.kind === "set") parent[key] = m.value;
  else if (m.kind === "drop") delete parent[key];
  else {
    const target = parent[key];
    if (target && typeof target === "object" && !Array.isArray(target)) {
      Object.defineProperty(target, m.key, { value: m.value, enumerable: true });
    }
  }
  return copy;
}

/** A value as frame text: JSON, sometimes with a key duplicated or spacing changed. */
const asText = (value: unknown): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(JSON.stringify(value) ?? "null") },
    { weight: 1, arbitrary: fc.constant(JSON.stringify(value, null, 2) ?? "null") },
    {
      weight: 1,
      arbitrary: fc.constant(
        // A duplicated key: JSON.parse keeps the last one.
        (JSON.stringify(value) ?? "null").replace(/^\{"(\w+)":/, '{"$1":null,"$1":'),
      ),
    },
  );

const payload: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 130 }),
  fc.string({ unit: "binary", maxLength: 60 }).map((s) => new TextEncoder().encode(s)),
  fc.jsonValue({ maxDepth: 2 }).map((v) => new TextEncoder().encode(JSON.stringify(v) ?? "")),
  // Invalid UTF-8: a lone continuation byte, an overlong form, a surrogate half, past U+10FFFF.
  fc.constantFrom([0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80])
    .map((b) => new Uint8Array(b)),
);

/** One message as frames: cut at `cuts` (fractions), with control frames between fragments. */
function fragments(
  opcode: number,
  bytes: Uint8Array,
  cuts: number[],
  controls: number[],
): RawFrame[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const parts = [0, ...at, bytes.length].slice(1).map((end, i, ends) =>
    bytes.subarray(i ? ends[i - 1] : 0, end)
  );
  const out: RawFrame[] = [];
  parts.forEach((part, i) => {
    out.push({ fin: i === parts.length - 1, rsv: 0, opcode: i === 0 ? opcode : 0, payload: part });
    const control = controls[i];
    if (control !== undefined && i < parts.length - 1) {
      out.push({ fin: true, rsv: 0, opcode: control, payload: part.subarray(0, 125) });
    }
  });
  return out;
}

function rawCase(name: string, frames: fc.Arbitrary<RawFrame[]>): fc.Arbitrary<RelayCase> {
  return fc.record({
    generator: fc.constant(name),
    profile: fc.constant("v1" as const),
    identified: fc.boolean(),
    messages: fc.constant([]),
    raw: frames,
  });
}

function caseOf(
  generator: string,
  messages: fc.Arbitrary<(string | Uint8Array)[]>,
  identified: fc.Arbitrary<boolean> = fc.boolean(),
): fc.Arbitrary<RelayCase> {
  return fc.record({
    generator: fc.constant(generator),
    profile: fc.constantFrom("v1" as const, "v1" as const, "legacy" as const),
    identified,
    messages,
  });
}

/** Messages of a connection identified as `self` that can reach `peers`. */
type Messages = (self: string, peers: string[]) => fc.Arbitrary<(string | Uint8Array)[]>;

// Every case names its own user `fz-self`; the runner substitutes a fresh id.
const SELF = "fz-self";
const PEERS = ["fz-peer"];

function frames(generator: string, messages: Messages, weight: number): RelayGenerator {
  return { weight, arbitrary: caseOf(generator, messages(SELF, PEERS)) };
}

/** The generators of the relay fuzzer, by name. */
export const RELAY_GENERATORS: Record<string, RelayGenerator> = {
  "json": frames(
    "json",
    () =>
      fc.array(
        fc.oneof(
          fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? "null"),
          fc.string({ unit: "binary", maxLength: 80 }),
        ),
        { minLength: 1, maxLength: 8 },
      ),
    3,
  ),
  "near-miss": frames(
    "near-miss",
    (self, peers) =>
      fc.array(
        fc.tuple(validFrame(self, peers), fc.array(mutation, { minLength: 1, maxLength: 3 }))
          .map(([frame, ms]) =>
            ms.reduce<unknown>((v, m) => mutate(v as Record<string, unknown>, m), frame)
          )
          .chain(asText),
        { minLength: 1, maxLength: 8 },
      ),
    6,
  ),
  "deep": frames(
    "deep",
    () =>
      fc.array(
        fc.tuple(fc.integer({ min: 10, max: 40_000 }), fc.constantFrom("[", '{"a":', '{"mine":'))
          .map(([depth, open]) => {
            const close = open === "[" ? "]" : "}";
            return open.repeat(depth) + "1" + close.repeat(depth);
          }),
        { minLength: 1, maxLength: 3 },
      ),
    1,
  ),
  "huge": frames(
    "huge",
    (self, peers) =>
      fc.array(
        fc.tuple(
          fc.integer({ min: 20_000, max: 70_000 }),
          fc.constantFrom("a", "é", "用", "😀", "\ud800"),
          fc.constantFrom("content", "ref", "id", "username"),
          fc.constantFrom(...peers),
        ).map(([n, c, field, to]) => {
          const big = c.repeat(Math.ceil(n / c.length / (c.length > 1 ? 2 : 1)));
          const frame: Record<string, unknown> = {
            mine: { id: self, content: "x" },
            to: { id: to, type: "friend" },
            ref: "r",
          };
          if (field === "content") (frame.mine as Record<string, unknown>).content = big;
          else if (field === "ref") frame.ref = big;
          else if (field === "id") (frame.to as Record<string, unknown>).id = big;
          else (frame.mine as Record<string, unknown>).username = big;
          return JSON.stringify(frame);
        }),
        { minLength: 1, maxLength: 2 },
      ),
    1,
  ),
  "chars": frames(
    "chars",
    (self, peers) =>
      fc.array(
        fc.oneof(
          nastyString,
          fc.tuple(nastyString, fc.constantFrom(...peers)).map(([s, to]) =>
            JSON.stringify({
              mine: { id: self, content: s },
              to: { id: to, type: "friend" },
              ref: s,
            })
          ),
          nastyString.map((s) => JSON.stringify({ type: "identify", id: s })),
          nastyString.map((s) => JSON.stringify({ type: "ping", data: s })),
        ),
        { minLength: 1, maxLength: 8 },
      ),
    3,
  ),
  "binary": frames(
    "binary",
    () =>
      fc.array(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.string({ maxLength: 20 })), {
        minLength: 1,
        maxLength: 4,
      }),
    1,
  ),
  "valid": frames(
    "valid",
    (self, peers) =>
      fc.array(validFrame(self, peers).map((v) => JSON.stringify(v)), {
        minLength: 1,
        maxLength: 12,
      }),
    3,
  ),
  "raw": {
    weight: 1,
    arbitrary: rawCase(
      "raw",
      fc.array(
        fc.record({
          fin: fc.boolean(),
          rsv: fc.oneof(
            { weight: 5, arbitrary: fc.constant(0) },
            { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) },
          ),
          opcode: fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom(0, 1, 2, 8, 9, 10) },
            { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) },
          ),
          payload: payload,
        }),
        { minLength: 1, maxLength: 6 },
      ),
    ),
  },
  "fragments": {
    weight: 2,
    arbitrary: rawCase(
      "fragments",
      fc.array(
        fc.tuple(
          fc.constantFrom(1, 1, 1, 2),
          payload,
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
          fc.array(fc.constantFrom(9, 10), { maxLength: 2 }),
        ),
        { minLength: 1, maxLength: 3 },
      ).map((messages) =>
        messages.flatMap(([opcode, bytes, cuts, controls]) =>
          fragments(opcode, bytes, cuts, controls)
        )
      ),
    ),
  },
};

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Whether `frames` are valid RFC 6455 traffic: no reserved bits or opcodes, control frames whole
 * and short, continuations only inside a fragmented message, none left open, and every text
 * message (its fragments put together) valid UTF-8.
 */
export function validFrames(frames: readonly RawFrame[]): boolean {
  let open = false;
  let text: Uint8Array[] | undefined;
  const utf8 = (parts: Uint8Array[]) => {
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    try {
      strictUtf8.decode(all);
      return true;
    } catch {
      return false;
    }
  };
  for (const f of frames) {
    if (f.opcode === 1) text = [];
    if (f.opcode <= 2 && text) text.push(f.payload);
    if (f.opcode <= 2 && f.fin && text) {
      if (!utf8(text)) return false;
      text = undefined;
    }
    if (f.rsv !== 0) return false;
    if (f.opcode >= 8) {
      if (![8, 9, 10].includes(f.opcode) || !f.fin || f.payload.length > 125) return false;
      if (f.opcode === 8) return f.payload.length !== 1; // the rest is never read
    } else if (f.opcode === 0) {
      if (!open) return false;
      open = !f.fin;
    } else if (f.opcode === 1 || f.opcode === 2) {
      if (open) return false;
      open = !f.fin;
    } else return false;
  }
  return !open;
}

/** The id every case uses for its own user, and for the peer it may write to. */
export const CASE_USERS = { self: SELF, peer: PEERS[0] } as const;
