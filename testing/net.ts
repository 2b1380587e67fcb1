/**
 * Network helpers for tests: a client on the standard `WebSocket` API that queues what it
 * receives and waits for it with timeouts, and a free port.
 *
 * `TestClient` stays on the standard API on purpose. The page and browsers reach the relay
 * through that API, and Deno's implementation of it is a second RFC 6455 client, independent of
 * the runner's `WireClient` (`conformance/wire.ts`), so a framing bug shared by `WireClient` and
 * the relay's transport cannot hide from the relay's tests. Its users need nothing the API
 * lacks (send, next, expect a close or silence, close), and they include the fuzzer's canary
 * and peer, which run for the whole of a long fuzz run: `WireClient` keeps every frame for its
 * transcript, this client drops what a test has taken. For what the API cannot do (an Origin
 * header, dropping TCP without a close frame, raw frames) tests use `WireClient`; for a socket
 * that does nothing by itself (never reads, never answers a ping), `testing/raw_socket.ts`.
 *
 * @module
 */
import { settles, until, Wakeup } from "./wait.ts";

/** How a WebSocket ended. */
export interface Closed {
  code: number;
  reason: string;
}

/** A WebSocket client whose received frames wait in a queue until a test takes them. */
export class TestClient {
  /** The underlying socket. */
  readonly socket: WebSocket;
  #frames: (string | ArrayBuffer)[] = [];
  #closed: Closed | undefined;
  #wakeup = new Wakeup();
  #done: Promise<void>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (e) => {
      this.#frames.push(e.data);
      this.#wakeup.wake();
    };
    this.#done = new Promise((resolve) => {
      socket.addEventListener("close", (e) => {
        this.#closed = { code: e.code, reason: e.reason };
        this.#wakeup.wake();
        resolve();
      });
    });
  }

  /** Opens a connection; rejects when the upgrade fails or takes longer than `timeoutMs`. */
  static async connect(
    url: string,
    protocols?: string | string[],
    timeoutMs = 2000,
  ): Promise<TestClient> {
    const socket = new WebSocket(url, protocols);
    const client = new TestClient(socket);
    const opened = new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () =>
        client.#done.then(() => reject(new Error(`connection to ${url} failed`)));
    });
    if (!await settles(opened, timeoutMs)) {
      socket.close();
      throw new Error(`no open within ${timeoutMs} ms`);
    }
    return client;
  }

  /** The subprotocol the server selected ("" for none). */
  get protocol(): string {
    return this.socket.protocol;
  }

  /** Sends a string as is, or any other value as JSON. */
  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The next received text frame; throws on a timeout, a binary frame or a close. */
  async next(timeoutMs = 1000): Promise<string> {
    await until(
      () => this.#frames.length > 0 || this.#closed !== undefined,
      timeoutMs,
      this.#wakeup,
    );
    const frame = this.#frames.shift();
    if (frame === undefined) {
      throw new Error(
        this.#closed
          ? `closed (${this.#closed.code} ${this.#closed.reason}) instead of a frame`
          : `no frame within ${timeoutMs} ms`,
      );
    }
    if (typeof frame !== "string") throw new Error("received a binary frame");
    return frame;
  }

  /** The next received frame, parsed as JSON. */
  async nextJson<T = Record<string, unknown>>(timeoutMs = 1000): Promise<T> {
    return JSON.parse(await this.next(timeoutMs));
  }

  /**
   * Waits for the server to close the connection; throws when a frame comes first (unless
   * `skipFrames`) or nothing happens within `timeoutMs`.
   */
  async expectClose(timeoutMs = 1000, skipFrames = false): Promise<Closed> {
    await until(
      () => this.#closed !== undefined || (!skipFrames && this.#frames.length > 0),
      timeoutMs,
      this.#wakeup,
    );
    if (!skipFrames && this.#frames.length > 0) {
      throw new Error(`received ${this.#frames[0]} instead of a close`);
    }
    if (!this.#closed) throw new Error(`no close within ${timeoutMs} ms`);
    return this.#closed;
  }

  /** Asserts that nothing arrives (no frame, no close) for `ms`. */
  async expectSilence(ms = 100): Promise<void> {
    await until(() => this.#frames.length > 0 || this.#closed !== undefined, ms, this.#wakeup);
    if (this.#frames.length > 0) throw new Error(`unexpected frame ${this.#frames[0]}`);
    if (this.#closed) throw new Error(`unexpected close ${this.#closed.code}`);
  }

  /** Frames received and not yet taken. */
  get pending(): number {
    return this.#frames.length;
  }

  /** Closes (if still open) and waits for the close to complete. */
  async close(code = 1000, reason = ""): Promise<void> {
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(code, reason);
    await this.#done;
  }

  /** Resolves when the connection has closed, from either side. */
  get done(): Promise<void> {
    return this.#done;
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}
