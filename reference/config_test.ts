import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { type Config, parseConfig } from "./config.ts";
import { DEMO_USERS_FILE } from "./directory.ts";

function config(args: string[], env: Record<string, string> = {}): Config {
  const parsed = parseConfig(args, env);
  if (parsed.ok !== true) throw new Error(`expected a config, got ${JSON.stringify(parsed)}`);
  return parsed.config;
}

function error(args: string[], env: Record<string, string> = {}): string {
  const parsed = parseConfig(args, env);
  if (parsed.ok !== false) throw new Error(`expected an error, got ${JSON.stringify(parsed)}`);
  assert(!parsed.error.includes("\n"), "errors are one line");
  return parsed.error;
}

Deno.test("config: defaults", () => {
  assertEquals(config([]), {
    hostname: "127.0.0.1",
    port: 8080,
    allowNoOrigin: true,
    allowNoExp: false,
    limits: {},
    usersFile: DEMO_USERS_FILE,
    logFormat: "text",
    transport: "tcp",
  });
});

Deno.test("config: every flag, in both --flag value and --flag=value forms", () => {
  const args = [
    "-p",
    "9000",
    "--host=0.0.0.0",
    "--origin",
    "https://Chat.Example.com",
    "--origin=http://a.test:8080/,http://b.test:80",
    "--deny-no-origin",
    "--jwks-file",
    "/etc/jwks.json",
    "--users=/srv/users.json",
    "--web",
    "/srv/www",
    "--max-frame-bytes=1024",
    "--rate",
    "10",
    "--burst",
    "20",
    "--max-sessions",
    "2",
    "--identify-timeout",
    "500",
    "--idle-timeout",
    "3000",
    "--max-buffered-bytes",
    "4096",
    "--log-format",
    "json",
    "--redis",
    "redis://127.0.0.1:6379",
    "--redis-timeout=250",
    "--server-name",
    "Relay.Example.net",
    "--server-name=a.test,b.test.",
    "--allow-no-exp",
    "--metrics-token-file",
    "/run/metrics-token",
    "--metrics-port=9090",
    "--metrics-host",
    "10.0.0.2",
    "--transport",
    "deno",
  ];
  assertEquals(config(args), {
    hostname: "0.0.0.0",
    port: 9000,
    origins: ["https://chat.example.com", "http://a.test:8080", "http://b.test"],
    serverNames: ["relay.example.net", "a.test", "b.test."],
    allowNoOrigin: false,
    allowNoExp: true,
    metricsTokenFile: "/run/metrics-token",
    metricsPort: 9090,
    metricsHost: "10.0.0.2",
    redisTimeoutMs: 250,
    limits: {
      maxFrameBytes: 1024,
      ratePerSecond: 10,
      rateBurst: 20,
      maxSessionsPerUser: 2,
      identifyTimeoutMs: 500,
      idleTimeoutMs: 3000,
      maxBufferedBytes: 4096,
    },
    jwksFile: "/etc/jwks.json",
    usersFile: "/srv/users.json",
    webRoot: "/srv/www",
    logFormat: "json",
    redisUrl: "redis://127.0.0.1:6379",
    transport: "deno",
  });
});

Deno.test("config: every environment variable", () => {
  const env = {
    LAYIM_WS_PORT: "0",
    LAYIM_WS_HOST: "::1",
    LAYIM_WS_ORIGINS: "*",
    LAYIM_WS_ALLOW_NO_ORIGIN: "false",
    LAYIM_WS_JWT_SECRET_FILE: "/run/secret",
    LAYIM_WS_USERS: "none",
    LAYIM_WS_WEB: "none",
    LAYIM_WS_MAX_FRAME_BYTES: "100",
    LAYIM_WS_RATE: "1",
    LAYIM_WS_BURST: "2",
    LAYIM_WS_MAX_SESSIONS: "3",
    LAYIM_WS_IDENTIFY_TIMEOUT: "4",
    LAYIM_WS_IDLE_TIMEOUT: "5",
    LAYIM_WS_MAX_BUFFERED_BYTES: "6",
    LAYIM_WS_LOG_FORMAT: "json",
    LAYIM_WS_REDIS: "rediss://user:pw@redis.test:6380/0",
    LAYIM_WS_REDIS_TIMEOUT: "5000",
    LAYIM_WS_SERVER_NAMES: "*",
    LAYIM_WS_ALLOW_NO_EXP: "1",
    LAYIM_WS_METRICS_TOKEN_FILE: "/run/t",
    LAYIM_WS_METRICS_PORT: "0",
    LAYIM_WS_METRICS_HOST: "::1",
    LAYIM_WS_TRANSPORT: "deno",
  };
  assertEquals(config([], env), {
    hostname: "::1",
    port: 0,
    origins: ["*"],
    serverNames: ["*"],
    allowNoOrigin: false,
    allowNoExp: true,
    metricsTokenFile: "/run/t",
    metricsPort: 0,
    metricsHost: "::1",
    redisTimeoutMs: 5000,
    limits: {
      maxFrameBytes: 100,
      ratePerSecond: 1,
      rateBurst: 2,
      maxSessionsPerUser: 3,
      identifyTimeoutMs: 4,
      idleTimeoutMs: 5,
      maxBufferedBytes: 6,
    },
    jwtSecretFile: "/run/secret",
    usersFile: null,
    webRoot: null,
    logFormat: "json",
    redisUrl: "rediss://user:pw@redis.test:6380/0",
    transport: "deno",
  });
  assertEquals(config([], { LAYIM_WS_JWT_SECRET: "s3cret" }).jwtSecret, "s3cret");
  assertEquals(config([], { LAYIM_WS_JWKS_FILE: "/k.json" }).jwksFile, "/k.json");
});

