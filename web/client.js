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
 * - A message that waited for a reconnect and then finds its recipient offline is sent again
 *   for `heldRetryMs` (the recipient is probably reconnecting too), at once when a message
 *   from that recipient arrives; only after that is it reported `undelivered`.
 * - Presence (v1, when `ready` lists `presence`): the users given to `watch` are watched after
 *   every `ready`, in frames that fit the server's limits; `onPresence` reports what the relay
 *   says, and `onPresenceUnknown` that nothing is known while the connection is down. Users the
 *   relay refuses to show (`watch_refused`) are left out of the next watch. A legacy
 *   connection reports no presence at all.
 * - `onStatus` follows every message: `waiting` (for a connection), `sending` (written,
 *   outcome awaited), `retrying` (recipient offline after a reconnect, will send again),
 *   `sent` (legacy: written, no outcome will come), `abandoned` (the connection closed for
 *   good before an outcome).
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

/** @typedef {"waiting" | "sending" | "retrying" | "sent" | "abandoned"} SendStatus */

/**
 * Handlers; `sent` is always the payload object given to {@link LayimClient.send}.
 * @typedef {object} ClientHandlers
 * @property {(message: GetMessage) => void} [onMessage] a delivered chat message
 * @property {(ack: Ack, sent: SendMessage) => void} [onAck]
 * @property {(undelivered: Undelivered, sent: SendMessage) => void} [onUndelivered]
 * @property {(error: ErrorFrame, sent: SendMessage | undefined) => void} [onError]
 *   an `error` frame (with the message it refused, when it names one by `ref`)
 * @property {(sent: SendMessage, status: SendStatus) => void} [onStatus]
 * @property {(state: ConnectionState, detail: { profile: Profile | null, code?: number, retryInMs?: number }) => void} [onState]
 * @property {(ready: Ready | null) => void} [onReady] identified (`null` in the legacy profile)
 * @property {(online: string[], offline: string[]) => void} [onPresence] watched users' states
 * @property {() => void} [onPresenceUnknown] the connection is down: no state is known any more
 */

/** @typedef {"v1" | "legacy"} Profile */

/**
 * @typedef {object} ClientOptions
 * @property {string} url the relay's WebSocket URL, e.g. `ws://127.0.0.1:8080/ws`
 * @property {string} id the user id to identify as
 * @property {string} [token] a JWT when the relay requires auth
 * @property {number} [minBackoffMs] first reconnect delay (default 250)
 * @property {number} [maxBackoffMs] longest reconnect delay (default 8000)
 * @property {number} [heldRetryMs] how long a message that waited for a reconnect keeps
 *   being sent again while its recipient is offline (default 60000)
 */

/**
 * A message on its way.
 * @typedef {object} Outgoing
 * @property {SendMessage} payload what the caller gave
 * @property {string} ref
 * @property {number} [heldSince] when it first had to wait for a connection
 * @property {number} retries sends again after `offline`
 */

const SUBPROTOCOL = "layim-ws.v1";
/** Close codes after which reconnecting would only fail again (or evict a newer session). */
const FINAL_CLOSES = new Set([4001, 4002, 4004]);
/** Fallback frame limit until `ready` tells the server's. */
const DEFAULT_MAX_FRAME_BYTES = 65536;
/** Longest pause between sends again of a held message whose recipient is offline. */
const HELD_RETRY_MAX_MS = 4000;
/** Refs of watch frames start with this; other refs are messages. */
const WATCH_REF = "watch-";

/** A connection to a layim-ws relay that survives relay restarts. */
export class LayimClient {
  /** @type {ClientOptions & { minBackoffMs: number, maxBackoffMs: number, heldRetryMs: number }} */
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
  /** Messages not yet written to an identified connection. @type {Outgoing[]} */
  #queue = [];
  /** v1 messages written but not yet answered, by ref. @type {Map<string, Outgoing>} */
  #inFlight = new Map();
  /** Held messages waiting to be sent again to an offline recipient, with their timers. @type {Map<Outgoing, ReturnType<typeof setTimeout>>} */
  #retrying = new Map();
  #onOnline = () => this.#reconnectNow();
  /** Users to watch (presence), in the caller's order, without those the relay refused. @type {string[]} */
  #watching = [];
  /** The relay's presence parameters, while the identified connection offers presence. @type {Ready["presence"] | undefined} */
  #presence;
  /** States were reported on this connection (so their loss is worth reporting). */
  #presenceShown = false;

