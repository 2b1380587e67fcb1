// @ts-check
/// <reference lib="dom" />
/**
 * The layim-ws protocol client for browsers.
 *
 * - Offers the `layim-ws.v1` subprotocol. A server that does not select it makes the browser
 *   fail the handshake; the client then connects again at once without it and, if that works,
 *   keeps the legacy profile (bare id as the first frame, `?token=` on the URL, no outcomes).
 * - v1: identifies, waits for `ready`, tags every message with a `ref` and reports its one
 *   outcome (`ack`, `undelivered` or `error`); sends `ping` to keep the connection alive.
 * - Reconnects with exponential backoff and identifies again, except after a close that
 *   retrying cannot fix (unauthorized, invalid id, replaced by a newer session).
 * - Nothing typed is lost: messages wait in a queue while disconnected; messages sent but
 *   not yet answered when the connection drops are sent again (at least once).
 *
 * @module
 */

/** @typedef {import("../schemas/types.ts").GetMessage} GetMessage */
/** @typedef {import("../schemas/types.ts").SendMessage} SendMessage */
/** @typedef {import("../schemas/types.ts").Ready} Ready */
/** @typedef {import("../schemas/types.ts").Ack} Ack */
/** @typedef {import("../schemas/types.ts").Undelivered} Undelivered */
/** @typedef {import("../schemas/types.ts").ErrorFrame} ErrorFrame */
/** @typedef {import("../schemas/types.ts").ServerFrame} ServerFrame */

/** @typedef {"connecting" | "open" | "reconnecting" | "closed"} ConnectionState */

/**
 * @typedef {object} ClientHandlers
 * @property {(message: GetMessage) => void} [onMessage] a delivered chat message
 * @property {(ack: Ack, sent: SendMessage) => void} [onAck]
 * @property {(undelivered: Undelivered, sent: SendMessage) => void} [onUndelivered]
 * @property {(error: ErrorFrame, sent: SendMessage | undefined) => void} [onError]
 *   an `error` frame (with the message it refused, when it names one by `ref`)
 * @property {(state: ConnectionState, detail: { profile: Profile | null, code?: number, retryInMs?: number }) => void} [onState]
 * @property {(ready: Ready | null) => void} [onReady] identified (`null` in the legacy profile)
 */

/** @typedef {"v1" | "legacy"} Profile */

/**
 * @typedef {object} ClientOptions
 * @property {string} url the relay's WebSocket URL, e.g. `ws://127.0.0.1:8080/ws`
 * @property {string} id the user id to identify as
 * @property {string} [token] a JWT when the relay requires auth
 * @property {number} [minBackoffMs] first reconnect delay (default 250)
 * @property {number} [maxBackoffMs] longest reconnect delay (default 8000)
 */

const SUBPROTOCOL = "layim-ws.v1";
/** Close codes after which reconnecting would only fail again (or evict a newer session). */
const FINAL_CLOSES = new Set([4001, 4002, 4004]);
/** Fallback frame limit until `ready` tells the server's. */
const DEFAULT_MAX_FRAME_BYTES = 65536;

/** A connection to a layim-ws relay that survives relay restarts. */
export class LayimClient {
  /** @type {ClientOptions & { minBackoffMs: number, maxBackoffMs: number }} */
  #options;
  /** @type {ClientHandlers} */
  #handlers;
  /** @type {WebSocket | null} */
  #ws = null;
  /** @type {Profile | null} */
  #profile = null;
  #identified = false;
  #stopped = false;
  /** The next attempt goes without the subprotocol, to find a legacy server. */
  #probingLegacy = false;
  #attempt = 0;
  #refSeq = 0;
  #maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #retryTimer;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #pingTimer;
  #awaitingPong = false;
  /** Messages not yet written to an identified connection. @type {SendMessage[]} */
  #queue = [];
  /** v1 messages written but not yet answered, by ref. @type {Map<string, SendMessage>} */
  #inFlight = new Map();

  /**
   * @param {ClientOptions} options
   * @param {ClientHandlers} handlers
   */
  constructor(options, handlers) {
    this.#options = { minBackoffMs: 250, maxBackoffMs: 8000, ...options };
    this.#handlers = handlers;
    this.#connect();
  }

