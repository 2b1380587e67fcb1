/**
 * The relays under test and how to run each one as a subprocess on a free loopback port: the
 * reference relay on each transport (with validation, sender identity, rate limiting and
 * metrics on; the rate limit set above any offered load so it is evaluated but never
 * triggers) and the baselines in
 * `bench/peers/` (the minimal relay on Deno's WebSocket and on the project's own transport,
 * Node `ws`, Bun, the seed). A baseline whose runtime is missing is reported as missing, with the reason.
 *
 * @module
 */
import { freePort } from "../testing/net.ts";
import { MissingProgram, programPath, PYTHON3, REDIS_SERVER } from "../testing/programs.ts";
import { startRedis } from "../testing/redis.ts";
import { until } from "../testing/wait.ts";
import type { Profile, Target } from "./load.ts";

/** Short names used by `--relays` and in the reports. */
export type RelayName = "ref" | "reftcp" | "tcp" | "min" | "node" | "bun" | "seed";

/** All relays, in report order. */
export const RELAY_NAMES: readonly RelayName[] = [
  "ref",
  "reftcp",
  "min",
  "tcp",
  "node",
  "bun",
  "seed",
];

const ROOT = new URL("../", import.meta.url).pathname;
const PEERS = `${ROOT}bench/peers/`;

/** How to run one relay. */
export interface RelaySpec {
  name: RelayName;
  /** What it is, for the report. */
  label: string;
  /** The profiles it speaks. */
  profiles: readonly Profile[];
  /** The WebSocket path on its port. */
  path: string;
  /** Installs what it needs; resolves to the reason it cannot run, or undefined. */
  prepare(): Promise<string | undefined>;
  /**
   * The command line (after {@linkcode RelaySpec.prepare}); `extra`: runtime flags (Deno);
   * `defaults`: the relay's default settings, without the bench's limit flags.
   */
  command(port: number, extra: readonly string[], defaults: boolean): [string, string[]];
  /** The runtime's version, for the report. */
  version?: string;
}

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const output = await new Deno.Command(cmd, { args, stdin: "null" }).output();
    const decoder = new TextDecoder();
    return {
      ok: output.success,
      out: (decoder.decode(output.stdout) + decoder.decode(output.stderr)).trim(),
    };
  } catch (error) {
    return { ok: false, out: error instanceof Error ? error.message : String(error) };
  }
}

/** Installs `bench/peers`' pinned npm packages unless `file` is there; the reason on failure. */
async function npmPeers(file: string): Promise<string | undefined> {
  try {
    Deno.statSync(`${PEERS}node_modules/${file}`);
    return undefined;
  } catch {
    const ci = await run("npm", ["ci", "--no-audit", "--no-fund", "--prefix", PEERS]);
    return ci.ok ? undefined : `npm ci --prefix bench/peers failed: ${ci.out.split("\n").pop()}`;
  }
}

const BUN = `${PEERS}node_modules/.bin/bun`;

/** The limits flags of the reference relay: rate limiting evaluated on every frame, never hit. */
const REF_FLAGS: readonly string[] = ["--rate", "1000000", "--burst", "1000000"];

let python = "python3";

/** The reference relay on `transport`, as `deno task serve --transport …` runs it. */
function reference(name: RelayName, transport: string, label: string): RelaySpec {
  return {
    name,
    label: `reference relay on ${label} (reference/main.ts --transport ${transport}; ` +
      "validation, identity, rate limit, metrics)",
    profiles: ["legacy", "v1"],
    path: "/ws",
    prepare() {
      this.version = `deno ${Deno.version.deno}`;
      return Promise.resolve(undefined);
    },
    command: (port, extra, defaults) => [Deno.execPath(), [
      "run",
      "-A",
      ...extra,
      `${ROOT}reference/main.ts`,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--transport",
      transport,
      ...(defaults ? [] : REF_FLAGS),
    ]],
  };
}

