import { assert, assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  carries,
  connectUrl,
  type Dialect,
  DialectError,
  identifyText,
  LEGACY_DIALECT,
  loadDialect,
  parseDialect,
  readMessage,
  resolvePointer,
  wrapMessage,
} from "./dialect.ts";
import { serveFixture } from "./fixtures/layim_server.ts";
import { type Report, runConformance } from "./mod.ts";

const dir = new URL("./dialects/", import.meta.url);
const load = (name: string) => loadDialect(new URL(`${name}.json`, dir).pathname);
const FAST = { timeoutMs: 1500, settleMs: 40, quietMs: 60, cleanupMs: 100 } as const;

Deno.test("dialect files are checked against dialect.schema.json, errors name the member", () => {
  const bad: [unknown, string][] = [
    [[], "the dialect must be object"],
    [{ identify: { mode: "first-frame" } }, `the dialect needs "name"`],
    [
      { name: "x", identify: { mode: "cookie" } },
      `/identify/mode must be one of "first-frame", "frame", "path", "query"`,
    ],
    [{ name: "x", identify: { mode: "frame" } }, `/identify needs "template"`],
    [
      { name: "x", identify: { mode: "path", path: "/ws" } },
      "/identify/path must be a path starting with / and containing {id}",
    ],
    [{ name: "x", identify: { mode: "query" } }, `/identify needs "param"`],
    [
      { name: "x", identify: { mode: "first-frame" }, receive: [{ pointer: "data" }] },
      `/receive/0/pointer must be a JSON pointer`,
    ],
    [
      { name: "x", identify: { mode: "first-frame" }, receive: [{ defaults: { colour: 1 } }] },
      `/receive/0/defaults has "colour", which is not a getMessage member`,
    ],
    [{ name: "x", identify: { mode: "first-frame" }, numericIds: "yes" }, "/numericIds"],
    [
      { name: "x", identify: { mode: "first-frame" }, numericIds: { min: 5, max: 10 } },
      "/numericIds must span at least 10000 ids",
    ],
    [{ name: "x", identify: { mode: "first-frame" }, token: {} }, `/token needs "param"`],
    [{
      name: "x",
      identify: { mode: "first-frame" },
      notices: [{ match: { pointer: "/t", equals: 1 }, means: "gone" }],
    }, `/notices/0/means must be one of "offline"`],
    [
      { name: "x", identify: { mode: "first-frame" }, sendd: {} },
      `the dialect has an unknown member "sendd"`,
    ],
  ];
  for (const [value, needle] of bad) {
    const error = assertThrows(() => parseDialect(value, "f.json"));
    assert(error instanceof DialectError);
    assert(error.message.startsWith("f.json: ") && error.message.includes(needle), error.message);
  }
});

Deno.test("templates, field paths, URLs and pointers", () => {
  const d = parseDialect({
    name: "t",
    identify: {
      mode: "frame",
      template: { type: "login", data: { id: "{{id}}", tag: "u-{{id}}", name: "{{username}}" } },
    },
    send: {
      template: { type: "say", to: "{{to.id}}", text: "{{mine.content}}", all: "{{message}}" },
    },
    numericIds: true,
  });
  assertEquals(
    identifyText(d, "42", { username: "张三", avatar: "" }),
    `{"type":"login","data":{"id":42,"tag":"u-42","name":"张三"}}`,
  );
  assertEquals(
    wrapMessage(d, { mine: { content: "hi" }, to: { id: 7 } }),
    `{"type":"say","to":7,"text":"hi","all":{"mine":{"content":"hi"},"to":{"id":7}}}`,
  );
  assertEquals(identifyText(LEGACY_DIALECT, " raw "), " raw ");
  const path = parseDialect({ name: "p", identify: { mode: "path", path: "/websocket/{id}" } });
  assertEquals(
    connectUrl(path, "ws://h:1/x?a=1", "a b", "t"),
    "ws://h:1/websocket/a%20b?a=1&token=t",
  );
  const query = parseDialect({
    name: "q",
    identify: { mode: "query", param: "uid" },
    token: { param: "access_token" },
  });
  assertEquals(connectUrl(query, "ws://h:1/ws", "7", "t"), "ws://h:1/ws?uid=7&access_token=t");
  assertEquals(resolvePointer({ "a/b": [{ "~": 1 }] }, "/a~1b/0/~0"), 1);
  assertEquals(resolvePointer({}, "/missing/x"), undefined);
  const flat = parseDialect({
    name: "f",
    identify: { mode: "first-frame" },
    send: { template: { to: "{{to.id}}", m: "{{mine}}" } },
  });
  assertEquals([carries(flat, "to.id"), carries(flat, "to.type"), carries(flat, "mine.extra")], [
    true,
    false,
    true,
  ]);
  assert(carries(LEGACY_DIALECT, "to.type"));
});

