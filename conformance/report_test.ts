import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { CaseResult, Report } from "./mod.ts";
import {
  formatBaseline,
  formatRequirements,
  formatResult,
  formatSummary,
  toJUnit,
} from "./report.ts";

const failed: CaseResult = {
  id: "robustness/malformed-json",
  title: "malformed JSON is dropped",
  group: "robustness",
  level: "MUST",
  requirements: [{
    id: "ROBUST-2",
    text: "On a legacy connection the server MUST drop a frame that is not valid JSON.",
  }],
  status: "fail",
  requirement: "ROBUST-2",
  cause: "the server closed C with 1011, 1 ms after C sent the bad frame #2: {not json",
  expected: "C to stay open",
  actual: "closed by the server with 1011",
  durationMs: 12,
  notes: [],
  transcripts: [{
    label: "C",
    user: "c1",
    url: "ws://h/",
    frames: [
      { dir: "sent", at: 3, kind: "text", text: 'x\n"<&>"\u0001', n: 1 },
      { dir: "sent", at: 4, kind: "text", text: "late", unsent: true },
    ],
    omitted: 0,
    end: { code: 1011, reason: "", by: "server", at: 4, afterSent: { n: 1, at: 3, text: "x" } },
  }],
};

const report: Report = {
  target: { url: "ws://h/", urlB: "ws://h/" },
  profile: "legacy",
  dialect: "legacy",
  timing: { timeoutMs: 3000, settleMs: 150, quietMs: 250, cleanupMs: 1200 },
  limits: {} as Report["limits"],
  limitsAdvertised: false,
  strict: false,
  startedAt: "2026-01-01T00:00:00.000Z",
  durationMs: 1234,
  results: [
    failed,
    {
      ...failed,
      id: "v1/ack",
      group: "v1",
      status: "skip",
      reason: "v1 only",
      transcripts: undefined,
    },
    {
      ...failed,
      id: "v1/limit-defaults",
      group: "v1",
      level: "SHOULD",
      status: "finding",
      requirement: "LIMIT-2",
      cause: undefined,
      actual: "rateBurst 350",
    },
    { ...failed, id: "cleanup/stale-close", group: "cleanup", requirement: "LIFE-6", known: true },
    {
      ...failed,
      id: "v1/ready",
      group: "v1",
      status: "error",
      reason: "server unreachable since x",
      expected: undefined,
      transcripts: undefined,
    },
  ],
  summary: {
    passed: 0,
    failed: 2,
    skipped: 1,
    findings: 1,
    info: 0,
    errors: 1,
    known: 1,
    total: 5,
  },
  failedRequirements: [
    { id: "ROBUST-2", level: "MUST", cases: ["robustness/malformed-json"] },
    { id: "LIMIT-2", level: "SHOULD", cases: ["v1/limit-defaults"] },
  ],
  baseline: {
    known: ["cleanup/stale-close"],
    new: ["robustness/malformed-json"],
    fixed: ["routing/x"],
  },
  ok: false,
};

Deno.test("console: cause first, then the one requirement, expected vs. actual, frames and the end", () => {
  const lines = formatResult(failed).split("\n");
  assertEquals(lines[0], "FAIL   robustness/malformed-json  malformed JSON is dropped (12 ms)");
  assertEquals(
    lines[1],
    "       cause:    the server closed C with 1011, 1 ms after C sent the bad frame #2: {not json",
  );
  assertEquals(
    lines[2],
    "       MUST [ROBUST-2] On a legacy connection the server MUST drop a frame that is not valid JSON.",
  );
  assertEquals(lines[3], "       expected: C to stay open");
  assertEquals(lines[4], "       actual:   closed by the server with 1011");
  assertEquals(lines[5], "       C (user c1, ws://h/):");
  assertEquals(lines[6], `         +3ms → x\\n"<&>"\\u0001`);
  assertEquals(lines[7], "         +4ms → late   (not sent: the connection had closed)");
  assertEquals(lines[8], "         ended +4ms: closed by the server (1011), after its frame #1");
  // Without a separate cause, actual is the cause and is not repeated.
  const finding = formatResult(report.results[2]).split("\n");
  assertEquals(finding.slice(0, 4), [
    "SHOULD v1/limit-defaults  malformed JSON is dropped (12 ms)",
    "       cause:    rateBurst 350",
    "       SHOULD [LIMIT-2]",
    "       expected: C to stay open",
  ]);
  assertEquals(formatResult(report.results[3]).split("\n"), [
    "KNOWN  cleanup/stale-close  malformed JSON is dropped (12 ms)",
    "       [LIFE-6] the server closed C with 1011, 1 ms after C sent the bad frame #2: {not json",
  ]);
  assertEquals(formatResult(report.results[4]).split("\n")[1], "       server unreachable since x");
  assertEquals(
    formatResult({ ...failed, status: "pass", transcripts: undefined }).split("\n").length,
    1,
  );
});

Deno.test("console: by requirement, baseline and summary", () => {
  assertEquals(formatRequirements(report), [
    "What is wrong, by requirement:",
    "  MUST   ROBUST-2   robustness/malformed-json",
    "  SHOULD LIMIT-2    v1/limit-defaults",
  ]);
  assertEquals(formatBaseline(report), [
    "baseline: 1 known failures",
    "  new failures: robustness/malformed-json",
    "  passing now: routing/x (update the baseline with --write-baseline)",
  ]);
  assertEquals(
    formatSummary(report),
    "0 passed, 2 failed, 1 skipped, 1 should-findings, 0 informational, 1 errors, 1 known (profile legacy, 1.2 s)",
  );
});

Deno.test("JUnit: failures name the requirement and cause; known failures skipped; errors; escaped", () => {
  const xml = toJUnit(report);
  assertStringIncludes(
    xml,
    `<testsuites name="layim-ws conformance (legacy)" tests="5" failures="1" errors="1" skipped="2"`,
  );
  assertStringIncludes(
    xml,
    `<failure message="[ROBUST-2] the server closed C with 1011, 1 ms after C sent the bad frame #2: {not json" type="MUST">`,
  );
  assertStringIncludes(
    xml,
    `<skipped message="known failure (baseline): [LIFE-6] the server closed C`,
  );
  assertStringIncludes(xml, `<error message="server unreachable since x">`);
  assertStringIncludes(xml, `<skipped message="v1 only"/>`);
  assertStringIncludes(xml, `<system-out>SHOULD finding:`);
  assertStringIncludes(xml, "&lt;&amp;&gt;");
  // deno-lint-ignore no-control-regex
  assert(!/[\u0000-\u0008]/.test(xml));
});
