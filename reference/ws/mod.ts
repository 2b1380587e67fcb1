/**
 * An RFC 6455 WebSocket server transport on `Deno.listen`, with no knowledge of the frames it
 * carries: HTTP/1.1 for upgrades and plain GET routes on web-standard `Request`/`Response`,
 * the WebSocket protocol with its limits enforced while reading, the close handshake with a
 * hard drop, keepalive, a connection cap and batched writes.
 *
 * ```ts ignore
 * import { serve } from "./mod.ts";
 * serve({ port: 8080, maxMessageBytes: 65536 }, (req, info) => {
 *   if (new URL(req.url).pathname !== "/ws") return new Response("not found", { status: 404 });
 *   if (req.headers.get("origin") === "https://evil.example") {
 *     return new Response("origin not allowed", { status: 403 });
 *   }
 *   const { socket, response } = info.upgrade({ idleTimeoutMs: 30_000, idleCloseCode: 4006 });
 *   socket.onText = (text) => socket.send(text);
 *   socket.onBinary = () => socket.close(1003, "binary frames are not supported");
 *   socket.onClose = (code, reason) => console.log("closed", code, reason);
 *   return response;
 * });
 * ```
 *
 * @module
 */
export type { Keepalive, Transport, WebSocketConnection } from "./connection.ts";
export { Close, Opcode } from "./frame.ts";
export {
  defaultMaxConnections,
  type Handler,
  serve,
  type ServeInfo,
  type ServeOptions,
  type Server,
  type Upgrade,
  UpgradeError,
  type UpgradeOptions,
} from "./server.ts";
