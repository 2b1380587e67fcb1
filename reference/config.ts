/**
 * The relay's command line: flags and `LAYIM_WS_*` environment variables into a plain
 * {@linkcode Config}. Flags win over the environment; an empty environment variable counts as
 * unset. Parsing does no I/O: files named here are read by the CLI afterwards.
 *
 * ```ts
 * import { parseConfig } from "./config.ts";
 * const parsed = parseConfig(Deno.args, Deno.env.toObject());
 * if (parsed.ok === true) console.log(parsed.config.port);
 * ```
 *
 * @module
 */
import denoConfig from "../deno.json" with { type: "json" };
import { DEFAULT_LIMITS, type Limits } from "../schemas/protocol.ts";
import { DEMO_USERS_FILE } from "./directory.ts";
import {
  DEFAULT_PRESENCE,
  DEFAULT_PRESENCE_TTL_MS,
  type PresenceMode,
  type PresenceSettings,
} from "./presence.ts";
import { DEFAULT_TRANSPORT, TRANSPORT_NAMES, type TransportName } from "./transports.ts";

/** Everything the CLI needs to start a relay. */
export interface Config {
  hostname: string;
  port: number;
  /** Origins allowed to open a WebSocket besides the relay's own (`"*"`: any). */
  origins?: string[];
  /** Host names the HTTP routes answer besides loopback, IP addresses and the origins' hosts. */
  serverNames?: string[];
  /** Whether upgrades without an `Origin` header (non-browser clients) are accepted. */
  allowNoOrigin: boolean;
  limits: Partial<Limits>;
  jwtSecret?: string;
  jwtSecretFile?: string;
  jwksFile?: string;
  /** Whether tokens without `exp` are accepted (default false). */
  allowNoExp: boolean;
  /** A file holding the bearer token `/metrics` requires. */
  metricsTokenFile?: string;
  /** A port of its own for `/metrics`. */
  metricsPort?: number;
  /** The interface of `metricsPort` (default 127.0.0.1). */
  metricsHost?: string;
  /** The user directory file; `null`: no directory. */
  usersFile: string | null;
  /** The folder served at `/`; `null`: none; absent: the relay's default (`web/`). */
  webRoot?: string | null;
  logFormat: "text" | "json";
  redisUrl?: string;
  /** How long Redis may take to answer before it counts as down (ms). */
  redisTimeoutMs?: number;
  /** Presence settings given, when any (the rest are `DEFAULT_PRESENCE`). */
  presence?: Partial<PresenceSettings>;
  /** With `redisUrl`: the bound for a dead relay's users to go offline. */
  presenceTtlMs?: number;
  /** The WebSocket transport. */
  transport: TransportName;
}

/** The outcome of {@linkcode parseConfig}: a config, a one-line error, or text to print. */
export type ParsedConfig =
  | { ok: true; config: Config }
  | { ok: false; error: string }
  | { ok: "help"; text: string };

type Key =
  | "port"
  | "host"
  | "origins"
  | "serverNames"
  | "allowNoOrigin"
  | "jwtSecret"
  | "jwtSecretFile"
  | "jwksFile"
  | "allowNoExp"
  | "metricsTokenFile"
  | "metricsPort"
  | "metricsHost"
  | "users"
  | "web"
  | "logFormat"
  | "redis"
  | "redisTimeout"
  | "presence"
  | "presenceOfflineDelay"
  | "presenceTtl"
  | "maxWatch"
  | "transport"
  | keyof Limits;

interface Option {
  key: Key;
  flag: string;
  short?: string;
  env?: string;
  /** The value's placeholder in the help; absent for a switch. */
  arg?: string;
  /** The raw value a switch sets (`null`: "none"). */
  sets?: string | null;
  help: string;
  default?: string;
}

