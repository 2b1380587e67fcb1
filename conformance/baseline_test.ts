import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  BaselineError,
  compareBaseline,
  loadBaseline,
  makeBaseline,
  parseBaseline,
} from "./baseline.ts";

const results = [
  { id: "a/known", status: "fail", requirement: "LIFE-6" },
  { id: "a/moved", status: "fail", requirement: "ROUTE-1" },
  { id: "a/new", status: "finding", requirement: "LIMIT-2" },
  { id: "a/fixed", status: "pass" },
  { id: "a/skipped", status: "skip" },
];

Deno.test("baseline: written from failures and findings, compared by case and requirement", () => {
  const b = makeBaseline(results, { profile: "legacy", target: "ws://h/" });
  assertEquals(b.failures, [
    { id: "a/known", requirement: "LIFE-6", status: "fail" },
    { id: "a/moved", requirement: "ROUTE-1", status: "fail" },
    { id: "a/new", requirement: "LIMIT-2", status: "finding" },
  ]);
  const expected = {
    ...b,
    failures: [
      { id: "a/known", requirement: "LIFE-6", status: "fail" as const },
      { id: "a/moved", requirement: "ROUTE-4", status: "fail" as const },
      { id: "a/fixed", requirement: "ROUTE-2", status: "fail" as const },
      { id: "a/skipped", requirement: "ROUTE-3", status: "fail" as const },
    ],
  };
  // A failure now naming another requirement is new: the defect changed.
  assertEquals(compareBaseline(results, expected), {
    known: ["a/known"],
    new: ["a/moved", "a/new"],
    fixed: ["a/fixed"],
  });
});

Deno.test("baseline: a bad file says what is wrong", async () => {
  for (
    const [value, needle] of [
      [[], "must be a JSON object"],
      [{ failures: [] }, `"layimWsBaseline": 1 missing`],
      [{ layimWsBaseline: 1 }, `"failures" must be an array`],
      [{ layimWsBaseline: 1, failures: [{ id: "x" }] }, "failures[0] must be"],
    ] as const
  ) {
    const error = assertThrows(() => parseBaseline(value, "b.json"), BaselineError);
    assertEquals(
      error.message.startsWith("b.json: ") && error.message.includes(needle),
      true,
      error.message,
    );
  }
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/b.json`, "{not json");
  await assertRejects(() => loadBaseline(`${dir}/b.json`), BaselineError, "not JSON");
  await assertRejects(() => loadBaseline(`${dir}/none.json`), BaselineError, "none.json");
  await Deno.remove(dir, { recursive: true });
});
