/**
 * The smallest Deno relay that speaks the legacy profile: the first text frame is the user id,
 * every later frame is `JSON.parse`d, routed by a map lookup and sent as a getMessage with
 * `JSON.stringify`. No validation, no limits, no logging: the ceiling of a Deno relay, the
 * baseline the reference relay is measured against.
 *
 * ```sh
 * deno run --allow-net bench/peers/min_relay.ts --port 8001
 * ```
 *
 * @module
 */

const sessions = new Map<string, Set<WebSocket>>();
let nextCid = 0;

function accept(socket: WebSocket): void {
  let id: string | undefined;
  socket.onmessage = (event) => {
    if (id === undefined) {
      id = String(event.data);
      let own = sessions.get(id);
      if (own === undefined) sessions.set(id, own = new Set());
      own.add(socket);
      return;
    }
    const data = JSON.parse(event.data);
    const peers = sessions.get(String(data.to.id));
    if (peers === undefined) return;
    const mine = data.mine;
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
  };
  socket.onclose = () => {
    if (id === undefined) return;
    const own = sessions.get(id);
    own?.delete(socket);
    if (own?.size === 0) sessions.delete(id);
  };
}

const portFlag = Deno.args.indexOf("--port");
const port = portFlag >= 0 ? Number(Deno.args[portFlag + 1]) : 8001;
Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  accept(socket);
  return response;
});
