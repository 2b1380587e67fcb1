/** The HTTP routes on plain `Request`s, with a fake upgrade: no server, no socket. */
import { assertEquals } from "@std/assert";
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import { FakeTransport } from "../testing/fake_transport.ts";
import type { Authenticator } from "./auth.ts";
import { createDirectory } from "./directory.ts";
import { Hub } from "./hub.ts";
import { hostPolicy, originPolicy } from "./origin.ts";
import { type Accepted, createRoutes } from "./routes.ts";

function setup(auth?: Authenticator) {
  const directory = createDirectory([{ id: "1", username: "张三", avatar: "/a.png" }]);
  const hub = new Hub({ directory, auth });
  const upgrades: Accepted[] = [];
  const hosts = hostPolicy({ hostname: "127.0.0.1" });
  const routes = createRoutes(hub, {
    origins: originPolicy({ allowNoOrigin: true, hostname: "127.0.0.1", port: 8080 }),
    hosts,
    metrics: { hosts },
    webRoot: null,
    upgrade: (request, accepted) => {
      if (request.headers.get("sec-websocket-key") === null) throw new Error("bad upgrade");
      upgrades.push(accepted);
      return new Response(null, { status: 200, headers: { "x-upgraded": "yes" } });
    },
  });
  const get = (path: string, headers: Record<string, string> = {}, method = "GET") =>
    routes(new Request(`http://127.0.0.1:8080${path}`, { method, headers }), "127.0.0.1");
  const upgrade = (path: string, headers: Record<string, string> = {}) =>
    get(path, { upgrade: "websocket", "sec-websocket-key": "k", ...headers });
  return { hub, upgrades, get, upgrade };
}

Deno.test("routes: /healthz, /api/users and /metrics answer from the hub", async () => {
  const { get } = setup();
  assertEquals(await (await get("/healthz")).json(), {
    status: "ok",
    connections: 0,
    sessions: 0,
    users: 0,
    broker: "up",
  });
  assertEquals((await (await get("/api/users")).json()).users.map((u: { id: string }) => u.id), [
    "1",
  ]);
  const metrics = await get("/metrics");
  assertEquals((await metrics.text()).includes("layimws_broker_up 1"), true);
  assertEquals((await get("/healthz", {}, "POST")).status, 405);
  assertEquals((await get("/index.html")).status, 404); // no web root
});

Deno.test("routes: an upgrade is checked (path, Origin, shutdown) before the server upgrades", async () => {
  const { hub, upgrades, upgrade } = setup();
  assertEquals((await upgrade("/chat")).status, 404);
  assertEquals((await upgrade("/ws", { origin: "https://evil.example" })).status, 403);
  assertEquals((await upgrade("/ws")).headers.get("x-upgraded"), "yes");
  assertEquals(upgrades.length, 1);
  const bad = await setup().get("/ws", { upgrade: "websocket" });
  assertEquals(bad.status, 400); // the server refused the upgrade
  await hub.closeSessions(0);
  assertEquals((await upgrade("/ws")).status, 503);
  assertEquals(upgrades.length, 1);
});

Deno.test("routes: layim-ws.v1 is selected iff offered; the legacy token reaches the session", async () => {
  const tokens: string[] = [];
  const { hub, upgrades, upgrade } = setup({
    verify: (token) => (tokens.push(token), Promise.resolve({ sub: token.slice(1) })),
  });
  await upgrade("/", { "sec-websocket-protocol": `chat, ${SUBPROTOCOL}` });
  await upgrade("/ws?token=t2", { "sec-websocket-protocol": "chat" });
  assertEquals(upgrades.map((u) => u.protocol), [SUBPROTOCOL, undefined]);
  assertEquals(upgrades[1].idleTimeoutMs, hub.limits.idleTimeoutMs);
  const v1 = new FakeTransport();
  upgrades[0].open(v1).text(JSON.stringify({ type: "identify", id: "1", token: "t1" }));
  const legacy = new FakeTransport();
  upgrades[1].open(legacy).text("2");
  await Promise.resolve();
  assertEquals(tokens, ["t1", "t2"]);
  assertEquals(v1.take()[0].user, { username: "张三", avatar: "/a.png" });
  assertEquals(legacy.sent, []); // legacy: no ready
  assertEquals(hub.stats(), { connections: 2, sessions: 2, users: 2 });
  await hub.closeSessions(0);
});

Deno.test("routes: a name the relay does not serve gets 421, counted as a refusal", async () => {
  const { hub, get } = setup();
  assertEquals((await get("/healthz", { host: "evil.example:8080" })).status, 421);
  assertEquals((await get("/api/users", { host: "localhost:8080" })).status, 200);
  assertEquals((await hub.metrics.render()).includes('reason="host"} 1'), true);
  hub.refusals.close();
});
