/**
 * The test task's first step: finds or provides every program the tests run, says in one line
 * each what it uses, then runs `deno <args>` (the test command) with their paths in the
 * environment. When a program cannot be provided, it says what is missing and the one command
 * that provides it, and runs nothing.
 *
 * - Chromium: `$CHROMIUM_PATH`, then a system Chromium/Chrome, then (Linux x64) the binary that
 *   ships inside the npm package `@sparticuz/chromium`, unpacked once into the temp folder.
 * - `redis-server` and `python3` with `websockets`: `$REDIS_SERVER` / `$PYTHON3`, then the
 *   system; when missing and running as root with `apt-get`, Debian's packages are installed.
 *
 * ```sh
 * deno run -A testing/preflight.ts test --allow-all web/   # what `deno task test web/` runs
 * ```
 *
 * @module
 */
import { CHROMIUM, type Found, onPath, type Program, PYTHON3, REDIS_SERVER } from "./programs.ts";

const APT_PROGRAMS = [REDIS_SERVER, PYTHON3];

function say(line: string): void {
  console.error(`preflight: ${line}`);
}

async function fromEnvOrSystem(program: Program): Promise<Found | undefined> {
  const fromEnv = Deno.env.get(program.env);
  if (fromEnv) {
    if (onPath(fromEnv)) return { path: fromEnv, source: `$${program.env}` };
    throw new Error(`${program.env}=${fromEnv} is not an executable file`);
  }
  const path = await program.find();
  return path ? { path, source: "system" } : undefined;
}

/** Chromium from the npm package: its binary is inside the package, nothing is downloaded. */
async function npmChromium(): Promise<Found | undefined> {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") return undefined;
  say("no system Chromium: using the one inside npm's @sparticuz/chromium");
  const { default: chromium } = await import("@sparticuz/chromium");
  let path: string = await chromium.executablePath();
  // An unpacking cut short leaves a file that does not start: unpack it again once.
  if (await version(path) === undefined) {
    say(`${path} does not start: unpacking npm's @sparticuz/chromium again`);
    await Deno.remove(path);
    path = await chromium.executablePath();
  }
  return { path, source: "npm @sparticuz/chromium" };
}

/** What `chromium --version` prints, or undefined when it does not start. */
async function version(path: string): Promise<string | undefined> {
  try {
    const { success, stdout } = await new Deno.Command(path, {
      args: ["--headless", "--no-sandbox", "--version"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

function mayInstall(): boolean {
  return Deno.uid() === 0 && onPath("apt-get") !== undefined;
}

async function apt(args: string[]): Promise<boolean> {
  const { success } = await new Deno.Command("apt-get", {
    args,
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return success;
}

/** Installs the Debian packages of `missing`; false when apt-get failed. */
async function aptInstall(missing: Program[]): Promise<boolean> {
  const packages = missing.map((p) => p.debian);
  say(
    `installing ${packages.join(" ")} with apt-get (set ${
      missing.map((p) => p.env).join(" / ")
    } to use your own)`,
  );
  return await apt(["update", "-q"]) &&
    await apt(["install", "-y", "-q", "--no-install-recommends", ...packages]);
}

/** Resolves every program; returns their environment, or the lines that say what is missing. */
async function resolve(): Promise<{ env: Record<string, string> } | { missing: string[] }> {
  const env: Record<string, string> = {};
  const missing: string[] = [];
  const found = new Map<Program, Found>();

  const chromium = await fromEnvOrSystem(CHROMIUM) ?? await npmChromium();
  if (chromium) found.set(CHROMIUM, chromium);
  else {
    missing.push(
      "Chromium is missing: install it with `apt-get install -y chromium` or set CHROMIUM_PATH",
    );
  }

  let absent: Program[] = [];
  for (const program of APT_PROGRAMS) {
    const f = await fromEnvOrSystem(program);
    if (f) found.set(program, f);
    else absent.push(program);
  }
  if (absent.length > 0 && mayInstall() && await aptInstall(absent)) {
    for (const program of absent) {
      const path = await program.find();
      if (path) found.set(program, { path, source: `installed ${program.debian}` });
    }
    absent = absent.filter((p) => !found.has(p));
  }
  if (absent.length > 0) {
    const packages = absent.map((p) => p.debian).join(" ");
    missing.push(
      `${absent.map((p) => p.name).join(" and ")} missing: install with ` +
        `\`sudo apt-get install -y ${packages}\` or set ${absent.map((p) => p.env).join(" / ")}`,
    );
  }
  if (missing.length > 0) return { missing };
  for (const [program, f] of found) {
    env[program.env] = f.path;
    const named = program === CHROMIUM ? await version(f.path) || "Chromium" : program.name;
    say(`${named}: ${f.path} (${f.source})`);
  }
  return { env };
}

if (import.meta.main) {
  if (Deno.args.length === 0) {
    console.error("usage: deno run -A testing/preflight.ts <deno subcommand and arguments>");
    Deno.exit(2);
  }
  let result;
  try {
    result = await resolve();
  } catch (error) {
    say(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
  if ("missing" in result) {
    for (const line of result.missing) say(line);
    Deno.exit(1);
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: Deno.args,
    env: result.env,
    stdin: "inherit",
  }).spawn();
  // Ctrl-C reaches the child through the terminal; a SIGTERM sent to this process is passed on.
  Deno.addSignalListener("SIGINT", () => {});
  Deno.addSignalListener("SIGTERM", () => child.kill("SIGTERM"));
  Deno.exit((await child.status).code);
}
