/**
 * The subset of `@std/assert` this project uses, implemented on `node:assert/strict`
 * because JSR is unreachable here. Tests import it as `@std/assert`; switching back to
 * the real package is the one import-map line in `deno.json`.
 *
 * @module
 */
import * as nodeAssert from "node:assert/strict";

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg?: string): asserts expr {
  nodeAssert.ok(expr, msg);
}

/** Asserts deep equality of `actual` and `expected`. */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** Asserts that `actual` and `expected` are not deeply equal. */
export function assertNotEquals(actual: unknown, expected: unknown, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

/** Asserts `Object.is(actual, expected)`. */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  nodeAssert.strictEqual(actual, expected, msg);
}

/** Asserts that `actual` is neither `null` nor `undefined`. */
export function assertExists<T>(actual: T, msg?: string): asserts actual is NonNullable<T> {
  nodeAssert.ok(actual !== null && actual !== undefined, msg ?? `expected a value, got ${actual}`);
}

/** Asserts that `actual` matches `expected`. */
export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.match(actual, expected, msg);
}

/** Asserts that `actual` contains `expected`. */
export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  nodeAssert.ok(
    actual.includes(expected),
    msg ?? `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
  );
}

/** Asserts that `fn` throws; returns the error. */
export function assertThrows(fn: () => unknown, msg?: string): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new nodeAssert.AssertionError({ message: msg ?? "expected function to throw" });
}

/** Asserts that `fn` rejects; resolves to the error. */
export async function assertRejects(
  fn: () => PromiseLike<unknown>,
  msg?: string,
): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new nodeAssert.AssertionError({ message: msg ?? "expected promise to reject" });
}

/** Fails the test with `msg`. */
export function fail(msg?: string): never {
  throw new nodeAssert.AssertionError({ message: msg ?? "failed" });
}
