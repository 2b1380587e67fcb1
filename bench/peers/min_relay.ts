/**
 * The smallest Deno relay that speaks the legacy profile (the routing of `legacy_routing.mjs`,
 * shared with the other minimal baselines). No validation, no limits, no logging: the ceiling
 * of a Deno relay, the baseline the reference relay is measured against.
 *
 * ```sh
 * deno run --allow-net bench/peers/min_relay.ts --port 8001
 * ```
 *
 * @module
 */

import { legacyRouting } from "./legacy_routing.mjs";

const routing = legacyRouting();

function accept(socket: WebSocket): void {
  const state: { id?: string } = {};
  socket.onmessage = (event) => routing.text(socket, state, String(event.data));
  socket.onclose = () => routing.leave(socket, state);
}

const portFlag = Deno.args.indexOf("--port");
const port = portFlag >= 0 ? Number(Deno.args[portFlag + 1]) : 8001;
Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  accept(socket);
  return response;
});
