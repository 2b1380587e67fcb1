import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type { CaseResult, Report } from "./mod.ts";
import { formatResult, formatSummary, toJUnit } from "./report.ts";

const failed: CaseResult = {
  id: "routing/no-echo",
  title: "no echo",
  group: "routing",
  level: "MUST",
  requirements: [{
    id: "ROUTE-2",
    text: "The server MUST NOT deliver a message on the sender connection.",
  }],
  status: "fail",
  durationMs: 12,
  expected: `A to receive "m" 0 times`,
  actual: "exactly once",
  notes: [],
  transcripts: [{
    label: "A",
    user: "c1",
    url: "ws://h/",
    frames: [{ dir: "sent", at: 3, text: 'x\n"<&>"\u0001' }],
    omitted: 0,
  }],
};

const report: Report = {
  target: { url: "ws://h/", urlB: "ws://h/" },
  profile: "legacy",
  dialect: "legacy",
  timing: { timeoutMs: 3000, settleMs: 150, quietMs: 250 },
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
    { ...failed, id: "v1/limit-defaults", group: "v1", level: "SHOULD", status: "finding" },
  ],
  summary: { passed: 0, failed: 1, skipped: 1, findings: 1, info: 0, total: 3 },
  ok: false,
};

Deno.test("console lines: progress, details and summary", () => {
  const text = formatResult(failed);
  assertStringIncludes(text, "FAIL   routing/no-echo  no echo (12 ms)");
  assertStringIncludes(text, `expected: A to receive "m" 0 times\n       actual:   exactly once`);
  assertStringIncludes(text, "MUST [ROUTE-2] The server MUST NOT deliver");
  assertStringIncludes(text, `A (user c1, ws://h/):\n         +3ms → x\\n"<&>"\\u0001`);
  assertEquals(
    formatResult({ ...failed, status: "pass", transcripts: undefined }).split("\n").length,
    1,
  );
  assertStringIncludes(
    formatSummary(report),
    "0 passed, 1 failed, 1 skipped, 1 should-findings, 0 informational (profile legacy, 1.2 s)",
  );
});

Deno.test("JUnit: suites per group, failures, skips and findings, escaped", () => {
  const xml = toJUnit(report);
  assertStringIncludes(
    xml,
    `<testsuites name="layim-ws conformance (legacy)" tests="3" failures="1" skipped="1"`,
  );
  assertStringIncludes(xml, `<testsuite name="routing" tests="1" failures="1"`);
  assertStringIncludes(
    xml,
    `<failure message="expected A to receive &quot;m&quot; 0 times, got exactly once" type="MUST">`,
  );
  assertStringIncludes(xml, `<skipped message="v1 only"/>`);
  assertStringIncludes(xml, `<system-out>SHOULD finding:`);
  assertStringIncludes(xml, "&lt;&amp;&gt;");
  // deno-lint-ignore no-control-regex
  assert(!/[\u0000-\u0008]/.test(xml));
});
