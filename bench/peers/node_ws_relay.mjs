/**
 * A legacy-profile LayIM relay on Node.js and `ws`, written the way a competent Node developer
 * would: a `WebSocketServer`, the first message is the user id, a `Map` of sessions per user,
 * `JSON.parse`/`JSON.stringify`, and a try/catch so a bad frame cannot crash the process.
 * A bench baseline (`bench/peers/package.json` pins `ws`).
 *
 * ```sh
 * npm ci --prefix bench/peers && node bench/peers/node_ws_relay.mjs --port 8002
 * ```
 *
 * @module
 */
import { createRequire } from "node:module";

// `require` keeps `deno check bench/` away from the npm package, which only Node resolves here.
const { WebSocketServer } = createRequire(import.meta.url)("ws");

const portFlag = process.argv.indexOf("--port");
const port = portFlag >= 0 ? Number(process.argv[portFlag + 1]) : 8002;
const sessions = new Map();
let nextCid = 0;

const server = new WebSocketServer({ host: "127.0.0.1", port });

server.on("connection", (socket) => {
  let id;
  socket.on("message", (data, isBinary) => {
    if (isBinary) return socket.close(1003);
    if (id === undefined) {
      id = data.toString();
      if (!sessions.has(id)) sessions.set(id, new Set());
      sessions.get(id).add(socket);
      return;
    }
    let message;
    try {
      message = JSON.parse(data.toString());
    } catch {
      return;
    }
    const peers = sessions.get(String(message?.to?.id));
    if (!peers) return;
    const mine = message.mine ?? {};
    const text = JSON.stringify({
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
    for (const peer of peers) if (peer !== socket) peer.send(text);
  });
  socket.on("close", () => {
    const own = sessions.get(id);
    if (!own) return;
    own.delete(socket);
    if (own.size === 0) sessions.delete(id);
  });
  socket.on("error", () => socket.terminate());
});
