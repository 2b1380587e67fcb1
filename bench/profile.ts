/**
 * Reads a V8 `.cpuprofile` (written by `deno run --cpu-prof`) and tells where the time goes:
 * functions by self time and by inclusive time, and files by self time, each as a share of the
 * busy (non-idle) samples.
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  /** Microseconds from the previous sample (the first: from the profile's start). */
  timeDeltas?: number[];
}

/** A function or file and its share of busy samples. */
export interface Entry {
  name: string;
  /** Share of busy samples with it on top of the stack. */
  self: number;
  /** Share of busy samples with it anywhere on the stack. */
  total: number;
}

/** The summary of one profile. */
export interface ProfileSummary {
  busySamples: number;
  idleShare: number;
  functions: Entry[];
  files: Entry[];
}

const IDLE = "(idle)";

function shortUrl(url: string): string {
  const root = new URL("../", import.meta.url).href;
  if (url.startsWith(root)) return url.slice(root.length);
  const npm = /\/npm\/[^/]+\/(.+)$/.exec(url);
  return npm ? `npm:${npm[1]}` : url;
}

function functionKey(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || "(anonymous)";
  return url ? `${name} ${shortUrl(url)}:${lineNumber + 1}` : name;
}

function fileKey(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  return url ? shortUrl(url).replace(/:\d+$/, "") : functionName || "(native)";
}

/**
 * Summarizes a parsed `.cpuprofile`, leaving out samples of the first `skipMs` (start-up:
 * module loading and schema compilation are not the hot path).
 */
export function summarizeProfile(profile: CpuProfile, skipMs = 0): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const files = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let elapsed = 0;
  for (const [i, id] of profile.samples.entries()) {
    elapsed += profile.timeDeltas?.[i] ?? 0;
    if (elapsed < skipMs * 1000) continue;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === IDLE) {
      idle++;
      continue;
    }
    busy++;
    const key = functionKey(node);
    self.set(key, (self.get(key) ?? 0) + 1);
    files.set(fileKey(node), (files.get(fileKey(node)) ?? 0) + 1);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = functionKey(byId.get(at)!);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + 1);
    }
  }
  const share = (n: number) => busy === 0 ? 0 : n / busy;
  const entries = (map: Map<string, number>, inclusive?: Map<string, number>) =>
    [...map.entries()]
      .map(([name, n]) => ({ name, self: share(n), total: share(inclusive?.get(name) ?? n) }))
      .sort((a, b) => b.self - a.self);
  return {
    busySamples: busy,
    idleShare: busy + idle === 0 ? 0 : idle / (busy + idle),
    functions: entries(self, total),
    files: entries(files),
  };
}

/** Markdown tables of the top `limit` functions by self and inclusive time, and of files. */
export function profileMarkdown(summary: ProfileSummary, limit = 20): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const skip = new Set(["(root)", "(program)"]);
  const byTotal = [...summary.functions]
    .filter((e) => !skip.has(e.name))
    .sort((a, b) => b.total - a.total)
    .slice(0, limit);
  return [
    `${summary.busySamples} busy samples (${pct(summary.idleShare)} of all samples idle).`,
    "",
    "| function (self time) | self | incl. |",
    "|---|---|---|",
    ...summary.functions.slice(0, limit).map((e) =>
      `| \`${e.name}\` | ${pct(e.self)} | ${pct(e.total)} |`
    ),
    "",
    "| function (inclusive time) | incl. | self |",
    "|---|---|---|",
    ...byTotal.map((e) => `| \`${e.name}\` | ${pct(e.total)} | ${pct(e.self)} |`),
    "",
    "| file (self time) | self |",
    "|---|---|",
    ...summary.files.slice(0, limit).map((e) => `| \`${e.name}\` | ${pct(e.self)} |`),
  ].join("\n");
}
