/**
 * Presence across relays sharing Redis: a {@linkcode PresenceBus} over the Redis broker's own
 * two connections.
 *
 * In Redis each relay (node) has a set of the users it holds (`P node:ID`) and an entry in a
 * sorted set (`P nodes`) whose score is the time, by Redis's clock, after which it counts as
 * dead. Every change runs as one script that also increments `P seq` and publishes the change,
 * numbered, on `P events`: users joining or leaving a node, a node's whole set, or dead nodes.
 * Each relay keeps a replica of the other nodes' sets from those events, so a watch is answered
 * at once from memory. A gap in the numbers (a lost event), a reconnect, or a start loads the
 * replica again from a snapshot, and the events that arrive meanwhile are applied on top.
 *
 * Failure of a relay: each node's heartbeat pushes its score `4/5 × ttlMs` ahead every
 * `ttlMs / 5`, and every heartbeat first removes the nodes whose score has passed, publishing
 * them dead: the users of a relay that was killed are reported offline at most `ttlMs` after it
 * died (PRES-15). After reconnecting to Redis a node removes others only once it has been
 * registered again for `ttlMs`, so that after an outage every node has time to come back before
 * any is taken for dead; for the same reason a node that a snapshot no longer shows (Redis
 * restarted empty, or a removal event was lost) is kept `ttlMs` longer unless it registers
 * again. A node that finds itself removed (it stalled) registers its whole set again. A relay that
 * closes cleanly moves its score to `now + offlineDelayMs`: its users go offline elsewhere after
 * the same delay as a closed session, unless they reconnected to another relay by then.
 *
 * One Redis server (or primary) is assumed, as for the broker: the scripts touch other nodes'
 * keys, which Redis Cluster would not allow.
 *
 * Order with messages (PRES-7): a user's arrival is published by a script sent on the broker's
 * publishing connection before that user's session gets `ready`, so before any message it
 * publishes there, and every relay receives both on its one subscribing connection, in the
 * order Redis ran them.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { createClient } from "redis";
import { type Logger, silentLogger } from "./log.ts";
import { DEFAULT_PRESENCE_TTL_MS, type PresenceBus } from "./presence.ts";
import type { Subscriptions } from "./redis_subscriptions.ts";

type Client = ReturnType<typeof createClient>;

/** Options of {@linkcode RedisPresenceBus}. */
export interface RedisPresenceOptions {
  /** Key and channel prefix, so several deployments can share one Redis. */
  prefix?: string;
  /** A dead relay's users are reported offline within this time (default 5000 ms). */
  ttlMs?: number;
  logger?: Logger;
}

// Every script gets ARGV[1] = the key prefix. Times are Redis's, in milliseconds.
const LIB = `local P = ARGV[1]
local NODES = P .. 'nodes'
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function publish(event)
  event.e = redis.call('GET', P .. 'epoch')
  event.s = redis.call('INCR', P .. 'seq')
  redis.call('PUBLISH', P .. 'events', cjson.encode(event))
end
local function reap(t)
  local dead = redis.call('ZRANGEBYSCORE', NODES, '-inf', t)
  if #dead == 0 then return end
  for _, n in ipairs(dead) do redis.call('DEL', P .. 'node:' .. n) end
  redis.call('ZREM', NODES, unpack(dead))
  publish({d = dead})
end
`;

// ARGV: prefix, node, ms to the node's expiry, reap (1/0), an epoch should there be none (an
// empty Redis), then the node's users.
const RESTORE = LIB + `local t = now()
redis.call('SET', P .. 'epoch', ARGV[5], 'NX')
if ARGV[4] == '1' then reap(t) end
local key = P .. 'node:' .. ARGV[2]
redis.call('DEL', key)
for i = 6, #ARGV, 1000 do redis.call('SADD', key, unpack(ARGV, i, math.min(i + 999, #ARGV))) end
redis.call('ZADD', NODES, t + tonumber(ARGV[3]), ARGV[2])
local users = {}
for i = 6, #ARGV do users[#users + 1] = ARGV[i] end
publish({n = ARGV[2], set = users})
return 1`;

// ARGV: prefix, node, ms to the node's expiry, reap (1/0). 0: the node was removed.
const HEARTBEAT = LIB + `local t = now()
if ARGV[4] == '1' then reap(t) end
if not redis.call('ZSCORE', NODES, ARGV[2]) then return 0 end
redis.call('ZADD', NODES, t + tonumber(ARGV[3]), ARGV[2])
return 1`;

