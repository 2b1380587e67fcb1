/**
 * The case model: a case is data (id, title, the requirements it checks, level, profiles) plus a
 * small function; a group is a named list of cases, declared once. A failed check throws a
 * {@link CaseFailure} naming the one requirement whose check failed.
 *
 * @module
 */
import type { Profile } from "../schemas/protocol.ts";
import type { CaseContext } from "./context.ts";

/** How a case's failure counts: MUST fails the run, SHOULD is a finding, INFO only reports. */
export type Level = "MUST" | "SHOULD" | "INFO";

/** Both profiles. */
export const BOTH: readonly Profile[] = ["legacy", "v1"];
/** The v1 profile only. */
export const V1: readonly Profile[] = ["v1"];
/** The legacy profile only. */
export const LEGACY: readonly Profile[] = ["legacy"];

/** A case as written in its group: `name` is the part of the id after the group. */
export interface CaseSpec {
  /** The id within the group, e.g. `stale-close`. */
  name: string;
  /** What the case checks, in one line. */
  title: string;
  /**
   * Requirement ids of `spec/protocol.md` the case checks; the first is what the case is about
   * and sets its level. A failed check names its own requirement (the first by default).
   */
  requirements: readonly [string, ...string[]];
  /** The level of the first requirement (INFO: the case only reports). */
  level: Level;
  /** The profiles the case applies to; it is skipped in the others. */
  profiles: readonly Profile[];
  /** Runs the case; a failed check throws {@link CaseFailure}, {@link CaseSkip} skips. */
  run(ctx: CaseContext): Promise<void>;
}

/** A case of a group, with its full id. */
export interface Case extends CaseSpec {
  /** Stable id, `group/name`, used by `--only`/`--skip`, baselines and reports. */
  id: string;
  /** The group's name, the first segment of `id`. */
  group: string;
}

/** A group of cases, run in order. */
export interface Group {
  /** The first segment of its cases' ids, e.g. `routing`. */
  name: string;
  /** What the group covers, in one line. */
  title: string;
  /** Its cases, in run order. */
  cases: readonly Case[];
}

/** Declares a group: its cases get the ids `name/<case name>`. */
export function group(name: string, title: string, cases: readonly CaseSpec[]): Group {
  return {
    name,
    title,
    cases: cases.map((c) => ({ ...c, id: `${name}/${c.name}`, group: name })),
  };
}

/** A check failed: the requirement it checks, what it expected and what it saw. */
export class CaseFailure extends Error {
  constructor(
    /** What the check expected. */
    readonly expected: string,
    /** What it saw instead. */
    readonly actual: string,
    /** The requirement whose check failed; the case's first requirement when absent. */
    readonly requirement?: string,
    /** What caused it, when known and not already said by `actual`. */
    override readonly cause?: string,
  ) {
    super(`expected ${expected}, got ${actual}`);
  }
}

/** The case cannot run against this target (for example it needs tokens). */
export class CaseSkip extends Error {}
