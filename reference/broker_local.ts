/**
 * The in-memory broker of a single relay: publishing is delivering on this node, synchronously,
 * and there is nothing to subscribe to.
 *
 * @module
 */
import type { Broker, DeliverLocal, Envelope } from "./broker.ts";

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

/** Creates the local in-memory broker (the default of `serveRelay`); it needs no node id. */
export function localBroker(deliverLocal: DeliverLocal): Broker {
  return new LocalBroker(deliverLocal);
}
