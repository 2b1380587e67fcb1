/**
 * A legacy-profile LayIM relay on Node.js and `ws`, written the way a competent Node developer
 * would: a `WebSocketServer` and the routing every minimal baseline shares
 * (`legacy_routing.mjs`: a `Map` of sessions per user, a bad frame ignored, never a crash).
 * A bench baseline (`bench/peers/package.json` pins `ws`).
 *
 * ```sh
 * npm ci --prefix bench/peers && node bench/peers/node_ws_relay.mjs --port 8002
 * ```
 *
 * @module
 */
import { createRequire } from "node:module";
import { legacyRouting } from "./legacy_routing.mjs";

// `require` keeps `deno check bench/` away from the npm package, which only Node resolves here.
const { WebSocketServer } = createRequire(import.meta.url)("ws");

const portFlag = process.argv.indexOf("--port");
const port = portFlag >= 0 ? Number(process.argv[portFlag + 1]) : 8002;
const routing = legacyRouting();

const server = new WebSocketServer({ host: "127.0.0.1", port });

server.on("connection", (socket) => {
  const state = {};
  socket.on("message", (data, isBinary) => {
    if (isBinary) return socket.close(1003);
    routing.text(socket, state, data.toString());
  });
  socket.on("close", () => routing.leave(socket, state));
  socket.on("error", () => socket.terminate());
});
