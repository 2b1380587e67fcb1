/**
 * Buffers shared by the connections of one server, so that an idle connection holds almost
 * nothing: small fixed-size read slots carved out of shared slabs (no backing store of their
 * own), and pools of larger buffers that busy connections borrow and give back.
 *
 * @module
 */

/** Fixed-size views into shared 64 KiB slabs; a freed slot is reused by the next taker. */
export class SlotPool {
  /** Bytes per slot. */
  readonly size: number;
  #free: Uint8Array[] = [];
  #slab = new Uint8Array(0);
  #at = 0;

  constructor(size: number) {
    this.size = size;
  }

  /** A slot (its bytes are not cleared). */
  take(): Uint8Array {
    const free = this.#free.pop();
    if (free !== undefined) return free;
    if (this.#at + this.size > this.#slab.length) {
      this.#slab = new Uint8Array(Math.max(65536, this.size));
      this.#at = 0;
    }
    const slot = this.#slab.subarray(this.#at, this.#at + this.size);
    this.#at += this.size;
    return slot;
  }

  /** Returns a slot taken from this pool. */
  give(slot: Uint8Array): void {
    this.#free.push(slot);
  }
}

/** Buffers of one size, at most `keep` of them kept for reuse. */
export class BufferPool {
  /** Bytes per buffer. */
  readonly size: number;
  readonly #keep: number;
  #free: Uint8Array[] = [];

  constructor(size: number, keep: number) {
    this.size = size;
    this.#keep = keep;
  }

  /** A buffer of {@linkcode BufferPool.size} bytes (not cleared). */
  take(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(this.size);
  }

  /** Gives back a buffer; one of another size is left to the garbage collector. */
  give(buffer: Uint8Array): void {
    if (buffer.length === this.size && this.#free.length < this.#keep) this.#free.push(buffer);
  }
}
