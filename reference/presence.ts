/**
 * Presence (spec section 13), without I/O: each connection's watch list, who is online here,
 * the offline delay, privacy, and the `presence` frames that follow from them.
 *
 * A user is online on this node while it has a session here, or had one less than
 * `offlineDelayMs` ago, or while a {@linkcode PresenceBus} says another node holds one. The
 * router reports a user's first session here ({@linkcode Presence.here}) and the end of its
 * last ({@linkcode Presence.gone}); every change of a watched user's state is written at once to
 * each connection watching it. Because a user's first session is reported before its `ready`
 * is sent, a watcher on this node learns that it is online before any message from it
 * (PRES-7); the bus keeps that order across nodes (see `presence_redis.ts`).
 *
 * ```ts
 * import { Presence } from "./presence.ts";
 * const presence = new Presence({ mode: "all", tokens: false });
 * const watcher = { id: "s1", userId: "1001", send: (text: string) => console.log(text) };
 * presence.watch(watcher, { type: "watch", ids: ["1002"] }, console.log);
 * // {"type":"presence","online":[],"offline":["1002"]}
 * presence.here("1002"); // {"type":"presence","online":["1002"],"offline":[]}
 * await presence.close();
 * ```
 *
 * @module
 */
import type { ErrorCode } from "../schemas/protocol.ts";
import type { Ready, Watch } from "../schemas/types.ts";
import { normalizeId } from "../schemas/validate.ts";
import type { Directory } from "./directory.ts";
import { errorFrame, presenceFrame, watchRefusedFrame } from "./frames.ts";
import { TokenBucket } from "./limits.ts";

/**
 * Whether presence is offered. With tokens or a directory it is unless `off`, and a user may
 * watch its token's `friends` claim, else the directory's users (PRES-8). Without either,
 * `friends` (the default) offers none and `all` lets anyone watch anyone (PRES-10).
 */
export type PresenceMode = "friends" | "all" | "off";

/** How presence behaves; advertised in `ready.presence` (all but `mode`). */
export interface PresenceSettings {
  mode: PresenceMode;
  /** Delay between a user's last session ending and its offline report (PRES-12). */
  offlineDelayMs: number;
  /** Most ids on one connection's watch list. */
  maxWatchIds: number;
  /** Watch frames a connection may send at once. */
  watchBurst: number;
  /** Refill of the watch bucket, frames per second. */
  watchRatePerSecond: number;
}

/** The defaults of the spec's table (section 13.6). */
export const DEFAULT_PRESENCE: Readonly<PresenceSettings> = Object.freeze({
  mode: "friends",
  offlineDelayMs: 2000,
  maxWatchIds: 1000,
  watchBurst: 10,
  watchRatePerSecond: 1,
});

/**
 * With several relays: a relay that stops without closing its sessions has its users reported
 * offline by the others within this time (PRES-15; see `presence_redis.ts`).
 */
export const DEFAULT_PRESENCE_TTL_MS = 5000;

/** The `presence` member of `ready`. */
export type ReadyPresence = NonNullable<Ready["presence"]>;

/** A connection that can watch: what presence needs of a session. */
export interface Watcher {
  /** Session id, unique on this node. */
  readonly id: string;
  readonly userId: string;
  /** The verified token's `friends` claim, when it had one. */
  readonly friends?: readonly string[];
  /** Writes one text frame. */
  send(text: string): void;
}

/**
 * The presence of users on other nodes, as this node learns it through a broker. The Redis
 * implementation is `presence_redis.ts`; one relay alone needs none.
 */
export interface PresenceBus {
  /** Starts following the other nodes; `changed` is called with users whose state there changed. */
  start(changed: (users: readonly string[]) => void): void;
  /** This node now holds `user` (its first session, and only after {@linkcode leave} if any). */
  join(user: string): void;
  /** This node no longer holds `user` (after the offline delay). */
  leave(user: string): void;
  /** Whether another node holds a session of `user`, as far as this node knows. */
  elsewhere(user: string): boolean;
  /** Stops; this node's users stay online for the other nodes `lingerMs` longer. */
  close(lingerMs: number): Promise<void>;
}

/** Timers, replaceable so that tests decide when time passes. */
export interface Scheduler {
  set(run: () => void, ms: number): unknown;
  clear(timer: unknown): void;
}

