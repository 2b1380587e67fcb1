/**
 * The reference relay with a bug put in on purpose, to prove that the conformance runner and
 * the bench's verification catch each one. Most faults are a broker plugged in through
 * `RelayOptions.broker`; `ignore-cap` and the presence faults wrap the server's transports (the
 * relay advertises a session cap it does not enforce, presence frames come late or not at all).
 * Production code knows nothing of any of them.
 *
 * ```ts ignore
 * import { serveFaultyRelay } from "./faulty_relay.ts";
 * const relay = await serveFaultyRelay(new Set(["echo"]), { port: 0, webRoot: null });
 * // … run the conformance suite against relay.wsUrl: routing/no-echo fails
 * await relay.close();
 * ```
 *
 * @module
 */
import { DEFAULT_LIMITS } from "../schemas/protocol.ts";
import type { Broker, BrokerFactory, DeliverLocal, Envelope } from "../reference/broker.ts";
import { localBroker } from "../reference/broker_local.ts";
import { type Relay, type RelayOptions, relayServer, serveRelay } from "../reference/relay.ts";
import type { RelayServer } from "../reference/routes.ts";
import type { Transport } from "../reference/session.ts";

/**
 * A bug to put in. `echo`: a message also reaches the sender's own sessions. `misroute`: it
 * reaches the most recently identified other user instead of the recipient. `reorder`: every
 * pair of consecutive messages of a connection is swapped. `drop`: every tenth message is lost,
 * yet counted as delivered. `store-offline`: messages to offline users are kept and delivered
 * at their next identify. `no-cleanup`: a user whose sessions all closed still counts as
 * online. `ignore-cap`: the advertised `maxSessionsPerUser` is never enforced.
 * `presence-late`: reports that a user is online reach its watchers 200 ms late.
 * `presence-no-offline`: reports that a user is offline never reach its watchers.
 */
export type Fault =
  | "echo"
  | "misroute"
  | "reorder"
  | "drop"
  | "store-offline"
  | "no-cleanup"
  | "ignore-cap"
  | "presence-late"
  | "presence-no-offline";

/** The cap the relay enforces under `ignore-cap`: none that a test reaches. */
const NO_CAP = 1_000_000;

interface Held {
  env: Envelope;
  resolve(receivers: number | Promise<number>): void;
  reject(error: unknown): void;
}

/** The sender's user id, read back from the getMessage an envelope carries. */
function senderOf(env: Envelope): string {
  return JSON.parse(env.data).fromid;
}

class FaultyBroker implements Broker {
  #faults: ReadonlySet<Fault>;
  #deliverLocal: DeliverLocal;
  #inner: Broker;
  // Users with a session here, most recently identified last (misroute).
  #online: string[] = [];
  // Users who ever had a session here (no-cleanup).
  #seen = new Set<string>();
  #stored = new Map<string, string[]>();
  // The first message of each connection's current pair, by sending session (reorder).
  #held = new Map<string, Held>();
  #published = 0;

  constructor(
    faults: ReadonlySet<Fault>,
    inner: BrokerFactory,
    deliverLocal: DeliverLocal,
    nodeId: string,
  ) {
    this.#faults = faults;
    this.#deliverLocal = deliverLocal;
    this.#inner = inner(deliverLocal, nodeId);
  }

  get state(): "up" | "down" {
    return this.#inner.state;
  }