Deno.test("config: flags win over environment variables", () => {
  const env = {
    LAYIM_WS_PORT: "9001",
    LAYIM_WS_ORIGINS: "https://env.test",
    LAYIM_WS_ALLOW_NO_ORIGIN: "false",
    LAYIM_WS_USERS: "/env/users.json",
    LAYIM_WS_WEB: "/env/www",
    LAYIM_WS_RATE: "7",
    LAYIM_WS_LOG_FORMAT: "json",
  };
  const c = config(
    [
      "--port=9002",
      "--origin=https://flag.test",
      "--allow-no-origin",
      "--no-users",
      "--no-web",
      "--rate=8",
      "--log-format=text",
    ],
    env,
  );
  assertEquals(
    [c.port, c.origins, c.allowNoOrigin, c.usersFile, c.webRoot, c.limits.ratePerSecond],
    [9002, ["https://flag.test"], true, null, null, 8],
  );
  assertEquals(c.logFormat, "text");
  assertEquals(config([], env).port, 9001);
  assertEquals(config([], { LAYIM_WS_PORT: "" }).port, 8080, "an empty env var is unset");
});

Deno.test("config: --help lists every flag with its env var and default", () => {
  const parsed = parseConfig(["--port=1", "-h"], {});
  assert(parsed.ok === "help");
  for (
    const part of [
      "-p, --port N",
      "LAYIM_WS_PORT",
      "default: 8080",
      "--host",
      "LAYIM_WS_HOST",
      "--origin",
      "LAYIM_WS_ORIGINS",
      "--allow-no-origin",
      "--deny-no-origin",
      "--jwt-secret-file",
      "LAYIM_WS_JWT_SECRET_FILE",
      "--jwt-secret SECRET",
      "LAYIM_WS_JWT_SECRET",
      "--jwks-file",
      "LAYIM_WS_JWKS_FILE",
      "--users",
      "--no-users",
      "--web",
      "--no-web",
      "--max-frame-bytes",
      "default: 65536",
      "--rate",
      "--burst",
      "default: 500",
      "--max-sessions",
      "--identify-timeout",
      "--idle-timeout",
      "--max-buffered-bytes",
      "LAYIM_WS_MAX_BUFFERED_BYTES",
      "--log-format text|json",
      "--redis URL",
      "LAYIM_WS_REDIS",
      "--redis-timeout MS",
      "--server-name NAME",
      "LAYIM_WS_SERVER_NAMES",
      "--allow-no-exp",
      "--metrics-token-file FILE",
      "--metrics-port N",
      "--metrics-host ADDR",
      "--transport tcp|deno",
      "LAYIM_WS_TRANSPORT",
      "default: tcp",
      "--help",
      "--version",
    ]
  ) assertStringIncludes(parsed.text, part);
  const version = parseConfig(["--version"], {});
  assert(version.ok === "help" && /^layim-ws \d+\.\d+\.\d+/.test(version.text));
});

Deno.test("config: unknown flags and stray arguments", () => {
  assertEquals(error(["--prot", "80"]), "unknown flag --prot (see --help)");
  assertEquals(error(["--x=1"]), "unknown flag --x (see --help)");
  assertEquals(error(["-x"]), "unknown flag -x (see --help)");
  assertEquals(error(["8080"]), 'unexpected argument "8080" (see --help)');
});

Deno.test("config: missing values and values given to switches", () => {
  assertEquals(error(["--port"]), "--port needs a value (N)");
  assertEquals(error(["--users", "--no-web"]), "--users needs a value (FILE)");
  assertEquals(error(["--no-users=yes"]), "--no-users takes no value");
  assertEquals(error(["--users="]), "--users: must not be empty");
});

