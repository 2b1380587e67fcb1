/**
 * The runner against the seed's own Python server (bench/peers/seed_server.py on Debian's
 * python3-websockets): every verdict is asserted, case by case, against what the seed's source
 * does — it must list exactly what is wrong with the seed, and nothing it does right.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { startSeedPython } from "./fixtures/seed_python.ts";
import { type Report, runConformance } from "./mod.ts";

/** Loopback timing; the cleanup window stays the default, as for a real server. */
const TIMING = { timeoutMs: 1500, settleMs: 100, quietMs: 100 } as const;

/** Each case the seed fails, the requirement its failure must name, and why (the seed's source). */
const EXPECTED: Record<string, [status: "fail" | "finding", requirement: string, cause: RegExp]> = {
  // `user_id = await websocket.recv()`: any first frame is an id, nothing is refused.
  "identify/bad-id-empty": ["fail", "IDENT-5", /still open after/],
  "identify/bad-id-whitespace": ["fail", "IDENT-5", /still open after/],
  "identify/bad-id-control": ["fail", "IDENT-5", /still open after/],
  "identify/bad-id-long": ["fail", "IDENT-5", /still open after/],
  // The delivered dict has username, avatar, id, type, content, timestamp only.
  "routing/get-message-complete": ["finding", "ROUTE-15", /^fromid, cid, mine missing/],
  // `from_user['id']` and `from_user['username']` raise KeyError: the handler dies, 1011.
  "routing/sender-id": ["fail", "ROUTE-7", /^the server closed A with 1011, \d+ ms after A sent/],
  "routing/minimal-frame": ["fail", "ROUTE-13", /^the server closed A with 1011/],
  // `to_user_id in connections`: the int 1234567 is not the str key "1234567".
  "routing/numeric-to-id": ["fail", "IDENT-2", /^nothing within/],
  // No check of to.type.
  "routing/not-friend": ["fail", "ROUTE-11", /^delivered to B/],
  // `'id': from_user['id']`, no check against the session.
  "routing/spoofed-sender": ["fail", "ROUTE-8", /^delivered to B as C/],
  // `connections[to_user_id].send(…)` with to_user_id the sender's own id echoes it back.
  "routing/self-send": ["fail", "ROUTE-12", /^A received it exactly once/],
  // `connections[user_id] = websocket`: one connection per user, the newer one.
  "routing/all-sessions": ["fail", "ROUTE-1", /^only B2 \(the newer session\) did/],
  // `finally: del connections[user_id]`, run after the TCP teardown.
  "cleanup/stale-close": [
    "fail",
    "LIFE-6",
    /^probe \d+, sent \d+ ms after B's close, never arrived/,
  ],
  // `json.loads(message)` raises on malformed JSON: 1011.
  "robustness/malformed-json": [
    "fail",
    "ROBUST-2",
    /^the server closed C with 1011, \d+ ms after C sent the bad frame #2: \{"mine":\{"content":"x"\},"to":$/,
  ],
  // No validation: a nested object in mine is relayed.
  "robustness/schema-invalid": ["fail", "ROBUST-2", /^delivered to B/],
  // Bytes go to json.loads like text and the message is relayed; nothing closes with 1003.
  "robustness/binary": [
    "fail",
    "TRANS-5",
    /^still open after \d+ ms; the binary frame's message was delivered to B$/,
  ],
  // websockets' max_size is 1 MiB: 65537 bytes are accepted.
  "robustness/frame-default": ["finding", "LIMIT-2", /^accepted and delivered$/],
  // No rate limit at all.
  "robustness/flood": ["fail", "ROBUST-4", /^all 2000 were delivered to B: no rate limit$/],
};

/** What the seed does right, by case (the legacy cases not listed above). */
const PASSING = [
  "identify/reachable",
  "identify/id-64",
  "routing/exactly-once",
  "routing/get-message",
  "routing/server-fields",
  "routing/no-echo",
  "routing/third-user",
  "routing/order-300",
  "routing/content-unchanged",
  "routing/both-directions",
  "routing/spoof-rebind",
  "routing/legacy-frames-only",
  "offline/dropped",
  "cleanup/clean-close",
  "cleanup/abrupt-loss",
  "cleanup/reidentify",
  "cleanup/cycles",
  "robustness/oversized",
  "robustness/burst",
];

function verdicts(report: Report) {
  return Object.fromEntries(
    report.results.filter((r) => r.status !== "skip").map((r) => [r.id, r]),
  );
}

Deno.test("seed's Python server: the runner lists exactly what is wrong with it, by requirement", async () => {
  await using seed = await startSeedPython();
  const report = await runConformance({ url: seed.url, ...TIMING });
  assertEquals([report.profile, report.ok], ["legacy", false]);
  const got = verdicts(report);
  const failures = Object.values(got).filter((r) => r.status !== "pass");
  const wrong = failures
    .filter((r) => EXPECTED[r.id]?.[0] !== r.status || EXPECTED[r.id][1] !== r.requirement)
    .map((r) => `${r.id}: ${r.status} [${r.requirement}] ${r.cause ?? r.actual ?? r.reason}`);
  assertEquals(wrong, [], "verdicts the seed's source does not justify");
  assertEquals(failures.map((r) => r.id).sort(), Object.keys(EXPECTED).sort());
  assertEquals(
    Object.values(got).filter((r) => r.status === "pass").map((r) => r.id).sort(),
    [...PASSING].sort(),
  );
  for (const [id, [, , cause]] of Object.entries(EXPECTED)) {
    assertMatch(got[id].cause ?? got[id].actual ?? "", cause, id);
  }
  // Every failure and finding names one requirement; the summary lists them by requirement.
  assert(failures.every((r) => typeof r.requirement === "string" && r.transcripts?.length));
  assertEquals(
    report.failedRequirements.find((f) => f.id === "IDENT-5")?.cases,
    [
      "identify/bad-id-empty",
      "identify/bad-id-whitespace",
      "identify/bad-id-control",
      "identify/bad-id-long",
    ],
  );
  // The oversized frame: a limit exists (1 MiB, closed 1009), so the MUST passes.
  assertMatch(
    got["robustness/oversized"].notes.join(),
    /closed 1009 at 1048577 bytes; accepted 65537 bytes \(delivered\)/,
  );
});

Deno.test("seed's Python server: stale-close fails every time, citing LIFE-6", async () => {
  await using seed = await startSeedPython();
  const runs = 5;
  const failed: string[] = [];
  for (let i = 0; i < runs; i++) {
    const report = await runConformance({
      url: seed.url,
      only: ["cleanup/stale-close"],
      ...TIMING,
    });
    const r = report.results[0];
    if (r.status === "fail" && r.requirement === "LIFE-6") failed.push(r.actual!);
  }
  assertEquals(failed.length, runs, failed.join("\n"));
});
