/**
 * `deno bench reference/ws/utf8_bench.ts`: strict UTF-8 validation + decoding of a text
 * message, Deno's native `TextDecoder` (`fatal: true`) against a JavaScript DFA validator
 * (Hoehrmann's) followed by a non-fatal decode, and `decodeUtf8`'s ASCII path; and the
 * streaming decoder on fragments.
 */
import { decodeUtf8, Utf8Stream } from "./utf8.ts";

const encoder = new TextEncoder();
const ascii = encoder.encode(JSON.stringify({
  mine: { username: "user A", avatar: "", id: "1001", mine: true, content: "x".repeat(100) },
  to: { username: "friend", id: "1002", avatar: "", type: "friend" },
}));
const chinese = encoder.encode("你好，世界 face[微笑] ".repeat(20));
const large = encoder.encode("é".repeat(30_000));

// Björn Höhrmann's UTF-8 DFA (character classes, then states ×12).
const CLASS = new Uint8Array(256);
for (let c = 0x80; c <= 0x8f; c++) CLASS[c] = 1;
for (let c = 0x90; c <= 0x9f; c++) CLASS[c] = 9;
for (let c = 0xa0; c <= 0xbf; c++) CLASS[c] = 7;
CLASS[0xc0] = CLASS[0xc1] = 8;
for (let c = 0xc2; c <= 0xdf; c++) CLASS[c] = 2;
CLASS[0xe0] = 10;
for (let c = 0xe1; c <= 0xef; c++) CLASS[c] = 3;
CLASS[0xed] = 4;
CLASS[0xf0] = 11;
for (let c = 0xf1; c <= 0xf3; c++) CLASS[c] = 6;
CLASS[0xf4] = 5;
for (let c = 0xf5; c <= 0xff; c++) CLASS[c] = 8;
const TRANSITIONS = [
  0,
  12,
  24,
  36,
  60,
  96,
  84,
  12,
  12,
  12,
  48,
  72,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  0,
  12,
  12,
  12,
  12,
  12,
  0,
  12,
  0,
  12,
  12,
  12,
  24,
  12,
  12,
  12,
  12,
  12,
  24,
  12,
  24,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  24,
  12,
  12,
  12,
  12,
  12,
  24,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  24,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  36,
  12,
  36,
  12,
  12,
  12,
  36,
  12,
  12,
  12,
  12,
  12,
  36,
  12,
  36,
  12,
  12,
  12,
  36,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
  12,
];
const STATES = new Uint8Array(TRANSITIONS);
function validDfa(bytes: Uint8Array): boolean {
  let state = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b < 0x80 && state === 0) continue;
    state = STATES[state + CLASS[b]];
    if (state === 12) return false;
  }
  return state === 0;
}
const lenient = new TextDecoder();
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

for (
  const [name, bytes] of [["ascii JSON 250 B", ascii], ["chinese 560 B", chinese], [
    "60 KB",
    large,
  ]] as const
) {
  Deno.bench(`TextDecoder fatal: ${name}`, { group: name, baseline: true }, () => {
    try {
      strict.decode(bytes);
    } catch {
      // not reached: the inputs are valid
    }
  });
  Deno.bench(`JS DFA + decode: ${name}`, { group: name }, () => {
    if (validDfa(bytes)) lenient.decode(bytes);
  });
}

Deno.bench("decodeUtf8 (ASCII scan first): ascii JSON 250 B", { group: "ascii JSON 250 B" }, () => {
  decodeUtf8(ascii);
});

Deno.bench("Utf8Stream: 60 KB in 16 fragments", () => {
  const stream = new Utf8Stream();
  const step = Math.ceil(large.length / 16);
  for (let at = 0; at + step < large.length; at += step) stream.push(large.subarray(at, at + step));
  stream.finish(large.subarray(Math.floor(large.length / step) * step));
});