Deno.test("config: numbers must be integers in range", () => {
  assertEquals(
    error(["--port", "65536"]),
    '--port: must be an integer from 0 to 65535, got "65536"',
  );
  assertEquals(error(["-p", "-1"]), '-p: must be an integer from 0 to 65535, got "-1"');
  assertEquals(
    error([], { LAYIM_WS_PORT: "80.5" }),
    'LAYIM_WS_PORT: must be an integer from 0 to 65535, got "80.5"',
  );
  for (const bad of ["0", "1e3", "abc", " 5", "99999999999999999999"]) {
    assertStringIncludes(error(["--rate", bad]), "--rate: must be an integer from 1 to");
  }
  assertStringIncludes(error(["--max-sessions=0"]), "--max-sessions: must be an integer from 1");
  assertStringIncludes(error(["--max-frame-bytes=999999999"]), "--max-frame-bytes: must be");
  assertStringIncludes(error([], { LAYIM_WS_IDLE_TIMEOUT: "0" }), "LAYIM_WS_IDLE_TIMEOUT: must be");
});

Deno.test("config: origins must be absolute http(s) origins without a path", () => {
  for (
    const bad of [
      "example.com",
      "ftp://example.com",
      "https://example.com/chat",
      "https://example.com?x=1",
      "https://user@example.com",
      "https://example.com/.",
    ]
  ) {
    assertEquals(
      error(["--origin", bad]),
      `--origin: ${JSON.stringify(bad)} is not an origin like https://chat.example.com`,
    );
  }
  assertEquals(error(["--origin", ", ,"]), "--origin: needs at least one origin");
  assertStringIncludes(error([], { LAYIM_WS_ORIGINS: "http://ok.test,nope" }), "LAYIM_WS_ORIGINS:");
  assertEquals(config(["--origin", "http://a.test", "--origin", "http://a.test/"]).origins, [
    "http://a.test",
  ]);
});

Deno.test("config: other invalid values", () => {
  assertEquals(error(["--log-format", "xml"]), "--log-format: must be text or json");
  assertEquals(
    error([], { LAYIM_WS_ALLOW_NO_ORIGIN: "maybe" }),
    "LAYIM_WS_ALLOW_NO_ORIGIN: must be true or false",
  );
  assertEquals(error(["--host", "a b"]), "--host: must not contain whitespace");
  const redis = error(["--redis", "http://user:hunter2@redis.test"]);
  assertEquals(redis, "--redis: must be a redis:// or rediss:// URL");
  assertEquals(error(["--redis-timeout", "100"]), "--redis-timeout: needs --redis");
  assertEquals(error(["--metrics-host", "::1"]), "--metrics-host: needs --metrics-port");
  for (const bad of ["https://a.test", "a.test:80", "a b", "-a.test", "a..test"]) {
    assertEquals(
      error(["--server-name", bad]),
      `--server-name: ${JSON.stringify(bad)} is not a host name like chat.example.com`,
    );
  }
  assertEquals(error(["--server-name", ","]), "--server-name: needs at least one host name");
  assertEquals(error(["--transport", "uws"]), "--transport: must be tcp or deno");
  assertEquals(
    error([], { LAYIM_WS_TRANSPORT: "bun" }),
    "LAYIM_WS_TRANSPORT: must be tcp or deno",
  );
});

Deno.test("config: only one JWT key source, and a secret is never echoed", () => {
  assertEquals(
    error(["--jwks-file", "/k.json"], { LAYIM_WS_JWT_SECRET: "s3cret" }),
    "LAYIM_WS_JWT_SECRET and --jwks-file both configure JWT keys: choose one",
  );
  assertEquals(
    error(["--jwt-secret-file=/a", "--jwt-secret=s3cret"]),
    "--jwt-secret and --jwt-secret-file both configure JWT keys: choose one",
  );
  assertEquals(error(["--jwt-secret="]), "--jwt-secret: must not be empty");
});

Deno.test("config: presence flags and their environment variables", () => {
  const args = ["--presence", "all", "--presence-offline-delay=0", "--max-watch", "50"];
  assertEquals(config(args).presence, { mode: "all", offlineDelayMs: 0, maxWatchIds: 50 });
  const env = {
    LAYIM_WS_PRESENCE: "off",
    LAYIM_WS_PRESENCE_OFFLINE_DELAY: "3000",
    LAYIM_WS_MAX_WATCH: "7",
    LAYIM_WS_REDIS: "redis://127.0.0.1:6379",
    LAYIM_WS_PRESENCE_TTL: "9000",
  };
  const c = config([], env);
  assertEquals([c.presence, c.presenceTtlMs], [
    { mode: "off", offlineDelayMs: 3000, maxWatchIds: 7 },
    9000,
  ]);
  assertEquals(config([]).presence, undefined);
  assertEquals(error(["--presence", "friend"]), "--presence: must be friends, all or off");
  assertEquals(
    error(["--presence-ttl", "9000"]),
    "--presence-ttl: applies only with --redis",
  );
  assertStringIncludes(error(["--max-watch", "0"]), "--max-watch: must be an integer from 1");
  assertStringIncludes(error(["--presence-ttl", "100", "--redis", "redis://r"]), "from 500");
});
