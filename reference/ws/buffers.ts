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

/** Buffer sizes the pools hold, and how many of each they keep for reuse. */
const CLASSES = [1024, 4096, 16384, 65536];
const KEEP = [1024, 256, 64, 16];

/**
 * Buffers in four size classes (1, 4, 16 and 64 KiB), a bounded number of each kept for reuse:
 * a connection borrows the smallest that fits for as long as bytes wait in it.
 */
export class BufferPools {
  /** The largest pooled size; larger requests get a buffer of their own. */
  readonly max = CLASSES[CLASSES.length - 1];
  #free: Uint8Array[][] = CLASSES.map(() => []);

  /** A buffer of at least `min` bytes (not cleared). */
  take(min: number): Uint8Array {
    for (let i = 0; i < CLASSES.length; i++) {
      if (min <= CLASSES[i]) return this.#free[i].pop() ?? new Uint8Array(CLASSES[i]);
    }
    return new Uint8Array(min);
  }

  /** Gives back a buffer; one that is not of a class size is left to the garbage collector. */
  give(buffer: Uint8Array): void {
    const i = CLASSES.indexOf(buffer.length);
    if (i >= 0 && this.#free[i].length < KEEP[i]) this.#free[i].push(buffer);
  }
}
