/**
 * A broker that carries deliveries between relays over Redis pub/sub: one channel per user,
 * subscribed while this relay holds a session of that user.
 *
 * Local sessions are written directly (so they keep working while Redis is down); the
 * message is also published for the other relays, and this relay ignores its own copy.
 * `PUBLISH`'s receiver count, less this relay's own subscription, counts the other relays
 * that hold the user: 0 everywhere means offline.
 *
 * @module
 */
import { createClient } from "redis";
import { type Broker, BrokerUnavailable, type DeliverLocal, type Envelope } from "./broker.ts";
import { type Logger, silentLogger } from "./log.ts";
import { RedisPresenceBus } from "./presence_redis.ts";

/** Options of {@linkcode redisBroker}. */
export interface RedisBrokerOptions {
  logger?: Logger;
  /** Channel name prefix, so several deployments can share one Redis. */
  prefix?: string;
  /** Longest wait between reconnect attempts. */
  maxBackoffMs?: number;
  /** Presence: a relay that stops has its users reported offline within this time (5000 ms). */
  presenceTtlMs?: number;
  /** Presence: key and channel prefix (default `layimws:presence:`). */
  presencePrefix?: string;
}

/** A {@linkcode Broker} backed by Redis, with a way to wait until it is connected. */
export interface RedisBroker extends Broker {
  /** Resolves once both Redis connections are ready (at once when they are). */
  whenUp(): Promise<void>;
}

/**
 * Returns a broker factory for `RelayOptions.broker`. The broker connects in the background
 * and reconnects with capped exponential backoff; node-redis resubscribes every channel on
 * reconnect. Messages carry the relay's node id, so the relay skips its own when they come back.
 */
export function redisBroker(
  url: string,
  options: RedisBrokerOptions = {},
): (deliverLocal: DeliverLocal, nodeId: string) => RedisBroker {
  return (deliverLocal, nodeId) => new RedisPubSubBroker(url, options, deliverLocal, nodeId);
}

type Client = ReturnType<typeof createClient>;

class RedisPubSubBroker implements RedisBroker {
  // On these same connections: a user's arrival is published before its messages (PRES-7).
  readonly presence: RedisPresenceBus;
  #node: string;
  #prefix: string;
  #logger: Logger;
  #deliverLocal: DeliverLocal;
  // Publishes fail at once while disconnected instead of queueing: a queued message would
  // arrive late or twice, and the sender is owed an answer now (`undelivered: unavailable`).
  #pub: Client;
  // The subscriber keeps node-redis's offline queue: (un)subscribing is state to restore.
  #sub: Client;
  // Users whose SUBSCRIBE Redis has confirmed: PUBLISH counts this relay for them.
  #confirmed = new Set<string>();
  #wanted = new Set<string>();
  #state: "up" | "down" = "down";
  #waiters: (() => void)[] = [];
  #closed = false;

  constructor(
    url: string,
    options: RedisBrokerOptions,
    deliverLocal: DeliverLocal,
    nodeId: string,
  ) {
    this.#node = nodeId;
    this.#prefix = options.prefix ?? "layimws:user:";
    this.#logger = options.logger ?? silentLogger;
    this.#deliverLocal = deliverLocal;
    const maxBackoff = options.maxBackoffMs ?? 1000;
    const socket = {
      connectTimeout: 2000,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, maxBackoff),
    };
    this.#pub = createClient({ url, disableOfflineQueue: true, socket });
    this.#sub = createClient({ url, socket });
    this.presence = new RedisPresenceBus(this.#pub, this.#sub, nodeId, {
      ttlMs: options.presenceTtlMs,
      prefix: options.presencePrefix,
      logger: this.#logger,
    });
    for (const client of [this.#pub, this.#sub]) {
      // An unhandled "error" event would crash the process; state changes are logged below.
      client.on("error", () => this.#update());
      client.on("ready", () => this.#update());
      client.on("end", () => this.#update());
      client.on("reconnecting", () => this.#update());
      client.connect().catch(() => this.#update());
    }
  }

  get state(): "up" | "down" {
    return this.#state;
  }

  whenUp(): Promise<void> {
    return this.#state === "up" ? Promise.resolve() : new Promise((r) => this.#waiters.push(r));
  }

  #update(): void {
    const state = !this.#closed && this.#pub.isReady && this.#sub.isReady ? "up" : "down";
    if (state === this.#state) return;
    this.#state = state;
    this.#logger.event("broker", { state, users: this.#wanted.size });
    if (state === "up") {
      // node-redis has resubscribed by the time it is ready.
      for (const user of this.#wanted) this.#confirmed.add(user);
      for (const resolve of this.#waiters.splice(0)) resolve();
    } else {
      this.#confirmed.clear();
    }
  }

  #listener = (message: string, channel: string): void => {
    const a = message.indexOf("\n");
    const b = message.indexOf("\n", a + 1);
    if (a < 0 || b < 0 || message.slice(0, a) === this.#node) return;
    this.#deliverLocal({
      to: channel.slice(this.#prefix.length),
      origin: message.slice(a + 1, b),
      data: message.slice(b + 1),
    });
  };

  publish(env: Envelope): number | Promise<number> {
    const local = this.#deliverLocal(env);
    if (this.#state !== "up") {
      if (local > 0) return local;
      throw new BrokerUnavailable("redis is unavailable");
    }
    // Node and session ids hold no newline, so a plain join needs no second JSON encoding.
    const message = `${this.#node}\n${env.origin}\n${env.data}`;
    const self = this.#confirmed.has(env.to) ? 1 : 0;
    return this.#pub.publish(this.#prefix + env.to, message).then(
      (receivers) => local + Math.max(0, receivers - self),
      () => {
        if (local > 0) return local;
        throw new BrokerUnavailable("redis is unavailable");
      },
    );
  }

  subscribe(userId: string): Promise<void> {
    this.#wanted.add(userId);
    return this.#sub.subscribe(this.#prefix + userId, this.#listener).then(
      () => {
        if (this.#wanted.has(userId)) this.#confirmed.add(userId);
      },
      // While Redis is down the subscription is restored on reconnect.
      () => {},
    );
  }

  unsubscribe(userId: string): void {
    this.#wanted.delete(userId);
    this.#confirmed.delete(userId);
    this.#sub.unsubscribe(this.#prefix + userId, this.#listener).catch(() => {});
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#update();
    await Promise.allSettled([this.#pub.close(), this.#sub.close()]);
  }
}
