/**
 * The relay's HTTP side on web-standard `Request`/`Response`, whatever server runs it:
 * `/healthz`, `/metrics`, `/api/users`, the chat page and layui, and the checks made before a
 * WebSocket upgrade (path, shutdown, Origin, subprotocol). The upgrade itself belongs to the
 * server: it is the {@linkcode Upgrade} of a {@linkcode RelayServer}, and every server adapter
 * serves these same routes.
 *
 * @module
 */
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import type { Hub } from "./hub.ts";
import type { OriginPolicy } from "./origin.ts";
import type { SessionEvents, Transport } from "./session.ts";
import { LAYUI_DIST, serveFile } from "./static.ts";

/** The relay's answer to one HTTP request from the peer at `ip`. */
export type Routes = (request: Request, ip: string) => Response | Promise<Response>;

/** An upgrade that passed every check: how to answer it, and the session to connect. */
export interface Accepted {
  /** The subprotocol to select (`layim-ws.v1`); undefined selects none (legacy). */
  readonly protocol: string | undefined;
  /** Keepalive: the transport pings, and closes a peer that stays silent this long (4006). */
  readonly idleTimeoutMs: number;
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

/** How {@linkcode createRoutes} serves a relay. */
export interface RoutesOptions {
  /** Who may open a WebSocket. */
  readonly origins: OriginPolicy;
  /** Folder served at `/`; null serves no page. */
  readonly webRoot: string | null;
  /** The server's WebSocket upgrade. */
  readonly upgrade: Upgrade;
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

/** The routes of the relay `hub`: WebSocket upgrades on `/ws` and `/`, then the HTTP routes. */
export function createRoutes(hub: Hub, options: RoutesOptions): Routes {
  const { origins, webRoot, upgrade } = options;

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
        open: (transport) => hub.open(transport, profile, token, ip),
      });
    } catch {
      return text(400, "bad websocket upgrade");
    }
  }

  return async (req, ip) => {
    const url = new URL(req.url);
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      return upgradeRoute(req, url, ip);
    }
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "method not allowed");
    switch (url.pathname) {
      case "/healthz":
        return json({ status: "ok", ...hub.stats(), broker: hub.brokerState });
      case "/metrics":
        hub.metrics.brokerUp = hub.brokerState === "up" ? 1 : 0;
        return new Response(await hub.metrics.render(), {
          headers: { "content-type": hub.metrics.contentType },
        });
      case "/api/users":
        return json({ users: hub.directory?.list() ?? [] });
    }
    if (url.pathname.startsWith("/layui/")) {
      return serveFile(LAYUI_DIST, url.pathname.slice("/layui/".length), req.method);
    }
    if (webRoot === null) return text(404, "not found");
    return serveFile(webRoot, url.pathname, req.method);
  };
}
