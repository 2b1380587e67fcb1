/**
 * Waiting with a deadline, never a sleep to synchronise: {@linkcode settles} bounds one
 * promise; {@linkcode until} re-checks a condition whenever a {@linkcode Wakeup} says something
 * happened (or polls, for state nothing announces) until it holds or time is up.
 *
 * ```ts
 * import { until, Wakeup } from "./wait.ts";
 * const frames: string[] = [];
 * const wakeup = new Wakeup();
 * setTimeout(() => {
 *   frames.push("hello");
 *   wakeup.wake();
 * }, 10);
 * await until(() => frames.length > 0, 1000, wakeup); // true, 10 ms later
 * ```
 *
 * @module
 */

/** How often {@linkcode until} re-checks a condition that no {@linkcode Wakeup} announces. */
const POLL_MS = 5;

/** Resolves true when `promise` settles within `ms`, false otherwise (the timer is cleared). */
export async function settles(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Tells the waiters of {@linkcode until} that what they wait for may have happened. */
export class Wakeup {
  #next: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  /** Wakes every current waiter (call it after each event). */
  wake(): void {
    this.#wake?.();
    this.#next = this.#wake = undefined;
  }

  /** Resolves at the next {@linkcode wake}. */
  next(): Promise<void> {
    return this.#next ??= new Promise((resolve) => this.#wake = resolve);
  }
}

/**
 * Resolves true once `ready()` holds, false when `timeoutMs` passes first. `ready` is checked
 * at once, then after each `wakeup.wake()`, or every few milliseconds without a wakeup.
 */
export async function until(
  ready: () => boolean | Promise<boolean>,
  timeoutMs: number,
  wakeup?: Wakeup,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Taken before the check, so that a wake while `ready` runs is not missed.
    const woken = wakeup?.next();
    if (await ready()) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    await settles(woken ?? new Promise(() => {}), woken ? left : Math.min(left, POLL_MS));
  }
}

/** Waits until `condition` holds; throws `WHAT not met within N ms` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 1000,
  what = "condition",
): Promise<void> {
  if (!await until(condition, timeoutMs)) {
    throw new Error(`${what} not met within ${timeoutMs} ms`);
  }
}