const LIMIT_RANGES: Record<keyof Limits, [min: number, max: number]> = {
  maxFrameBytes: [1, 64 * 1024 * 1024],
  ratePerSecond: [1, 1_000_000],
  rateBurst: [1, 1_000_000],
  maxSessionsPerUser: [1, 10_000],
  identifyTimeoutMs: [1, 3_600_000],
  idleTimeoutMs: [1, 86_400_000],
  maxBufferedBytes: [1, 1024 * 1024 * 1024],
};

const limit = (key: keyof Limits, flag: string, env: string, arg: string, help: string) => ({
  key,
  flag,
  env,
  arg,
  help,
  default: String(DEFAULT_LIMITS[key]),
});

const OPTIONS: Option[] = [
  {
    key: "port",
    flag: "--port",
    short: "-p",
    env: "LAYIM_WS_PORT",
    arg: "N",
    help: "Port to listen on (0: any free port).",
    default: "8080",
  },
  {
    key: "host",
    flag: "--host",
    env: "LAYIM_WS_HOST",
    arg: "ADDR",
    help: "Address to bind; anything but loopback exposes the relay.",
    default: "127.0.0.1",
  },
  {
    key: "origins",
    flag: "--origin",
    env: "LAYIM_WS_ORIGINS",
    arg: "ORIGIN",
    help: "Also allow this browser origin, e.g. https://chat.example.com (repeatable or a " +
      "comma list; * allows any). The relay's own http://127.0.0.1:PORT, " +
      "http://localhost:PORT and http://[::1]:PORT are always allowed.",
    default: "none",
  },
  {
    key: "serverNames",
    flag: "--server-name",
    env: "LAYIM_WS_SERVER_NAMES",
    arg: "NAME",
    help: "Also answer HTTP requests for this host name, e.g. chat.example.com (repeatable or a " +
      "comma list; * answers any). Loopback names, IP addresses and the hosts of --origin are " +
      "always answered; other names get 421 (DNS rebinding).",
    default: "none",
  },
  {
    key: "allowNoOrigin",
    flag: "--allow-no-origin",
    env: "LAYIM_WS_ALLOW_NO_ORIGIN",
    sets: "true",
    help: "Accept upgrades without an Origin header (non-browser clients); env: true|false.",
    default: "true",
  },
  {
    key: "allowNoOrigin",
    flag: "--deny-no-origin",
    sets: "false",
    help: "Refuse upgrades without an Origin header.",
  },
  {
    key: "jwtSecretFile",
    flag: "--jwt-secret-file",
    env: "LAYIM_WS_JWT_SECRET_FILE",
    arg: "FILE",
    help: "Require HS256 JWTs signed with the secret in FILE (a trailing newline is ignored).",
  },
  {
    key: "jwtSecret",
    flag: "--jwt-secret",
    env: "LAYIM_WS_JWT_SECRET",
    arg: "SECRET",
    help: "Require HS256 JWTs signed with SECRET (prefer the env var or a file: " +
      "command lines are visible to other users).",
  },
  {
    key: "jwksFile",
    flag: "--jwks-file",
    env: "LAYIM_WS_JWKS_FILE",
    arg: "FILE",
    help: 'Require RS256/ES256/EdDSA JWTs verified with the public keys in FILE ({"keys":[...]}).',
  },
  {
    key: "allowNoExp",
    flag: "--allow-no-exp",
    env: "LAYIM_WS_ALLOW_NO_EXP",
    sets: "true",
    help: "Accept tokens without an exp claim (they never expire: one leaked copy is enough); " +
      "env: true|false.",
    default: "false: tokens must carry exp",
  },
  {
    key: "metricsTokenFile",
    flag: "--metrics-token-file",
    env: "LAYIM_WS_METRICS_TOKEN_FILE",
    arg: "FILE",
    help: "Require the bearer token in FILE to read /metrics (Authorization: Bearer TOKEN).",
  },
  {
    key: "metricsPort",
    flag: "--metrics-port",
    env: "LAYIM_WS_METRICS_PORT",
    arg: "N",
    help: "Serve /metrics on a port of its own (0: any free port) instead of the public one.",
  },
  {
    key: "metricsHost",
    flag: "--metrics-host",
    env: "LAYIM_WS_METRICS_HOST",
    arg: "ADDR",
    help: "Address of the --metrics-port listener.",
    default: "127.0.0.1",
  },
  {
    key: "users",
    flag: "--users",
    env: "LAYIM_WS_USERS",
    arg: "FILE",
    help: "User directory JSON file (display names, avatars, friend list); env: none disables.",
    default: "the demo users (reference/demo-users.json)",
  },
  { key: "users", flag: "--no-users", sets: null, help: "Run without a user directory." },
  {
    key: "web",
    flag: "--web",
    env: "LAYIM_WS_WEB",
    arg: "DIR",
    help: "Folder served at /; env: none disables.",
    default: "web/ of this repository",
  },
  { key: "web", flag: "--no-web", sets: null, help: "Serve no web page." },
  limit(
    "maxFrameBytes",
    "--max-frame-bytes",
    "LAYIM_WS_MAX_FRAME_BYTES",
    "N",
    "Largest text frame in UTF-8 bytes.",
  ),
  limit("ratePerSecond", "--rate", "LAYIM_WS_RATE", "N", "Frames per second per connection."),
  limit("rateBurst", "--burst", "LAYIM_WS_BURST", "N", "Burst of frames per connection."),
  limit(
    "maxSessionsPerUser",
    "--max-sessions",
    "LAYIM_WS_MAX_SESSIONS",
    "N",
    "Open sessions per user; one more closes the oldest.",
  ),
  limit(
    "identifyTimeoutMs",
    "--identify-timeout",
    "LAYIM_WS_IDENTIFY_TIMEOUT",
    "MS",
    "Time allowed to identify, in milliseconds.",
  ),
  limit(
    "idleTimeoutMs",
    "--idle-timeout",
    "LAYIM_WS_IDLE_TIMEOUT",
    "MS",
    "Keepalive: close a silent connection after this many milliseconds.",
  ),
  limit(
    "maxBufferedBytes",
    "--max-buffered-bytes",
    "LAYIM_WS_MAX_BUFFERED_BYTES",
    "N",
    "Unsent bytes per connection before it is closed as a slow consumer.",
  ),
  {
    key: "logFormat",
    flag: "--log-format",
    env: "LAYIM_WS_LOG_FORMAT",
    arg: "text|json",
    help: "Log line format (on standard error).",
    default: "text",
  },
  {
    key: "redis",
    flag: "--redis",
    env: "LAYIM_WS_REDIS",
    arg: "URL",
    help: "Share sessions with other relays through Redis (redis:// or rediss:// URL).",
    default: "none (one process, in memory)",
  },
  {
    key: "redisTimeout",
    flag: "--redis-timeout",
    env: "LAYIM_WS_REDIS_TIMEOUT",
    arg: "MS",
    help: "Redis counts as down when a PUBLISH or a health PING (sent every MS/2) is not " +
      "answered within MS: messages that need another relay are then answered unavailable.",
    default: "1000",
  },
  {
    key: "presence",
    flag: "--presence",
    env: "LAYIM_WS_PRESENCE",
    arg: "friends|all|off",
    help: "Presence: with tokens or --users a user may watch its token's friends claim, else " +
      "the directory's users; without either, friends offers no presence and all lets anyone " +
      "watch anyone; off offers none.",
    default: DEFAULT_PRESENCE.mode,
  },
  {
    key: "presenceOfflineDelay",
    flag: "--presence-offline-delay",
    env: "LAYIM_WS_PRESENCE_OFFLINE_DELAY",
    arg: "MS",
    help: "Report a user offline this long after its last session ended (a reload does not flap).",
    default: String(DEFAULT_PRESENCE.offlineDelayMs),
  },
  {
    key: "maxWatch",
    flag: "--max-watch",
    env: "LAYIM_WS_MAX_WATCH",
    arg: "N",
    help: "Most users one connection may watch.",
    default: String(DEFAULT_PRESENCE.maxWatchIds),
  },
  {
    key: "presenceTtl",
    flag: "--presence-ttl",
    env: "LAYIM_WS_PRESENCE_TTL",
    arg: "MS",
    help: "With --redis: a relay that stops (killed, cut off) has its users reported offline " +
      "by the others within this time.",
    default: String(DEFAULT_PRESENCE_TTL_MS),
  },
  {
    key: "transport",
    flag: "--transport",
    env: "LAYIM_WS_TRANSPORT",
    arg: TRANSPORT_NAMES.join("|"),
    help: "WebSocket transport: tcp, the relay's own RFC 6455 server on Deno.listen (frame " +
      "limit while reading, 1002/1007 close frames, hard drop, connection cap), or deno, " +
      "Deno.serve with Deno.upgradeWebSocket.",
    default: DEFAULT_TRANSPORT,
  },
];

