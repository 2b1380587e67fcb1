/**
 * A session's transport without a socket, for tests of the session state machine: it records
 * the frames a session writes and the closes it asks for; `bufferedAmount` is whatever the test
 * sets.
 *
 * @module
 */
import type { Transport } from "../reference/session.ts";

/** A {@linkcode Transport} that records instead of sending. */
export class FakeTransport implements Transport {
  /** Frames written and not yet taken. */
  readonly sent: string[] = [];
  /** Every close asked for, as `[code, reason]`. */
  readonly closes: [number, string][] = [];
  /** Unsent bytes, as the test wants the session to see them. */
  bufferedAmount = 0;
  #closed!: (code: number) => void;
  /** Resolves with the code of the first close asked for. */
  readonly firstClose: Promise<number> = new Promise((resolve) => this.#closed = resolve);

  send(text: string): void {
    this.sent.push(text);
  }

  close(code: number, reason: string): void {
    this.closes.push([code, reason]);
    this.#closed(code);
  }

  /** The frames written so far, parsed as JSON, and forgotten. */
  take(): Record<string, unknown>[] {
    return this.sent.splice(0).map((text) => JSON.parse(text));
  }
}
