/**
 * `serveRelay`: the reference relay, assembled — a {@linkcode Hub} (sessions, router, broker),
 * its {@linkcode createRoutes routes} and the server that runs them (the project's own
 * transport on `Deno.listen` by default, or Deno's: see {@linkcode relayServer}).
 *
 * @module
 */
import { denoServer } from "./deno_adapter.ts";
import { Hub, type HubOptions, type RelayStats } from "./hub.ts";
import type { Metrics } from "./metrics.ts";
import { hostForUrl, originPolicy } from "./origin.ts";
import { createRoutes, type RelayServer, type Routes } from "./routes.ts";
import { DEFAULT_WEB_ROOT } from "./static.ts";
import { tcpServer } from "./tcp_adapter.ts";
import { DEFAULT_TRANSPORT, type TransportName } from "./transports.ts";

/** How to run a relay; every field is optional. */
export interface RelayOptions extends HubOptions {
  /** Interface to listen on (default `127.0.0.1`). */
  hostname?: string;
  /** Port to listen on (default 8080; 0 picks a free port). */
  port?: number;
  /** Exact allowed origins; default: the relay's own http origins; `["*"]` allows any. */
  origins?: string[];
  /** Whether upgrades without an Origin header (non-browser clients) are allowed (default true). */
  allowNoOrigin?: boolean;
  /** Folder served at `/` (default: this repository's `web/`); null serves no page. */
  webRoot?: string | null;
  /** The WebSocket transport when `server` is not given (default `tcp`). */
  transport?: TransportName;
  /** The HTTP and WebSocket server (default: the one of `transport`). */
  server?: RelayServer;
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
  stats(): RelayStats;
  /** Stops accepting, closes every session with 1001 and resolves when done. */
  close(): Promise<void>;
}

const CLOSE_WAIT_MS = 2000;

/** The server of a transport: `tcp` (`reference/ws`) or `deno` (`Deno.serve`). */
export function relayServer(transport: TransportName = DEFAULT_TRANSPORT): RelayServer {
  return transport === "deno" ? denoServer : tcpServer();
}

/** Starts a relay and resolves once it listens; rejects on a bad option or a port in use. */
export function serveRelay(options: RelayOptions = {}): Promise<Relay> {
  try {
    return Promise.resolve(start(options));
  } catch (error) {
    return Promise.reject(error);
  }
}

function start(options: RelayOptions): Relay {
  const hostname = options.hostname ?? "127.0.0.1";
  const hub = new Hub(options);
  const server = options.server ?? relayServer(options.transport);
  // The origin policy names the port, known once listening; the routes are made before this
  // function returns, so before the first request is read.
  const listening = server.listen(hostname, options.port ?? 8080, (req, ip) => routes(req, ip));
  const port = listening.port;
  const routes: Routes = createRoutes(hub, {
    origins: originPolicy({
      origins: options.origins,
      allowNoOrigin: options.allowNoOrigin ?? true,
      hostname,
      port,
    }),
    webRoot: options.webRoot === undefined ? DEFAULT_WEB_ROOT : options.webRoot,
    upgrade: server.upgrade,
  });
  hub.logger.event("listen", { host: hostname, port });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closed ??= (async () => {
      await hub.closeSessions(CLOSE_WAIT_MS);
      await listening.shutdown();
      await hub.close();
    })();
  options.signal?.addEventListener("abort", () => close(), { once: true });

  const base = hostForUrl(hostname);
  return {
    url: `http://${base}:${port}`,
    wsUrl: `ws://${base}:${port}/ws`,
    port,
    metrics: hub.metrics,
    stats: () => hub.stats(),
    close,
  };
}
