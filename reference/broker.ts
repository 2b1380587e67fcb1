/**
 * The broker between the router and delivery: it reaches every node holding sessions of a
 * recipient and calls `deliverLocal` there. The local broker is the single-node case; the
 * Redis broker implements the same interface for several relays.
 *
 * @module
 */

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
  /** Hands `env` on; resolves to the receivers (0 = offline everywhere). Throws or rejects {@linkcode BrokerUnavailable}. */
  publish(env: Envelope): number | Promise<number>;
  /**
   * This node now holds at least one session of `userId`. A promise resolves once other nodes
   * can reach those sessions; the relay sends v1 `ready` only then.
   */
  subscribe(userId: string): void | Promise<void>;
  /** This node now holds no session of `userId`. */
  unsubscribe(userId: string): void;
  /** Whether the broker can reach other nodes. */
  readonly state: "up" | "down";
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

/** The in-memory broker of a single relay: publishing is delivering locally, synchronously. */
export class LocalBroker implements Broker {
  readonly state = "up" as const;
  /** Delivers on this node and returns the receivers. */
  readonly publish: (env: Envelope) => number;

  constructor(deliverLocal: DeliverLocal) {
    this.publish = deliverLocal;
  }

  subscribe(_userId: string): void {}

  unsubscribe(_userId: string): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Creates the local in-memory broker (the default of `serveRelay`). */
export function localBroker(deliverLocal: DeliverLocal): Broker {
  return new LocalBroker(deliverLocal);
}
