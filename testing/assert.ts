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

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = abstract new (...args: any[]) => E;

function checkError<E extends Error>(
  error: unknown,
  errorClass?: ErrorClass<E> | string,
  includes?: string,
): E {
  if (typeof errorClass === "string" || errorClass === undefined) return error as E;
  if (!(error instanceof errorClass)) {
    throw new nodeAssert.AssertionError({
      message: `expected error of class ${errorClass.name}, got ${String(error)}`,
    });
  }
  if (includes !== undefined && !error.message.includes(includes)) {
    throw new nodeAssert.AssertionError({
      message: `expected error message to include ${JSON.stringify(includes)}: ${error.message}`,
    });
  }
  return error;
}

/** Asserts that `fn` throws (an instance of `errorClass`, whose message includes `includes`). */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  errorClass?: ErrorClass<E> | string,
  includes?: string,
): E {
  try {
    fn();
  } catch (error) {
    return checkError(error, errorClass, includes);
  }
  const msg = typeof errorClass === "string" ? errorClass : undefined;
  throw new nodeAssert.AssertionError({ message: msg ?? "expected function to throw" });
}

/** Asserts that `fn` rejects (with an instance of `errorClass`, whose message includes `includes`). */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  errorClass?: ErrorClass<E> | string,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, errorClass, includes);
  }
  const msg = typeof errorClass === "string" ? errorClass : undefined;
  throw new nodeAssert.AssertionError({ message: msg ?? "expected promise to reject" });
}

/** Fails the test with `msg`. */
export function fail(msg?: string): never {
  throw new nodeAssert.AssertionError({ message: msg ?? "failed" });
}
