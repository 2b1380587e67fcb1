/**
 * Report formats: console progress lines, what is wrong by requirement, the baseline
 * comparison, the summary line, and JUnit XML. A failure reads cause first, then the one
 * requirement whose check failed, expected vs. actual, and every client's frames.
 *
 * @module
 */
import type { CaseResult, Report, RunInfo, Status, Transcript } from "./run.ts";

const TAGS: Record<Status, string> = {
  pass: "PASS",
  fail: "FAIL",
  finding: "SHOULD",
  skip: "SKIP",
  info: "INFO",
  error: "ERROR",
};

function indent(text: string, by: string): string {
  return text.split("\n").map((l) => by + l).join("\n");
}

/** Shows a frame's text as sent, escaping only what would break the line (controls, `\\`). */
function visible(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\\]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function frameLine(f: Transcript["frames"][number]): string {
  return `+${f.at}ms ${f.dir === "sent" ? "→" : "←"} ${visible(f.text)}${
    f.unsent ? "   (not sent: the connection had closed)" : ""
  }`;
}

function endLine(t: Transcript): string | undefined {
  const e = t.end;
  if (!e) return undefined;
  const who = e.by === "network" ? "lost without a close frame" : `closed by the ${e.by}`;
  const after = e.afterSent ? `, after its frame #${e.afterSent.n}` : "";
  return `ended +${e.at}ms: ${who} (${e.code}${
    e.reason ? ` ${JSON.stringify(e.reason)}` : ""
  })${after}`;
}

function requirementLine(r: CaseResult): string | undefined {
  if (!r.requirement) return undefined;
  const text = r.requirements.find((q) => q.id === r.requirement)?.text;
  return `${r.level} [${r.requirement}]${text ? ` ${text}` : ""}`;
}

/** The details of a failure, finding or error: cause, requirement, expected vs. actual, frames. */
export function formatDetails(r: CaseResult): string {
  const lines: string[] = [];
  if (r.expected !== undefined) {
    lines.push(`cause:    ${r.cause ?? r.actual}`);
    const req = requirementLine(r);
    if (req) lines.push(req);
    lines.push(`expected: ${r.expected}`);
    if (r.cause !== undefined) lines.push(`actual:   ${r.actual}`);
  } else if (r.reason && r.status !== "skip") lines.push(r.reason);
  for (const t of r.transcripts ?? []) {
    lines.push(`${t.label} (user ${t.user}, ${t.url}):`);
    const frames = t.frames.map(frameLine);
    if (t.omitted) frames.splice(t.frames.length / 2, 0, `… ${t.omitted} frames omitted …`);
    const end = endLine(t);
    if (end) frames.push(end);
    lines.push(...frames.map((l) => `  ${l}`));
    if (frames.length === 0) lines.push("  (no frames)");
  }
  return lines.join("\n");
}

/** The progress line of a finished case, plus its details when it failed or is a finding. */
export function formatResult(r: CaseResult, verbose = false): string {
  const tag = r.known ? "KNOWN" : TAGS[r.status];
  let line = `${tag.padEnd(6)} ${r.id}  ${r.title} (${r.durationMs} ms)`;
  if (r.status === "skip" && r.reason) line += ` — ${r.reason}`;
  if (r.notes.length) line += ` — ${r.notes.join("; ")}`;
  if (r.known) return `${line}\n       [${r.requirement}] ${r.cause ?? r.actual}`;
  if (r.status === "fail" || r.status === "finding" || r.status === "error") {
    return `${line}\n${indent(formatDetails(r), "       ")}`;
  }
  if (verbose) {
    const reqs = r.requirements.map((q) => `[${q.id}]${q.text ? ` ${q.text}` : ""}`);
    return `${line}\n${indent(reqs.join("\n"), "       ")}`;
  }
  return line;
}

/** The first line of a run: target, profile and timing settings. */
export function formatHeader(report: RunInfo): string {
  const { url, urlB } = report.target;
  const t = report.timing;
  return `layim-ws conformance: ${url}${
    urlB !== url ? ` + ${urlB}` : ""
  } — profile ${report.profile}` +
    `${
      report.dialect !== "legacy" ? `, dialect ${report.dialect}` : ""
    }; timeout ${t.timeoutMs} ms` +
    (report.profile === "legacy" ? `, settle ${t.settleMs} ms` : "") +
    `, quiet ${t.quietMs} ms, cleanup ${t.cleanupMs} ms; ` +
    `limits ${report.limitsAdvertised ? "advertised" : "defaults"}`;
}

