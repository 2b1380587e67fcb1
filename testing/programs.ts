/**
 * The programs outside Deno that the tests run — Chromium, `redis-server`, and a `python3` that
 * has the `websockets` module (for the seed's own server) — where each is found, and how the
 * test task provides a missing one.
 *
 * Each is named by an environment variable first (`CHROMIUM_PATH`, `REDIS_SERVER`, `PYTHON3`),
 * then looked up on the system. `testing/preflight.ts` resolves all three before `deno test`
 * starts, provides what is missing (Chromium from npm, the others with `apt-get` when running as
 * root) and passes the paths on in those variables, so the lookups in the tests are instant.
 *
 * @module
 */

/** One external program of the tests. */
export interface Program {
  /** What it is, for messages. */
  readonly name: string;
  /** The environment variable that names it. */
  readonly env: string;
  /** The Debian package that provides it. */
  readonly debian: string;
  /** Finds it on this system: its path, or undefined. */
  find(): Promise<string | undefined>;
}

/** Where a program came from, for the preflight's one line per program. */
export interface Found {
  readonly path: string;
  readonly source: string;
}

async function runs(command: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** The first of `names` on `PATH` (or an absolute path that exists), as an absolute path. */
export function onPath(...names: string[]): string | undefined {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  for (const name of names) {
    for (const path of name.startsWith("/") ? [name] : dirs.map((d) => `${d}/${name}`)) {
      try {
        const info = Deno.statSync(path);
        if (info.isFile && (info.mode ?? 0o111) & 0o111) return path;
      } catch {
        // not here: the next one
      }
    }
  }
  return undefined;
}

/** Chromium or Chrome installed on the system. */
export const CHROMIUM: Program = {
  name: "Chromium",
  env: "CHROMIUM_PATH",
  debian: "chromium",
  find: () =>
    Promise.resolve(
      onPath("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"),
    ),
};

/** Redis, for the multi-node tests and the bench's two-relay scenario. */
export const REDIS_SERVER: Program = {
  name: "redis-server",
  env: "REDIS_SERVER",
  debian: "redis-server",
  find: () => Promise.resolve(onPath("redis-server")),
};

/** A python3 that imports `websockets`, for the seed's own Python server. */
export const PYTHON3: Program = {
  name: "python3 with websockets",
  env: "PYTHON3",
  debian: "python3-websockets",
  async find() {
    // Debian's interpreter first: python3-websockets installs into it, not into a pyenv one.
    for (const candidate of ["/usr/bin/python3", "python3"]) {
      const path = onPath(candidate);
      if (path && await runs(path, ["-c", "import websockets"])) return path;
    }
    return undefined;
  },
};

/** What a test says when a program cannot be found. */
export class MissingProgram extends Error {
  constructor(program: Program) {
    super(
      `${program.name} not found: install it with \`apt-get install -y ${program.debian}\` or ` +
        `set ${program.env} (\`deno task test\` provides it by itself)`,
    );
    this.name = "MissingProgram";
  }
}

/**
 * The path of `program` for a test: its environment variable (set by the preflight), else a
 * system lookup. Throws {@linkcode MissingProgram} with the instruction when there is none.
 */
export async function programPath(program: Program): Promise<string> {
  const fromEnv = Deno.env.get(program.env);
  if (fromEnv) return fromEnv;
  const found = await program.find();
  if (found) return found;
  throw new MissingProgram(program);
}