  /**
   * @param {ClientOptions} options
   * @param {ClientHandlers} handlers
   */
  constructor(options, handlers) {
    this.#options = { minBackoffMs: 250, maxBackoffMs: 8000, heldRetryMs: 60_000, ...options };
    this.#handlers = handlers;
    // Back online: try at once instead of waiting out the backoff.
    globalThis.addEventListener?.("online", this.#onOnline);
    this.#connect();
  }

  /**
   * Sends a LayIM sendMessage payload, now or after the next (re)connect.
   * @param {SendMessage} payload
   * @returns {string} the ref its outcome will carry
   */
  send(payload) {
    const ref = `${Date.now().toString(36)}-${++this.#refSeq}`;
    if (
      new TextEncoder().encode(JSON.stringify({ ...payload, ref })).length > this.#maxFrameBytes
    ) {
      this.#handlers.onError?.(
        { type: "error", code: "frame_too_large", message: "message too large to send", ref },
        payload,
      );
      return ref;
    }
    /** @type {Outgoing} */
    const message = { payload, ref, retries: 0 };
    if (this.#stopped) {
      this.#handlers.onStatus?.(payload, "abandoned");
      return ref;
    }
    this.#queue.push(message);
    if (!this.#flush()) {
      message.heldSince = Date.now();
      this.#handlers.onStatus?.(payload, "waiting");
    }
    return ref;
  }

  /**
   * Follows the presence of `ids` (replacing any earlier list), now and after every reconnect,
   * when the relay offers presence.
   * @param {(string | number)[]} ids
   */
  watch(ids) {
    this.#watching = [...new Set(ids.map(String))];
    if (this.#identified && this.#presence) this.#sendWatch();
  }

  /** Sends the watch list in frames under the relay's size limit (replace, then add). */
  #sendWatch() {
    const ws = this.#ws;
    const presence = this.#presence;
    if (!ws || !presence || ws.readyState !== WebSocket.OPEN) return;
    const ids = this.#watching.slice(0, presence.maxWatchIds);
    const budget = Math.floor(this.#maxFrameBytes / 2);
    /** @type {string[][]} */
    const chunks = [[]];
    let size = 0;
    for (const id of ids) {
      const cost = new TextEncoder().encode(JSON.stringify(id)).length + 1;
      if (size + cost > budget && chunks.at(-1)?.length) {
        chunks.push([]);
        size = 0;
      }
      chunks.at(-1)?.push(id);
      size += cost;
    }
    chunks.forEach((chunk, i) => {
      const mode = i === 0 ? "replace" : "add";
      ws.send(JSON.stringify({ type: "watch", ids: chunk, mode, ref: `${WATCH_REF}${i}` }));
    });
  }

  /** The relay refused some of the watched users: watch the others. @param {ErrorFrame} error */
  #watchRefused(error) {
    const refused = new Set((error.ids ?? []).map(String));
    this.#watching = this.#watching.filter((id) => !refused.has(id));
    this.#sendWatch();
  }

