/**
 * Per-connection limits that cost nothing when unused: a token bucket refilled on demand
 * (no timers) and a frame size check that only encodes long frames.
 *
 * @module
 */
import { DEFAULT_LIMITS, type Limits } from "../schemas/protocol.ts";

/**
 * The limits in force: `DEFAULT_LIMITS` overridden by `partial`; throws on a value that is not a
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

const encoder = new TextEncoder();
let scratch = new Uint8Array(0);

/** Whether a text frame is over `maxBytes` UTF-8 bytes; short frames are decided by length alone. */
export function tooLarge(text: string, maxBytes: number): boolean {
  if (text.length * 3 <= maxBytes) return false;
  if (text.length > maxBytes) return true;
  // Encoding into exactly maxBytes stops early when the text needs more: native speed, where a
  // JavaScript loop over a 60 KiB frame cost more than relaying it.
  if (scratch.length < maxBytes) scratch = new Uint8Array(maxBytes);
  return encoder.encodeInto(text, scratch.subarray(0, maxBytes)).read < text.length;
}

/** The UTF-8 length of `text` in bytes (a lone surrogate counts as U+FFFD, as encoders write it). */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n++;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // four bytes for two code units
        i++;
      } else n += 2;
    } else n += 2;
  }
  return n;
}
