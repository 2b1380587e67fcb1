/**
 * One relay apart from any server: its node id (made once, handed to the broker), limits,
 * metrics, session registry, router and broker, and the open sessions. A server adapter hands
 * each new connection to {@linkcode Hub.open}; nothing here does I/O.
 *
 * ```ts
 * import { Hub } from "./hub.ts";
 * const hub = new Hub({ limits: { maxSessionsPerUser: 2 } });
 * const session = hub.open(
 *   { send: (text) => console.log(text), close() {}, bufferedAmount: 0 },
 *   "v1",
 *   null,
 *   "127.0.0.1",
 * );
 * session.text('{"type":"identify","id":"1001"}'); // logs the ready frame
 * await hub.closeSessions(0);
 * await hub.close();
 * ```
 *
 * @module
 */
import { CloseCode, type Limits, type Profile } from "../schemas/protocol.ts";
import type { Authenticator } from "./auth.ts";
import type { BrokerFactory } from "./broker.ts";
import { localBroker } from "./broker_local.ts";
import type { Directory } from "./directory.ts";
import { resolveLimits } from "./limits.ts";
import { type Logger, silentLogger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { REFUSAL_LOG_INTERVAL_MS, Refusals } from "./refusals.ts";
import { Presence, type PresenceSettings } from "./presence.ts";
import { Registry } from "./registry.ts";
import { Router } from "./router.ts";
import { ClientSession, type SessionContext, type Transport } from "./session.ts";

/** How a {@linkcode Hub} is built; every field is optional. */
export interface HubOptions {
  /** Limits overriding `DEFAULT_LIMITS`; a value that is not a positive integer throws. */
  limits?: Partial<Limits>;
  /** Token verification; absent = no auth. */
  auth?: Authenticator;
  /** User directory for display fields. */
  directory?: Directory;
  /** Event log (default: silent). */
  logger?: Logger;
  /** How often refusals are logged, as one summary line per reason (default 10 s). */
  refusalLogIntervalMs?: number;
  /** Creates the broker, given the relay's node id (default: the local in-memory broker). */
  broker?: BrokerFactory;
  /** Presence settings (default `DEFAULT_PRESENCE`: offered with tokens or a directory). */
  presence?: Partial<PresenceSettings>;
}

/** Counts of one relay: open connections, identified sessions and users online. */
export interface RelayStats {
  connections: number;
  sessions: number;
  users: number;
}

/** The state shared by every session of one relay. */
export class Hub implements SessionContext {
  /** This relay's id, unique per process: it prefixes session and message ids. */
  readonly node: string = crypto.randomUUID().slice(0, 8);
  readonly limits: Readonly<Limits>;
  readonly metrics: Metrics = new Metrics();
  readonly registry: Registry<ClientSession> = new Registry();
  readonly router: Router<ClientSession>;
  readonly logger: Logger;
  readonly refusals: Refusals;
  readonly auth?: Authenticator;
  readonly directory?: Directory;
  readonly presence: Presence<ClientSession>;
  readonly sessions: Set<ClientSession> = new Set();
  #seq = 0;
  #closing = false;

  /** Builds the relay's parts; throws on a bad limit. */
  constructor(options: HubOptions = {}) {
    this.limits = resolveLimits(options.limits);
    const logger = this.logger = options.logger ?? silentLogger;
    this.metrics.logLinesDropped = () => logger.dropped ?? 0;
    this.refusals = new Refusals(
      this.metrics,
      logger,
      options.refusalLogIntervalMs ?? REFUSAL_LOG_INTERVAL_MS,
    );
    this.auth = options.auth;
    this.directory = options.directory;
    this.router = new Router({
      registry: this.registry,
      broker: options.broker ?? localBroker,
      counters: this.metrics,
      refused: (reason, session) => this.refusals.add(reason, { session }),
      node: this.node,
      maxSessionsPerUser: this.limits.maxSessionsPerUser,
      presence: {
        here: (user) => this.presence.here(user),
        gone: (user) => this.presence.gone(user),
      },
    });
    this.presence = new Presence({
      ...options.presence,
      tokens: options.auth !== undefined,
      directory: options.directory,
      bus: this.router.broker.presence,
      counters: this.metrics,
    });
  }

  /**
   * Starts the session of a new connection: `profile` was negotiated at the upgrade, `token` is
   * the legacy `?token=` of its URL, `ip` the peer's address (for the log).
   */
  open(transport: Transport, profile: Profile, token: string | null, ip: string): ClientSession {
    const id = `${this.node}.${(++this.#seq).toString(36)}`;
    return new ClientSession(this, transport, id, profile, token, ip);
  }

  /** Whether the relay has stopped accepting connections ({@linkcode closeSessions}). */
  get closing(): boolean {
    return this.#closing;
  }

  /** Whether the broker can reach the other relays. */
  get brokerState(): "up" | "down" {
    return this.router.broker.state;
  }

  /** Open connections, identified sessions and users online on this relay. */
  stats(): RelayStats {
    return {
      connections: this.sessions.size,
      sessions: this.registry.sessions,
      users: this.registry.users,
    };
  }

  /**
   * Stops accepting connections and closes every session with 1001; resolves once each
   * transport reported its connection gone, or after `waitMs`.
   */
  async closeSessions(waitMs: number): Promise<void> {
    this.#closing = true;
    const open = [...this.sessions];
    for (const session of open) session.close(CloseCode.goingAway, "server shutting down");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(open.map((session) => session.done)),
      new Promise((resolve) => timer = setTimeout(resolve, waitMs)),
    ]);
    clearTimeout(timer);
  }

  /**
   * Logs the last refusal summaries, ends presence (other relays keep this one's users one
   * offline delay longer), then releases the broker.
   */
  async close(): Promise<void> {
    this.refusals.close();
    await this.presence.close();
    await this.router.broker.close();
  }
}
