/**
 * The routing core, without I/O: it turns a validated sendMessage of a session into one
 * serialized getMessage handed to the broker, and answers the sender with its outcome.
 * Sessions are the small {@linkcode Session} interface, so tests drive it with fakes.
 *
 * @module
 */
import { CloseCode } from "../schemas/protocol.ts";
import type { SendMessage } from "../schemas/types.ts";
import { normalizeId } from "../schemas/validate.ts";
import {
  type Broker,
  type BrokerFactory,
  BrokerUnavailable,
  type DeliverLocal,
  type Envelope,
} from "./broker.ts";
import { ackFrame, errorFrame, getMessageFrame, undeliveredFrame } from "./frames.ts";
import type { Registry, Session } from "./registry.ts";

/**
 * TEST ONLY faults, injected to prove the conformance runner catches each bug:
 * `echo` also delivers to the sending connection; `no-cleanup` never forgets a closed session;
 * `misroute` delivers to the most recently identified other user instead of the recipient;
 * `reorder` swaps every pair of consecutive messages of a connection; `store-offline` keeps
 * messages for offline users and delivers them at their next identify; `ignore-cap` never
 * closes the oldest session.
 */
export type Fault = "echo" | "no-cleanup" | "misroute" | "reorder" | "store-offline" | "ignore-cap";

/** The counters the router increments (a subset of `Metrics`). */
export interface RouterCounters {
  messagesDelivered: number;
  messagesDroppedOffline: number;
  refused(reason: string): void;
}

/** How a {@linkcode Router} is built. */
export interface RouterOptions<S extends Session> {
  registry: Registry<S>;
  /** Creates the broker from this router's local delivery and the node id. */
  broker: BrokerFactory;
  counters: RouterCounters;
  /** The relay's node id, unique per process: server message ids are `NODE-SEQ`. */
  node: string;
  maxSessionsPerUser: number;
  faults?: ReadonlySet<Fault>;
}

interface Held {
  env: Envelope;
  ref: string | undefined;
  to: string;
  cid: string;
  timestamp: number;
}

/** Routes messages between the sessions of a registry through a broker. */
export class Router<S extends Session = Session> {
  /** The broker this router publishes to. */
  readonly broker: Broker;
  #registry: Registry<S>;
  #counters: RouterCounters;
  #node: string;
  #seq = 0;
  #maxSessions: number;
  #faulty: boolean;
  #echo: boolean;
  #noCleanup: boolean;
  #misroute: boolean;
  #reorder: boolean;
  #storeOffline: boolean;
  #ignoreCap: boolean;
  #recent: string[] = [];
  #held = new WeakMap<S, Held>();
  // Outcomes still in flight per session (an asynchronous broker), and how many sessions have
  // some: while none do, outcomes are sent at once without a lookup.
  #tails = new WeakMap<S, Promise<unknown>>();
  #inFlight = 0;
  #stored = new Map<string, string[]>();

  constructor(options: RouterOptions<S>) {
    this.#registry = options.registry;
    this.#counters = options.counters;
    this.#node = options.node + "-";
    this.#maxSessions = options.maxSessionsPerUser;
    const faults = options.faults ?? new Set();
    this.#echo = faults.has("echo");
    this.#noCleanup = faults.has("no-cleanup");
    this.#misroute = faults.has("misroute");
    this.#reorder = faults.has("reorder");
    this.#storeOffline = faults.has("store-offline");
    this.#ignoreCap = faults.has("ignore-cap");
    this.#faulty = this.#echo || this.#misroute || this.#reorder || this.#storeOffline;
    this.broker = options.broker(this.deliverLocal, options.node);
  }

