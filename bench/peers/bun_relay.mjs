/**
 * A legacy-profile LayIM relay on Bun (`Bun.serve`, uWebSockets inside), with the routing every
 * minimal baseline shares (`legacy_routing.mjs`: a bad frame is ignored, never a crash). A bench
 * baseline (`bench/peers/package.json` pins `bun`; Bun's default limits and keepalive).
 *
 * ```sh
 * npm ci --prefix bench/peers && bench/peers/node_modules/.bin/bun bench/peers/bun_relay.mjs --port 8003
 * ```
 *
 * @module
 */
import { legacyRouting } from "./legacy_routing.mjs";

const Bun = globalThis.Bun;
const portFlag = process.argv.indexOf("--port");
const port = portFlag >= 0 ? Number(process.argv[portFlag + 1]) : 8003;
const routing = legacyRouting();

Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(request, server) {
    if (server.upgrade(request, { data: {} })) return undefined;
    return new Response("not found\n", { status: 404 });
  },
  websocket: {
    message(socket, data) {
      if (typeof data !== "string") return socket.close(1003);
      routing.text(socket, socket.data, data);
    },
    close(socket) {
      routing.leave(socket, socket.data);
    },
  },
});
