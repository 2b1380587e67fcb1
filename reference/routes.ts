/**
 * The relay's HTTP side on web-standard `Request`/`Response`, whatever server runs it:
 * `/healthz`, `/metrics`, `/api/users`, the chat page and layui, and the checks made before a
 * WebSocket upgrade (path, shutdown, Origin, subprotocol). HTTP requests are answered only for
 * the relay's own host names (DNS rebinding); `/metrics` can require a bearer token, or move to
 * a listener of its own ({@linkcode createMetricsRoutes}). The upgrade itself belongs to the
 * server: it is the {@linkcode Upgrade} of a {@linkcode RelayServer}, and every server adapter
 * serves these same routes.
 *
 * @module
 */
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import type { Hub } from "./hub.ts";
import type { HostPolicy, OriginPolicy } from "./origin.ts";
import type { SessionEvents, Transport } from "./session.ts";
import { isPageFile, LAYUI_DIST, serveFile } from "./static.ts";

/** The relay's answer to one HTTP request from the peer at `ip`. */
export type Routes = (request: Request, ip: string) => Response | Promise<Response>;

/** An upgrade that passed every check: how to answer it, and the session to connect. */
export interface Accepted {
  /** The subprotocol to select (`layim-ws.v1`); undefined selects none (legacy). */
  readonly protocol: string | undefined;
  /** Keepalive: the transport pings, and closes a peer that stays silent this long (4006). */
  readonly idleTimeoutMs: number;
  /** The largest text frame; a transport that reads no further reports it as `tooBig`. */
  readonly maxFrameBytes: number;
  /** Starts the session of the new connection; the adapter then reports the events to it. */
  open(transport: Transport): SessionEvents;
}

/** Upgrades `request` to a WebSocket and returns the server's answer; throws on a bad upgrade. */
export type Upgrade = (request: Request, accepted: Accepted) => Response;

/** A running server. */
export interface Listening {
  /** The port it listens on. */
  readonly port: number;
  /** Stops accepting and resolves once the server has stopped. */
  shutdown(): Promise<void>;
}

/** A runtime's HTTP server with its WebSocket upgrade: what a relay's routes run on. */
export interface RelayServer {
  /**
   * Listens on `hostname:port` (port 0: any free port) and hands every request to `routes`,
   * never before `listen` has returned; throws when it cannot listen.
   */
  listen(hostname: string, port: number, routes: Routes): Listening;
  /** Upgrades a request the routes accepted. */
  readonly upgrade: Upgrade;
}

/** How `/metrics` is protected. */
export interface MetricsAccess {
  /** The names the metrics are served for. */
  readonly hosts: HostPolicy;
  /** A bearer token every scrape must send (`Authorization: Bearer TOKEN`); absent: none. */
  readonly token?: string;
}

/** How {@linkcode createRoutes} serves a relay. */
export interface RoutesOptions {
  /** Who may open a WebSocket. */
  readonly origins: OriginPolicy;
  /** The names the HTTP routes answer. */
  readonly hosts: HostPolicy;
  /** Folder served at `/`; null serves no page. */
  readonly webRoot: string | null;
  /** The server's WebSocket upgrade. */
  readonly upgrade: Upgrade;
  /** Who may read `/metrics` here; null: not here (a listener of its own serves them). */
  readonly metrics: MetricsAccess | null;
}

function text(status: number, body: string): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function json(value: unknown): Response {
  return new Response(JSON.stringify(value), {
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

const encoder = new TextEncoder();

/** Whether two strings are equal, in a time that does not depend on where they differ. */
function sameSecret(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i % y.length];
  return diff === 0 && y.length > 0;
}

/** The checks shared by every HTTP route: method, then the served host names. */
function refuseRequest(hub: Hub, hosts: HostPolicy, req: Request, ip: string): Response | null {
  if (req.method !== "GET" && req.method !== "HEAD") return text(405, "method not allowed");
  if (!hosts.allows(req.headers.get("host"))) {
    hub.refusals.add("host", { ip });
    return text(421, "this relay does not serve that host name (see --server-name)");
  }
  return null;
}

async function metricsResponse(
  hub: Hub,
  access: MetricsAccess,
  req: Request,
  ip: string,
): Promise<Response> {
  if (access.token !== undefined) {
    const auth = req.headers.get("authorization") ?? "";
    if (!auth.startsWith("Bearer ") || !sameSecret(auth.slice(7), access.token)) {
      hub.refusals.add("metrics_token", { ip });
      return new Response("a bearer token is required\n", {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="metrics"', "content-type": "text/plain" },
      });
    }
  }
  hub.metrics.brokerUp = hub.brokerState === "up" ? 1 : 0;
  return new Response(await hub.metrics.render(), {
    headers: { "content-type": hub.metrics.contentType, "cache-control": "no-store" },
  });
}

/** The routes of a listener that serves only `/metrics` of the relay `hub`. */
export function createMetricsRoutes(hub: Hub, access: MetricsAccess): Routes {
  return (req, ip) => {
    const refused = refuseRequest(hub, access.hosts, req, ip);
    if (refused) return refused;
    if (new URL(req.url).pathname !== "/metrics") return text(404, "not found");
    return metricsResponse(hub, access, req, ip);
  };
}

/** The routes of the relay `hub`: WebSocket upgrades on `/ws` and `/`, then the HTTP routes. */
export function createRoutes(hub: Hub, options: RoutesOptions): Routes {
  const { origins, hosts, webRoot, upgrade, metrics } = options;

  function upgradeRoute(req: Request, url: URL, ip: string): Response {
    if (url.pathname !== "/ws" && url.pathname !== "/") return text(404, "not found");
    if (hub.closing) return text(503, "shutting down");
    const origin = req.headers.get("origin");
    if (!origins.allows(origin)) {
      hub.refusals.add("origin", { origin: origin ?? "", ip });
      return text(403, "origin not allowed");
    }
    const offered = req.headers.get("sec-websocket-protocol")?.split(",") ?? [];
    const profile = offered.some((p) => p.trim() === SUBPROTOCOL) ? "v1" : "legacy";
    const token = url.searchParams.get("token");
    try {
      return upgrade(req, {
        protocol: profile === "v1" ? SUBPROTOCOL : undefined,
        idleTimeoutMs: hub.limits.idleTimeoutMs,
        maxFrameBytes: hub.limits.maxFrameBytes,
        open: (transport) => hub.open(transport, profile, token, ip),
      });
    } catch {
      return text(400, "bad websocket upgrade");
    }
  }

  return (req, ip) => {
    const url = new URL(req.url);
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      return upgradeRoute(req, url, ip);
    }
    const refused = refuseRequest(hub, hosts, req, ip);
    if (refused) return refused;
    switch (url.pathname) {
      case "/healthz":
        return json({ status: "ok", ...hub.stats(), broker: hub.brokerState });
      case "/metrics":
        return metrics ? metricsResponse(hub, metrics, req, ip) : text(404, "not found");
      case "/api/users":
        return json({ users: hub.directory?.list() ?? [] });
    }
    if (url.pathname.startsWith("/layui/")) {
      return serveFile(LAYUI_DIST, url.pathname.slice("/layui/".length), req.method);
    }
    if (webRoot === null) return text(404, "not found");
    return serveFile(webRoot, url.pathname, req.method, isPageFile);
  };
}
