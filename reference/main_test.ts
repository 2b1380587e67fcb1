import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { SignJWT } from "jose";
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import { TestClient } from "../testing/net.ts";
import { spawnRelay } from "../testing/relay_process.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-env"];

const SECRET = "main test secret, long enough for HS256";

Deno.test("main: serves the page and the relay, then exits 0 on SIGTERM after closing sessions with 1001", async () => {
  const relay = await spawnRelay([], { LAYIM_WS_JWT_SECRET: SECRET });
  assertStringIncludes(relay.banner, "chat page:");
  const client = await TestClient.connect(relay.wsUrl, SUBPROTOCOL);
  const token = await new SignJWT({ sub: "1001" }).setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));
  client.send({ type: "identify", id: "1001", token });
  const ready = await client.nextJson();
  assertEquals(ready.type, "ready");
  const metrics = await (await fetch(relay.url + "/metrics")).text();
  assertMatch(metrics, /layimws_sessions_open 1/);
  const users = await (await fetch(relay.url + "/api/users")).json();
  assert(users.users.length > 0, "the demo directory is loaded");
  const stopped = relay.stop();
  assertEquals((await client.expectClose(5000)).code, 1001);
  await client.close();
  assertEquals((await stopped).code, 0);
  assert(relay.log.some((e) => e.event === "identify"), "identify is logged");
  assert(!JSON.stringify(relay.log).includes(token), "no token in logs");
});

Deno.test("main: a bad flag is a one-line error with exit code 2", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, "--no-such-flag"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assertEquals(code, 2);
  assertEquals(new TextDecoder().decode(stdout), "");
  const lines = new TextDecoder().decode(stderr).trim().split("\n");
  assertEquals(lines.length, 1, lines.join("\n"));
  assertStringIncludes(lines[0], "--no-such-flag");
});

Deno.test("main: an unreadable users file is a one-line error with exit code 2", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, "--port", "0", "--users", "/nonexistent/users.json"],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assertEquals(code, 2);
  const lines = new TextDecoder().decode(stderr).trim().split("\n");
  assertEquals(lines.length, 1, lines.join("\n"));
  assertStringIncludes(lines[0], "/nonexistent/users.json");
});
