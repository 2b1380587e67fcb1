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
import type { Broker, BrokerFactory, DeliverLocal, Envelope } from "./broker.ts";
import { BrokerUnavailable } from "./broker.ts";
import { ackFrame, errorFrame, getMessageFrame, undeliveredFrame } from "./frames.ts";
import type { Registry, Session } from "./registry.ts";

/** The counters the router increments (a subset of `Metrics`). */
export interface RouterCounters {
  messagesDelivered: number;
  messagesDroppedOffline: number;
}

/** How a {@linkcode Router} is built. */
export interface RouterOptions<S extends Session> {
  registry: Registry<S>;
  /** Creates the broker from this router's local delivery and the node id. */
  broker: BrokerFactory;
  counters: RouterCounters;
  /** Counts a refused message of the session with id `session` (the relay's `Refusals`). */
  refused(reason: string, session: string): void;
  /** The relay's node id, unique per process: server message ids are `NODE-SEQ`. */
  node: string;
  maxSessionsPerUser: number;
  /** Told of each user's first session on this node and of the end of its last (presence). */
  presence?: { here(userId: string): void; gone(userId: string): void };
}

/** Routes messages between the sessions of a registry through a broker. */
export class Router<S extends Session = Session> {
  /** The broker this router publishes to. */
  readonly broker: Broker;
  #registry: Registry<S>;
  #counters: RouterCounters;
  #refused: (reason: string, session: string) => void;
  #node: string;
  #seq = 0;
  #maxSessions: number;
  #presence?: RouterOptions<S>["presence"];
  // Outcomes still in flight per session (an asynchronous broker), and how many sessions have
  // some: while none do, outcomes are sent at once without a lookup.
  #tails = new WeakMap<S, Promise<unknown>>();
  #inFlight = 0;

  constructor(options: RouterOptions<S>) {
    this.#registry = options.registry;
    this.#counters = options.counters;
    this.#refused = options.refused;
    this.#node = options.node + "-";
    this.#maxSessions = options.maxSessionsPerUser;
    this.#presence = options.presence;
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
    const list = this.#registry.get(session.userId);
    const excess = list.length - this.#maxSessions + 1;
    // The newcomer is added first, so that replacing a session never leaves the user without
    // one: no unsubscribe, no offline report.
    const first = this.#registry.add(session);
    for (let i = 0; i < excess; i++) {
      this.detach(list[i]);
      list[i].close(CloseCode.replaced, "replaced by a newer session");
    }
    if (!first) return undefined;
    // Before `ready` and so before any message of this session: watchers learn of it first.
    this.#presence?.here(session.userId);
    return this.broker.subscribe(session.userId);
  }

  /** Forgets exactly this session (a stale one is a no-op); true when it was registered. */
  detach(session: S): boolean {
    if (!this.#registry.remove(session)) return false;
    if (!this.#registry.has(session.userId)) {
      this.broker.unsubscribe(session.userId);
      this.#presence?.gone(session.userId);
    }
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
      this.#refused("sender_mismatch", session.id);
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
    let n: number | Promise<number>;
    try {
      n = this.broker.publish(env);
    } catch (error) {
      this.#inOrder(session, () => this.#failed(session, ref, to, error));
      return;
    }
    if (typeof n === "number") {
      if (this.#inFlight === 0) this.#outcome(session, ref, to, n, cid, timestamp);
      else this.#inOrder(session, () => this.#outcome(session, ref, to, n, cid, timestamp));
      return;
    }
    // Settled at once, so a rejection is never unhandled while earlier outcomes are pending.
    const settled = n.then(
      (n) => () => this.#outcome(session, ref, to, n, cid, timestamp),
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
    if (ref !== undefined) session.send(undeliveredFrame(ref, to, "offline"));
  }

  #failed(session: S, ref: string | undefined, to: string, error: unknown): void {
    if (error instanceof BrokerUnavailable) {
      this.#refused("unavailable", session.id);
      if (ref !== undefined) session.send(undeliveredFrame(ref, to, "unavailable"));
      return;
    }
    this.#refused("internal_error", session.id);
    if (session.profile === "v1") {
      session.send(errorFrame("internal_error", "the message could not be routed", ref));
    }
    session.close(CloseCode.internalError, "internal error");
  }
}
