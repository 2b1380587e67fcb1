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
import { createLogger } from "./log.ts";
import { isLoopback } from "./origin.ts";
import { serveRelay } from "./relay.ts";

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
  const logger = createLogger(config.logFormat);
  let auth, directory;
  try {
    auth = await loadAuthenticator(config);
    directory = config.usersFile === null ? undefined : await loadDirectory(config.usersFile);
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
      allowNoOrigin: config.allowNoOrigin,
      auth,
      directory,
      webRoot: config.webRoot,
      logger,
      presence: config.presence,
      // Loaded only when asked for: a single relay never loads the Redis client.
      broker: config.redisUrl
        ? (await import("./broker_redis.ts")).redisBroker(config.redisUrl, {
          logger,
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
  metrics:    ${relay.url}/metrics`);
  if (!isLoopback(config.hostname) && !auth) {
    console.error(
      `layim-ws: WARNING: listening on ${config.hostname} without authentication: anyone who ` +
        "can reach this port can chat as any user id (set --jwt-secret-file or --jwks-file)",
    );
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await relay.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

if (import.meta.main) await main();
