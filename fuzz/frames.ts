/**
 * Fuzz case generators (fast-check arbitraries) at the WebSocket frame level: valid traffic
 * (fragmented messages with interleaved control frames, every length form, valid UTF-8 split
 * anywhere), the same traffic mutated (bit flips, reserved bits and opcodes, unmasked frames,
 * broken lengths, truncation, invalid UTF-8, close frames with any code), random bytes after a
 * valid handshake, and mutated HTTP upgrade requests. Every case is cut into writes at random
 * points, so that the server sees every frame split across reads.
 *
 * A generator is an `fc.Arbitrary<Case>`; {@linkcode GENERATORS} names them for `--generators`,
 * and other generators (e.g. JSON-level ones against the whole relay) are added the same way.
 *
 * @module
 */
import fc from "fast-check";
import { concat, encodeFrame, type FrameSpec } from "../conformance/wire.ts";
import { upgradeHeaders } from "../testing/raw_socket.ts";

/** One fuzz case: bytes to write on a fresh connection, in this many writes. */
export interface Case {
  /** The generator's name. */
  generator: string;
  /** Written from the start of the TCP connection (HTTP included) instead of after a valid upgrade. */
  raw: boolean;
  chunks: Uint8Array[];
  /** Frames in the case (as generated; the server may stop reading earlier). */
  frames: number;
  /** The case is valid traffic: the server must still answer a ping after it. */
  valid: boolean;
}

/** A case generator. */
export type CaseGenerator = fc.Arbitrary<Case>;

const encoder = new TextEncoder();

/** Cuts `bytes` at the given points (fractions of its length) into writes. */
function cut(bytes: Uint8Array, points: number[]): Uint8Array[] {
  const offsets = [...new Set(points.map((p) => Math.floor(p * bytes.length)))]
    .filter((o) => o > 0 && o < bytes.length).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const offset of [...offsets, bytes.length]) {
    chunks.push(bytes.subarray(at, offset));
    at = offset;
  }
  return chunks.filter((c) => c.length > 0);
}

const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 });

/** A payload: small random bytes, or a long run (every length form: 7, 16 and 64 bits). */
const payloadBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 140 }) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 126, max: 70_000 }), fc.integer({ min: 0, max: 255 }))
      .map(([n, b]) => new Uint8Array(n).fill(b)),
  },
);

const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 30 }) },
  { weight: 1, arbitrary: fc.integer({ min: 126, max: 40_000 }).map((n) => "é".repeat(n >> 1)) },
);

const maskKey: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }),
  fc.constant(new Uint8Array(4)),
);

const control: fc.Arbitrary<FrameSpec> = fc.record({
  opcode: fc.constantFrom(9, 10),
  payload: fc.uint8Array({ maxLength: 125 }),
  mask: maskKey,
});

/** One valid message as frames: split into fragments, control frames between them. */
const message: fc.Arbitrary<FrameSpec[]> = fc.record({
  binary: fc.boolean(),
  text,
  bytes: payloadBytes,
  points: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
  controls: fc.array(control, { maxLength: 2 }),
  mask: maskKey,
}).map(({ binary, text, bytes, points, controls, mask }) => {
  const payload = binary ? bytes : encoder.encode(text);
  // Fragments may split a UTF-8 sequence: the message stays valid.
  const parts = points.length === 0 ? [payload] : cut(payload, points);
  const frames: FrameSpec[] = [];
  parts.forEach((part, i) => {
    frames.push({
      opcode: i === 0 ? (binary ? 2 : 1) : 0,
      payload: part,
      fin: i === parts.length - 1,
      mask,
    });
    if (i < controls.length && i < parts.length - 1) frames.push(controls[i]);
  });
  if (parts.length === 0) frames.push({ opcode: binary ? 2 : 1, payload, mask });
  return frames;
});

const validFrames: fc.Arbitrary<FrameSpec[]> = fc.tuple(
  fc.array(
    fc.oneof({ weight: 4, arbitrary: message }, { weight: 1, arbitrary: control.map((c) => [c]) }),
    {
      minLength: 1,
      maxLength: 8,
    },
  ),
  fc.option(fc.constantFrom(1000, 1001, 3000, 4999), { freq: 4 }),
).map(([messages, close]) => {
  const frames = messages.flat();
  if (close !== null) {
    frames.push({ opcode: 8, payload: new Uint8Array([close >> 8, close & 255]) });
  }
  return frames;
});

/** Valid traffic, cut into random writes. */
export const valid: CaseGenerator = fc.tuple(validFrames, cuts).map(([frames, points]) => ({
  generator: "valid",
  raw: false,
  chunks: cut(concat(frames.map(encodeFrame)), points),
  frames: frames.length,
  valid: !frames.some((f) => f.opcode === 8),
}));

/** A mutation of one encoded frame (or of the frame list). */
type Mutation = (frames: Uint8Array[], at: number, value: number) => Uint8Array[];

const flip = (frame: Uint8Array, index: number, bits: number) => {
  const copy = frame.slice();
  if (copy.length > 0) copy[index % copy.length] ^= bits || 1;
  return copy;
};

const replace = (frames: Uint8Array[], at: number, frame: Uint8Array) =>
  frames.map((f, i) => i === at % frames.length ? frame : f);

