import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  connectUrl,
  DialectError,
  extractMessage,
  identifyText,
  LEGACY_DIALECT,
  loadDialect,
  parseDialect,
  resolvePointer,
  wrapMessage,
} from "./dialect.ts";
import { SEED_FAILURES, serveSeed } from "./fixtures/seed_server.ts";
import { runConformance } from "./mod.ts";

const dir = new URL("./dialects/", import.meta.url);

Deno.test("the example dialects load", async () => {
  const path = await loadDialect(new URL("path-identify.json", dir).pathname);
  assertEquals(path.identify, { mode: "path", path: "/websocket/{id}" });
  const envelope = await loadDialect(new URL("envelope.json", dir).pathname);
  assertEquals(envelope.name, "envelope");
});

Deno.test("parseDialect names the bad field", () => {
  const bad = [
    [[], "must be a JSON object"],
    [{ identify: { mode: "first-frame" } }, `"name"`],
    [{ name: "x", identify: { mode: "cookie" } }, `"identify.mode"`],
    [{ name: "x", identify: { mode: "path", path: "/ws" } }, `{id}`],
    [{ name: "x", identify: { mode: "query" } }, `"identify.param"`],
    [{ name: "x", identify: { mode: "first-frame" }, receive: { pointer: "data" } }, "pointer"],
    [{ name: "x", identify: { mode: "first-frame" }, numericIds: "yes" }, "numericIds"],
  ] as const;
  for (const [value, needle] of bad) {
    const error = assertThrows(() => parseDialect(value, "f.json"));
    assert(error instanceof DialectError);
    assert(error.message.startsWith("f.json: ") && error.message.includes(needle), error.message);
  }
});

Deno.test("templates, URLs and pointers", () => {
  const d = parseDialect({
    name: "t",
    identify: {
      mode: "frame",
      template: { type: "login", data: { id: "{{id}}", tag: "u-{{id}}" } },
    },
    send: { template: { type: "chatMessage", data: "{{message}}" } },
    receive: { pointer: "/data", match: { pointer: "/type", equals: "chatMessage" } },
    numericIds: true,
  });
  assertEquals(identifyText(d, "42"), `{"type":"login","data":{"id":42,"tag":"u-42"}}`);
  assertEquals(wrapMessage(d, { mine: {} }), `{"type":"chatMessage","data":{"mine":{}}}`);
  const msg = { type: "friend", content: "x" };
  assertEquals(extractMessage(d, { type: "chatMessage", data: msg }), msg);
  assertEquals(extractMessage(d, { type: "notice", data: msg }), undefined);
  assertEquals(extractMessage(LEGACY_DIALECT, msg), msg);
  assertEquals(extractMessage(LEGACY_DIALECT, { type: "ready" }), undefined);
  assertEquals(identifyText(LEGACY_DIALECT, " raw "), " raw ");
  const path = parseDialect({ name: "p", identify: { mode: "path", path: "/websocket/{id}" } });
  assertEquals(
    connectUrl(path, "ws://h:1/x?a=1", "a b", "t"),
    "ws://h:1/websocket/a%20b?a=1&token=t",
  );
  const query = parseDialect({ name: "q", identify: { mode: "query", param: "uid" } });
  assertEquals(connectUrl(query, "ws://h:1/ws", "7"), "ws://h:1/ws?uid=7");
  assertEquals(resolvePointer({ "a/b": [{ "~": 1 }] }, "/a~1b/0/~0"), 1);
  assertEquals(resolvePointer({}, "/missing/x"), undefined);
});

for (
  const [name, identify, envelope] of [
    ["path-identify", "path", false],
    ["envelope", "first-frame", true],
  ] as const
) {
  Deno.test(`dialect ${name}: the seed fixture speaking it fails the same cases`, async () => {
    const seed = serveSeed({ identify, envelope });
    try {
      const dialect = await loadDialect(new URL(`${name}.json`, dir).pathname);
      const report = await runConformance({
        url: seed.url,
        dialect,
        timeoutMs: 800,
        settleMs: 40,
        quietMs: 60,
      });
      assertEquals(report.dialect, name);
      const failed = report.results.filter((r) => r.status === "fail").map((r) => r.id).sort();
      assertEquals(failed, SEED_FAILURES);
      assert(report.summary.passed >= 20);
    } finally {
      await seed.close();
    }
  });
}