  /** Closes the connection for good (no reconnect). */
  close() {
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    globalThis.removeEventListener?.("online", this.#onOnline);
    this.#stopPing();
    this.#ws?.close(1000);
    this.#abandonAll();
    this.#setState("closed");
  }

  /** Connects now when waiting for the next reconnect attempt. */
  #reconnectNow() {
    if (this.#stopped || this.#ws?.readyState === WebSocket.OPEN) return;
    if (this.#ws && this.#ws.readyState === WebSocket.CONNECTING) return;
    clearTimeout(this.#retryTimer);
    this.#connect();
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
        this.#retryTo(String(frame.id));
        return;
      case "ready":
        this.#maxFrameBytes = frame.limits?.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
        this.#presence = frame.features?.includes("presence") ? frame.presence : undefined;
        this.#startPing(frame.limits?.idleTimeoutMs);
        this.#onIdentified(frame);
        if (this.#presence && this.#watching.length > 0) this.#sendWatch();
        return;
      case "presence":
        this.#presenceShown = true;
        this.#handlers.onPresence?.(frame.online.map(String), frame.offline.map(String));
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
        const sent = this.#inFlight.get(frame.ref);
        this.#inFlight.delete(frame.ref);
        if (!sent) return;
        if (frame.reason === "offline" && this.#holdForRetry(sent)) return;
        this.#handlers.onUndelivered?.(frame, sent.payload);
        return;
      }
      case "error":
        if (frame.ref?.startsWith(WATCH_REF)) {
          if (frame.code === "watch_refused") this.#watchRefused(frame);
          // rate_limited or watch_limit: the list stays as the relay last took it.
          return;
        }
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
    return sent?.payload;
  }

  /**
   * Schedules a held message to be sent again while its recipient is offline.
   * @param {Outgoing} message
   * @returns {boolean} false when it was never held or its time is up
   */
  #holdForRetry(message) {
    if (message.heldSince === undefined) return false;
    if (Date.now() - message.heldSince >= this.#options.heldRetryMs) return false;
    const delay = Math.min(HELD_RETRY_MAX_MS, 1000 * 2 ** message.retries++);
    this.#retrying.set(message, setTimeout(() => this.#resend(message), delay));
    this.#handlers.onStatus?.(message.payload, "retrying");
    return true;
  }

  /** @param {Outgoing} message */
  #resend(message) {
    clearTimeout(this.#retrying.get(message));
    this.#retrying.delete(message);
    this.#queue.push(message);
    if (!this.#flush()) this.#handlers.onStatus?.(message.payload, "waiting");
  }

  /** A message from `id` proves it is online: its held messages go now. @param {string} id */
  #retryTo(id) {
    for (const message of [...this.#retrying.keys()]) {
      if (String(message.payload.to.id) === id) this.#resend(message);
    }
  }

  /** Writes the queue to the connection; false when there is no identified connection. */
  #flush() {
    const ws = this.#ws;
    if (!ws || !this.#identified || ws.readyState !== WebSocket.OPEN) return false;
    for (const message of this.#queue.splice(0)) {
      if (this.#profile === "v1") {
        this.#inFlight.set(message.ref, message);
        ws.send(JSON.stringify({ ...message.payload, ref: message.ref }));
        this.#handlers.onStatus?.(message.payload, "sending");
      } else {
        // Legacy has no ref: LayIM's payload as-is, and no outcome will come.
        ws.send(JSON.stringify(message.payload));
        this.#handlers.onStatus?.(message.payload, "sent");
      }
    }
    return true;
  }

  /** The connection closed for good: nothing waiting will be sent. */
  #abandonAll() {
    for (const message of this.#retrying.keys()) clearTimeout(this.#retrying.get(message));
    const left = [...this.#queue.splice(0), ...this.#retrying.keys(), ...this.#inFlight.values()];
    this.#retrying.clear();
    this.#inFlight.clear();
    for (const message of left) this.#handlers.onStatus?.(message.payload, "abandoned");
  }

  /**
   * @param {number} code
   * @param {boolean} opened whether the handshake had succeeded
   */
  #onClose(code, opened) {
    this.#stopPing();
    this.#identified = false;
    this.#presence = undefined;
    if (this.#presenceShown) {
      this.#presenceShown = false;
      this.#handlers.onPresenceUnknown?.();
    }
    // Unanswered messages may not have reached the relay: send them again first.
    const unanswered = [...this.#inFlight.values()];
    this.#inFlight.clear();
    this.#queue.unshift(...unanswered);
    if (this.#stopped) return;
    if (FINAL_CLOSES.has(code)) {
      this.#stopped = true;
      globalThis.removeEventListener?.("online", this.#onOnline);
      this.#abandonAll();
      this.#setState("closed", { code });
      return;
    }
    const now = Date.now();
    for (const message of this.#queue) {
      message.heldSince ??= now;
      this.#handlers.onStatus?.(message.payload, "waiting");
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
