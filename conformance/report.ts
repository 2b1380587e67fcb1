/**
 * Report formats: console progress lines, the final summary line, JSON and JUnit XML.
 *
 * @module
 */
import type { CaseResult, Report, RunInfo, Status } from "./mod.ts";

const TAGS: Record<Status, string> = {
  pass: "PASS",
  fail: "FAIL",
  finding: "SHOULD",
  skip: "SKIP",
  info: "INFO",
};

function indent(text: string, by: string): string {
  return text.split("\n").map((l) => by + l).join("\n");
}

/** Shows a frame's text as sent, escaping only what would break the line (controls, `\\`). */
function visible(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\\]/g, (c) => JSON.stringify(c).slice(1, -1));
}

function frameLine(f: { dir: string; at: number; text: string }): string {
  return `+${f.at}ms ${f.dir === "sent" ? "→" : "←"} ${visible(f.text)}`;
}

/** The details of a failure or finding: expected vs. actual, requirements, transcripts. */
export function formatDetails(r: CaseResult): string {
  const lines: string[] = [];
  if (r.expected !== undefined) {
    lines.push(`expected: ${r.expected}`, `actual:   ${r.actual}`);
  }
  if (r.reason && r.status !== "skip") lines.push(r.reason);
  for (const req of r.requirements) {
    lines.push(`${r.level} [${req.id}]${req.text ? ` ${req.text}` : ""}`);
  }
  for (const t of r.transcripts ?? []) {
    lines.push(`${t.label} (user ${t.user}, ${t.url}):`);
    const frames = t.frames.map(frameLine);
    if (t.omitted) frames.splice(t.frames.length / 2, 0, `… ${t.omitted} frames omitted …`);
    lines.push(...frames.map((l) => `  ${l}`));
    if (t.frames.length === 0) lines.push("  (no frames)");
  }
  return lines.join("\n");
}

/** The progress line of a finished case, plus its details when it failed or is a finding. */
export function formatResult(r: CaseResult, verbose = false): string {
  let line = `${TAGS[r.status].padEnd(6)} ${r.id}  ${r.title} (${r.durationMs} ms)`;
  if (r.status === "skip" && r.reason) line += ` — ${r.reason}`;
  if (r.notes.length) line += ` — ${r.notes.join("; ")}`;
  if (r.status === "fail" || r.status === "finding" || (r.status === "info" && r.expected)) {
    return `${line}\n${indent(formatDetails(r), "       ")}`;
  }
  if (verbose) {
    const reqs = r.requirements.map((q) => `${r.level} [${q.id}]${q.text ? ` ${q.text}` : ""}`);
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
    (report.profile === "legacy" ? `, settle ${t.settleMs} ms` : "") + `, quiet ${t.quietMs} ms; ` +
    `limits ${report.limitsAdvertised ? "advertised" : "defaults"}`;
}

/** The final line: `N passed, N failed, N skipped, N should-findings, N informational`. */
export function formatSummary(report: Report): string {
  const s = report.summary;
  return `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped, ` +
    `${s.findings} should-findings, ${s.info} informational ` +
    `(profile ${report.profile}, ${(report.durationMs / 1000).toFixed(1)} s)`;
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
  const out = [`<?xml version="1.0" encoding="UTF-8"?>`];
  const s = report.summary;
  out.push(
    `<testsuites name="layim-ws conformance (${report.profile})" tests="${s.total}" failures="${s.failed}" skipped="${s.skipped}" time="${
      report.durationMs / 1000
    }">`,
  );
  for (const [group, results] of groups) {
    const failures = results.filter((r) => r.status === "fail").length;
    const skipped = results.filter((r) => r.status === "skip").length;
    const time = results.reduce((t, r) => t + r.durationMs, 0) / 1000;
    out.push(
      `  <testsuite name="${group}" tests="${results.length}" failures="${failures}" skipped="${skipped}" time="${time}">`,
    );
    for (const r of results) {
      out.push(
        `    <testcase classname="layim-ws.${group}" name="${xml(r.id)}" time="${
          r.durationMs / 1000
        }">`,
      );
      if (r.status === "fail") {
        const message = r.expected !== undefined
          ? `expected ${r.expected}, got ${r.actual}`
          : r.reason ?? "failed";
        out.push(
          `      <failure message="${xml(message)}" type="${r.level}">${
            xml(formatDetails(r))
          }</failure>`,
        );
      } else if (r.status === "skip") {
        out.push(`      <skipped message="${xml(r.reason ?? "")}"/>`);
      }
      const notes = [
        ...(r.status === "finding" ? [`SHOULD finding:\n${formatDetails(r)}`] : []),
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
