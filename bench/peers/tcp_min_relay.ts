/**
 * The minimal Deno relay of `min_relay.ts` on the project's own transport (`reference/ws/`,
 * raw TCP from `Deno.listen`) instead of `Deno.serve` + `Deno.upgradeWebSocket`: the same
 * routing, no validation (a frame that is not JSON is ignored, as in the Node and Bun relays), the transport's default limits (flags change them). It measures what
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

const sessions = new Map<string, Set<WebSocketConnection>>();
let nextCid = 0;

function accept(socket: WebSocketConnection): void {
  let id: string | undefined;
  socket.onText = (text) => {
    if (id === undefined) {
      id = text;
      let own = sessions.get(id);
      if (own === undefined) sessions.set(id, own = new Set());
      own.add(socket);
      return;
    }
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      return;
    }
    const peers = sessions.get(String(data?.to?.id));
    if (peers === undefined) return;
    const mine = data.mine ?? {};
    const out = JSON.stringify({
      username: mine.username,
      avatar: mine.avatar,
      id,
      type: "friend",
      content: mine.content,
      timestamp: Date.now(),
      fromid: id,
      cid: String(++nextCid),
      mine: false,
    });
    for (const peer of peers) if (peer !== socket) peer.send(out);
  };
  socket.onBinary = () => socket.close(1003, "binary");
  socket.onClose = () => {
    if (id === undefined) return;
    const own = sessions.get(id);
    own?.delete(socket);
    if (own?.size === 0) sessions.delete(id);
  };
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
