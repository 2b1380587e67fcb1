/**
 * A broker that carries deliveries between relays over Redis pub/sub: one channel per user,
 * subscribed while this relay holds a session of that user.
 *
 * Local sessions are written directly (so they keep working while Redis is down, and such a
 * message is acknowledged at once); the message is also published for the other relays, and
 * this relay ignores its own copy. When no local session took it, the outcome waits for
 * `PUBLISH`'s receiver count, less this relay's own subscription: 0 everywhere means offline.
 *
 * Redis is watched, not trusted: a health check (`TIME` on the publishing connection, `PING` on
 * the subscribing one) runs every `timeoutMs / 2` and Redis counts as down as soon as a check or
 * a publication is not answered within `timeoutMs` — a stopped or hung server (`SIGSTOP`) is
 * down within 1.5 × `timeoutMs`, and no sender waits longer than `timeoutMs` for an outcome.
 * A publication runs as a script that publishes only if Redis executes it within
 * `timeoutMs / 2` of its sending (by Redis's clock, whose offset the health check measures): a
 * message answered `unavailable` after a timeout is not delivered later by a server that wakes
 * up. Identify never waits on a broker that is down, and waits at most `timeoutMs` on one that
 * is up.
 *
 * @module
 */
import { createClient } from "redis";
import { type Broker, BrokerUnavailable, type DeliverLocal, type Envelope } from "./broker.ts";
import { type Logger, silentLogger } from "./log.ts";
import { RedisPresenceBus } from "./presence_redis.ts";
import { Subscriptions } from "./redis_subscriptions.ts";

/** Options of {@linkcode redisBroker}. */
export interface RedisBrokerOptions {
  logger?: Logger;
  /** Channel name prefix, so several deployments can share one Redis. */
  prefix?: string;
  /** Longest wait between reconnect attempts. */
  maxBackoffMs?: number;
  /** How long Redis may take to answer before it counts as down (default 1000 ms). */
  timeoutMs?: number;
  /** Presence: a relay that stops has its users reported offline within this time (5000 ms). */
  presenceTtlMs?: number;
  /** Presence: key and channel prefix (default `layimws:presence:`). */
  presencePrefix?: string;
}

/** The default of {@linkcode RedisBrokerOptions.timeoutMs}. */
export const REDIS_TIMEOUT_MS = 1000;

/** A {@linkcode Broker} backed by Redis, with a way to wait until it is connected. */
export interface RedisBroker extends Broker {
  /** Resolves once both Redis connections are ready and healthy (at once when they are). */
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

// Publishes ARGV[2] on channel ARGV[1] unless Redis runs it after ARGV[3] (ms, Redis clock).
const PUBLISH_BEFORE = `local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 > tonumber(ARGV[3]) then return -1 end
return redis.call('PUBLISH', ARGV[1], ARGV[2])`;

// Health checks allowed in flight at once: a hung server is not sent a growing pile of them.
const MAX_CHECKS_IN_FLIGHT = 3;

/** Resolves with `promise`'s value, or with `timedOut` once `ms` have passed. */
function within<T, U>(promise: Promise<T>, ms: number, timedOut: U): Promise<T | U> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<U>((resolve) => timer = setTimeout(() => resolve(timedOut), ms)),
  ]).finally(() => clearTimeout(timer));
}

const TIMED_OUT = Symbol("timed out");

/** A publication waiting for its reply. */
interface Pending {
  readonly at: number;
  resolve(receivers: number | typeof TIMED_OUT): void;
  done: boolean;
}

