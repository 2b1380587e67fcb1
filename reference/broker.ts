/**
 * The broker between the router and delivery, as an interface: it reaches every node holding
 * sessions of a recipient and calls `deliverLocal` there. Its implementations are
 * `broker_local.ts` (one relay, in memory) and `broker_redis.ts` (several relays sharing Redis).
 *
 * @module
 */
import type { PresenceBus } from "./presence.ts";

/** One message on its way to every session of `to`. */
export interface Envelope {
  /** Recipient user id (canonical string form). */
  to: string;
  /** The sending session id: that connection never receives its own message. */
  origin: string;
  /** The serialized getMessage, sent as-is to every recipient session. */
  data: string;
}

/** Writes an envelope to the recipient's sessions on this node; returns how many were written. */
export type DeliverLocal = (env: Envelope) => number;

/** Fan-out across nodes. */
export interface Broker {
  /**
   * Hands `env` on; returns or resolves to the receivers (0 = offline everywhere), counting only
   * sessions it was handed to here and nodes that confirmed holding the user: never a message
   * merely queued. Throws or rejects {@linkcode BrokerUnavailable}, within a bounded time, when
   * it cannot tell.
   */
  publish(env: Envelope): number | Promise<number>;
  /**
   * This node now holds at least one session of `userId`. A promise resolves once other nodes
   * can reach those sessions, or once the broker stops waiting (within a bounded time; at once
   * while it is down); the relay sends v1 `ready` only then and holds that session's frames
   * meanwhile.
   */
  subscribe(userId: string): void | Promise<void>;
  /** This node now holds no session of `userId`. */
  unsubscribe(userId: string): void;
  /** Whether the broker can reach other nodes. */
  readonly state: "up" | "down";
  /** Presence across the nodes it connects (absent: this node alone). */
  readonly presence?: PresenceBus;
  /** Releases the broker's resources. */
  close(): Promise<void>;
}

/** The broker cannot reach other nodes; the message was not handed on. */
export class BrokerUnavailable extends Error {
  constructor(message = "broker unavailable", options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokerUnavailable";
  }
}

/**
 * Builds a relay's broker: `deliverLocal` writes to the relay's own sessions, `nodeId` is the
 * relay's id (unique per process; it prefixes the relay's session and message ids).
 */
export type BrokerFactory = (deliverLocal: DeliverLocal, nodeId: string) => Broker;