// ARGV: prefix, node, the number n of joins, n users joining, then users leaving.
// 0: the node was removed (its set is gone), nothing applied.
const APPLY = LIB + `if not redis.call('ZSCORE', NODES, ARGV[2]) then return 0 end
local key = P .. 'node:' .. ARGV[2]
local n = tonumber(ARGV[3])
local j, l = {}, {}
for i = 4, 3 + n do
  if redis.call('SADD', key, ARGV[i]) == 1 then j[#j + 1] = ARGV[i] end
end
for i = 4 + n, #ARGV do
  if redis.call('SREM', key, ARGV[i]) == 1 then l[#l + 1] = ARGV[i] end
end
if #j == 0 and #l == 0 then return 1 end
local e = {n = ARGV[2]}
if #j > 0 then e.j = j end
if #l > 0 then e.l = l end
publish(e)
return 1`;

// ARGV: prefix. {seq, epoch, node, {users}, node, {users}, …} of every registered node.
const SNAPSHOT = LIB + `local out = {tonumber(redis.call('GET', P .. 'seq') or '0'),
  redis.call('GET', P .. 'epoch') or ''}
for _, n in ipairs(redis.call('ZRANGE', NODES, 0, -1)) do
  out[#out + 1] = n
  out[#out + 1] = redis.call('SMEMBERS', P .. 'node:' .. n)
end
return out`;

// ARGV: prefix, node, ms it stays alive.
const BYE = LIB + `if redis.call('ZSCORE', NODES, ARGV[2]) then
  redis.call('ZADD', NODES, now() + tonumber(ARGV[3]), ARGV[2])
end
return 1`;

interface Script {
  body: string;
  sha: string;
}

const script = (body: string): Script => ({
  body,
  sha: createHash("sha1").update(body).digest("hex"),
});
const SCRIPTS = {
  restore: script(RESTORE),
  heartbeat: script(HEARTBEAT),
  apply: script(APPLY),
  snapshot: script(SNAPSHOT),
  bye: script(BYE),
};

/** One published change, as the scripts encode it (cjson writes an empty list as `{}`). */
interface PresenceEvent {
  s: number;
  /** The numbering's epoch: a Redis emptied under running relays starts a new one. */
  e?: string;
  /** The node that changed. */
  n?: string;
  /** Users that joined it. */
  j?: string[];
  /** Users that left it. */
  l?: string[];
  /** Its whole set (a registration). */
  set?: string[];
  /** Nodes removed as dead. */
  d?: string[];
}

const list = (value: unknown): string[] => Array.isArray(value) ? value : [];

/** How long a clean close may wait for Redis. */
const CLOSE_TIMEOUT_MS = 1000;

