/**
 * Starts a throwaway `redis-server` (Debian's package) on a free loopback port for tests.
 *
 * @module
 */
import { freePort } from "./net.ts";
import { MissingProgram, programPath, REDIS_SERVER } from "./programs.ts";

/** A running test Redis server. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Kills the server (as an outage would) and waits for the process to end. */
  stop(): Promise<void>;
  /** Starts the server again on the same port. */
  start(): Promise<void>;
  /** Stops the process (SIGSTOP): connections stay open and nothing is answered, a hung server. */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
}

const READY = "Ready to accept connections";

async function launch(port: number): Promise<Deno.ChildProcess> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(await programPath(REDIS_SERVER), {
      args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new MissingProgram(REDIS_SERVER);
    throw error;
  }
  // Wait for the server's own readiness line instead of polling the port.
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes(READY)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`redis-server on port ${port} exited before it was ready:\n${seen}`);
    seen = (seen + value).slice(-4096);
  }
  // Keep draining so the server never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return child;
}

/** Starts redis-server on a free loopback port. */
export async function startRedis(): Promise<TestRedis & AsyncDisposable> {
  const port = freePort();
  let child: Deno.ChildProcess | undefined = await launch(port);
  const stop = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill("SIGKILL"); // also ends a paused process
    await c.status;
  };
  const signal = (name: Deno.Signal) => {
    if (!child) throw new Error("redis-server is not running");
    child.kill(name);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    async start() {
      if (!child) child = await launch(port);
    },
    pause: () => signal("SIGSTOP"),
    resume: () => signal("SIGCONT"),
    [Symbol.asyncDispose]: stop,
  };
}
