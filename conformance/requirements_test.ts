import { assert, assertEquals } from "@std/assert";
import { GROUPS } from "./cases/mod.ts";
import { levelOf, loadRequirements, parseRequirements } from "./requirements.ts";
import { listCases, selectCases } from "./mod.ts";

Deno.test("parseRequirements quotes the paragraph or list item of each id", () => {
  const md = [
    "Intro without ids.",
    "",
    "The server **MUST** do A",
    "across lines. [A-1]",
    "",
    "- a list item that SHOULD do B. [B-2]",
    "- another item. [C-3]",
  ].join("\n");
  const r = parseRequirements(md);
  assertEquals(r.get("A-1"), "The server MUST do A across lines.");
  assertEquals(r.get("B-2"), "a list item that SHOULD do B.");
  assertEquals(r.get("C-3"), "another item.");
  assertEquals(r.size, 3);
  assertEquals([levelOf(r.get("A-1")!), levelOf(r.get("B-2")!), levelOf(r.get("C-3")!)], [
    "MUST",
    "SHOULD",
    "MAY",
  ]);
});

Deno.test("every requirement a case cites exists, and a case's level is its first requirement's", async () => {
  const spec = await loadRequirements();
  assert(spec.size > 50);
  const missing = listCases().flatMap((c) => c.requirements.filter((id) => !spec.has(id)));
  assertEquals(missing, []);
  const mismatched = listCases()
    .filter((c) => c.level !== "INFO" && levelOf(spec.get(c.requirements[0])!) !== c.level)
    .map((c) =>
      `${c.id}: ${c.level}, ${c.requirements[0]} is ${levelOf(spec.get(c.requirements[0])!)}`
    );
  assertEquals(mismatched, []);
  // Requirements the checks name besides the cases' own (preconditions) exist too.
  const here = new URL("./", import.meta.url);
  const files = [
    ...[...Deno.readDirSync(new URL("cases/", here))].map((e) => new URL(`cases/${e.name}`, here)),
    new URL("verify.ts", here),
    new URL("context.ts", here),
  ];
  const source = await Promise.all(files.map((f) => Deno.readTextFile(f)));
  const named = new Set(source.join("\n").match(/"[A-Z]+-\d+"/g)!.map((s) => s.slice(1, -1)));
  assertEquals([...named].filter((id) => !spec.has(id)), []);
});

Deno.test("groups are declared once; case ids are unique, group/name; selection takes prefixes and globs", () => {
  const ids = listCases().map((c) => c.id);
  assertEquals(new Set(ids).size, ids.length);
  for (const g of GROUPS) {
    assert(
      g.cases.every((c) => c.group === g.name && new RegExp(`^${g.name}/[a-z0-9-]+$`).test(c.id)),
    );
  }
  assertEquals(GROUPS.map((g) => g.name), [
    "identify",
    "routing",
    "offline",
    "cleanup",
    "robustness",
    "v1",
    "presence",
    "transport",
  ]);
  assertEquals(selectCases(["offline"]).map((c) => c.id), ["offline/dropped"]);
  assertEquals(selectCases(["v1/*-pong"]).map((c) => c.id), ["v1/ping-pong"]);
  assertEquals(selectCases(["routing/"], ["routing/*"]), []);
  assertEquals(selectCases(["rout"]), []);
});
