/**
 * A v1 client in a process of its own, for the half-open peer test: it identifies as the given
 * user, prints `ready` and then does nothing, so that stopping its process (SIGSTOP) leaves a
 * connection whose TCP side is alive but which answers nothing, not even a Ping.
 *
 *   deno run --allow-net reference/testdata/idle_client.ts ws://127.0.0.1:PORT/ws USER
 *
 * @module
 */
const [url, id] = Deno.args;
const socket = new WebSocket(url, "layim-ws.v1");
socket.onopen = () => socket.send(JSON.stringify({ type: "identify", id }));
socket.onmessage = (e) => {
  if (JSON.parse(e.data).type === "ready") console.log("ready");
};
socket.onclose = (e) => {
  console.log(`closed ${e.code}`);
  Deno.exit(0);
};