const BY_NAME = new Map<string, Option>();
for (const option of OPTIONS) {
  BY_NAME.set(option.flag, option);
  if (option.short) BY_NAME.set(option.short, option);
}

const VERSION = `layim-ws ${denoConfig.version}`;

function helpText(): string {
  const lines = [
    "Usage: deno task serve [flags]",
    "",
    "The layim-ws reference relay: one-to-one LayIM chat over WebSocket.",
    "Each flag can also be set by its environment variable; flags win.",
    "",
  ];
  for (const o of OPTIONS) {
    const names = [o.short, o.flag].filter(Boolean).join(", ");
    lines.push(`  ${names}${o.arg ? ` ${o.arg}` : ""}`);
    lines.push(`      ${o.help}`);
    const notes = [o.env && `env ${o.env}`, o.default && `default: ${o.default}`].filter(Boolean);
    if (notes.length) lines.push(`      ${notes.join("; ")}`);
  }
  lines.push("  -h, --help", "      Print this help.", "  --version", "      Print the version.");
  return lines.join("\n");
}

/** A raw setting and where it came from (a flag or an env var name, for error messages). */
interface Raw {
  value: string | null;
  from: string;
}

function integer(raw: Raw, min: number, max: number): number {
  const n = raw.value !== null && /^\d+$/.test(raw.value) ? Number(raw.value) : NaN;
  if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
  throw new Error(
    `${raw.from}: must be an integer from ${min} to ${max}, got ${JSON.stringify(raw.value)}`,
  );
}

