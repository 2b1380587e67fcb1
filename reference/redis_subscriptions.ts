/**
 * The channels a Redis subscriber connection should hold, kept across outages.
 *
 * node-redis 5.10 resubscribes after a reconnect only the channels whose SUBSCRIBE was
 * confirmed. A SUBSCRIBE issued while disconnected waits in its queue, and each failed
 * reconnection attempt resets the reply decoder out of pub/sub mode; once that SUBSCRIBE is
 * confirmed on a new connection nothing puts the decoder back, so the channel's messages are
 * taken for replies to other commands and lost while Redis counts the subscriber. A SUBSCRIBE in
 * flight when the connection drops is rejected and never resubscribed either. So a SUBSCRIBE
 * goes out only on a ready connection, and one that did not get through goes out again when the
 * connection is next ready, before any command sent by a later "ready" listener.
 *
 * @module
 */

import type { createClient } from "redis";

type Client = ReturnType<typeof createClient>;
type Listener = (message: string, channel: string) => void;

/** Subscriptions of one subscriber connection, each channel with one listener. */
export class Subscriptions {
  readonly #sub: Client;
  readonly #wanted = new Map<string, Listener>();
  // Wanted channels whose SUBSCRIBE has not been confirmed on the current connection.
  readonly #unsent = new Set<string>();

  /** Create it before registering any other "ready" listener on `sub`. */
  constructor(sub: Client) {
    this.#sub = sub;
    sub.on("ready", () => {
      const channels = [...this.#unsent];
      this.#unsent.clear();
      for (const channel of channels) this.#send(channel);
    });
  }

  /** Subscribes `channel`; resolves when Redis confirmed it or it was left for the next connection. */
  add(channel: string, listener: Listener): Promise<void> {
    this.#wanted.set(channel, listener);
    return this.#send(channel);
  }

  /** Unsubscribes `channel`; resolves when Redis confirmed it or the connection dropped. */
  remove(channel: string): Promise<void> {
    const listener = this.#wanted.get(channel);
    this.#wanted.delete(channel);
    if (listener === undefined || this.#unsent.delete(channel)) return Promise.resolve();
    return this.#sub.unsubscribe(channel, listener).catch(() => {});
  }

  #send(channel: string): Promise<void> {
    const listener = this.#wanted.get(channel);
    if (listener === undefined) return Promise.resolve();
    if (!this.#sub.isReady) {
      this.#unsent.add(channel);
      return Promise.resolve();
    }
    return this.#sub.subscribe(channel, listener).catch(() => {
      if (this.#wanted.get(channel) === listener) this.#unsent.add(channel);
    });
  }
}