/** A minimal Deno relay of `bench/peers/` (`file`), legacy only, with its permissions. */
function minimal(name: RelayName, label: string, file: string, allow: string[]): RelaySpec {
  return {
    name,
    label,
    profiles: ["legacy"],
    path: "/",
    prepare() {
      this.version = `deno ${Deno.version.deno}`;
      return Promise.resolve(undefined);
    },
    command: (port, extra) => [Deno.execPath(), [
      "run",
      "--allow-net",
      ...allow,
      ...extra,
      `${PEERS}${file}`,
      "--port",
      String(port),
    ]],
  };
}

/** The relay specs by name. */
export const RELAYS: Record<RelayName, RelaySpec> = {
  ref: reference("ref", "deno", "Deno's WebSocket (Deno.serve + Deno.upgradeWebSocket)"),
  reftcp: reference("reftcp", "tcp", "its own transport (reference/ws on Deno.listen)"),
  min: minimal(
    "min",
    "minimal Deno relay (bench/peers/min_relay.ts; no validation: the ceiling)",
    "min_relay.ts",
    [],
  ),
  tcp: minimal(
    "tcp",
    "minimal relay on reference/ws (bench/peers/tcp_min_relay.ts; Deno.listen, no validation)",
    "tcp_min_relay.ts",
    ["--allow-read=/dev/null"],
  ),
  node: {
    name: "node",
    label: "Node ws relay (bench/peers/node_ws_relay.mjs, ws@8.23.0)",
    profiles: ["legacy"],
    path: "/",
    async prepare() {
      const node = await run("node", ["--version"]);
      if (!node.ok) return `node not found (${node.out})`;
      this.version = `node ${node.out}`;
      return await npmPeers("ws/package.json");
    },
    command: (port) => ["node", [`${PEERS}node_ws_relay.mjs`, "--port", String(port)]],
  },
  bun: {
    name: "bun",
    label:
      "Bun relay (bench/peers/bun_relay.mjs, Bun.serve: uWebSockets inside; bun@1.4.4 from npm)",
    profiles: ["legacy"],
    path: "/",
    async prepare() {
      const missing = await npmPeers("bun/package.json");
      if (missing) return missing;
      const bun = await run(BUN, ["--version"]);
      if (!bun.ok) return `bun from npm does not run here (${bun.out})`;
      this.version = `bun ${bun.out}`;
      return undefined;
    },
    command: (port) => [BUN, [`${PEERS}bun_relay.mjs`, "--port", String(port)]],
  },
  seed: {
    name: "seed",
    label: "the seed's Python server (bench/peers/seed_server.py, python3-websockets)",
    profiles: ["legacy"],
    path: "/",
    async prepare() {
      const probe = "import sys, websockets; print(sys.version.split()[0], websockets.__version__)";
      try {
        python = await programPath(PYTHON3);
      } catch (error) {
        if (error instanceof MissingProgram) return error.message;
        throw error;
      }
      const result = await run(python, ["-c", probe]);
      if (!result.ok) return `${python} cannot import websockets: ${result.out}`;
      const [py, ws] = result.out.split(" ");
      this.version = `python ${py}, websockets ${ws}`;
      return undefined;
    },
    command: (port) => [python, [`${PEERS}seed_server.py`, "--port", String(port)]],
  },
};

/** A relay subprocess listening on a loopback port. */
export class RunningRelay {
  readonly spec: RelaySpec;
  readonly port: number;
  readonly #child: Deno.ChildProcess;
  #tail = "";
  readonly #drained: Promise<unknown>;

  constructor(spec: RelaySpec, port: number, child: Deno.ChildProcess) {
    this.spec = spec;
    this.port = port;
    this.#child = child;
    this.#drained = Promise.all([this.#drain(child.stdout), this.#drain(child.stderr)]);
  }

  /** The server process id (CPU and memory are read from `/proc/PID`). */
  get pid(): number {
    return this.#child.pid;
  }

  /** The relay's WebSocket URL. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}${this.spec.path}`;
  }

  /** The last lines it printed, for error messages. */
  get tail(): string {
    return this.#tail.trim().split("\n").slice(-5).join("\n");
  }

