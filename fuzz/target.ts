/**
 * Fuzz and attack targets: a relay run as a subprocess on a free loopback port, so that a crash
 * is seen (its exit) instead of taking the fuzzer down. The default target is the minimal relay
 * on the project's transport (`bench/peers/tcp_min_relay.ts`); the reference relay on either
 * transport is {@linkcode relayTarget}; any legacy-profile relay command can be plugged in.
 *
 * @module
 */
import { freePort } from "../testing/net.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** How to start a target on `port`: a command line. */
export type TargetCommand = (port: number) => [string, string[]];

/** `command` as is, or run by prlimit with an open files limit of `nofile`. */
function limited(command: string[], nofile: number | undefined): [string, string[]] {
  // prlimit sets the open files limit and then runs the command in its own process.
  return nofile === undefined
    ? [command[0], command.slice(1)]
    : ["prlimit", [`--nofile=${nofile}:${nofile}`, ...command]];
}

/** The minimal relay on `reference/ws`, with its transport flags. */
export function tcpRelay(flags: string[] = [], nofile?: number): TargetCommand {
  return (port) =>
    limited([
      Deno.execPath(),
      "run",
      "--allow-net",
      "--allow-read=/dev/null",
      `${ROOT}bench/peers/tcp_min_relay.ts`,
      "--port",
      String(port),
      ...flags,
    ], nofile);
}

/**
 * `deno task fuzz`'s default target and the test suite's: the minimal relay on `reference/ws`
 * with a 64 KiB message limit and short timeouts, so that cases end quickly.
 */
export const FUZZ_RELAY: TargetCommand = tcpRelay([
  "--max-message-bytes",
  "65536",
  "--close-timeout-ms",
  "1000",
  "--header-timeout-ms",
  "2000",
]);

/** The reference relay itself (`reference/main.ts`) on `transport`, with relay flags. */
export function relayTarget(
  transport: "tcp" | "deno",
  flags: string[] = [],
  nofile?: number,
): TargetCommand {
  return (port) =>
    limited([
      Deno.execPath(),
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      `${ROOT}reference/main.ts`,
      "--port",
      String(port),
      "--transport",
      transport,
      ...flags,
    ], nofile);
}

/** A running target. */
export interface RunningTarget extends AsyncDisposable {
  port: number;
  path: string;
  pid: number;
  /** Set once the process has exited, with its status. */
  readonly exited: Deno.CommandStatus | undefined;
  /** What it printed last (for error messages). */
  readonly tail: string;
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts `command` on a free port and waits until it accepts TCP connections. */
export async function startTarget(command: TargetCommand, path = "/"): Promise<RunningTarget> {
  const port = freePort();
  const [cmd, args] = command(port);
  const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .spawn();
  let tail = "";
  let exited: Deno.CommandStatus | undefined;
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      tail = (tail + chunk).slice(-4000);
    }
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const status = child.status.then((s) => exited = s);
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await drained;
    return await status;
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (exited || Date.now() > deadline) {
        await stop();
        throw new Error(`target did not start:\n${tail}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  return {
    port,
    path,
    pid: child.pid,
    get exited() {
      return exited;
    },
    get tail() {
      return tail;
    },
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
