import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { createLogger, silentLogger, type Writer, WriterSink } from "./log.ts";

function capture(format: "text" | "json") {
  const lines: string[] = [];
  return { lines, logger: createLogger(format, { write: (line) => lines.push(line), dropped: 0 }) };
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

Deno.test("zero-width, bidi and other format characters are escaped in both formats", () => {
  const hostile = "1001\u200b\u202e\u2066\ufeff\u{e0041}";
  for (const format of ["text", "json"] as const) {
    const { lines, logger } = capture(format);
    logger.event("refuse", { user: hostile });
    assert(!/\p{Cf}/u.test(lines[0]), `${format}: ${JSON.stringify(lines[0])}`);
    assertStringIncludes(lines[0], "\\u200b\\u202e\\u2066\\ufeff\\udb40\\udc41");
    if (format === "json") assertEquals(JSON.parse(lines[0]).user, hostile);
  }
});

/** A writer whose writes complete only when the test says so, like a pipe nobody reads. */
class StalledWriter implements Writer {
  readonly chunks: string[] = [];
  #release: (() => void)[] = [];
  write(bytes: Uint8Array): Promise<number> {
    this.chunks.push(new TextDecoder().decode(bytes));
    return new Promise((resolve) => this.#release.push(() => resolve(bytes.length)));
  }
  release(): void {
    for (const release of this.#release.splice(0)) release();
  }
}

Deno.test("WriterSink: a stalled writer never blocks, the buffer is bounded, drops are counted and reported", async () => {
  const writer = new StalledWriter();
  const sink = new WriterSink(writer, 100);
  const logger = createLogger("text", sink);
  for (let i = 0; i < 50; i++) logger.event("connect", { session: `s${i}` });
  // The first line went to the writer at once; the next ones wait in the buffer until it is
  // full (100 characters), the rest are dropped.
  assertEquals(writer.chunks.length, 1);
  const buffered = 50 - 1 - sink.dropped;
  assert(buffered >= 1 && buffered <= 3, `${buffered} lines buffered`);
  assertEquals(logger.dropped, sink.dropped);
  writer.release();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(writer.chunks.length, 2);
  assertMatch(writer.chunks[1], new RegExp(`^log-dropped lines=${sink.dropped}\n`));
  assertEquals(writer.chunks[1].trimEnd().split("\n").length, 1 + buffered);
  writer.release();
  await sink.flush();
  logger.event("close", { session: "s0" });
  writer.release();
  await sink.flush();
  assertStringIncludes(writer.chunks[2], "close session=s0");
  assert(!writer.chunks[2].includes("log-dropped"), "a drop is reported once");
});

Deno.test("WriterSink: a failing writer drops every later line", async () => {
  const sink = new WriterSink({ write: () => Promise.reject(new Error("EPIPE")) });
  sink.write("one");
  await sink.flush();
  sink.write("two");
  assertEquals(sink.dropped, 2);
});
