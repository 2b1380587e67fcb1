import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { serveRelay } from "../reference/mod.ts";
import { hs256Authenticator } from "../reference/auth.ts";
import { serveFixture } from "./fixtures/layim_server.ts";
import { serveOther } from "./fixtures/other_protocols.ts";
import { startSeedPython } from "./fixtures/seed_python.ts";
import { main } from "./cli.ts";

const FAST = ["--timeout", "1500", "--settle", "40", "--quiet-ms", "60", "--cleanup-ms", "100"];

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(args, (l) => lines.push(l), () => undefined);
  return { code, out: lines.join("\n") };
}

Deno.test("cli: help, list and usage errors", async () => {
  const help = await cli(["--help"]);
  assertEquals(help.code, 0);
  for (const flag of ["--url-b URL", "--cleanup-ms MS", "--baseline FILE", "--write-baseline F"]) {
    assertStringIncludes(help.out, flag);
  }
  const list = await cli(["--list", "--only", "routing", "--skip", "routing/order-*"]);
  assertEquals(list.code, 0);
  assertMatch(list.out, /routing\/spoofed-sender +MUST +legacy\+v1 +ROUTE-8 +a message whose/);
  assert(!list.out.includes("routing/order-300") && !list.out.includes("identify/"));
  assertMatch(list.out, /\n\d+ of \d+ cases$/);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/bad-dialect.json`, `{"name":"x","identify":{"mode":"cookie"}}`);
  await Deno.writeTextFile(`${dir}/bad-baseline.json`, `{"failures":[]}`);
  for (
    const [args, needle] of [
      [["--bogus"], "bogus"],
      [[], "--url is required"],
      [["--url", "ws://127.0.0.1:1/", "--profile", "v2"], "--profile"],
      [["--url", "http://127.0.0.1:1/"], "ws:// or wss://"],
      [["--url", "ws://127.0.0.1:1/", "--timeout", "soon"], "--timeout must be"],
      [["--url", "ws://127.0.0.1:1/", "--cleanup-ms", "later"], "--cleanup-ms must be"],
      [["--url", "ws://127.0.0.1:1/", "--dialect", "/nonexistent/dialect.json"], "/nonexistent"],
      [
        ["--url", "ws://127.0.0.1:1/", "--dialect", `${dir}/bad-dialect.json`],
        "/identify/mode must be one of",
      ],
      [["--url", "ws://127.0.0.1:1/", "--baseline", `${dir}/bad-baseline.json`], "layimWsBaseline"],
    ] as const
  ) {
    const r = await cli([...args]);
    assertEquals(r.code, 2, args.join(" "));
    assertMatch(r.out, /^usage error: /);
    assertStringIncludes(r.out, needle);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: connection errors exit 2 and say which", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const down = await cli(["--url", `ws://127.0.0.1:${port}/`, ...FAST]);
  assertEquals(down.code, 2);
  assertMatch(down.out, /^connection error: cannot connect to 127\.0\.0\.1/);

  await using legacy = serveFixture();
  const v1 = await cli(["--url", legacy.url, "--profile", "v1", ...FAST]);
  assertEquals(v1.code, 2);
  assertStringIncludes(v1.out, "did not select layim-ws.v1");

  const relay = await serveRelay({ port: 0, webRoot: null, auth: hs256Authenticator("s3cret") });
  try {
    const auth = await cli(["--url", relay.wsUrl, ...FAST]);
    assertEquals(auth.code, 2);
    assertStringIncludes(auth.out, "requires a token");
  } finally {
    await relay.close();
  }
});

