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
import { hostForUrl, hostPolicy, originPolicy } from "./origin.ts";
import {
  createMetricsRoutes,
  createRoutes,
  type Listening,
  type RelayServer,
  type Routes,
} from "./routes.ts";
import { DEFAULT_WEB_ROOT } from "./static.ts";
import { tcpServer } from "./tcp_adapter.ts";
import { DEFAULT_TRANSPORT, type TransportName } from "./transports.ts";

/** How to run a relay; every field is optional. */
export interface RelayOptions extends HubOptions {
  /** Interface to listen on (default `127.0.0.1`). */
  hostname?: string;
  /** Port to listen on (default 8080; 0 picks a free port). */
  port?: number;
  /** Origins allowed besides the relay's own http origins; `"*"` among them allows any. */
  origins?: string[];
  /**
   * Host names the HTTP routes answer besides loopback names, IP addresses, the bound name and
   * the hosts of `origins`; `"*"` among them answers any (DNS rebinding is then possible).
   */
  serverNames?: string[];
  /** How `/metrics` is served: behind a bearer token, or on a listener of its own. */
  metrics?: MetricsOptions;
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

/** How a relay serves `/metrics`; every field is optional. */
export interface MetricsOptions {
  /** A bearer token every scrape must send (`Authorization: Bearer TOKEN`). */
  token?: string;
  /** A port of its own for `/metrics` (0: any free port); the public listener then has none. */
  port?: number;
  /** The interface of that port (default `127.0.0.1`). */
  hostname?: string;
}

/** A running relay. */
export interface Relay {
  /** `http://HOST:PORT` (the page). */
  readonly url: string;
  /** `ws://HOST:PORT/ws`. */
  readonly wsUrl: string;
  readonly port: number;
  /** Where `/metrics` is served. */
  readonly metricsUrl: string;
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
export async function serveRelay(options: RelayOptions = {}): Promise<Relay> {
  const hostname = options.hostname ?? "127.0.0.1";
  const hub = new Hub(options);
  const server = options.server ?? relayServer(options.transport);
  const hosts = hostPolicy({ names: options.serverNames, origins: options.origins, hostname });
  const access = { hosts, token: options.metrics?.token };
  const own = options.metrics?.port !== undefined;
  // The origin policy names the port, known once listening; the routes are made before this
  // function returns, so before the first request is read.
  let listening: Listening;
  try {
    listening = server.listen(hostname, options.port ?? 8080, (req, ip) => routes(req, ip));
  } catch (error) {
    await hub.close(); // the broker may hold connections already
    throw error;
  }
  const port = listening.port;
  const routes: Routes = createRoutes(hub, {
    origins: originPolicy({
      origins: options.origins,
      allowNoOrigin: options.allowNoOrigin ?? true,
      hostname,
      port,
    }),
    hosts,
    webRoot: options.webRoot === undefined ? DEFAULT_WEB_ROOT : options.webRoot,
    upgrade: server.upgrade,
    metrics: own ? null : access,
  });
  hub.logger.event("listen", { host: hostname, port });
  const base = hostForUrl(hostname);
  let metricsUrl = `http://${base}:${port}/metrics`;
  let metricsListening: Listening | undefined;
  if (own) {
    const metricsHost = options.metrics?.hostname ?? "127.0.0.1";
    try {
      metricsListening = server.listen(
        metricsHost,
        options.metrics!.port!,
        createMetricsRoutes(hub, access),
      );
    } catch (error) {
      await listening.shutdown();
      await hub.close();
      throw error;
    }
    metricsUrl = `http://${hostForUrl(metricsHost)}:${metricsListening.port}/metrics`;
    hub.logger.event("listen", {
      host: metricsHost,
      port: metricsListening.port,
      serves: "metrics",
    });
  }

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closed ??= (async () => {
      await hub.closeSessions(CLOSE_WAIT_MS);
      await Promise.all([listening.shutdown(), metricsListening?.shutdown()]);
      await hub.close();
    })();
  options.signal?.addEventListener("abort", () => close(), { once: true });

  return {
    url: `http://${base}:${port}`,
    wsUrl: `ws://${base}:${port}/ws`,
    port,
    metricsUrl,
    metrics: hub.metrics,
    stats: () => hub.stats(),
    close,
  };
}
