/**
 * Runs `reference/main.ts` as a child process for tests that need several relays.
 *
 * @module
 */
import { until, Wakeup } from "./wait.ts";

const MAIN = new URL("../reference/main.ts", import.meta.url).pathname;

/** A relay process, its URLs, and its JSON log lines as they arrive. */
export interface RelayProcess extends AsyncDisposable {
  readonly url: string;
  readonly wsUrl: string;
  /** What it printed on standard output up to its WebSocket URL. */
  readonly banner: string;
  /** Resolves with the first log event at index `after` or later (seen or still to come) matching `test`. */
  waitForLog(
    test: (event: Record<string, unknown>) => boolean,
    after?: number,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Log events seen so far. */
  readonly log: Record<string, unknown>[];
  /** SIGTERM, then waits for the process to exit; resolves to its exit status. */
  stop(): Promise<Deno.CommandStatus>;
  /** SIGKILL (a crash: nothing is closed, nothing said), then waits for the process to exit. */
  kill(): Promise<Deno.CommandStatus>;
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let i;
    while ((i = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
    }
  }
}

/**
 * Starts `reference/main.ts --port 0 --log-format json …args` (with `env` added to its
 * environment) and waits until it listens.
 */
export async function spawnRelay(
  args: string[],
  env: Record<string, string> = {},
): Promise<RelayProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", "--allow-env", MAIN, "--port", "0"]
      .concat("--log-format", "json", ...args),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const log: Record<string, unknown>[] = [];
  const wakeup = new Wakeup();
  const stderrDone = (async () => {
    for await (const line of lines(child.stderr)) {
      try {
        log.push(JSON.parse(line));
      } catch {
        log.push({ event: "stderr", line });
      }
      wakeup.wake();
    }
  })();
  const out = lines(child.stdout);
  let wsUrl = "";
  let banner = "";
  for await (const line of out) {
    banner += line + "\n";
    const m = line.match(/WebSocket: +(ws:\/\/\S+)/);
    if (m) {
      wsUrl = m[1];
      break;
    }
  }
  const stdoutDone = (async () => {
    for await (const _ of out);
  })();
  if (!wsUrl) {
    await child.status;
    await stderrDone;
    throw new Error(`relay did not start: ${JSON.stringify(log)}`);
  }
  let stopped: Promise<Deno.CommandStatus> | undefined;
  const end = (signal: Deno.Signal) =>
    stopped ??= (async () => {
      try {
        child.kill(signal);
      } catch {
        // It already exited: its status and output are still to be awaited.
      }
      const status = await child.status;
      await Promise.all([stderrDone, stdoutDone]);
      return status;
    })();
  const stop = () => end("SIGTERM");
  return {
    wsUrl,
    banner,
    url: wsUrl.replace(/^ws/, "http").replace(/\/ws$/, ""),
    log,
    async waitForLog(test, after = 0, timeoutMs = 5000) {
      let hit: Record<string, unknown> | undefined;
      if (
        !await until(() => (hit = log.slice(after).find(test)) !== undefined, timeoutMs, wakeup)
      ) {
        throw new Error(`no matching log event within ${timeoutMs} ms: ${JSON.stringify(log)}`);
      }
      return hit!;
    },
    stop,
    kill: () => end("SIGKILL"),
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