Deno.test("cli: a server speaking another protocol exits 2 with one sentence", async () => {
  await using server = serveOther("engine.io");
  const r = await cli(["--url", server.url, ...FAST]);
  assertEquals(r.code, 2);
  assertEquals(r.out.split("\n").length, 1);
  assertMatch(r.out, /^The server speaks Engine\.IO \(Socket\.IO\), not plain WebSocket: .*\.$/);
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

Deno.test("cli: against the seed's Python server a failure reads cause first and names one requirement", async () => {
  const dir = await Deno.makeTempDir();
  await using seed = await startSeedPython();
  const only = [
    "--only",
    "robustness/malformed-json,cleanup/stale-close,routing/get-message-complete",
  ];
  const timing = ["--timeout", "1500", "--settle", "100", "--quiet-ms", "100"];
  const r = await cli(["--url", seed.url, ...only, ...timing, "--report", `${dir}/r.json`]);
  assertEquals(r.code, 1);
  const block = r.out.slice(r.out.indexOf("FAIL   robustness/malformed-json"));
  const lines = block.split("\n");
  assertMatch(
    lines[1],
    /^ {7}cause: {4}the server closed C with 1011, \d+ ms after C sent the bad frame #2: \{"mine":\{"content":"x"\},"to":$/,
  );
  assertMatch(
    lines[2],
    /^ {7}MUST \[ROBUST-2\] On a legacy connection the server MUST drop a frame that is not valid JSON/,
  );
  assertEquals(
    lines[3],
    `       expected: C to stay open (the malformed frame "{\\"mine\\":{\\"content\\":\\"x\\"},\\"to\\":")`,
  );
  assertEquals(lines[4], "       actual:   closed by the server with 1011");
  assertMatch(
    block,
    /C \(user c\w+, ws:\/\/127\.0\.0\.1:\d+\/\):\n {9}\+\d+ms → c\w+\n {9}\+\d+ms → \{"mine":\{"content":"x"\},"to":\n(.*\n)? {9}\+\d+ms ← <close 1011>\n {9}ended \+\d+ms: closed by the server \(1011\)/,
  );
  assertMatch(
    r.out,
    /FAIL {3}cleanup\/stale-close .*\n {7}cause: {4}probe \d+, sent \d+ ms after B's close, never arrived/,
  );
  assertMatch(r.out, /\n {7}MUST \[LIFE-6\] Forgetting a session MUST remove exactly that session/);
  assertMatch(
    r.out,
    /\nWhat is wrong, by requirement:\n {2}SHOULD ROUTE-15 +routing\/get-message-complete\n {2}MUST {3}LIFE-6 +cleanup\/stale-close\n {2}MUST {3}ROBUST-2 +robustness\/malformed-json\n0 passed, 2 failed, \d+ skipped, 1 should-findings/,
  );
  const report = JSON.parse(await Deno.readTextFile(`${dir}/r.json`));
  const judged = report.results.filter((x: { status: string }) =>
    x.status === "fail" || x.status === "finding"
  );
  assertEquals(judged.map((x: { requirement: string }) => x.requirement).sort(), [
    "LIFE-6",
    "ROBUST-2",
    "ROUTE-15",
  ]);
  assertEquals(
    judged.find((x: { id: string }) => x.id === "robustness/malformed-json").transcripts[2].end.by,
    "server",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cli: --write-baseline then --baseline: known failures pass, new ones and fixed ones are listed apart", async () => {
  const dir = await Deno.makeTempDir();
  const only = ["--only", "robustness/flood,routing/all-sessions,routing/exactly-once"];
  await using flooded = serveFixture({ defects: { noRateLimit: true } });
  const first = await cli([
    "--url",
    flooded.url,
    ...only,
    ...FAST,
    "--write-baseline",
    `${dir}/b.json`,
  ]);
  assertEquals(first.code, 1);
  assertStringIncludes(first.out, `wrote ${dir}/b.json: 1 expected failures`);
  const baseline = JSON.parse(await Deno.readTextFile(`${dir}/b.json`));
  assertEquals(baseline.failures, [{
    id: "robustness/flood",
    requirement: "ROBUST-4",
    status: "fail",
  }]);

  const known = await cli(["--url", flooded.url, ...only, ...FAST, "--baseline", `${dir}/b.json`]);
  assertEquals(known.code, 0, known.out);
  assertMatch(
    known.out,
    /\nKNOWN {2}robustness\/flood .*\n {7}\[ROBUST-4\] all 2000 were delivered to B: no rate limit\n/,
  );
  assertMatch(known.out, /\nbaseline: 1 known failures\n.*1 known \(profile legacy/);

  // Another server: the known failure is gone, and a new one appears.
  await using replaced = serveFixture({ defects: { replace: true } });
  const changed = await cli([
    "--url",
    replaced.url,
    ...only,
    ...FAST,
    "--baseline",
    `${dir}/b.json`,
  ]);
  assertEquals(changed.code, 1);
  assertStringIncludes(
    changed.out,
    "baseline: 0 known failures\n  new failures: routing/all-sessions\n  passing now: robustness/flood (update the baseline with --write-baseline)",
  );
  await Deno.remove(dir, { recursive: true });
});