function originOf(text: string, from: string): string {
  if (text === "*") return text;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // reported below
  }
  if (
    !url || (url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/" ||
    url.search || url.hash || url.username || url.password || !/^https?:\/\/[^/]+\/?$/i.test(text)
  ) {
    throw new Error(
      `${from}: ${JSON.stringify(text)} is not an origin like https://chat.example.com`,
    );
  }
  // Browsers send the serialized origin (lower-case host, no default port): compare that.
  return url.origin;
}

function origins(raws: Raw[]): string[] {
  const list: string[] = [];
  for (const raw of raws) {
    const items = (raw.value ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (items.length === 0) throw new Error(`${raw.from}: needs at least one origin`);
    for (const item of items) list.push(originOf(item, raw.from));
  }
  return [...new Set(list)];
}

function serverNames(raws: Raw[]): string[] {
  const list: string[] = [];
  for (const raw of raws) {
    const items = (raw.value ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (items.length === 0) throw new Error(`${raw.from}: needs at least one host name`);
    for (const item of items) {
      if (
        item !== "*" &&
        !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(item)
      ) {
        throw new Error(
          `${raw.from}: ${JSON.stringify(item)} is not a host name like chat.example.com`,
        );
      }
      list.push(item.toLowerCase());
    }
  }
  return [...new Set(list)];
}

/** Flags that may be repeated (or given as a comma list): each use adds to the list. */
const LISTS: ReadonlySet<Key> = new Set<Key>(["origins", "serverNames"]);

function build(raw: Map<Key, Raw>, lists: Map<Key, Raw[]>): Config {
  const text = (key: Key): string | undefined => {
    const r = raw.get(key);
    if (r && !r.value) throw new Error(`${r.from}: must not be empty`);
    return r?.value ?? undefined;
  };
  const num = (key: Key, min: number, max: number): number | undefined => {
    const r = raw.get(key);
    return r && integer(r, min, max);
  };

  const auth = (["jwtSecret", "jwtSecretFile", "jwksFile"] as const).filter((k) => raw.has(k));
  if (auth.length > 1) {
    const [a, b] = auth.map((k) => raw.get(k)!.from);
    throw new Error(`${a} and ${b} both configure JWT keys: choose one`);
  }

  const host = text("host") ?? "127.0.0.1";
  if (/\s/.test(host)) throw new Error(`${raw.get("host")!.from}: must not contain whitespace`);

  const bool = (key: Key, fallback: boolean): boolean => {
    const r = raw.get(key);
    if (!r) return fallback;
    if (r.value === "true" || r.value === "1") return true;
    if (r.value === "false" || r.value === "0") return false;
    throw new Error(`${r.from}: must be true or false`);
  };
  const allowNoOrigin = bool("allowNoOrigin", true);

  const logFormat = text("logFormat") ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new Error(`${raw.get("logFormat")!.from}: must be text or json`);
  }

  const redisUrl = text("redis");
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) {
    // The URL may hold a password: never echo it.
    throw new Error(`${raw.get("redis")!.from}: must be a redis:// or rediss:// URL`);
  }

  const presence: Partial<PresenceSettings> = {};
  const mode = text("presence");
  if (mode !== undefined) {
    if (mode !== "friends" && mode !== "all" && mode !== "off") {
      throw new Error(`${raw.get("presence")!.from}: must be friends, all or off`);
    }
    presence.mode = mode satisfies PresenceMode;
  }
  const offlineDelay = num("presenceOfflineDelay", 0, 600_000);
  if (offlineDelay !== undefined) presence.offlineDelayMs = offlineDelay;
  const maxWatch = num("maxWatch", 1, 100_000);
  if (maxWatch !== undefined) presence.maxWatchIds = maxWatch;
  const presenceTtlMs = num("presenceTtl", 500, 3_600_000);
  if (presenceTtlMs !== undefined && redisUrl === undefined) {
    throw new Error(`${raw.get("presenceTtl")!.from}: applies only with --redis`);
  }

  const transport = text("transport") ?? DEFAULT_TRANSPORT;
  if (!(TRANSPORT_NAMES as readonly string[]).includes(transport)) {
    throw new Error(`${raw.get("transport")!.from}: must be ${TRANSPORT_NAMES.join(" or ")}`);
  }

  const limits: Partial<Limits> = {};
  for (const [key, [min, max]] of Object.entries(LIMIT_RANGES) as [keyof Limits, number[]][]) {
    const n = num(key, min, max);
    if (n !== undefined) limits[key] = n;
  }

  const users = raw.get("users");
  const web = raw.get("web");
  const config: Config = {
    hostname: host,
    port: num("port", 0, 65535) ?? 8080,
    allowNoOrigin,
    allowNoExp: bool("allowNoExp", false),
    limits,
    usersFile: users ? (users.value === null ? null : text("users")!) : DEMO_USERS_FILE,
    logFormat,
    transport: transport as TransportName,
  };
  const originRaws = lists.get("origins");
  if (originRaws) config.origins = origins(originRaws);
  const nameRaws = lists.get("serverNames");
  if (nameRaws) config.serverNames = serverNames(nameRaws);
  const metricsTokenFile = text("metricsTokenFile");
  if (metricsTokenFile !== undefined) config.metricsTokenFile = metricsTokenFile;
  const metricsPort = num("metricsPort", 0, 65535);
  if (metricsPort !== undefined) config.metricsPort = metricsPort;
  const metricsHost = text("metricsHost");
  if (metricsHost !== undefined) {
    if (metricsPort === undefined) {
      throw new Error(`${raw.get("metricsHost")!.from}: needs --metrics-port`);
    }
    if (/\s/.test(metricsHost)) {
      throw new Error(`${raw.get("metricsHost")!.from}: must not contain whitespace`);
    }
    config.metricsHost = metricsHost;
  }
  if (Object.keys(presence).length > 0) config.presence = presence;
  if (presenceTtlMs !== undefined) config.presenceTtlMs = presenceTtlMs;
  const jwtSecret = text("jwtSecret");
  if (jwtSecret !== undefined) config.jwtSecret = jwtSecret;
  const jwtSecretFile = text("jwtSecretFile");
  if (jwtSecretFile !== undefined) config.jwtSecretFile = jwtSecretFile;
  const jwksFile = text("jwksFile");
  if (jwksFile !== undefined) config.jwksFile = jwksFile;
  if (web) config.webRoot = web.value === null ? null : text("web")!;
  if (redisUrl !== undefined) config.redisUrl = redisUrl;
  const redisTimeout = num("redisTimeout", 10, 60_000);
  if (redisTimeout !== undefined) {
    if (redisUrl === undefined) throw new Error(`${raw.get("redisTimeout")!.from}: needs --redis`);
    config.redisTimeoutMs = redisTimeout;
  }
  return config;
}

