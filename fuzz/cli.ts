/**
 * What the command lines of `deno task fuzz` share: numeric flags and the choice of generators.
 *
 * @module
 */

/** The value of `--name` as a non-negative number, `fallback` when absent; throws with `usage`. */
export function numberFlag(
  value: string | undefined,
  fallback: number,
  name: string,
  usage: string,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`bad --${name}: ${value}\n${usage}`);
  return n;
}

/** The generators named in `list` (a comma list; all when absent); throws with `usage`. */
export function pickGenerators<T>(
  all: Record<string, T>,
  list: string | undefined,
  usage: string,
): Record<string, T> {
  const names = list?.split(",") ?? Object.keys(all);
  const unknown = names.filter((n) => !(n in all));
  if (unknown.length > 0) throw new Error(`unknown generators: ${unknown.join(", ")}\n${usage}`);
  return Object.fromEntries(names.map((n) => [n, all[n]]));
}

/** The flags every `deno task fuzz` mode takes, for `node:util`'s `parseArgs`. */
export const COMMON_FLAGS = {
  frames: { type: "string" },
  seconds: { type: "string" },
  seed: { type: "string" },
  case: { type: "string" },
  concurrency: { type: "string" },
  generators: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;
