/**
 * The minimal Deno relay of `min_relay.ts` on the project's own transport (`reference/ws/`,
 * raw TCP from `Deno.listen`) instead of `Deno.serve` + `Deno.upgradeWebSocket`: the same
 * routing (`legacy_routing.mjs`), no validation, the transport's default limits (flags change
 * them). It measures what
 * the transport costs before the relay's session runs on it, and it is the target of the
 * transport's attack tests and of the fuzzer.
 *
 * ```sh
 * deno run --allow-net --allow-read=/dev/null bench/peers/tcp_min_relay.ts --port 8004 \
 *   [--max-message-bytes N] [--max-connections N] [--header-timeout-ms N] [--close-timeout-ms N]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { serve, type WebSocketConnection } from "../../reference/ws/mod.ts";
import { legacyRouting } from "./legacy_routing.mjs";

const routing = legacyRouting();

function accept(socket: WebSocketConnection): void {
  const state: { id?: string } = {};
  socket.onText = (text) => routing.text(socket, state, text);
  socket.onBinary = () => socket.close(1003, "binary");
  socket.onClose = () => routing.leave(socket, state);
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string", default: "8004" },
    "max-message-bytes": { type: "string" },
    "max-connections": { type: "string" },
    "header-timeout-ms": { type: "string" },
    "close-timeout-ms": { type: "string" },
  },
});
const number = (value: string | undefined) => value === undefined ? undefined : Number(value);
serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  maxMessageBytes: number(values["max-message-bytes"]),
  maxConnections: number(values["max-connections"]),
  headerTimeoutMs: number(values["header-timeout-ms"]),
  closeTimeoutMs: number(values["close-timeout-ms"]),
}, (_request, info) => {
  const { socket, response } = info.upgrade();
  accept(socket);
  return response;
});
