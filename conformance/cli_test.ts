import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { serveRelay } from "../reference/mod.ts";
import { hs256Authenticator } from "../reference/auth.ts";
import { serveSeed } from "./fixtures/seed_server.ts";
import { main } from "./cli.ts";

const FAST = ["--timeout", "1500", "--settle", "40", "--quiet-ms", "60"];

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(args, (l) => lines.push(l), () => undefined);
  return { code, out: lines.join("\n") };
}

Deno.test("cli: help, list and usage errors", async () => {
  const help = await cli(["--help"]);
  assertEquals(help.code, 0);
  assertStringIncludes(help.out, "--url-b URL");
  const list = await cli(["--list", "--only", "routing", "--skip", "routing/order-*"]);
  assertEquals(list.code, 0);
  assertStringIncludes(list.out, "routing/spoofed-sender");
  assert(!list.out.includes("routing/order-300") && !list.out.includes("identify/"));
  assertMatch(list.out, /\n\d+ of \d+ cases$/);
  for (
    const args of [
      ["--bogus"],
      [],
      ["--url", "ws://127.0.0.1:1/", "--profile", "v2"],
      ["--url", "http://127.0.0.1:1/"],
      ["--url", "ws://127.0.0.1:1/", "--timeout", "soon"],
      ["--url", "ws://127.0.0.1:1/", "--dialect", "/nonexistent/dialect.json"],
    ]
  ) {
    const r = await cli(args);
    assertEquals(r.code, 2, args.join(" "));
    assertMatch(r.out, /^usage error: /);
  }
});

Deno.test("cli: connection errors exit 2 and say which", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const down = await cli(["--url", `ws://127.0.0.1:${port}/`, ...FAST]);
  assertEquals(down.code, 2);
  assertMatch(down.out, /^connection error: .*127\.0\.0\.1/);

  const seed = serveSeed();
  try {
    const v1 = await cli(["--url", seed.url, "--profile", "v1", ...FAST]);
    assertEquals(v1.code, 2);
    assertStringIncludes(v1.out, "did not select layim-ws.v1");
  } finally {
    await seed.close();
  }

  const relay = await serveRelay({ port: 0, webRoot: null, auth: hs256Authenticator("s3cret") });
  try {
    const auth = await cli(["--url", relay.wsUrl, ...FAST]);
    assertEquals(auth.code, 2);
    assertStringIncludes(auth.out, "requires a token");
  } finally {
    await relay.close();
  }
});

Deno.test("cli: a passing run exits 0 and writes JSON and JUnit reports", async () => {
  const dir = await Deno.makeTempDir();
  const relay = await serveRelay({ port: 0, webRoot: null });
  try {
    const r = await cli([
      "--url",
      relay.wsUrl,
      "--only",
      "routing/exactly-once,routing/no-echo",
      "--report",
      `${dir}/r.json`,
      "--junit",
      `${dir}/r.xml`,
      ...FAST,
    ]);
    assertEquals(r.code, 0, r.out);
    const lines = r.out.split("\n");
    assertMatch(lines[0], /^layim-ws conformance: ws:\/\/127\.0\.0\.1:\d+\/ws — profile v1;/);
    assertMatch(lines[1], /^PASS {3}routing\/exactly-once {2}.* \(\d+ ms\)$/);
    assertMatch(lines.at(-1)!, /^2 passed, 0 failed, 0 skipped, 0 should-findings/);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/r.json`));
    assertEquals([report.profile, report.summary.passed, report.ok], ["v1", 2, true]);
    const xml = await Deno.readTextFile(`${dir}/r.xml`);
    assertStringIncludes(xml, `<testcase classname="layim-ws.routing" name="routing/no-echo"`);
  } finally {
    await relay.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: --url-b places the receiving clients on a second URL", async () => {
  const relay = await serveRelay({ port: 0, webRoot: null });
  try {
    const urlB = `ws://127.0.0.1:${relay.port}/`;
    const only = ["--only", "routing/exactly-once,cleanup/stale-close"];
    const r = await cli(["--url", relay.wsUrl, "--url-b", urlB, ...only, ...FAST]);
    assertEquals(r.code, 0, r.out);
    assertStringIncludes(r.out.split("\n")[0], ` + ${urlB} — profile v1`);
  } finally {
    await relay.close();
  }
});

Deno.test("cli: a MUST failure exits 1 with expected, actual, the requirement and the frames", async () => {
  const seed = serveSeed();
  try {
    const r = await cli(["--url", seed.url, "--only", "routing/spoofed-sender", ...FAST]);
    assertEquals(r.code, 1);
    assertStringIncludes(r.out, "FAIL   routing/spoofed-sender");
    assertStringIncludes(r.out, "expected: the frame claiming mine.id");
    assertStringIncludes(r.out, "actual:   delivered to B as C");
    assertMatch(r.out, /MUST \[ROUTE-8\] When `mine\.id`/);
    assertMatch(r.out, /B \(user c\w+, ws:\/\/127\.0\.0\.1:\d+\/\):\n {9}\+\d+ms → c\w+/);
    assertMatch(r.out, /\n0 passed, 1 failed, 0 skipped/);
  } finally {
    await seed.close();
  }
});
