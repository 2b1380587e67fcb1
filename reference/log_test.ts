import { assert, assertEquals, assertMatch } from "@std/assert";
import { createLogger, silentLogger } from "./log.ts";

function capture(format: "text" | "json") {
  const lines: string[] = [];
  return { lines, logger: createLogger(format, (line) => lines.push(line)) };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const HOSTILE = "1001\nfake 2026-01-01T00:00:00.000Z identify user=admin\r\u0085\u2028\u2029\u007f";

Deno.test("text: time, event and fields on one line", () => {
  const { lines, logger } = capture("text");
  logger.event("connect", { session: "s1", ip: "127.0.0.1", profile: "v1", code: 1000, ok: true });
  assertEquals(lines.length, 1);
  const [time, rest] = [lines[0].slice(0, 24), lines[0].slice(25)];
  assertMatch(time, ISO);
  assertEquals(rest, "connect session=s1 ip=127.0.0.1 profile=v1 code=1000 ok=true");
});

Deno.test("text: values with spaces, quotes or line breaks are quoted and escaped", () => {
  const { lines, logger } = capture("text");
  logger.event("refuse", { reason: "bad id", user: HOSTILE, note: 'a"b', empty: "", eq: "a=b" });
  assertEquals(lines.length, 1);
  const line = lines[0];
  assert(!/[\n\r\u0085\u2028\u2029\u007f]/.test(line), JSON.stringify(line));
  assertEquals(
    line.slice(25),
    'refuse reason="bad id" user="1001\\nfake 2026-01-01T00:00:00.000Z identify user=admin\\r' +
      '\\u0085\\u2028\\u2029\\u007f" note="a\\"b" empty="" eq="a=b"',
  );
});

Deno.test("text: event names and keys cannot break the line either", () => {
  const { lines, logger } = capture("text");
  logger.event("close\nx", { "a b\nc": 1 });
  assertEquals(lines[0].slice(25), '"close\\nx" a_b_c=1');
});

Deno.test("json: one object per line with time, event and fields", () => {
  const { lines, logger } = capture("json");
  logger.event("identify", { session: "s1", user: HOSTILE, code: 4002, skipped: undefined });
  assertEquals(lines.length, 1);
  assert(!/[\n\r\u0085\u2028\u2029\u007f]/.test(lines[0]), JSON.stringify(lines[0]));
  const record = JSON.parse(lines[0]);
  assertMatch(record.time, ISO);
  assertEquals(record, {
    time: record.time,
    event: "identify",
    session: "s1",
    user: HOSTILE,
    code: 4002,
  });
  assertEquals(Object.keys(record).slice(0, 2), ["time", "event"]);
});

Deno.test("json: fields cannot overwrite time or event", () => {
  const { lines, logger } = capture("json");
  logger.event("close", { event: "forged", time: "forged" });
  const record = JSON.parse(lines[0]);
  assertEquals(record.event, "close");
  assertMatch(record.time, ISO);
});

Deno.test("deny-list: content, token, password and secret fields are never written", () => {
  for (const format of ["text", "json"] as const) {
    const { lines, logger } = capture(format);
    logger.event("identify", {
      user: "1001",
      content: "hello there",
      token: "eyJhbGciOi.payload.sig",
      Password: "hunter2",
      secret: "s3cret",
    });
    for (const leaked of ["hello there", "eyJhbGciOi", "hunter2", "s3cret"]) {
      assert(!lines[0].includes(leaked), `${format}: ${lines[0]}`);
    }
    assert(lines[0].includes("1001"));
  }
});

Deno.test("silentLogger writes nothing and accepts any event", () => {
  silentLogger.event("connect", { session: "s1" });
  silentLogger.event("listen");
});
