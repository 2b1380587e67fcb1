/**
 * UTF-8 for text messages and close reasons: a strict decoder (no replacement characters, a
 * leading BOM kept as data) and a streaming one for messages split across fragments, which
 * refuses an invalid sequence in the fragment where it becomes certain, even when it is split
 * between two fragments.
 *
 * Measured on this machine (`deno bench reference/ws/utf8_bench.ts`): Deno's native
 * `TextDecoder` with `fatal: true` validates and decodes at once and beats a JavaScript DFA
 * validator followed by a decode, so both paths use it.
 *
 * @module
 */

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes `bytes` as strict UTF-8; undefined when they are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strict.decode(bytes);
  } catch {
    return undefined;
  }
}

/** A text message arriving in fragments, decoded as it comes (never the raw bytes kept). */
export class Utf8Stream {
  #decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  #parts: string[] = [];

  /** Decodes one fragment; false when the message can no longer be valid UTF-8. */
  push(bytes: Uint8Array): boolean {
    try {
      const part = this.#decoder.decode(bytes, { stream: true });
      if (part.length > 0) this.#parts.push(part);
      return true;
    } catch {
      return false;
    }
  }

  /** Decodes the final fragment; the whole message, or undefined when it ends mid-sequence. */
  finish(bytes: Uint8Array): string | undefined {
    try {
      const last = this.#decoder.decode(bytes);
      this.#parts.push(last);
      return this.#parts.join("");
    } catch {
      return undefined;
    }
  }
}