  async #drain(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      this.#tail = (this.#tail + chunk).slice(-4096);
    }
  }

  /** Resolves once the port accepts TCP connections; rejects if the process exits first. */
  async waitUntilAccepting(timeoutMs: number): Promise<void> {
    let exited = false;
    this.#child.status.then(() => exited = true);
    const accepting = await until(async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port: this.port })).close();
        return true;
      } catch {
        if (exited) throw new Error(`${this.spec.name} exited at start:\n${this.tail}`);
        return false;
      }
    }, timeoutMs);
    if (!accepting) {
      throw new Error(`${this.spec.name} not accepting after ${timeoutMs} ms:\n${this.tail}`);
    }
  }

  /** Sends `signal`, escalates to SIGKILL after `graceMs`, resolves when the process is gone. */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5000): Promise<void> {
    const status = this.#child.status;
    try {
      this.#child.kill(signal);
    } catch {
      // already exited
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // exited meanwhile
        }
        resolve();
      }, graceMs);
    });
    await Promise.race([status, killed]);
    clearTimeout(timer);
    await status;
    await this.#drained;
  }
}

/** Options of {@linkcode startRelay}. */
export interface StartOptions {
  /** Runtime flags (e.g. `--cpu-prof`), for the Deno relays. */
  runtimeFlags?: readonly string[];
  /** Run with the relay's default settings (no bench limit flags). */
  defaults?: boolean;
  /** Relay flags appended to its command line (e.g. the reference relay's `--redis URL`). */
  args?: readonly string[];
}

/** Starts `spec` on a free port and waits until it accepts connections. */
export async function startRelay(spec: RelaySpec, o: StartOptions = {}): Promise<RunningRelay> {
  const port = freePort();
  const [cmd, args] = spec.command(port, o.runtimeFlags ?? [], o.defaults === true);
  const child = new Deno.Command(cmd, {
    args: [...args, ...o.args ?? []],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    cwd: ROOT,
  }).spawn();
  const relay = new RunningRelay(spec, port, child);
  try {
    await relay.waitUntilAccepting(20_000);
  } catch (error) {
    await relay.stop("SIGKILL");
    throw error;
  }
  return relay;
}

/** The processes a scenario started for one run, as the target of its load. */
export interface Deployment {
  target: Omit<Target, "profile">;
  /** Stops every process, also after a failure. */
  stop(): Promise<void>;
}

/** Why `redis-server` cannot run here, or undefined. */
export async function redisMissing(): Promise<string | undefined> {
  try {
    const probe = await run(await programPath(REDIS_SERVER), ["--version"]);
    return probe.ok ? undefined : `redis-server does not start: ${probe.out}`;
  } catch (error) {
    if (error instanceof MissingProgram) return error.message;
    throw error;
  }
}

/** Asks a Redis server for its process id (`INFO server`), for its CPU figures. */
async function redisPid(port: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode("INFO server\r\n"));
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(16384);
    let text = "";
    while (!/^process_id:\d+\r$/m.test(text)) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error(`no process_id in Redis INFO:\n${text}`);
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    return Number(/^process_id:(\d+)\r$/m.exec(text)![1]);
  } finally {
    conn.close();
  }
}

/** One node of `spec` on its own (no Redis), with relay flags `args`; its CPU as `node1`. */
export async function startOneNode(spec: RelaySpec, args: string[] = []): Promise<Deployment> {
  const relay = await startRelay(spec, { args });
  return { target: { url: relay.url, pids: { node1: relay.pid } }, stop: () => relay.stop() };
}

/**
 * Two nodes of `spec` sharing a fresh `redis-server` on a free loopback port (`--redis URL`):
 * the target's `url` is node 1, its `urlB` node 2; CPU reported as `node1`, `node2`, `redis`.
 * `args`: further relay flags for both.
 */
export async function startTwoNodes(spec: RelaySpec, args: string[] = []): Promise<Deployment> {
  const redis = await startRedis();
  const relays: RunningRelay[] = [];
  const stop = async () => {
    await Promise.all(relays.map((relay) => relay.stop()));
    await redis.stop();
  };
  try {
    const pid = await redisPid(redis.port);
    for (let i = 0; i < 2; i++) {
      relays.push(await startRelay(spec, { args: ["--redis", redis.url, ...args] }));
    }
    const [a, b] = relays;
    return {
      target: { url: a.url, urlB: b.url, pids: { node1: a.pid, node2: b.pid, redis: pid } },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
