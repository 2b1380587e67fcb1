import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { SignJWT } from "jose";
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import { TestClient } from "../testing/net.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-env"];

const SECRET = "main test secret, long enough for HS256";

function spawn(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", LAYIM_WS_JWT_SECRET: SECRET },
  }).spawn();
}

/** Reads the child's standard output until `pattern` matches; the rest is read in the background. */
async function waitForOutput(child: Deno.ChildProcess, pattern: RegExp) {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let match: RegExpMatchArray | null = null;
  while (!(match = text.match(pattern))) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`output ended without ${pattern}: ${text}`);
    text += value;
  }
  const rest = (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  return { match, text, rest };
}

Deno.test("main: serves the page and the relay, then exits 0 on SIGTERM after closing sessions with 1001", async () => {
  const child = spawn(["--port", "0", "--log-format", "json"]);
  const stderr = new Response(child.stderr).text();
  const { match, text, rest } = await waitForOutput(child, /WebSocket: +(ws:\S+)/);
  assertStringIncludes(text, "chat page:");
  const wsUrl = match[1];
  const client = await TestClient.connect(wsUrl, SUBPROTOCOL);
  const token = await new SignJWT({ sub: "1001" }).setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));
  client.send({ type: "identify", id: "1001", token });
  const ready = await client.nextJson();
  assertEquals(ready.type, "ready");
  const base = wsUrl.replace(/^ws/, "http").replace(/\/ws$/, "");
  const metrics = await (await fetch(base + "/metrics")).text();
  assertMatch(metrics, /layimws_sessions_open 1/);
  const users = await (await fetch(base + "/api/users")).json();
  assert(users.users.length > 0, "the demo directory is loaded");
  child.kill("SIGTERM");
  assertEquals((await client.expectClose(5000)).code, 1001);
  await client.close();
  const status = await child.status;
  await rest;
  assertEquals(status.code, 0);
  const log = await stderr;
  assertStringIncludes(log, '"event":"identify"');
  assert(!log.includes(token), "no token in logs");
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