Deno.test("receive rules: several types, fields from the frame, defaults the page fills", () => {
  const d: Dialect = parseDialect({
    name: "r",
    identify: { mode: "first-frame", reply: { pointer: "/type", equals: "login_ok" } },
    receive: [
      { match: { pointer: "/type", equals: "chat" }, pointer: "/data" },
      {
        match: { pointer: "/type", equals: "log" },
        pointer: "/data",
        fields: { id: "/from" },
        defaults: { type: "friend", timestamp: "{{now}}" },
      },
    ],
    notices: [{ match: { pointer: "/type", equals: "offline" }, means: "offline" }],
  });
  const m = { type: "friend", content: "x" };
  assertEquals(readMessage(d, { type: "chat", data: m }), { message: m, rule: 0, filled: [] });
  const log = readMessage(d, { type: "log", from: 7, data: { content: "y" } })!;
  assertEquals([log.rule, log.message.id, log.message.type, log.filled], [1, 7, "friend", [
    "type",
    "timestamp",
  ]]);
  assert(Number.isInteger(log.message.timestamp));
  assertEquals(readMessage(d, { type: "offline" }), undefined);
  assertEquals(readMessage(d, { type: "login_ok" }), undefined);
  assertEquals(readMessage(d, { type: "notice", data: m }), undefined);
  assertEquals(readMessage(LEGACY_DIALECT, m)?.message, m);
  assertEquals(readMessage(LEGACY_DIALECT, { type: "ready" }), undefined);
});

function notPassed(report: Report): string[] {
  return report.results
    .filter((r) => r.status !== "pass" && !(r.status === "skip" && /profile only/.test(r.reason!)))
    .map((r) => `${r.status} ${r.id}${r.requirement ? ` [${r.requirement}]` : ""}`);
}

const NO_TOKENS = "skip identify/token-refused";
const DIALECT_ONLY = "skip routing/legacy-frames-only";

/** Each example, what a correct server speaking it leaves unpassed, and what proves the feature. */
const EXAMPLES: [string, string[], (r: Report) => void][] = [
  ["path-identify", [NO_TOKENS, DIALECT_ONLY], () => {}],
  ["envelope", [NO_TOKENS, DIALECT_ONLY], () => {}],
  ["numeric-ids", ["skip identify/id-64", NO_TOKENS, DIALECT_ONLY], () => {}],
  ["receive-types", [NO_TOKENS, DIALECT_ONLY], () => {}],
  ["receive-fields", [NO_TOKENS, DIALECT_ONLY], (r) => {
    const get = r.results.find((x) => x.id === "routing/get-message")!;
    assertEquals(get.notes, ["filled in by the page: type, timestamp, mine"]);
  }],
  ["flat-send", [NO_TOKENS, "skip routing/not-friend", DIALECT_ONLY], (r) => {
    assertMatch(
      r.results.find((x) => x.id === "routing/not-friend")!.reason!,
      /does not carry to\.type/,
    );
  }],
  ["login-reply", [NO_TOKENS, DIALECT_ONLY], () => {}],
  ["token-param", [DIALECT_ONLY], () => {}],
  ["offline-notice", [NO_TOKENS, DIALECT_ONLY], (r) => {
    assertEquals(r.results.find((x) => x.id === "cleanup/cycles")!.notes, ["20 cycles"]);
  }],
];

for (const [name, unpassed, proof] of EXAMPLES) {
  Deno.test(`dialect example ${name}: a correct server speaking it passes`, async () => {
    const dialect = await load(name);
    const jwtSecret = dialect.token ? "dialect-secret" : undefined;
    await using fixture = serveFixture({ dialect, jwtSecret });
    // The fixture runs on Deno's WebSocket, whose transport verdicts transport_test.ts asserts.
    const report = await runConformance({
      url: fixture.url,
      dialect,
      jwtSecret,
      skip: ["transport"],
      ...FAST,
    });
    assertEquals(report.dialect, name);
    assertEquals(notPassed(report), unpassed);
    proof(report);
  });
}

Deno.test("dialect receive-types: the runner reads both receive types", async () => {
  const dialect = await load("receive-types");
  await using fixture = serveFixture({ dialect });
  const report = await runConformance({
    url: fixture.url,
    dialect,
    only: ["routing/order-300"],
    ...FAST,
  });
  assert(report.ok);
  // The fixture alternates chatMessage and logMessage: knowing only one type, half arrive.
  const halved = await runConformance({
    url: fixture.url,
    dialect: { ...dialect, receive: dialect.receive!.slice(0, 1) },
    only: ["routing/order-300"],
    ...FAST,
  });
  assertMatch(halved.results[0].notes[0], /^B: 150 of 300 arrived, in order$/);
});

Deno.test("dialect login-reply: the runner waits for the reply, not the settle delay", async () => {
  const dialect = await load("login-reply");
  // The server registers a session 300 ms after its login frame, then replies.
  await using fixture = serveFixture({ dialect, loginDelayMs: 300 });
  const only = ["identify/reachable", "routing/exactly-once"];
  const report = await runConformance({ url: fixture.url, dialect, only, ...FAST });
  assertEquals(notPassed(report), []);
  // The same server without the reply in the dialect: 40 ms of settle is too short.
  const { reply: _, ...identify } = dialect.identify;
  const blind = await runConformance({
    url: fixture.url,
    dialect: { ...dialect, identify },
    only,
    ...FAST,
  });
  assertEquals(notPassed(blind), [
    "fail identify/reachable [IDENT-6]",
    "fail routing/exactly-once [ROUTE-1]",
  ]);
});
