/**
 * A legacy-profile LayIM relay on Bun (`Bun.serve`, uWebSockets inside), written like the Node
 * `ws` relay: the first message is the user id, a `Map` of sessions per user,
 * `JSON.parse`/`JSON.stringify`, a try/catch so a bad frame cannot crash the process. A bench
 * baseline (`bench/peers/package.json` pins `bun`; Bun's default limits and keepalive).
 *
 * ```sh
 * npm ci --prefix bench/peers && bench/peers/node_modules/.bin/bun bench/peers/bun_relay.mjs --port 8003
 * ```
 *
 * @module
 */
const Bun = globalThis.Bun;
const portFlag = process.argv.indexOf("--port");
const port = portFlag >= 0 ? Number(process.argv[portFlag + 1]) : 8003;
const sessions = new Map();
let nextCid = 0;

Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch(request, server) {
    if (server.upgrade(request, { data: { id: undefined } })) return undefined;
    return new Response("not found\n", { status: 404 });
  },
  websocket: {
    message(socket, data) {
      if (typeof data !== "string") return socket.close(1003);
      const id = socket.data.id;
      if (id === undefined) {
        socket.data.id = data;
        if (!sessions.has(data)) sessions.set(data, new Set());
        sessions.get(data).add(socket);
        return;
      }
      let message;
      try {
        message = JSON.parse(data);
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
    },
    close(socket) {
      const own = sessions.get(socket.data.id);
      if (!own) return;
      own.delete(socket);
      if (own.size === 0) sessions.delete(socket.data.id);
    },
  },
});