/** What is wrong, by requirement: one line per failed requirement with its cases. */
export function formatRequirements(report: Report): string[] {
  const failed = report.failedRequirements;
  if (failed.length === 0) return [];
  return [
    "What is wrong, by requirement:",
    ...failed.map((f) => `  ${f.level.padEnd(6)} ${f.id.padEnd(10)} ${f.cases.join(", ")}`),
  ];
}

/** The baseline comparison, when the run had a baseline. */
export function formatBaseline(report: Report): string[] {
  const b = report.baseline;
  if (!b) return [];
  const out = [`baseline: ${b.known.length} known failures`];
  if (b.new.length) out.push(`  new failures: ${b.new.join(", ")}`);
  if (b.fixed.length) {
    out.push(`  passing now: ${b.fixed.join(", ")} (update the baseline with --write-baseline)`);
  }
  return out;
}

/** The final line: `N passed, N failed, N skipped, N should-findings, …`. */
export function formatSummary(report: Report): string {
  const s = report.summary;
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped, ` +
    `${s.findings} should-findings, ${s.info} informational` +
    (s.errors ? `, ${s.errors} errors` : "") + (s.known ? `, ${s.known} known` : "") +
    ` (profile ${report.profile}, ${(report.durationMs / 1000).toFixed(1)} s)`;
}

/** Control characters XML 1.0 cannot carry, even escaped. */
// deno-lint-ignore no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;

function xml(text: string): string {
  return text
    .replace(XML_INVALID, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** The report as JUnit XML: one test suite per group, one test case per case. */
export function toJUnit(report: Report): string {
  const groups = Map.groupBy(report.results, (r) => r.group);
  const isFailure = (r: CaseResult) => r.status === "fail" && !r.known;
  const isSkipped = (r: CaseResult) => r.status === "skip" || !!r.known;
  const out = [`<?xml version="1.0" encoding="UTF-8"?>`];
  const all = report.results;
  out.push(
    `<testsuites name="layim-ws conformance (${report.profile})" tests="${all.length}" failures="${
      all.filter(isFailure).length
    }" errors="${report.summary.errors}" skipped="${all.filter(isSkipped).length}" time="${
      report.durationMs / 1000
    }">`,
  );
  for (const [group, results] of groups) {
    const time = results.reduce((t, r) => t + r.durationMs, 0) / 1000;
    out.push(
      `  <testsuite name="${group}" tests="${results.length}" failures="${
        results.filter(isFailure).length
      }" errors="${results.filter((r) => r.status === "error").length}" skipped="${
        results.filter(isSkipped).length
      }" time="${time}">`,
    );
    for (const r of results) {
      out.push(
        `    <testcase classname="layim-ws.${group}" name="${xml(r.id)}" time="${
          r.durationMs / 1000
        }">`,
      );
      const message = `[${r.requirement}] ${r.cause ?? r.actual}`;
      if (r.known) {
        out.push(`      <skipped message="${xml(`known failure (baseline): ${message}`)}"/>`);
      } else if (r.status === "fail") {
        out.push(
          `      <failure message="${xml(message)}" type="${r.level}">${
            xml(formatDetails(r))
          }</failure>`,
        );
      } else if (r.status === "error") {
        out.push(
          `      <error message="${xml(r.reason ?? "error")}">${xml(formatDetails(r))}</error>`,
        );
      } else if (r.status === "skip") {
        out.push(`      <skipped message="${xml(r.reason ?? "")}"/>`);
      }
      const notes = [
        ...(r.status === "finding" && !r.known ? [`SHOULD finding:\n${formatDetails(r)}`] : []),
        ...r.notes,
      ];
      if (notes.length) out.push(`      <system-out>${xml(notes.join("\n"))}</system-out>`);
      out.push(`    </testcase>`);
    }
    out.push(`  </testsuite>`);
  }
  out.push(`</testsuites>`, "");
  return out.join("\n");
}
