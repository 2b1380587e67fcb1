import { assert, assertEquals } from "@std/assert";
import {
  normalizeId,
  parseClientFrame,
  parseServerFrame,
  type SchemaName,
  schemas,
  validateClientFrame,
  validateLegacyId,
  validateServerFrame,
  validateWith,
} from "./validate.ts";
import { ErrorCodes } from "./protocol.ts";

const examples = new URL("./examples/", import.meta.url);

async function* readExamples(kind: "valid" | "invalid") {
  for await (const dir of Deno.readDir(new URL(`${kind}/`, examples))) {
    const schema = `${dir.name}.schema.json` as SchemaName;
    for await (const file of Deno.readDir(new URL(`${kind}/${dir.name}/`, examples))) {
      const text = await Deno.readTextFile(new URL(`${kind}/${dir.name}/${file.name}`, examples));
      yield { schema, name: `${dir.name}/${file.name}`, value: JSON.parse(text) as unknown };
    }
  }
}

Deno.test("every schema has at least 3 valid and 3 invalid examples", async () => {
  for (const kind of ["valid", "invalid"] as const) {
    const counts = new Map<string, number>();
    for await (const ex of readExamples(kind)) {
      counts.set(ex.schema, (counts.get(ex.schema) ?? 0) + 1);
    }
    for (const name of Object.keys(schemas)) {
      assert((counts.get(name) ?? 0) >= 3, `${name} has ${counts.get(name) ?? 0} ${kind} examples`);
    }
  }
});

Deno.test("valid examples validate against their schema", async () => {
  for await (const ex of readExamples("valid")) {
    const result = validateWith(ex.schema, ex.value);
    assert(result.ok, `${ex.name}: ${result.ok || result.error}`);
  }
});

Deno.test("invalid examples are refused with a message", async () => {
  for await (const ex of readExamples("invalid")) {
    const result = validateWith(ex.schema, ex.value);
    assert(!result.ok, `${ex.name} was accepted`);
    assert(result.error.length > 0);
  }
});

Deno.test("frame dispatch agrees with the union schemas on every example", async () => {
  for (const kind of ["valid", "invalid"] as const) {
    for await (const ex of readExamples(kind)) {
      const union = validateWith("client-frame.schema.json", ex.value).ok;
      assertEquals(validateClientFrame(ex.value).ok, union, `client frame ${kind}/${ex.name}`);
      const server = validateWith("server-frame.schema.json", ex.value).ok;
      assertEquals(validateServerFrame(ex.value).ok, server, `server frame ${kind}/${ex.name}`);
    }
  }
});

Deno.test("parse errors tell JSON mistakes from schema mistakes", () => {
  assertEquals(parseClientFrame("{not json"), {
    ok: false,
    code: "invalid_json",
    error: "frame is not valid JSON",
  });
  assertEquals(parseServerFrame("[1]"), {
    ok: false,
    code: "invalid_frame",
    error: "frame must be a JSON object",
  });
  assertEquals(parseClientFrame('{"type":"hello"}'), {
    ok: false,
    code: "invalid_frame",
    error: 'unknown frame type "hello"',
  });
});

Deno.test("error messages name the offending field", () => {
  const cases: [string, string][] = [
    ['{"mine":{"content":"x"},"to":{"id":"2","type":"group"}}', '/to/type must be "friend"'],
    ['{"mine":{"content":1},"to":{"id":"2","type":"friend"}}', "/mine/content must be string"],
    ['{"mine":{"content":"x"}}', "frame must have required property 'to'"],
    [
      '{"mine":{"content":"x"},"to":{"id":"2","type":"friend"},"from":"3"}',
      'frame has unexpected property "from"',
    ],
    [
      '{"type":"identify","id":"a b"}',
      "/id must not contain whitespace, control or format characters, or lone surrogates",
    ],
  ];
  for (const [text, message] of cases) {
    const result = parseClientFrame(text);
    assert(!result.ok, text);
    assertEquals(result.error, message);
  }
});

Deno.test("legacy ids are taken literally", () => {
  assert(validateLegacyId("1001").ok);
  assert(validateLegacyId("张三").ok);
  assert(!validateLegacyId("1001\n").ok);
  assert(!validateLegacyId(" 1001").ok);
  assert(!validateLegacyId("").ok);
  assert(validateLegacyId("a".repeat(64)).ok);
  assert(!validateLegacyId("a".repeat(65)).ok);
  // 64 characters outside the BMP are 128 UTF-16 code units: still a valid id.
  assert(validateLegacyId("😀".repeat(64)).ok);
});

Deno.test("a JSON integer id names the user of its decimal string", () => {
  assertEquals(normalizeId(1001), "1001");
  assertEquals(normalizeId("1001"), "1001");
  assertEquals(normalizeId(-7), "-7");
});

Deno.test("the error code table matches error.schema.json", () => {
  assertEquals(
    Object.keys(ErrorCodes).sort(),
    [...schemas["error.schema.json"].properties.code.enum].sort(),
  );
});