/** Presence across the relays sharing one Redis, over a broker's publishing and subscribing connections. */
export class RedisPresenceBus implements PresenceBus {
  readonly #pub: Client;
  readonly #sub: Client;
  readonly #subs: Subscriptions;
  readonly #node: string;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #logger: Logger;
  // Users this node holds, as Redis should have them.
  #local = new Set<string>();
  // join (true) / leave (false) not yet sent, sent together once the current task ends.
  #pending = new Map<string, boolean>();
  #flushQueued = false;
  // The other nodes' users, and on how many other nodes each user is.
  #nodes = new Map<string, Set<string>>();
  #count = new Map<string, number>();
  #seq = 0;
  #epoch = "";
  #snapshots = 0;
  #seen: PresenceEvent[] = [];
  #registered = false;
  #everRegistered = false;
  // performance.now() after which this node may remove dead nodes (Infinity: once registered).
  #reapAfter = 0;
  // Nodes a snapshot no longer showed, kept until then (performance.now()) unless they return.
  #orphans = new Map<string, number>();
  #changed: (users: readonly string[]) => void = () => {};
  #timer: ReturnType<typeof setInterval> | undefined;
  #started = false;
  #closed = false;
  #onPubReady = () => {
    if (this.#everRegistered) {
      // A reconnect: Redis may have restarted (its numbering with it), and the other nodes are
      // reconnecting too.
      this.#reapAfter = Infinity;
      this.#seq = 0;
    }
    this.#register();
  };
  #onSubReady = () => this.#snapshot();

  /** A bus of node `node` over the Redis broker's two connections. */
  constructor(
    pub: Client,
    sub: Client,
    subscriptions: Subscriptions,
    node: string,
    options: RedisPresenceOptions = {},
  ) {
    this.#pub = pub;
    this.#sub = sub;
    this.#subs = subscriptions;
    this.#node = node;
    this.#prefix = options.prefix ?? "layimws:presence:";
    this.#ttl = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
    this.#logger = options.logger ?? silentLogger;
  }

  start(changed: (users: readonly string[]) => void): void {
    if (this.#started) return;
    this.#started = true;
    this.#changed = changed;
    this.#subs.add(this.#prefix + "events", this.#listener);
    this.#pub.on("ready", this.#onPubReady);
    this.#sub.on("ready", this.#onSubReady);
    this.#timer = setInterval(() => this.#heartbeat(), this.#ttl / 5);
    this.#register();
  }

  join(user: string): void {
    this.#local.add(user);
    this.#queue(user, true);
  }

  leave(user: string): void {
    this.#local.delete(user);
    this.#queue(user, false);
  }

  elsewhere(user: string): boolean {
    return this.#count.has(user);
  }

  async close(lingerMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#pub.off("ready", this.#onPubReady);
    this.#sub.off("ready", this.#onSubReady);
    if (!this.#started) return;
    this.#subs.remove(this.#prefix + "events");
    if (!this.#registered || !this.#pub.isReady) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#run(SCRIPTS.bye, [this.#node, String(lingerMs)]).catch(() => {}),
      new Promise((resolve) => timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)),
    ]);
    clearTimeout(timer);
  }

  #queue(user: string, joined: boolean): void {
    if (!this.#started || this.#closed) return;
    this.#pending.set(user, joined);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    // A microtask still runs before any later frame of the joining session is read, so the
    // join is sent before any message of it (PRES-7).
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#pending.size === 0) return;
    // Unregistered, the next registration carries every local user.
    if (!this.#registered || !this.#pub.isReady || this.#closed) {
      this.#pending.clear();
      return;
    }
    const joins: string[] = [];
    const leaves: string[] = [];
    for (const [user, joined] of this.#pending) (joined ? joins : leaves).push(user);
    this.#pending.clear();
    this.#run(SCRIPTS.apply, [this.#node, String(joins.length), ...joins, ...leaves]).then(
      (applied) => {
        if (applied === 0) this.#lost("removed");
      },
      (error) => this.#lost(String(error?.message).startsWith("NOSCRIPT") ? "noscript" : "error"),
    );
  }

  /** Runs a script known to be loaded (a registration loads them first, on the same connection). */
  #run(s: Script, args: string[]): Promise<unknown> {
    return this.#pub.sendCommand(["EVALSHA", s.sha, "0", this.#prefix, ...args]);
  }

  #reapArg(): string {
    return performance.now() >= this.#reapAfter ? "1" : "0";
  }

  /** Our node's registration is gone or unknown: register again now. */
  #lost(why: string): void {
    if (!this.#registered) return;
    this.#registered = false;
    this.#logger.event("presence", { state: "unregistered", reason: why });
    this.#register();
  }

  /**
   * Registers this node with its whole set, then loads the replica. Everything is sent at once,
   * in order, so that later joins follow it on the connection.
   */
  #register(): void {
    if (!this.#started || this.#closed || !this.#pub.isReady) return;
    this.#pending.clear();
    for (const s of Object.values(SCRIPTS)) {
      this.#pub.sendCommand(["SCRIPT", "LOAD", s.body]).catch(() => {});
    }
    const users = [...this.#local];
    const expiry = String(Math.floor(this.#ttl * 4 / 5));
    this.#registered = true;
    this.#pub.sendCommand(
      [
        "EVAL",
        SCRIPTS.restore.body,
        "0",
        this.#prefix,
        this.#node,
        expiry,
        this.#reapArg(),
        crypto.randomUUID(),
        ...users,
      ],
    ).then(
      () => {
        this.#everRegistered = true;
        if (this.#reapAfter === Infinity) this.#reapAfter = performance.now() + this.#ttl;
        this.#logger.event("presence", { state: "registered", users: users.length });
      },
      () => this.#registered = false,
    );
    this.#snapshot();
  }

  #heartbeat(): void {
    if (this.#closed) return;
    this.#dropOrphans();
    if (!this.#pub.isReady) return;
    if (!this.#registered) return this.#register();
    const expiry = String(Math.floor(this.#ttl * 4 / 5));
    this.#run(SCRIPTS.heartbeat, [this.#node, expiry, this.#reapArg()]).then(
      (alive) => {
        if (alive === 0) this.#lost("removed");
      },
      (error) => {
        if (String(error?.message).startsWith("NOSCRIPT")) this.#lost("noscript");
      },
    );
  }

  /** Loads the other nodes' sets; events seen meanwhile are applied again on top. */
  #snapshot(): void {
    if (!this.#started || this.#closed || !this.#pub.isReady) return;
    this.#snapshots++;
    this.#pub.sendCommand(["EVAL", SCRIPTS.snapshot.body, "0", this.#prefix]).then(
      (reply) => this.#loaded(reply as unknown as unknown[]),
      () => {},
    ).finally(() => {
      if (--this.#snapshots === 0) this.#seen = [];
    });
  }

  #loaded(reply: unknown[]): void {
    const seq = Number(reply[0]);
    this.#epoch = String(reply[1]);
    const before = new Set(this.#count.keys());
    const previous = this.#nodes;
    this.#nodes = new Map();
    this.#count = new Map();
    const changed = new Set<string>();
    for (let i = 2; i + 1 < reply.length; i += 2) {
      const node = String(reply[i]);
      if (node === this.#node) continue;
      this.#orphans.delete(node);
      for (const user of list(reply[i + 1])) this.#add(node, String(user), changed);
    }
    const until = performance.now() + this.#ttl;
    for (const [node, users] of previous) {
      if (this.#nodes.has(node)) continue;
      if (!this.#orphans.has(node)) this.#orphans.set(node, until);
      for (const user of users) this.#add(node, user, changed);
    }
    for (const event of this.#seen) if (event.s > seq) this.#apply(event, changed);
    if (seq > this.#seq) this.#seq = seq;
    for (const user of before) if (!this.#count.has(user)) changed.add(user);
    for (const user of this.#count.keys()) if (before.has(user)) changed.delete(user);
    this.#emit(changed);
  }

  #listener = (message: string): void => {
    let event: PresenceEvent;
    try {
      event = JSON.parse(message);
    } catch {
      return;
    }
    if (typeof event?.s !== "number") return;
    let gap = this.#seq > 0 && event.s !== this.#seq + 1;
    if (event.e !== this.#epoch) {
      // Redis was emptied: a new numbering, and a state to load again.
      this.#epoch = String(event.e);
      this.#seq = 0;
      gap = true;
    } else if (event.s <= this.#seq) return;
    this.#seq = event.s;
    if (this.#snapshots > 0) this.#seen.push(event);
    const changed = new Set<string>();
    this.#apply(event, changed);
    this.#emit(changed);
    if (gap && this.#snapshots === 0) {
      this.#logger.event("presence", { state: "resync", reason: "lost events" });
      this.#snapshot();
    }
  };

  #apply(event: PresenceEvent, changed: Set<string>): void {
    for (const node of list(event.d)) {
      if (node === this.#node) {
        // Taken for dead (a stall longer than the TTL): our users are back with our whole set.
        queueMicrotask(() => this.#lost("removed"));
      } else this.#drop(node, changed);
    }
    const node = event.n;
    if (node === undefined || node === this.#node) return;
    if (event.set !== undefined) {
      this.#orphans.delete(node);
      const next = new Set(list(event.set));
      for (const user of this.#nodes.get(node) ?? []) {
        if (!next.has(user)) this.#remove(node, user, changed);
      }
      for (const user of next) this.#add(node, user, changed);
    }
    for (const user of list(event.j)) this.#add(node, user, changed);
    for (const user of list(event.l)) this.#remove(node, user, changed);
  }

  #drop(node: string, changed: Set<string>): void {
    for (const user of this.#nodes.get(node) ?? []) this.#remove(node, user, changed);
    this.#nodes.delete(node);
    this.#orphans.delete(node);
  }

  #dropOrphans(): void {
    const now = performance.now();
    const changed = new Set<string>();
    for (const [node, until] of this.#orphans) if (until <= now) this.#drop(node, changed);
    this.#emit(changed);
  }

  #add(node: string, user: string, changed: Set<string>): void {
    let users = this.#nodes.get(node);
    if (!users) this.#nodes.set(node, users = new Set());
    if (users.has(user)) return;
    users.add(user);
    const n = (this.#count.get(user) ?? 0) + 1;
    this.#count.set(user, n);
    if (n === 1) changed.add(user);
  }

  #remove(node: string, user: string, changed: Set<string>): void {
    if (!this.#nodes.get(node)?.delete(user)) return;
    const n = (this.#count.get(user) ?? 1) - 1;
    if (n > 0) this.#count.set(user, n);
    else {
      this.#count.delete(user);
      changed.add(user);
    }
  }

  #emit(changed: Set<string>): void {
    if (changed.size > 0 && !this.#closed) this.#changed([...changed]);
  }
}