class RedisPubSubBroker implements RedisBroker {
  // On these same connections: a user's arrival is published before its messages (PRES-7).
  readonly presence: RedisPresenceBus;
  #node: string;
  #prefix: string;
  #logger: Logger;
  #deliverLocal: DeliverLocal;
  #timeout: number;
  // Publishes fail at once while disconnected instead of queueing: a queued message would
  // arrive late or twice, and the sender is owed an answer now (`undelivered: unavailable`).
  #pub: Client;
  // The subscriber keeps node-redis's offline queue: (un)subscribing is state to restore.
  #sub: Client;
  #subs: Subscriptions;
  // Users with a session here: Redis counts this relay among their channel's receivers.
  #wanted = new Set<string>();
  // Users whose UNSUBSCRIBE is not yet confirmed: Redis may still count this relay.
  #leaving = new Map<string, number>();
  // Publications whose receiver count may include this relay: seq → whose copy came back.
  #echoes = new Map<number, boolean>();
  #seq = 0;
  #healthy = false;
  #checks = 0;
  #healthTimer: ReturnType<typeof setTimeout> | undefined;
  // Redis's clock minus performance.now(), in ms, from the last health check.
  #offset = 0;
  #script = "";
  #scriptLoaded = false;
  // Publications waiting for their reply, oldest first from #head; one timer for them all.
  #pending: Pending[] = [];
  #head = 0;
  #sweep: ReturnType<typeof setTimeout> | undefined;
  #state: "up" | "down" = "down";
  #wasUp = false;
  #rejoinMs: number;
  #unsureUntil = 0;
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
    this.#timeout = options.timeoutMs ?? REDIS_TIMEOUT_MS;
    const maxBackoff = options.maxBackoffMs ?? 1000;
    // Another live relay is back within its longest backoff and one health check.
    this.#rejoinMs = maxBackoff + this.#timeout;
    const socket = {
      connectTimeout: 2000,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, maxBackoff),
    };
    this.#pub = createClient({ url, disableOfflineQueue: true, socket });
    this.#sub = createClient({ url, socket });
    // Before the "ready" listeners below: a reconnect's SUBSCRIBEs precede the health check's PING.
    this.#subs = new Subscriptions(this.#sub);
    this.presence = new RedisPresenceBus(this.#pub, this.#sub, this.#subs, nodeId, {
      ttlMs: options.presenceTtlMs,
      prefix: options.presencePrefix,
      logger: this.#logger,
    });
    for (const client of [this.#pub, this.#sub]) {
      // An unhandled "error" event would crash the process; state changes are logged below.
      client.on("error", () => this.#update("disconnected"));
      client.on("ready", () => this.#check());
      client.on("end", () => this.#update("disconnected"));
      client.on("reconnecting", () => this.#update("disconnected"));
      client.connect().catch(() => this.#update("disconnected"));
    }
  }

  get state(): "up" | "down" {
    return this.#state;
  }

  whenUp(): Promise<void> {
    return this.#state === "up" ? Promise.resolve() : new Promise((r) => this.#waiters.push(r));
  }

  #update(reason: string): void {
    if (reason !== "healthy") this.#healthy = false;
    // A reconnected Redis may be a restarted one, with an empty script cache.
    if (reason === "disconnected" || reason === "script missing") this.#scriptLoaded = false;
    const ready = this.#pub.isReady && this.#sub.isReady;
    const state = !this.#closed && ready && this.#healthy ? "up" : "down";
    if (state === this.#state) return;
    this.#state = state;
    this.#logger.event("broker", {
      state,
      reason: state === "up" ? undefined : reason,
      users: this.#wanted.size,
    });
    if (state === "up") {
      // Back after an outage (not the first connection): the other relays may still be
      // reconnecting and resubscribing, so for a while nobody subscribed is no proof of offline.
      if (this.#wasUp) this.#unsureUntil = performance.now() + this.#rejoinMs;
      this.#wasUp = true;
      for (const resolve of this.#waiters.splice(0)) resolve();
    }
  }

  /** One health check now, then one every `timeoutMs / 2` while the broker is open. */
  #check(): void {
    clearTimeout(this.#healthTimer);
    if (this.#closed) return;
    this.#healthTimer = setTimeout(() => this.#check(), this.#timeout / 2);
    if (!this.#pub.isReady || !this.#sub.isReady || this.#checks >= MAX_CHECKS_IN_FLIGHT) return;
    this.#checks++;
    const sent = performance.now();
    // The PING on the subscriber comes back after every SUBSCRIBE sent before it, so "up" also
    // means every wanted channel is subscribed (node-redis resubscribes before "ready").
    const round = Promise.all([this.#pub.time(), this.#sub.ping(), this.#loadScript()]);
    within(round, this.#timeout, TIMED_OUT).then(
      (result) => {
        if (result === TIMED_OUT) return this.#update("timeout");
        const now = performance.now();
        const [seconds, micros] = result[0] as unknown as [string, string];
        this.#offset = Number(seconds) * 1000 + Number(micros) / 1000 - (sent + now) / 2;
        this.#healthy = true;
        this.#update("healthy");
      },
      () => this.#update("disconnected"),
    ).finally(() => this.#checks--);
    round.catch(() => {}); // a late failure after the timeout
  }

  async #loadScript(): Promise<void> {
    if (this.#scriptLoaded) return;
    this.#script = await this.#pub.scriptLoad(PUBLISH_BEFORE);
    this.#scriptLoaded = true;
  }

  #listener = (message: string, channel: string): void => {
    const a = message.indexOf("\n");
    const b = message.indexOf("\n", a + 1);
    const c = message.indexOf("\n", b + 1);
    if (a < 0 || b < 0 || c < 0) return;
    if (message.slice(0, a) === this.#node) {
      const seq = Number(message.slice(a + 1, b));
      if (this.#echoes.has(seq)) this.#echoes.set(seq, true);
      return;
    }
    this.#deliverLocal({
      to: channel.slice(this.#prefix.length),
      origin: message.slice(b + 1, c),
      data: message.slice(c + 1),
    });
  };

  publish(env: Envelope): number | Promise<number> {
    const local = this.#deliverLocal(env);
    if (this.#state !== "up") {
      if (local > 0) return local;
      throw new BrokerUnavailable("redis is unavailable");
    }
    const seq = ++this.#seq;
    // Node and session ids hold no newline, so a plain join needs no second JSON encoding.
    const message = `${this.#node}\n${seq}\n${env.origin}\n${env.data}`;
    const channel = this.#prefix + env.to;
    if (local > 0) {
      // Handed to a session here: acknowledged now; the other relays get it as they can.
      this.#pub.publish(channel, message).catch(() => {});
      return local;
    }
    // Redis may count this relay only while it is subscribed to the recipient, or leaving.
    if (this.#wanted.has(env.to) || this.#leaving.has(env.to)) this.#echoes.set(seq, false);
    const at = performance.now();
    const deadline = Math.floor(at + this.#offset + this.#timeout / 2);
    const sent = this.#pub.sendCommand([
      "EVALSHA",
      this.#script,
      "0",
      channel,
      message,
      String(deadline),
    ]) as Promise<number>;
    return this.#answer(sent, at).then(async (receivers) => {
      if (receivers === TIMED_OUT) {
        this.#update("timeout");
        this.#late(sent, seq);
        throw new BrokerUnavailable("redis did not answer in time");
      }
      if (receivers < 0) throw new BrokerUnavailable("redis ran the publication too late");
      const others = this.#echoes.has(seq) ? receivers - await this.#ownCopy(seq) : receivers;
      if (others === 0 && performance.now() < this.#unsureUntil) {
        throw new BrokerUnavailable("the other relays may not have resubscribed yet");
      }
      return others;
    }, (error) => {
      this.#echoes.delete(seq);
      // A script cache emptied under a running relay (SCRIPT FLUSH): the next check reloads it.
      if (String(error?.message).startsWith("NOSCRIPT")) this.#update("script missing");
      throw new BrokerUnavailable("redis is unavailable", { cause: error });
    });
  }

  /**
   * `sent`'s reply, or {@linkcode TIMED_OUT} once `timeoutMs` have passed since `at`. Replies
   * come back in the order publications were sent, so one timer, armed for the oldest pending
   * publication, serves them all.
   */
  #answer(sent: Promise<number>, at: number): Promise<number | typeof TIMED_OUT> {
    return new Promise((resolve, reject) => {
      const entry: Pending = { at, resolve, done: false };
      this.#pending.push(entry);
      this.#armSweep();
      sent.then((n) => {
        if (entry.done) return;
        entry.done = true;
        this.#dropDone();
        resolve(n);
      }, (error) => {
        if (entry.done) return;
        entry.done = true;
        this.#dropDone();
        reject(error);
      });
    });
  }

  #dropDone(): void {
    const pending = this.#pending;
    while (this.#head < pending.length && pending[this.#head].done) this.#head++;
    if (this.#head === pending.length) {
      pending.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > pending.length) {
      pending.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #armSweep(): void {
    if (this.#sweep !== undefined || this.#head === this.#pending.length) return;
    const wait = this.#pending[this.#head].at + this.#timeout - performance.now();
    this.#sweep = setTimeout(() => {
      this.#sweep = undefined;
      const now = performance.now();
      for (let i = this.#head; i < this.#pending.length; i++) {
        const entry = this.#pending[i];
        if (entry.at + this.#timeout > now) break;
        if (!entry.done) {
          entry.done = true;
          entry.resolve(TIMED_OUT);
        }
      }
      this.#dropDone();
      this.#armSweep();
    }, Math.max(0, wait));
  }

  /**
   * Whether this relay's own subscription received publication `seq` (1) or not (0): a PING on
   * the subscriber, sent after PUBLISH's reply, comes back after any copy Redis pushed.
   */
  async #ownCopy(seq: number): Promise<number> {
    const pong = await within(this.#sub.ping(), this.#timeout, TIMED_OUT).catch(() => TIMED_OUT);
    const echoed = this.#echoes.get(seq);
    this.#echoes.delete(seq);
    if (pong === TIMED_OUT) {
      this.#update("timeout");
      throw new BrokerUnavailable("redis did not answer in time");
    }
    return echoed ? 1 : 0;
  }

  /** A publication answered `unavailable` that Redis still runs: logged if it was delivered. */
  #late(sent: Promise<number>, seq: number): void {
    sent.then((receivers) => {
      this.#echoes.delete(seq);
      if (receivers > 0) this.#logger.event("broker-late-delivery", { receivers });
    }, () => this.#echoes.delete(seq));
  }

  subscribe(userId: string): void | Promise<void> {
    this.#wanted.add(userId);
    // While Redis is down the subscription is made on reconnect.
    const subscribed = this.#subs.add(this.#prefix + userId, this.#listener);
    if (this.#state !== "up") return;
    return within(subscribed, this.#timeout, TIMED_OUT).then((result) => {
      if (result === TIMED_OUT) this.#update("timeout");
    });
  }

  unsubscribe(userId: string): void {
    this.#wanted.delete(userId);
    this.#leaving.set(userId, (this.#leaving.get(userId) ?? 0) + 1);
    this.#subs.remove(this.#prefix + userId).finally(() => {
      const n = this.#leaving.get(userId)! - 1;
      if (n === 0) this.#leaving.delete(userId);
      else this.#leaving.set(userId, n);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#healthTimer);
    clearTimeout(this.#sweep);
    this.#update("closed");
    await Promise.allSettled([this.#pub.close(), this.#sub.close()]);
  }
}
