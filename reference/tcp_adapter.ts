/**
 * The relay on the project's own RFC 6455 transport (`reference/ws/`, plain TCP from
 * `Deno.listen`): the same routes, the same sessions, and what `Deno.upgradeWebSocket` cannot
 * do — the frame limit enforced while reading (the session hears of an oversized message
 * before the 1009, so a v1 client still gets `frame_too_large`), masking and UTF-8 enforced
 * with 1002/1007 close frames, a close the relay starts enforced with a hard drop, a connection
 * cap below the descriptor limit, header and handshake timeouts, and batched writes.
 *
 * ```ts ignore
 * import { serveRelay } from "./relay.ts";
 * import { tcpServer } from "./tcp_adapter.ts";
 * const relay = await serveRelay({ port: 0, server: tcpServer({ headerTimeoutMs: 5000 }) });
 * ```
 *
 * @module
 */
import { CloseCode } from "../schemas/protocol.ts";
import type { Accepted, Listening, RelayServer, Routes } from "./routes.ts";
import { serve, type ServeInfo, type ServeOptions, UpgradeError } from "./ws/mod.ts";

/** The transport's own settings (see `reference/ws/server.ts`); every field is optional. */
export type TcpServerOptions = Pick<
  ServeOptions,
  | "maxConnections"
  | "headerTimeoutMs"
  | "handshakeTimeoutMs"
  | "closeTimeoutMs"
  | "maxHeaderBytes"
  | "onError"
>;

/**
 * A {@linkcode RelayServer} on `reference/ws`. Keepalive pings a connection silent for half
 * of `idleTimeoutMs` and closes it with 4006 once silent for all of it (LIFE-4, LIFE-11).
 */
export function tcpServer(options: TcpServerOptions = {}): RelayServer {
  // The routes see web-standard Requests; the upgrade needs the request's own ServeInfo.
  const infos = new WeakMap<Request, ServeInfo>();

  function listen(hostname: string, port: number, routes: Routes): Listening {
    const server = serve({ ...options, hostname, port }, (request, info) => {
      infos.set(request, info);
      return routes(request, info.remoteAddr.hostname);
    });
    return { port: server.addr.port, shutdown: () => server.shutdown() };
  }

  function upgrade(request: Request, accepted: Accepted): Response {
    const info = infos.get(request);
    if (info === undefined) throw new TypeError("not a request of this server");
    let upgraded;
    try {
      upgraded = info.upgrade({
        protocol: accepted.protocol,
        idleTimeoutMs: Math.ceil(accepted.idleTimeoutMs / 2),
        idleCloseCode: CloseCode.keepaliveTimeout,
        maxMessageBytes: accepted.maxFrameBytes,
      });
    } catch (error) {
      // 400, or 426 with the Sec-WebSocket-Version this server speaks (RFC 6455 §4.2.2).
      if (error instanceof UpgradeError) return error.response();
      throw error;
    }
    const { socket, response } = upgraded;
    const session = accepted.open(socket);
    socket.onText = (text) => session.text(text);
    socket.onBinary = () => session.binary();
    // A binary message is refused as binary (1003) whatever its size, as on Deno's transport.
    socket.onTooBig = (kind) => kind === "binary" ? session.binary() : session.tooBig();
    socket.onClose = (code) => session.closed(code);
    return response;
  }

  return { listen, upgrade };
}
