/**
 * `serveRelay`: the reference relay on `Deno.serve`, with its registry, router and broker.
 *
 * @module
 */
import type { Limits } from "../schemas/protocol.ts";
import type { Authenticator } from "./auth.ts";
import type { BrokerFactory } from "./broker.ts";
import { localBroker } from "./broker_local.ts";
import type { Directory } from "./directory.ts";
import { resolveLimits } from "./limits.ts";
import { type Logger, silentLogger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { hostForUrl, originPolicy } from "./origin.ts";
import { Registry } from "./registry.ts";
import { type Fault, Router } from "./router.ts";
import { DEFAULT_WEB_ROOT } from "./static.ts";
import { type Connection, createHandler, type RelayContext } from "./transport.ts";

/** How to run a relay; every field is optional. */
export interface RelayOptions {
  /** Interface to listen on (default `127.0.0.1`). */
  hostname?: string;
  /** Port to listen on (default 8080; 0 picks a free port). */
  port?: number;
  /** Limits overriding `DEFAULT_LIMITS`. */
  limits?: Partial<Limits>;
  /** Exact allowed origins; default: the relay's own http origins; `["*"]` allows any. */
  origins?: string[];
  /** Whether upgrades without an Origin header (non-browser clients) are allowed (default true). */
  allowNoOrigin?: boolean;
  /** Token verification; absent = no auth. */
  auth?: Authenticator;
  /** User directory for display fields and `GET /api/users`. */
  directory?: Directory;
  /** Folder served at `/` (default: this repository's `web/`); null serves no page. */
  webRoot?: string | null;
  /** Event log (default: silent). */
  logger?: Logger;
  /** Creates the broker, given the relay's node id (default: the local in-memory broker). */
  broker?: BrokerFactory;
  /** TEST ONLY fault injection for the conformance self-tests. */
  faults?: ReadonlySet<Fault>;
  /** Aborting it closes the relay. */
  signal?: AbortSignal;
}

/** A running relay. */
export interface Relay {
  /** `http://HOST:PORT` (the page). */
  readonly url: string;
  /** `ws://HOST:PORT/ws`. */
  readonly wsUrl: string;
  readonly port: number;
  readonly metrics: Metrics;
  /** Open connections, identified sessions and users online on this relay. */
  stats(): { connections: number; sessions: number; users: number };
  /** Stops accepting, closes every session with 1001 and resolves when done. */
  close(): Promise<void>;
}

const CLOSE_WAIT_MS = 2000;

/** Starts a relay and resolves once it listens; rejects on a bad option or a port in use. */
export function serveRelay(options: RelayOptions = {}): Promise<Relay> {
  try {
    return Promise.resolve(start(options));
  } catch (error) {
    return Promise.reject(error);
  }
}

function start(options: RelayOptions): Relay {
  const limits = resolveLimits(options.limits);
  const hostname = options.hostname ?? "127.0.0.1";
  const node = crypto.randomUUID().slice(0, 8);
  const metrics = new Metrics();
  const registry = new Registry<Connection>();
  const router = new Router<Connection>({
    registry,
    broker: options.broker ?? localBroker,
    counters: metrics,
    node,
    maxSessionsPerUser: limits.maxSessionsPerUser,
    faults: options.faults,
  });
  const ctx: RelayContext = {
    limits,
    registry,
    router,
    metrics,
    logger: options.logger ?? silentLogger,
    auth: options.auth,
    directory: options.directory,
    webRoot: options.webRoot === undefined ? DEFAULT_WEB_ROOT : options.webRoot,
    node,
    connections: new Set(),
    closing: false,
  };
  // The origin policy names the port, known once listening; the handler is made before this
  // function returns, so before the first request is read.
  const server = Deno.serve(
    { hostname, port: options.port ?? 8080, onListen() {} },
    (req, info) => handler(req, info),
  );
  const port = server.addr.port;
  const origins = originPolicy({
    origins: options.origins,
    allowNoOrigin: options.allowNoOrigin ?? true,
    hostname,
    port,
  });
  const handler = createHandler(ctx, origins, () => router.broker.state);
  ctx.logger.event("listen", { host: hostname, port });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closed ??= (async () => {
      ctx.closing = true;
      const open = [...ctx.connections];
      for (const c of open) c.close(1001, "server shutting down");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(open.map((c) => c.done)),
        new Promise((resolve) => timer = setTimeout(resolve, CLOSE_WAIT_MS)),
      ]);
      clearTimeout(timer);
      await server.shutdown();
      await router.broker.close();
    })();
  options.signal?.addEventListener("abort", () => close(), { once: true });

  const base = hostForUrl(hostname);
  return {
    url: `http://${base}:${port}`,
    wsUrl: `ws://${base}:${port}/ws`,
    port,
    metrics,
    stats: () => ({
      connections: ctx.connections.size,
      sessions: registry.sessions,
      users: registry.users,
    }),
    close,
  };
}
