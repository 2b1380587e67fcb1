/**
 * Proof that the runner is trustworthy both ways: it passes the reference relay in both
 * profiles, fails exactly the seed's bugs, and catches every injected relay fault.
 */
import { assert, assertEquals } from "@std/assert";
import { type RelayOptions, serveRelay } from "../reference/mod.ts";
import { hs256Authenticator } from "../reference/auth.ts";
import { type Fault, serveFaultyRelay } from "../testing/faulty_relay.ts";
import { SEED_FAILURES, serveSeed } from "./fixtures/seed_server.ts";
import { type ConformanceOptions, type Report, runConformance } from "./mod.ts";

/** Short windows: everything runs on loopback. */
const FAST = { timeoutMs: 1500, settleMs: 40, quietMs: 60 } as const;

async function withRelay<T>(
  { faults, ...relayOptions }: RelayOptions & { faults?: ReadonlySet<Fault> },
  run: (wsUrl: string) => Promise<T>,
): Promise<T> {
  const options = { port: 0, webRoot: null, ...relayOptions };
  const relay = await (faults ? serveFaultyRelay(faults, options) : serveRelay(options));
  try {
    return await run(relay.wsUrl);
  } finally {
    await relay.close();
  }
}

function ids(report: Report, status: string): string[] {
  return report.results.filter((r) => r.status === status).map((r) => r.id).sort();
}

function explain(report: Report): string {
  return report.results
    .filter((r) => r.status === "fail")
    .map((r) => `${r.id}: expected ${r.expected}, got ${r.actual} ${r.reason ?? ""}`)
    .join("\n");
}

for (const profile of ["v1", "legacy"] as const) {
  Deno.test(`reference relay, ${profile}: every MUST passes`, async () => {
    const report = await withRelay({}, (url) => runConformance({ url, profile, ...FAST }));
    assertEquals(report.profile, profile);
    assertEquals(ids(report, "fail"), [], explain(report));
    assert(report.ok);
    assertEquals(ids(report, "finding"), []);
    assertEquals(ids(report, "info"), ["cleanup/duplicate-policy"]);
    const policy = report.results.find((r) => r.id === "cleanup/duplicate-policy");
    assertEquals(policy?.notes, ["fan-out: both sessions received the message"]);
    // Only the cases of the other profile, and the token case (no tokens), are skipped.
    const skipped = report.results.filter((r) => r.status === "skip");
    assert(skipped.every((r) => r.id === "identify/token-refused" || !r.reason?.includes(profile)));
    assert(report.summary.passed >= (profile === "v1" ? 38 : 25));
  });
}

Deno.test("auto profile selects v1 on the relay and legacy on the seed", async () => {
  const only = ["identify/reachable"];
  const v1 = await withRelay({}, (url) => runConformance({ url, only, ...FAST }));
  assertEquals([v1.profile, v1.ok, v1.limitsAdvertised], ["v1", true, true]);
  const seed = serveSeed();
  try {
    const legacy = await runConformance({ url: seed.url, only, ...FAST });
    assertEquals([legacy.profile, legacy.ok, legacy.limitsAdvertised], ["legacy", true, false]);
  } finally {
    await seed.close();
  }
});

Deno.test("seed fixture: fails exactly stale-close, spoofing and numeric ids", async () => {
  const seed = serveSeed();
  try {
    const report = await runConformance({ url: seed.url, ...FAST });
    assertEquals(report.profile, "legacy");
    assertEquals(ids(report, "fail"), SEED_FAILURES);
    assertEquals(report.ok, false);
    const policy = report.results.find((r) => r.id === "cleanup/duplicate-policy");
    assert(policy?.notes[0].startsWith("replace:"), policy?.notes[0]);
    const stale = report.results.find((r) => r.id === "cleanup/stale-close");
    assert(stale?.requirements.some((q) => q.id === "LIFE-6"));
    assert(stale?.transcripts?.some((t) => t.label === "B2"));
  } finally {
    await seed.close();
  }
});

/** Each fault, the profile to run it in, and the cases that must catch it. */
const FAULTS: [Fault, "v1" | "legacy", string[]][] = [
  ["echo", "v1", ["routing/no-echo", "routing/self-send"]],
  ["echo", "legacy", ["routing/no-echo"]],
  ["no-cleanup", "v1", ["cleanup/abrupt-loss", "cleanup/clean-close"]],
  ["misroute", "v1", ["offline/dropped", "routing/third-user"]],
  ["misroute", "legacy", ["offline/dropped", "routing/third-user"]],
  ["reorder", "v1", ["routing/both-directions", "routing/order-300"]],
  ["reorder", "legacy", ["routing/order-300"]],
  ["store-offline", "v1", ["cleanup/clean-close", "offline/dropped"]],
  ["store-offline", "legacy", ["offline/dropped"]],
  ["ignore-cap", "v1", ["cleanup/session-cap"]],
];

for (const [fault, profile, catching] of FAULTS) {
  Deno.test(`fault ${fault} (${profile}) is caught by ${catching.join(", ")}`, async () => {
    const options: Omit<ConformanceOptions, "url"> = { profile, only: catching, ...FAST };
    const report = await withRelay(
      { faults: new Set([fault]), limits: { maxSessionsPerUser: 3 } },
      (url) => runConformance({ url, ...options, timeoutMs: 1000 }),
    );
    assertEquals(ids(report, "fail"), catching);
    assertEquals(report.ok, false);
  });
}

Deno.test("advertised limits are used; different limits are a SHOULD finding, fatal with strict", async () => {
  const limits = { maxSessionsPerUser: 3, maxFrameBytes: 4096, rateBurst: 350 };
  const only = [
    "cleanup/session-cap",
    "robustness/oversized",
    "robustness/flood",
    "v1/limit-defaults",
  ];
  await withRelay({ limits }, async (url) => {
    const report = await runConformance({ url, only, ...FAST });
    assertEquals(ids(report, "pass"), only.slice(0, 3).sort(), explain(report));
    assertEquals(ids(report, "finding"), ["v1/limit-defaults"]);
    assert(report.ok);
    const oversized = report.results.find((r) => r.id === "robustness/oversized");
    assert(oversized?.notes.some((n) => n.startsWith("sent 4097 bytes")), oversized?.notes.join());
    const strict = await runConformance({
      url,
      only: ["v1/limit-defaults"],
      strict: true,
      ...FAST,
    });
    assertEquals([strict.ok, strict.summary.failed], [false, 1]);
  });
});

for (const profile of ["v1", "legacy"] as const) {
  Deno.test(`tokens (${profile}): a secret mints valid and refused tokens`, async () => {
    const secret = "conformance-test-secret";
    const only = ["identify/token-refused", "identify/reachable", "routing/exactly-once"];
    const report = await withRelay(
      { auth: hs256Authenticator(secret) },
      (url) => runConformance({ url, profile, only, jwtSecret: secret, ...FAST }),
    );
    assertEquals(ids(report, "pass"), [...only].sort(), explain(report));
  });
}