  /** Writes an envelope to every local session of its recipient except the sending one. */
  readonly deliverLocal: DeliverLocal = (env) => {
    const list = this.#registry.get(env.to);
    let n = 0;
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (s.id !== env.origin) {
        s.send(env.data);
        n++;
      }
    }
    return n;
  };

  /**
   * Registers an identified session; beyond the per-user cap the oldest sessions are closed (4004).
   * Returns the broker's pending subscription when this is the user's first session here.
   */
  attach(session: S): void | Promise<void> {
    if (!this.#ignoreCap) {
      const list = this.#registry.get(session.userId);
      const excess = list.length - this.#maxSessions + 1;
      for (let i = 0; i < excess; i++) {
        this.detach(list[i]);
        list[i].close(CloseCode.replaced, "replaced by a newer session");
      }
    }
    const subscribed = this.#registry.add(session)
      ? this.broker.subscribe(session.userId)
      : undefined;
    if (this.#misroute) this.#recent.push(session.userId);
    if (this.#storeOffline) {
      const stored = this.#stored.get(session.userId);
      this.#stored.delete(session.userId);
      // After the caller's ready frame, as a server that stores messages would.
      if (stored) queueMicrotask(() => stored.forEach((data) => session.send(data)));
    }
    return subscribed;
  }

  /** Forgets exactly this session (a stale one is a no-op); true when it was registered. */
  detach(session: S): boolean {
    if (this.#noCleanup || !this.#registry.remove(session)) return false;
    if (!this.#registry.has(session.userId)) this.broker.unsubscribe(session.userId);
    return true;
  }

  /**
   * Routes a validated sendMessage of `session`, then sends its outcome when it has a ref (v1).
   * `timestamp` is the receipt time (the caller may already hold it).
   */
  send(session: S, frame: SendMessage, timestamp: number = Date.now()): void {
    const mine = frame.mine;
    const ref = session.profile === "v1" ? frame.ref : undefined;
    if (mine.id !== undefined && normalizeId(mine.id) !== session.userId) {
      this.#counters.refused("sender_mismatch");
      if (session.profile === "v1") {
        this.reply(
          session,
          errorFrame("sender_mismatch", "mine.id is not the identified user", ref),
        );
      }
      return;
    }
    const to = normalizeId(frame.to.id);
    const cid = this.#node + (++this.#seq).toString(36);
    const env: Envelope = {
      to,
      origin: session.id,
      data: getMessageFrame(
        session.userId,
        session.username ?? mine.username ?? session.userId,
        session.avatar ?? mine.avatar ?? "",
        mine.content,
        timestamp,
        cid,
      ),
    };
    if (this.#faulty) this.#sendFaulty(session, env, ref, cid, timestamp);
    else this.#publish(session, env, ref, to, cid, timestamp);
  }

  #publish(
    session: S,
    env: Envelope,
    ref: string | undefined,
    to: string,
    cid: string,
    timestamp: number,
  ): void {
    let n: number | Promise<number>;
    try {
      n = this.broker.publish(env);
    } catch (error) {
      this.#inOrder(session, () => this.#failed(session, ref, to, error));
      return;
    }
    if (typeof n === "number") {
      if (this.#inFlight === 0) this.#outcome(session, env, ref, to, n, cid, timestamp);
      else this.#inOrder(session, () => this.#outcome(session, env, ref, to, n, cid, timestamp));
      return;
    }
    // Settled at once, so a rejection is never unhandled while earlier outcomes are pending.
    const settled = n.then(
      (n) => () => this.#outcome(session, env, ref, to, n, cid, timestamp),
      (error) => () => this.#failed(session, ref, to, error),
    );
    const tail = this.#inFlight === 0 ? undefined : this.#tails.get(session);
    this.#track(session, (tail ? tail.then(() => settled) : settled).then((send) => send()));
  }

  /** Sends an outcome frame after the session's outcomes still in flight (OUTCOME-4). */
  reply(session: S, text: string): void {
    if (this.#inFlight === 0) session.send(text);
    else this.#inOrder(session, () => session.send(text));
  }

  #inOrder(session: S, send: () => void): void {
    const tail = this.#tails.get(session);
    if (tail) this.#track(session, tail.then(send));
    else send();
  }

  #track(session: S, done: Promise<unknown>): void {
    if (!this.#tails.has(session)) this.#inFlight++;
    this.#tails.set(session, done);
    done.then(() => {
      if (this.#tails.get(session) !== done) return;
      this.#tails.delete(session);
      this.#inFlight--;
    });
  }

  #outcome(
    session: S,
    env: Envelope,
    ref: string | undefined,
    to: string,
    n: number,
    cid: string,
    timestamp: number,
  ): void {
    if (n > 0) {
      this.#counters.messagesDelivered++;
      if (ref !== undefined) session.send(ackFrame(ref, cid, timestamp));
      return;
    }
    this.#counters.messagesDroppedOffline++;
    if (this.#storeOffline) {
      const stored = this.#stored.get(env.to);
      if (stored) stored.push(env.data);
      else this.#stored.set(env.to, [env.data]);
    }
    if (ref !== undefined) session.send(undeliveredFrame(ref, to, "offline"));
  }

  #failed(session: S, ref: string | undefined, to: string, error: unknown): void {
    if (error instanceof BrokerUnavailable) {
      this.#counters.refused("unavailable");
      if (ref !== undefined) session.send(undeliveredFrame(ref, to, "unavailable"));
      return;
    }
    this.#counters.refused("internal_error");
    if (session.profile === "v1") {
      session.send(errorFrame("internal_error", "the message could not be routed", ref));
    }
    session.close(CloseCode.internalError, "internal error");
  }

  #sendFaulty(
    session: S,
    env: Envelope,
    ref: string | undefined,
    cid: string,
    timestamp: number,
  ): void {
    const to = env.to;
    if (this.#echo) session.send(env.data);
    if (this.#misroute) {
      for (let i = this.#recent.length - 1; i >= 0; i--) {
        const other = this.#recent[i];
        if (other !== to && other !== session.userId && this.#registry.has(other)) {
          env.to = other;
          break;
        }
      }
    }
    if (this.#reorder) {
      const held = this.#held.get(session);
      if (!held) {
        this.#held.set(session, { env, ref, to, cid, timestamp });
        return;
      }
      this.#held.delete(session);
      this.#publish(session, env, ref, to, cid, timestamp);
      this.#publish(session, held.env, held.ref, held.to, held.cid, held.timestamp);
      return;
    }
    this.#publish(session, env, ref, to, cid, timestamp);
  }
}
