import { assert, assertEquals, assertStringIncludes } from "@std/assert";

const PREFLIGHT = new URL("./preflight.ts", import.meta.url).pathname;

async function preflight(env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", PREFLIGHT, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

const TRUE = "/bin/true";
const NAMED = { CHROMIUM_PATH: TRUE, REDIS_SERVER: TRUE, PYTHON3: TRUE };

Deno.test("preflight passes the programs it found to the command, and its exit code back", async () => {
  const run = await preflight(
    NAMED,
    "eval",
    "console.log(Deno.env.get('CHROMIUM_PATH'), Deno.env.get('REDIS_SERVER'), Deno.env.get('PYTHON3')); Deno.exit(3)",
  );
  assertEquals(run.code, 3);
  assertEquals(run.stdout.trim(), `${TRUE} ${TRUE} ${TRUE}`);
  for (const name of ["redis-server", "python3 with websockets"]) {
    assertStringIncludes(run.stderr, `preflight: ${name}: ${TRUE} ($`);
  }
});

Deno.test("preflight stops before the command when a named program is not there", async () => {
  const run = await preflight(
    { ...NAMED, REDIS_SERVER: "/nonexistent/redis-server" },
    "eval",
    "console.log('the command ran')",
  );
  assertEquals(run.code, 1);
  assertStringIncludes(run.stderr, "REDIS_SERVER=/nonexistent/redis-server is not an executable");
  assert(!run.stdout.includes("the command ran"));
});
