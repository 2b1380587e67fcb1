import { assert, assertEquals } from "@std/assert";
import { ConnectError, RawClient, SimClient } from "./client.ts";

/** An echo server that records how each connection ended. */
function echoServer() {
  const ends: { code: number; wasClean: boolean }[] = [];
  let ended = () => {};
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const protocol = req.headers.get("sec-websocket-protocol") ?? undefined;
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol });
    socket.onmessage = (e) => socket.send(`echo:${e.data}`);
    socket.onclose = (e) => {
      ends.push({ code: e.code, wasClean: e.wasClean });
      ended();
    };
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}/`,
    ends,
    nextEnd: () => new Promise<void>((resolve) => (ended = resolve)),
    close: () => server.shutdown(),
  };
}

const epoch = performance.now();

Deno.test("SimClient records frames, waits with timeouts and closes cleanly", async () => {
  const server = echoServer();
  const c = await SimClient.open({ label: "A", url: server.url, protocols: ["p1"], epoch }, 1000);
  assertEquals(c.protocol, "p1");
  c.send("hi");
  assertEquals(await c.waitFor((f) => f.text === "echo:hi" ? f.text : undefined, 1000), "echo:hi");
  assertEquals(await c.waitFor((f) => f.text === "never" ? 1 : undefined, 30), undefined);
  const end = server.nextEnd();
  await c.close(1000);
  await end;
  assertEquals(c.closed?.code, 1000);
  assertEquals(c.log.map((f) => `${f.dir} ${f.text}`), [
    "sent hi",
    "received echo:hi",
    "sent <close 1000>",
    "received <closed 1000>",
  ]);
  await server.close();
});

Deno.test("RawClient speaks RFC 6455 and drops TCP without a close frame", async () => {
  const server = echoServer();
  const c = await RawClient.open({ label: "R", url: server.url, epoch }, 1000);
  c.send("x".repeat(70_000));
  const echoed = await c.waitFor((f) => f.text.startsWith("echo:") ? f.text : undefined, 2000);
  assertEquals(echoed?.length, 70_005);
  const end = server.nextEnd();
  await c.destroy();
  await end;
  // No close frame: Deno reports an unclean end without a close code.
  assertEquals(server.ends.map((e) => e.wasClean), [false]);
  await server.close();
});

Deno.test("open rejects with ConnectError when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`;
  listener.close();
  for (const open of [SimClient.open, RawClient.open]) {
    const error = await open({ label: "X", url, epoch }, 500).catch((e) => e);
    assert(error instanceof ConnectError, String(error));
  }
});