  publish(env: Envelope): number | Promise<number> {
    if (this.#faults.has("echo")) {
      this.#deliverLocal({ to: senderOf(env), origin: "", data: env.data });
    }
    if (this.#faults.has("misroute")) {
      const from = senderOf(env);
      const other = this.#online.findLast((user) => user !== env.to && user !== from);
      if (other !== undefined) env = { ...env, to: other };
    }
    if (this.#faults.has("drop") && ++this.#published % 10 === 0) return 1;
    if (!this.#faults.has("reorder")) return this.#forward(env);
    const held = this.#held.get(env.origin);
    if (!held) {
      return new Promise((resolve, reject) => this.#held.set(env.origin, { env, resolve, reject }));
    }
    this.#held.delete(env.origin);
    const receivers = this.#forward(env);
    try {
      held.resolve(this.#forward(held.env));
    } catch (error) {
      held.reject(error);
    }
    return receivers;
  }

  #forward(env: Envelope): number | Promise<number> {
    const receivers = this.#inner.publish(env);
    return typeof receivers === "number"
      ? this.#counted(env, receivers)
      : receivers.then((n) => this.#counted(env, n));
  }

  #counted(env: Envelope, receivers: number): number {
    if (receivers > 0) return receivers;
    if (this.#faults.has("store-offline")) {
      const stored = this.#stored.get(env.to);
      if (stored) stored.push(env.data);
      else this.#stored.set(env.to, [env.data]);
    }
    return this.#faults.has("no-cleanup") && this.#seen.has(env.to) ? 1 : 0;
  }

  subscribe(userId: string): void | Promise<void> {
    this.#online.push(userId);
    this.#seen.add(userId);
    const stored = this.#stored.get(userId);
    this.#stored.delete(userId);
    // After the new session's ready frame, as a server that stores messages would.
    if (stored) {
      queueMicrotask(() => {
        for (const data of stored) this.#deliverLocal({ to: userId, origin: "", data });
      });
    }
    return this.#inner.subscribe(userId);
  }

  unsubscribe(userId: string): void {
    this.#online = this.#online.filter((user) => user !== userId);
    this.#inner.unsubscribe(userId);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A broker factory with `faults` (those a broker can show) around `inner` (default: local). */
export function faultyBroker(
  faults: ReadonlySet<Fault>,
  inner: BrokerFactory = localBroker,
): BrokerFactory {
  return (deliverLocal, nodeId) => new FaultyBroker(faults, inner, deliverLocal, nodeId);
}

/** `server`, with every frame its sessions write passed to `write` (which may send it or not). */
function rewriting(
  server: RelayServer,
  write: (text: string, send: (text: string) => void) => void,
): RelayServer {
  return {
    listen: (hostname, port, routes) => server.listen(hostname, port, routes),
    upgrade: (request, accepted) =>
      server.upgrade(request, {
        ...accepted,
        open: (transport) => {
          const rewritten: Transport = {
            send: (text) => write(text, (t) => transport.send(t)),
            close: (code, reason) => transport.close(code, reason),
            get bufferedAmount() {
              return transport.bufferedAmount;
            },
          };
          return accepted.open(rewritten);
        },
      }),
  };
}

/** Rewrites the session cap in every `ready` the sessions of `server` write. */
function advertisingCap(server: RelayServer, cap: number): RelayServer {
  return rewriting(server, (text, send) => {
    if (!text.startsWith('{"type":"ready"')) return send(text);
    const ready = JSON.parse(text);
    ready.limits.maxSessionsPerUser = cap;
    send(JSON.stringify(ready));
  });
}

/** Presence changes (presence frames without a ref) reporting someone online / offline. */
const ONLINE_CHANGE = /^\{"type":"presence","online":\["/;
const OFFLINE_CHANGE = /^\{"type":"presence","online":\[\],"offline":\["[^]*\]\}$/;

/** Delays online reports (`presence-late`) or drops offline ones (`presence-no-offline`). */
function badPresence(server: RelayServer, faults: ReadonlySet<Fault>): RelayServer {
  return rewriting(server, (text, send) => {
    if (faults.has("presence-late") && ONLINE_CHANGE.test(text) && !text.includes('"ref"')) {
      setTimeout(() => send(text), 200);
    } else if (!(faults.has("presence-no-offline") && OFFLINE_CHANGE.test(text))) send(text);
  });
}

/**
 * Starts the reference relay with `faults`, like `serveRelay(options)` (whose `broker`, when
 * given, is the one the faults wrap).
 */
export function serveFaultyRelay(
  faults: ReadonlySet<Fault>,
  options: RelayOptions = {},
): Promise<Relay> {
  let relayOptions: RelayOptions = { ...options, broker: faultyBroker(faults, options.broker) };
  if (faults.has("ignore-cap")) {
    const cap = options.limits?.maxSessionsPerUser ?? DEFAULT_LIMITS.maxSessionsPerUser;
    relayOptions = {
      ...relayOptions,
      limits: { ...options.limits, maxSessionsPerUser: NO_CAP },
      server: advertisingCap(options.server ?? relayServer(options.transport), cap),
    };
  }
  if (faults.has("presence-late") || faults.has("presence-no-offline")) {
    relayOptions = {
      ...relayOptions,
      server: badPresence(relayOptions.server ?? relayServer(relayOptions.transport), faults),
    };
  }
  return serveRelay(relayOptions);
}
