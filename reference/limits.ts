/**
 * Per-connection limits that cost nothing when unused: a token bucket refilled on demand
 * (no timers) and a frame size check that only counts UTF-8 bytes for long frames.
 *
 * @module
 */
import { DEFAULT_LIMITS, type Limits } from "../schemas/protocol.ts";

/**
 * The limits in force: defaults overridden by `partial`; throws on a value that is not a
 * positive integer (`ready.limits` advertises integers).
 */
export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS, ...partial };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`limit ${name} must be a positive integer, got ${value}`);
    }
  }
  return limits;
}

/**
 * A token bucket: `burst` tokens, refilled at `rate` tokens per second, computed from the
 * clock (milliseconds, `Date.now()` by default) when a token is taken.
 */
export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #last: number;

  constructor(ratePerSecond: number, burst: number, now: number = Date.now()) {
    this.#rate = ratePerSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = now;
  }

  /** Takes one token; false when the bucket is empty (the frame is over the rate). */
  take(now: number = Date.now()): boolean {
    let tokens = this.#tokens + (now - this.#last) * this.#rate;
    if (tokens > this.#burst) tokens = this.#burst;
    this.#last = now;
    if (tokens < 1) {
      this.#tokens = tokens;
      return false;
    }
    this.#tokens = tokens - 1;
    return true;
  }
}

/** The UTF-8 byte length of `text`, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair: 2 UTF-16 units, 4 UTF-8 bytes.
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        bytes += 2;
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}

/** Whether a text frame is over `maxBytes` UTF-8 bytes; short frames are decided by length alone. */
export function tooLarge(text: string, maxBytes: number): boolean {
  if (text.length * 3 <= maxBytes) return false;
  if (text.length > maxBytes) return true;
  return utf8Length(text) > maxBytes;
}
