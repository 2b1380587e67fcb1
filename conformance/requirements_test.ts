import { assert, assertEquals } from "@std/assert";
import { loadRequirements, parseRequirements } from "./requirements.ts";
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
});

Deno.test("every requirement a case cites is defined in spec/protocol.md", async () => {
  const spec = await loadRequirements();
  assert(spec.size > 50);
  const missing = listCases().flatMap((c) => c.requirements.filter((id) => !spec.has(id)));
  assertEquals(missing, []);
});

Deno.test("case ids are unique and selection takes prefixes and globs", () => {
  const ids = listCases().map((c) => c.id);
  assertEquals(new Set(ids).size, ids.length);
  assert(
    ids.every((id) => /^(identify|routing|offline|cleanup|robustness|v1)\/[a-z0-9-]+$/.test(id)),
  );
  assertEquals(selectCases(["offline"]).map((c) => c.id), ["offline/dropped"]);
  assertEquals(selectCases(["v1/*-pong"]).map((c) => c.id), ["v1/ping-pong"]);
  assertEquals(selectCases(["routing/"], ["routing/*"]), []);
  assertEquals(selectCases(["rout"]), []);
});
