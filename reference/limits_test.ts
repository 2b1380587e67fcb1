import { assertEquals, assertThrows } from "@std/assert";
import { DEFAULT_LIMITS } from "../schemas/protocol.ts";
import { resolveLimits, TokenBucket, tooLarge, utf8Length } from "./limits.ts";

Deno.test("token bucket allows a burst, then refills at the rate", () => {
  const bucket = new TokenBucket(10, 3, 0);
  assertEquals([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)], [
    true,
    true,
    true,
    false,
  ]);
  assertEquals(bucket.take(50), false); // half a token
  assertEquals(bucket.take(100), true); // 0.5 + 0.5
  assertEquals(bucket.take(10_000), true);
  assertEquals([bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)], [
    true,
    true,
    false,
  ]);
});

Deno.test("tooLarge decides short frames by length and long ones by UTF-8 bytes", () => {
  assertEquals(tooLarge("a".repeat(10), 30), false);
  assertEquals(tooLarge("a".repeat(31), 30), true);
  assertEquals(tooLarge("é".repeat(15), 30), false);
  assertEquals(tooLarge("é".repeat(16), 30), true);
  assertEquals(tooLarge("微".repeat(10), 30), false);
  assertEquals(tooLarge("微".repeat(11), 30), true);
  // A 4-byte character that would straddle the limit makes the frame too large.
  assertEquals(tooLarge("a".repeat(26) + "😀", 30), false);
  assertEquals(tooLarge("a".repeat(27) + "😀", 30), true);
});

Deno.test("tooLarge agrees with TextEncoder around the default limit", () => {
  const max = DEFAULT_LIMITS.maxFrameBytes;
  for (const unit of ["a", "é", "微", "😀"]) {
    for (const extra of [-1, 0, 1]) {
      const bytes = new TextEncoder().encode(unit).length;
      const text = unit.repeat(Math.floor(max / bytes) + extra);
      const expected = new TextEncoder().encode(text).length > max;
      assertEquals(tooLarge(text, max), expected, `${unit} × ${text.length / unit.length}`);
    }
  }
});

Deno.test("resolveLimits fills defaults and refuses values that are not positive integers", () => {
  assertEquals(resolveLimits(), { ...DEFAULT_LIMITS });
  assertEquals(resolveLimits({ rateBurst: 5 }).rateBurst, 5);
  assertThrows(() => resolveLimits({ maxFrameBytes: 0 }));
  assertThrows(() => resolveLimits({ ratePerSecond: Number.NaN }));
  assertThrows(() => resolveLimits({ idleTimeoutMs: 1.5 }));
});

Deno.test("utf8Length counts UTF-8 bytes like TextEncoder", () => {
  const encoder = new TextEncoder();
  for (
    const text of ["", "abc", "é", "用户", "😀", "a😀b用", "\ud800", "x\udc00y", "\ud800\ud800"]
  ) {
    assertEquals(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
  }
});