const MUTATIONS: Record<string, Mutation> = {
  "bit flip": (frames, at, value) =>
    replace(frames, at, flip(frames[at % frames.length], value >> 8, 1 << (value & 7))),
  "header bit flip": (frames, at, value) =>
    replace(frames, at, flip(frames[at % frames.length], value & 1, 1 << ((value >> 1) & 7))),
  "reserved bits": (frames, at, value) =>
    replace(frames, at, flip(frames[at % frames.length], 0, ((value % 7) + 1) << 4)),
  opcode: (frames, at, value) => {
    const frame = frames[at % frames.length].slice();
    frame[0] = (frame[0] & 0xf0) | (value & 0x0f);
    return replace(frames, at, frame);
  },
  unmasked: (frames, at) => replace(frames, at, flip(frames[at % frames.length], 1, 0x80)),
  "huge length": (frames, at, value) => {
    const frame = frames[at % frames.length].slice();
    frame[1] = (frame[1] & 0x80) | (value & 1 ? 126 : 127);
    return replace(frames, at, frame);
  },
  truncate: (frames, _at, value) => {
    const whole = concat(frames);
    return [whole.subarray(0, value % Math.max(1, whole.length))];
  },
  "drop frame": (frames, at) => frames.filter((_, i) => i !== at % frames.length),
  duplicate: (
    frames,
    at,
  ) => [...frames.slice(0, at % frames.length + 1), ...frames.slice(at % frames.length)],
  "invalid UTF-8": (frames, at, value) => {
    const bad = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]][
      value % 5
    ];
    const frame = encodeFrame({
      opcode: 1,
      payload: new Uint8Array([0x61, ...bad]),
      fin: (value & 8) === 0,
    });
    return replace(frames, at, frame);
  },
  "close code": (frames, at, value) => {
    const code = value & 0xffff;
    const reason = value & 0x10000 ? new Uint8Array([0xff]) : encoder.encode("r");
    return [
      ...frames.slice(0, at % frames.length),
      encodeFrame({ opcode: 8, payload: new Uint8Array([code >> 8, code & 255, ...reason]) }),
    ];
  },
  "one-byte close": (
    frames,
    at,
    value,
  ) => [
    ...frames.slice(0, at % frames.length),
    encodeFrame({ opcode: 8, payload: new Uint8Array([value & 255]) }),
  ],
  garbage: (frames, at, value) => {
    const noise = new Uint8Array(1 + (value % 40));
    for (let i = 0; i < noise.length; i++) noise[i] = (value * (i + 7) * 2654435761) >>> 24;
    return [...frames.slice(0, at % frames.length), noise, ...frames.slice(at % frames.length)];
  },
};

const mutation = fc.tuple(
  fc.constantFrom(...Object.keys(MUTATIONS)),
  fc.nat(),
  fc.nat({ max: 2 ** 30 }),
);

/** Valid traffic with one to three mutations, cut into random writes. */
export const mutated: CaseGenerator = fc.tuple(
  validFrames,
  fc.array(mutation, { minLength: 1, maxLength: 3 }),
  cuts,
).map(([frames, mutations, points]) => {
  let encoded: Uint8Array[] = frames.map(encodeFrame);
  for (const [name, at, value] of mutations) {
    if (encoded.length === 0) break;
    encoded = MUTATIONS[name](encoded, at, value);
  }
  return {
    generator: "mutated",
    raw: false,
    chunks: cut(concat(encoded), points),
    frames: encoded.length,
    valid: false,
  };
});

/** Random bytes after a valid upgrade. */
export const noise: CaseGenerator = fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 600 }), cuts)
  .map(([bytes, points]) => ({
    generator: "noise",
    raw: false,
    chunks: cut(bytes, points),
    frames: 1,
    valid: false,
  }));

/** Upgrade requests with headers dropped, changed or mangled, some followed by frames. */
export const handshake: CaseGenerator = fc.tuple(
  fc.array(
    fc.tuple(
      fc.constantFrom("drop", "value", "name", "bytes", "duplicate"),
      fc.nat({ max: 5 }),
      fc.string({ maxLength: 30 }),
      fc.uint8Array({ maxLength: 30 }),
    ),
    { maxLength: 3 },
  ),
  fc.constantFrom(
    "GET / HTTP/1.1",
    "GET /ws?token=x HTTP/1.1",
    "POST / HTTP/1.1",
    "GET / HTTP/1.0",
    "GET / HTTP/2",
    "GET  / HTTP/1.1",
    "get / HTTP/1.1",
  ),
  fc.option(validFrames, { freq: 2 }),
  // The end of the head: right, a bare LF, or missing (the header timeout must end it).
  fc.constantFrom("\r\n", "\r\n", "\n", ""),
  cuts,
).map(([edits, line, frames, ending, points]) => {
  let headers = Object.entries(upgradeHeaders(1)).map(([k, v]) => `${k}: ${v}`);
  const extra: Uint8Array[] = [];
  for (const [kind, index, text, bytes] of edits) {
    const i = index % headers.length;
    if (kind === "drop") headers = headers.filter((_, j) => j !== i);
    else if (kind === "value") headers[i] = `${headers[i].split(":")[0]}: ${text}`;
    else if (kind === "name") headers[i] = `${text}: ${headers[i].split(": ")[1] ?? ""}`;
    else if (kind === "duplicate") headers.push(headers[i]);
    else extra.push(bytes);
  }
  const head = encoder.encode(`${line}\r\n${headers.map((h) => h + "\r\n").join("")}`);
  const parts = [head, ...extra, encoder.encode(ending), ...(frames ?? []).map(encodeFrame)];
  return {
    generator: "handshake",
    raw: true,
    chunks: cut(concat(parts), points),
    frames: (frames?.length ?? 0) + 1,
    valid: false,
  };
});

/** The frame-level generators by name, with their share of the cases. */
export const GENERATORS: Record<string, { arbitrary: CaseGenerator; weight: number }> = {
  valid: { arbitrary: valid, weight: 3 },
  mutated: { arbitrary: mutated, weight: 5 },
  noise: { arbitrary: noise, weight: 1 },
  handshake: { arbitrary: handshake, weight: 1 },
};
