import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { SignJWT } from "jose";
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import { TestClient } from "../testing/net.ts";
import { settles } from "../testing/wait.ts";
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
  // With the serve task's permissions too (Deno opens /proc/self/status only to -A).
  const rss = Number(metrics.match(/^process_resident_memory_bytes (\d+)$/m)?.[1]);
  assert(rss > 10 * 1024 * 1024, `process_resident_memory_bytes ${rss}`);
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

/** Opens, identifies and closes `count` v1 connections, `parallel` at a time: 3 log lines each. */
async function churn(wsUrl: string, count: number, parallel: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) {
      const c = await TestClient.connect(wsUrl, SUBPROTOCOL);
      c.send({ type: "identify", id: `churn-${next++}` });
      await c.nextJson(2000);
      await c.close();
    }
  }));
}

Deno.test("main: keeps serving while nobody reads its standard error; dropped lines are counted", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, "--port", "0", "--no-web", "--log-format", "json"],
    stdout: "piped",
    stderr: "piped", // and never read: the pipe fills up (64 KiB on Linux), then stays full
    env: { NO_COLOR: "1" },
  }).spawn();
  const clients: TestClient[] = [];
  try {
    const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let banner = "";
    while (!/WebSocket: +ws:\/\/\S+\s/.test(banner)) banner += (await out.read()).value ?? "";
    out.read().catch(() => {}); // nothing more comes on stdout
    const wsUrl = banner.match(/WebSocket: +(ws:\/\/\S+)/)![1];
    const url = wsUrl.replace(/^ws/, "http").replace(/\/ws$/, "");
    const [a, b] = await Promise.all(["canary-a", "canary-b"].map(async (id) => {
      const c = await TestClient.connect(wsUrl, SUBPROTOCOL);
      clients.push(c);
      c.send({ type: "identify", id });
      await c.nextJson();
      return c;
    }));
    // About 400 bytes of log per connection: far more than the pipe and the log buffer hold.
    const filled = churn(wsUrl, 1500, 20);
    const outcome = filled.then(() => "served", (e) => `failed: ${e.message}`);
    assert(await settles(outcome, 30_000), "the relay stopped answering while logging");
    assertEquals(await outcome, "served", "the relay stopped answering while logging");
    const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    assertEquals((await health.json()).status, "ok");
    a.send({ mine: { content: "still there?" }, to: { id: "canary-b", type: "friend" }, ref: "1" });
    assertEquals((await a.nextJson(2000)).type, "ack");
    assertEquals((await b.nextJson(2000)).content, "still there?");
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const dropped = Number(metrics.match(/^layimws_log_lines_dropped_total (\d+)$/m)?.[1]);
    assert(dropped > 0, `dropped log lines: ${dropped}`);
  } finally {
    child.kill("SIGKILL"); // first: a frozen relay would never complete a close handshake
    await Promise.all(clients.map((c) => c.close()));
    await child.status;
    await child.stderr.cancel();
    await child.stdout.cancel().catch(() => {});
  }
});

Deno.test("main: --origin '*' starts with a warning about cross-site WebSocket hijacking", async () => {
  await using relay = await spawnRelay(["--origin", "*"]);
  const warning = await relay.waitForLog((e) => /WARNING/.test(String(e.line)));
  assertStringIncludes(String(warning.line), "--origin *");
  assertStringIncludes(String(warning.line), "any web site");
});