/**
 * Parses command-line `args` and the environment `env` into a {@linkcode Config}, a one-line
 * error (`unknown flag --x (see --help)`, `--port: must be an integer …`), or the text of
 * `--help`/`--version`. Supports `--flag value`, `--flag=value` and repeated `--origin`.
 */
export function parseConfig(
  args: string[],
  env: Record<string, string | undefined>,
): ParsedConfig {
  const raw = new Map<Key, Raw>();
  const lists = new Map<Key, Raw[]>();
  for (const option of OPTIONS) {
    const value = option.env ? env[option.env] : undefined;
    if (value === undefined || value === "") continue;
    const isNone = (option.key === "users" || option.key === "web") && value === "none";
    const entry = { value: isNone ? null : value, from: option.env! };
    if (LISTS.has(option.key)) lists.set(option.key, [entry]);
    else raw.set(option.key, entry);
  }

  // Flags of a list replace its environment variable, and add up among themselves.
  const flagLists = new Map<Key, Raw[]>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("-") || arg === "-" || arg === "--") {
      return { ok: false, error: `unexpected argument ${JSON.stringify(arg)} (see --help)` };
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const inline = eq === -1 ? undefined : arg.slice(eq + 1);
    if (name === "--help" || name === "-h") return { ok: "help", text: helpText() };
    if (name === "--version") return { ok: "help", text: VERSION };
    const option = BY_NAME.get(name);
    if (!option) return { ok: false, error: `unknown flag ${name} (see --help)` };
    if (option.arg === undefined) {
      if (inline !== undefined) return { ok: false, error: `${name} takes no value` };
      raw.set(option.key, { value: option.sets ?? null, from: name });
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined || next.startsWith("--")) {
        return { ok: false, error: `${name} needs a value (${option.arg})` };
      }
      value = next;
      i++;
    }
    const entry = { value, from: name };
    if (LISTS.has(option.key)) {
      flagLists.set(option.key, [...(flagLists.get(option.key) ?? []), entry]);
    } else raw.set(option.key, entry);
  }
  for (const [key, entries] of flagLists) lists.set(key, entries);

  try {
    return { ok: true, config: build(raw, lists) };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
