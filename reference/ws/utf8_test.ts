import { assertEquals } from "@std/assert";
import { decodeUtf8, Utf8Stream } from "./utf8.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("decodeUtf8 refuses invalid UTF-8 instead of replacing it", () => {
  for (
    const bad of [
      bytes(0xff),
      bytes(0xc3),
      bytes(0xc0, 0x80), // overlong
      bytes(0xed, 0xa0, 0x80), // surrogate
      bytes(0xf4, 0x90, 0x80, 0x80), // above U+10FFFF
      bytes(0x61, 0x80),
    ]
  ) assertEquals(decodeUtf8(bad), undefined, [...bad].join(" "));
  assertEquals(decodeUtf8(new TextEncoder().encode("κόσμε 你好 😀")), "κόσμε 你好 😀");
});

Deno.test("decodeUtf8 keeps a leading byte order mark as data", () => {
  assertEquals(decodeUtf8(bytes(0xef, 0xbb, 0xbf, 0x61)), "\ufeffa");
});

Deno.test("Utf8Stream joins a code point split across fragments", () => {
  const s = new Utf8Stream();
  assertEquals(s.push(bytes(0x61, 0xf0, 0x9f)), true);
  assertEquals(s.push(bytes(0x98)), true);
  assertEquals(s.finish(bytes(0x80, 0x62)), "a😀b");
});

Deno.test("Utf8Stream fails in the fragment where the text becomes invalid", () => {
  const s = new Utf8Stream();
  assertEquals(s.push(bytes(0x61, 0xce)), true, "a valid start of a sequence");
  assertEquals(s.push(bytes(0x41)), false, "not a continuation byte");
  const t = new Utf8Stream();
  assertEquals(t.push(bytes(0xf4, 0x90)), false, "already above U+10FFFF after two bytes");
});

Deno.test("Utf8Stream fails a message that ends inside a sequence", () => {
  const s = new Utf8Stream();
  assertEquals(s.push(bytes(0x61, 0xe2, 0x82)), true);
  assertEquals(s.finish(bytes()), undefined);
});
