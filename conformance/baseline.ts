/**
 * Baselines of expected failures, as projects running h2spec or Autobahn|Testsuite in CI keep
 * them: `--write-baseline FILE` records the failures and findings of a run; `--baseline FILE`
 * reports those as known (they no longer fail the exit code) and lists apart the new failures
 * and the cases that pass now.
 *
 * @module
 */

/** One expected failure: the case and the requirement its failure named. */
export interface KnownFailure {
  /** Case id, e.g. `cleanup/stale-close`. */
  id: string;
  /** The requirement the failure named, e.g. `LIFE-6`. */
  requirement: string;
  /** `fail` (a MUST, or a SHOULD with --strict) or `finding` (a SHOULD). */
  status: "fail" | "finding";
}

/** A baseline file. */
export interface Baseline {
  /** Format version. */
  layimWsBaseline: 1;
  /** The run it was written from. */
  profile?: string;
  target?: string;
  written?: string;
  /** The expected failures. */
  failures: KnownFailure[];
}

/** How a run compares with a baseline. */
export interface BaselineComparison {
  /** Failures that the baseline expects (same case, same requirement). */
  known: string[];
  /** Failures the baseline does not have (or for another requirement). */
  new: string[];
  /** Cases the baseline expects to fail that passed this time. */
  fixed: string[];
}

/** A baseline file is unreadable or malformed. */
export class BaselineError extends Error {}

/** What a result needs to have for the comparison. */
interface Judged {
  id: string;
  status: string;
  requirement?: string;
}

/** The baseline of a run: its failures and findings. */
export function makeBaseline(
  results: readonly Judged[],
  run: { profile: string; target: string },
): Baseline {
  return {
    layimWsBaseline: 1,
    profile: run.profile,
    target: run.target,
    written: new Date().toISOString(),
    failures: results.flatMap((r) =>
      (r.status === "fail" || r.status === "finding") && r.requirement
        ? [{ id: r.id, requirement: r.requirement, status: r.status }]
        : []
    ),
  };
}

/** Checks a decoded baseline file; throws {@link BaselineError} naming what is wrong. */
export function parseBaseline(value: unknown, source = "baseline"): Baseline {
  const bad = (what: string) => new BaselineError(`${source}: ${what}`);
  const v = value as Partial<Baseline> | null;
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad("must be a JSON object");
  if (v.layimWsBaseline !== 1) {
    throw bad(`not a baseline written by --write-baseline ("layimWsBaseline": 1 missing)`);
  }
  if (!Array.isArray(v.failures)) throw bad(`"failures" must be an array`);
  for (const [i, f] of v.failures.entries()) {
    if (
      typeof f?.id !== "string" || typeof f.requirement !== "string" ||
      (f.status !== "fail" && f.status !== "finding")
    ) {
      throw bad(
        `failures[${i}] must be {"id": "...", "requirement": "...", "status": "fail"|"finding"}`,
      );
    }
  }
  return v as Baseline;
}

/** Reads a baseline file; throws {@link BaselineError}. */
export async function loadBaseline(path: string): Promise<Baseline> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new BaselineError(`${path}: ${(error as Error).message}`);
  }
  try {
    return parseBaseline(JSON.parse(text), path);
  } catch (error) {
    if (error instanceof BaselineError) throw error;
    throw new BaselineError(`${path}: not JSON (${(error as Error).message})`);
  }
}

/**
 * Compares results with a baseline: a failure is known when the baseline has the same case
 * with the same requirement. Cases the baseline lists that did not run (skipped, not
 * selected, errors) are neither known nor fixed.
 */
export function compareBaseline(
  results: readonly Judged[],
  baseline: Baseline,
): BaselineComparison {
  const expected = new Map(baseline.failures.map((f) => [f.id, f.requirement]));
  const out: BaselineComparison = { known: [], new: [], fixed: [] };
  for (const r of results) {
    if (r.status === "fail" || r.status === "finding") {
      (expected.get(r.id) === r.requirement ? out.known : out.new).push(r.id);
    } else if (r.status === "pass" && expected.has(r.id)) out.fixed.push(r.id);
  }
  return out;
}