  /**
   * Sends a LayIM sendMessage payload, now or after the next (re)connect.
   * @param {SendMessage} payload
   * @returns {string} the ref its outcome will carry
   */
  send(payload) {
    const ref = `${Date.now().toString(36)}-${++this.#refSeq}`;
    const message = { ...payload, ref };
    if (new TextEncoder().encode(JSON.stringify(message)).length > this.#maxFrameBytes) {
      this.#handlers.onError?.(
        { type: "error", code: "frame_too_large", message: "message too large to send", ref },
        message,
      );
      return ref;
    }
    this.#queue.push(message);
    this.#flush();
    return ref;
  }

  /** Closes the connection for good (no reconnect). */
  close() {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#stopPing();
    this.#ws?.close(1000);
    this.#setState("closed");
  }

  #connect() {
    const { url, token } = this.#options;
    const legacy = this.#profile === "legacy" || this.#probingLegacy;
    const target = legacy && token
      ? `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`
      : url;
    const ws = legacy ? new WebSocket(target) : new WebSocket(target, SUBPROTOCOL);
    this.#ws = ws;
    this.#identified = false;
    this.#setState(this.#attempt === 0 ? "connecting" : "reconnecting");
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (ws === this.#ws) this.#onOpen(ws, legacy);
    };
    ws.onmessage = (event) => {
      if (ws === this.#ws && typeof event.data === "string") this.#onFrame(event.data);
    };
    ws.onclose = (event) => {
      if (ws === this.#ws) this.#onClose(event.code, opened);
    };
  }

  /**
   * @param {WebSocket} ws
   * @param {boolean} legacy whether this connection was opened without offering v1 (a
   *   browser fails the handshake of one that offered it and got no subprotocol back)
   */
  #onOpen(ws, legacy) {
    this.#probingLegacy = false;
    this.#profile = legacy ? "legacy" : "v1";
    if (legacy) {
      ws.send(this.#options.id);
      this.#onIdentified(null);
      return;
    }
    const { id, token } = this.#options;
    ws.send(JSON.stringify(token ? { type: "identify", id, token } : { type: "identify", id }));
  }

  /** @param {string} text */
  #onFrame(text) {
    /** @type {ServerFrame} */
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof frame !== "object" || frame === null) return;
    switch (frame.type) {
      case "friend":
        this.#handlers.onMessage?.(/** @type {GetMessage} */ (frame));
        return;
      case "ready":
        this.#maxFrameBytes = frame.limits?.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
        this.#startPing(frame.limits?.idleTimeoutMs);
        this.#onIdentified(frame);
        return;
      case "pong":
        this.#awaitingPong = false;
        return;
      case "ack": {
        const sent = this.#settle(frame.ref);
        if (sent) this.#handlers.onAck?.(frame, sent);
        return;
      }
      case "undelivered": {
        const sent = this.#settle(frame.ref);
        if (sent) this.#handlers.onUndelivered?.(frame, sent);
        return;
      }
      case "error":
        this.#handlers.onError?.(
          frame,
          frame.ref === undefined ? undefined : this.#settle(frame.ref),
        );
    }
  }

  /** @param {Ready | null} ready */
  #onIdentified(ready) {
    this.#identified = true;
    this.#attempt = 0;
    this.#setState("open");
    this.#handlers.onReady?.(ready);
    this.#flush();
  }

  /** @param {string} ref */
  #settle(ref) {
    const sent = this.#inFlight.get(ref);
    this.#inFlight.delete(ref);
    return sent;
  }

  #flush() {
    const ws = this.#ws;
    if (!ws || !this.#identified || ws.readyState !== WebSocket.OPEN) return;
    for (const message of this.#queue.splice(0)) {
      if (this.#profile === "v1") {
        this.#inFlight.set(/** @type {string} */ (message.ref), message);
        ws.send(JSON.stringify(message));
      } else {
        const { ref: _ref, ...legacy } = message;
        ws.send(JSON.stringify(legacy));
      }
    }
  }

  /**
   * @param {number} code
   * @param {boolean} opened whether the handshake had succeeded
   */
  #onClose(code, opened) {
    this.#stopPing();
    this.#identified = false;
    // Unanswered messages may not have reached the relay: send them again first.
    this.#queue.unshift(...this.#inFlight.values());
    this.#inFlight.clear();
    if (this.#stopped) return;
    if (FINAL_CLOSES.has(code)) {
      this.#stopped = true;
      this.#setState("closed", { code });
      return;
    }
    // Browsers fail the handshake when a server ignores the offered subprotocol: until the
    // profile is known, a v1 attempt that never opened is retried at once without it.
    if (!opened && this.#profile === null && !this.#probingLegacy) {
      this.#probingLegacy = true;
      this.#connect();
      return;
    }
    this.#probingLegacy = false;
    const { minBackoffMs, maxBackoffMs } = this.#options;
    const base = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.#attempt++);
    const retryInMs = Math.round(base / 2 + Math.random() * base / 2);
    this.#setState("reconnecting", { code, retryInMs });
    this.#retryTimer = setTimeout(() => this.#connect(), retryInMs);
  }

  /** @param {number | undefined} idleTimeoutMs */
  #startPing(idleTimeoutMs) {
    this.#stopPing();
    const every = Math.max(1000, Math.min(25_000, (idleTimeoutMs ?? 60_000) / 3));
    this.#pingTimer = setInterval(() => {
      const ws = this.#ws;
      if (!ws) return;
      if (this.#awaitingPong) {
        // No pong since the last ping: the connection is dead even if the socket is not.
        this.#ws = null;
        ws.close(4000);
        this.#onClose(1006, true);
        return;
      }
      this.#awaitingPong = true;
      ws.send(JSON.stringify({ type: "ping" }));
    }, every);
  }

  #stopPing() {
    clearInterval(this.#pingTimer);
    this.#awaitingPong = false;
  }

  /**
   * @param {ConnectionState} state
   * @param {{ code?: number, retryInMs?: number }} [detail]
   */
  #setState(state, detail = {}) {
    this.#handlers.onState?.(state, { profile: this.#profile, ...detail });
  }
}