const realTimers: Scheduler = {
  set: (run, ms) => setTimeout(run, ms),
  clear: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

/** The counter presence increments (of `Metrics`). */
export interface PresenceCounters {
  presenceFrames: number;
}

/** How {@linkcode Presence} is built; settings default to {@linkcode DEFAULT_PRESENCE}. */
export interface PresenceOptions extends Partial<PresenceSettings> {
  /** Whether the relay verifies tokens (a source of who may watch whom). */
  tokens: boolean;
  /** The user directory: with it, its users may watch each other. */
  directory?: Directory;
  /** Other nodes' presence (several relays). */
  bus?: PresenceBus;
  counters?: PresenceCounters;
  scheduler?: Scheduler;
}

/** One connection's watch list. */
interface WatchList {
  ids: Set<string>;
  bucket: TokenBucket;
  allows: (id: string) => boolean;
}

/** Throws unless every setting is in range. */
function checked(settings: PresenceSettings): PresenceSettings {
  if (!["friends", "all", "off"].includes(settings.mode)) {
    throw new RangeError(`presence mode must be friends, all or off, got ${settings.mode}`);
  }
  for (const key of ["offlineDelayMs", "maxWatchIds", "watchBurst"] as const) {
    const value = settings[key];
    if (!Number.isSafeInteger(value) || value < (key === "offlineDelayMs" ? 0 : 1)) {
      throw new RangeError(
        `presence ${key} must be a ${
          key === "offlineDelayMs" ? "non-negative" : "positive"
        } integer, got ${value}`,
      );
    }
  }
  if (!(settings.watchRatePerSecond > 0)) {
    throw new RangeError(
      `presence watchRatePerSecond must be positive, got ${settings.watchRatePerSecond}`,
    );
  }
  return settings;
}

/** The presence of one relay: watch lists, users here, the offline delay, and its frames. */
export class Presence<W extends Watcher = Watcher> {
  /** Whether `ready` lists the feature (PRES-1, PRES-10). */
  readonly offered: boolean;
  readonly settings: Readonly<PresenceSettings>;
  /** The `presence` member of `ready`; undefined when not offered. */
  readonly ready: ReadyPresence | undefined;
  #directory?: Directory;
  #tokens: boolean;
  #bus?: PresenceBus;
  #counters?: PresenceCounters;
  #timers: Scheduler;
  // Users with a session here, or whose last one ended less than offlineDelayMs ago.
  #here = new Set<string>();
  #lingering = new Map<string, unknown>();
  #lists = new Map<W, WatchList>();
  // Watched user → the connections watching it.
  #watchers = new Map<string, Set<W>>();
  // Watched user → the state last reported to its watchers (always its current state).
  #shown = new Map<string, boolean>();
  #closed = false;

  /** Builds presence; throws on a setting out of range. */
  constructor(options: PresenceOptions) {
    const { tokens, directory, bus, counters, scheduler, ...rest } = options;
    const settings = checked({ ...DEFAULT_PRESENCE, ...rest });
    this.settings = Object.freeze(settings);
    this.offered = settings.mode === "all" ||
      (settings.mode === "friends" && (tokens || directory !== undefined));
    this.ready = this.offered
      ? Object.freeze({
        maxWatchIds: settings.maxWatchIds,
        watchRatePerSecond: settings.watchRatePerSecond,
        watchBurst: settings.watchBurst,
        offlineDelayMs: settings.offlineDelayMs,
      })
      : undefined;
    this.#directory = directory;
    this.#tokens = tokens;
    this.#counters = counters;
    this.#timers = scheduler ?? realTimers;
    if (this.offered && bus) {
      this.#bus = bus;
      bus.start((users) => {
        for (const user of users) this.#update(user);
      });
    }
  }

  /** Users watched by at least one connection here. */
  get watched(): number {
    return this.#watchers.size;
  }

  /** Whether `user` is online as this node knows it. */
  online(user: string): boolean {
    return this.#here.has(user) || this.#bus?.elsewhere(user) === true;
  }

  /** `user` has its first session on this node: online at once, or still (within the delay). */
  here(user: string): void {
    if (!this.offered || this.#closed) return;
    const timer = this.#lingering.get(user);
    if (timer !== undefined) {
      this.#timers.clear(timer);
      this.#lingering.delete(user);
      return;
    }
    this.#here.add(user);
    this.#bus?.join(user);
    this.#update(user);
  }

  /** The last session of `user` on this node ended: offline after `offlineDelayMs`. */
  gone(user: string): void {
    if (!this.offered || this.#closed || !this.#here.has(user)) return;
    const delay = this.settings.offlineDelayMs;
    if (delay === 0) return this.#drop(user);
    this.#lingering.set(
      user,
      this.#timers.set(() => {
        this.#lingering.delete(user);
        this.#drop(user);
      }, delay),
    );
  }

  #drop(user: string): void {
    this.#here.delete(user);
    this.#bus?.leave(user);
    this.#update(user);
  }

  /** Reports `user`'s state to its watchers if it changed. */
  #update(user: string): void {
    const watchers = this.#watchers.get(user);
    if (!watchers) return;
    const online = this.online(user);
    if (this.#shown.get(user) === online) return;
    this.#shown.set(user, online);
    const text = online ? presenceFrame([user], []) : presenceFrame([], [user]);
    for (const w of watchers) w.send(text);
    if (this.#counters) this.#counters.presenceFrames += watchers.size;
  }

  /**
   * Handles a `watch` frame of `session`: answers it with the current state of its ids, or
   * refuses it through `refuse` (the session counts and logs the refusal, and keeps its errors in
   * the order of its outcomes).
   */
  watch(
    session: W,
    frame: Watch,
    refuse: (text: string, reason: ErrorCode) => void,
    now = Date.now(),
  ): void {
    const ref = frame.ref;
    const refused = (code: ErrorCode, message: string) =>
      refuse(errorFrame(code, message, ref), code);
    if (!this.offered) return refused("invalid_frame", 'unknown frame type "watch"');
    let list = this.#lists.get(session);
    if (!list) {
      list = {
        ids: new Set(),
        bucket: new TokenBucket(this.settings.watchRatePerSecond, this.settings.watchBurst, now),
        allows: this.#allows(session),
      };
      this.#lists.set(session, list);
    }
    if (!list.bucket.take(now)) return refused("rate_limited", "too many watch frames");
    const ids = [...new Set(frame.ids.map(normalizeId))];
    const next = frame.mode === "add" ? new Set([...list.ids, ...ids]) : new Set(ids);
    const max = this.settings.maxWatchIds;
    if (next.size > max) {
      return refused("watch_limit", `a watch list holds at most ${max} ids, this one ${next.size}`);
    }
    const strangers = ids.filter((id) => !list.allows(id));
    if (strangers.length > 0) return refuse(watchRefusedFrame(strangers, ref), "watch_refused");
    for (const id of list.ids) if (!next.has(id)) this.#unwatch(session, id);
    for (const id of next) {
      if (list.ids.has(id)) continue;
      const watchers = this.#watchers.get(id);
      if (watchers) watchers.add(session);
      else {
        this.#watchers.set(id, new Set([session]));
        this.#shown.set(id, this.online(id));
      }
    }
    list.ids = next;
    const online = ids.filter((id) => this.#shown.get(id));
    const offline = ids.filter((id) => !this.#shown.get(id));
    // Sent directly, never behind outcomes: a change sent after it must not overtake it.
    session.send(presenceFrame(online, offline, ref));
    if (this.#counters) this.#counters.presenceFrames++;
  }

  /**
   * Who `session` may watch (PRES-8): its token's friends, else the directory's users, else
   * (tokens naming no friends) only itself; anyone where the relay knows neither (`all`).
   */
  #allows(session: W): (id: string) => boolean {
    const self = session.userId;
    if (session.friends) {
      const friends = new Set(session.friends);
      return (id) => id === self || friends.has(id);
    }
    const directory = this.#directory;
    if (directory) return (id) => id === self || directory.get(id) !== undefined;
    if (this.#tokens) return (id) => id === self;
    return () => true;
  }

  #unwatch(session: W, id: string): void {
    const watchers = this.#watchers.get(id);
    if (!watchers) return;
    watchers.delete(session);
    if (watchers.size === 0) {
      this.#watchers.delete(id);
      this.#shown.delete(id);
    }
  }

  /** The connection of `session` ended: its watch list goes with it. */
  forget(session: W): void {
    const list = this.#lists.get(session);
    if (!list) return;
    this.#lists.delete(session);
    for (const id of list.ids) this.#unwatch(session, id);
  }

  /**
   * Stops: pending offline delays are dropped (their watchers are gone with the relay), and the
   * bus keeps this node's users online for the others during one more offline delay, so that
   * users who reconnect to another relay at once are not reported offline there.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#lingering.values()) this.#timers.clear(timer);
    this.#lingering.clear();
    await this.#bus?.close(this.settings.offlineDelayMs);
  }
}
