/**
 * The relay's command line: `deno task serve [flags]` (see `--help`).
 *
 * Starts the reference relay with its default settings (loopback, in memory, the demo user
 * directory and the chat page), prints where to open it, and shuts down cleanly on SIGINT or
 * SIGTERM: stop accepting, close every session with 1001, exit 0.
 *
 * @module
 */
import { loadAuthenticator } from "./auth.ts";
import { parseConfig } from "./config.ts";
import { loadDirectory } from "./directory.ts";
import { readConfigFile } from "./files.ts";
import { createLogger, WriterSink } from "./log.ts";
import { isLoopback } from "./origin.ts";
import { serveRelay } from "./relay.ts";

const FLUSH_WAIT_MS = 1000;

function fail(message: string): never {
  console.error(`layim-ws: ${message}`);
  Deno.exit(2);
}

async function main(): Promise<void> {
  const parsed = parseConfig(Deno.args, Deno.env.toObject());
  if (parsed.ok === "help") {
    console.log(parsed.text);
    return;
  }
  if (!parsed.ok) fail(parsed.error);
  const config = parsed.config;
  const sink = new WriterSink(Deno.stderr);
  const logger = createLogger(config.logFormat, sink);
  let auth, directory, metricsToken;
  try {
    auth = await loadAuthenticator({ ...config, requireExp: !config.allowNoExp });
    directory = config.usersFile === null ? undefined : await loadDirectory(config.usersFile);
    if (config.metricsTokenFile !== undefined) {
      metricsToken = new TextDecoder().decode(
        await readConfigFile(config.metricsTokenFile, "metrics token file"),
      ).trim();
      if (metricsToken === "") {
        throw new Error(`metrics token file ${config.metricsTokenFile} is empty`);
      }
    }
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  let relay;
  try {
    relay = await serveRelay({
      hostname: config.hostname,
      port: config.port,
      limits: config.limits,
      origins: config.origins,
      serverNames: config.serverNames,
      allowNoOrigin: config.allowNoOrigin,
      metrics: { token: metricsToken, port: config.metricsPort, hostname: config.metricsHost },
      auth,
      directory,
      webRoot: config.webRoot,
      logger,
      presence: config.presence,
      transport: config.transport,
      // Loaded only when asked for: a single relay never loads the Redis client.
      broker: config.redisUrl
        ? (await import("./broker_redis.ts")).redisBroker(config.redisUrl, {
          logger,
          timeoutMs: config.redisTimeoutMs,
          presenceTtlMs: config.presenceTtlMs,
        })
        : undefined,
    });
  } catch (error) {
    fail(
      `cannot listen on ${config.hostname}:${config.port}: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
  console.log(`layim-ws relay ready
  chat page:  ${relay.url}/
  WebSocket:  ${relay.wsUrl} (also ${relay.url.replace(/^http/, "ws")}/)
  metrics:    ${relay.metricsUrl}${metricsToken ? " (bearer token required)" : ""}`);
  if (!isLoopback(config.hostname) && !auth) {
    console.error(
      `layim-ws: WARNING: listening on ${config.hostname} without authentication: anyone who ` +
        "can reach this port can chat as any user id (set --jwt-secret-file or --jwks-file)",
    );
  }
  if (config.origins?.includes("*")) {
    console.error(
      "layim-ws: WARNING: --origin * lets any web site open WebSockets to this relay from its " +
        "visitors' browsers (cross-site WebSocket hijacking)" +
        (auth ? "" : ", as any user id since there is no authentication") +
        "; list the pages' origins instead",
    );
  }
  if (config.serverNames?.includes("*")) {
    console.error(
      "layim-ws: WARNING: --server-name * answers any Host: a web page can read /api/users " +
        "and /metrics through DNS rebinding unless a proxy in front checks Host",
    );
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await relay.close();
    // The last lines, unless standard error is not being read at all.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([sink.flush(), new Promise((r) => timer = setTimeout(r, FLUSH_WAIT_MS))]);
    clearTimeout(timer);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

if (import.meta.main) await main();
