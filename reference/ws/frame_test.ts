import { assertEquals } from "@std/assert";
import {
  closePayload,
  headerError,
  isValidCloseCode,
  newHeader,
  parseClose,
  parseHeader,
  unmask,
  writeHeader,
} from "./frame.ts";
import { encodeFrame } from "../../conformance/wire.ts";
import { decodeUtf8 } from "./utf8.ts";

function header(bytes: Uint8Array) {
  const h = newHeader();
  return parseHeader(bytes, 0, bytes.length, h) ? h : null;
}

Deno.test("parseHeader reads 7-bit, 16-bit and 64-bit lengths and the masking key", () => {
  for (const n of [0, 125, 126, 65535, 65536, 100_000]) {
    const mask = new Uint8Array([1, 2, 3, 4]);
    const bytes = encodeFrame({ opcode: 2, payload: new Uint8Array(n), mask });
    const h = header(bytes)!;
    assertEquals(
      [h.fin, h.opcode, h.masked, h.length, h.headerLength, h.mask],
      [true, 2, true, n, (n < 126 ? 2 : n < 65536 ? 4 : 10) + 4, 0x04030201],
    );
  }
});

Deno.test("parseHeader waits for every byte of the header, the masking key included", () => {
  const bytes = encodeFrame({ opcode: 1, payload: new Uint8Array(300) });
  for (let end = 0; end < 8; end++) assertEquals(parseHeader(bytes, 0, end, newHeader()), false);
  assertEquals(parseHeader(bytes, 0, 8, newHeader()), true);
});

Deno.test("parseHeader reports FIN and the reserved bits", () => {
  const h = header(encodeFrame({ opcode: 0, fin: false, rsv: 4 }))!;
  assertEquals([h.fin, h.rsv, h.opcode], [false, 0x40, 0]);
});

Deno.test("headerError: what RFC 6455 §5 makes a protocol error (1002)", () => {
  const error = (spec: Parameters<typeof encodeFrame>[0], inMessage = false) =>
    headerError(header(encodeFrame(spec))!, inMessage);
  assertEquals(error({ opcode: 1, payload: "hi" }), 0);
  assertEquals(error({ opcode: 1, payload: "hi", masked: false }), 1002, "unmasked");
  for (const rsv of [1, 2, 4]) assertEquals(error({ opcode: 1, rsv }), 1002, `rsv ${rsv}`);
  for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    assertEquals(error({ opcode }), 1002, `opcode ${opcode}`);
  }
  for (const opcode of [8, 9, 10]) {
    assertEquals(error({ opcode, payload: new Uint8Array(125) }), 0);
    assertEquals(error({ opcode, payload: new Uint8Array(126) }), 1002, "control > 125");
    assertEquals(error({ opcode, fin: false }), 1002, "fragmented control");
    assertEquals(error({ opcode }, true), 0, "control inside a message");
  }
  assertEquals(error({ opcode: 0 }), 1002, "continuation without a message");
  assertEquals(error({ opcode: 0 }, true), 0);
  assertEquals(error({ opcode: 1 }, true), 1002, "text inside a message");
  assertEquals(error({ opcode: 2 }, true), 1002, "binary inside a message");
});

Deno.test("headerError refuses a 64-bit length with its top bit set", () => {
  const bytes = new Uint8Array([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4]);
  assertEquals(headerError(header(bytes)!, false), 1002);
});

Deno.test("unmask matches a byte-by-byte XOR at every length and alignment", () => {
  const mask = new Uint8Array([0x12, 0x34, 0x56, 0x78]);
  const word = 0x78563412;
  for (const length of [0, 1, 3, 4, 31, 32, 33, 100, 1000]) {
    for (const offset of [0, 1, 2, 3]) {
      const data = crypto.getRandomValues(new Uint8Array(length + offset + 8));
      const expected = data.slice();
      for (let i = 0; i < length; i++) expected[offset + i] ^= mask[i & 3];
      unmask(data, offset, offset + length, word);
      assertEquals(data, expected, `length ${length}, offset ${offset}`);
    }
  }
});

Deno.test("writeHeader writes unmasked final frames with the shortest length form", () => {
  for (
    const [n, bytes] of [[5, [0x81, 5]], [200, [0x81, 126, 0, 200]], [
      70000,
      [0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70],
    ]] as const
  ) {
    const out = new Uint8Array(10);
    const end = writeHeader(out, 0, 1, n);
    assertEquals([...out.subarray(0, end)], [...bytes]);
  }
});

Deno.test("close codes: 1000–1003, 1007–1014 and 3000–4999 only", () => {
  const valid = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    4999,
  ];
  const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535];
  for (const code of valid) assertEquals(isValidCloseCode(code), true, String(code));
  for (const code of invalid) assertEquals(isValidCloseCode(code), false, String(code));
});

Deno.test("parseClose: empty is 1005; one byte or a bad code is 1002; a bad reason is 1007", () => {
  assertEquals(parseClose(new Uint8Array(0), decodeUtf8), { code: 1005, reason: "" });
  assertEquals(parseClose(new Uint8Array([3]), decodeUtf8), { error: 1002 });
  for (const code of [1005, 1006, 1015, 1004, 999, 5000]) {
    assertEquals(parseClose(new Uint8Array([code >> 8, code & 255]), decodeUtf8), { error: 1002 });
  }
  assertEquals(parseClose(new Uint8Array([3, 232, 0xc3]), decodeUtf8), { error: 1007 });
  assertEquals(parseClose(closePayload(4001, "é"), decodeUtf8), { code: 4001, reason: "é" });
});

Deno.test("closePayload refuses codes that may not be sent and reasons over 123 bytes", () => {
  for (const code of [1005, 1006, 1015, 999, 5000, 1000.5]) {
    let threw = false;
    try {
      closePayload(code, "");
    } catch (error) {
      threw = error instanceof RangeError;
    }
    assertEquals(threw, true, String(code));
  }
  assertEquals(closePayload(1000, "x".repeat(123)).length, 125);
  let threw = false;
  try {
    closePayload(1000, "x".repeat(124));
  } catch {
    threw = true;
  }
  assertEquals(threw, true);
});
