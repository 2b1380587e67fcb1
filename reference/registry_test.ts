import { assertEquals, assertStrictEquals } from "@std/assert";
import { Registry, type Session } from "./registry.ts";

function session(id: string, userId: string): Session {
  return { id, userId, profile: "legacy", send() {}, close() {} };
}

Deno.test("registry keeps the sessions of a user in identify order", () => {
  const r = new Registry();
  const a1 = session("1", "a"), a2 = session("2", "a"), b = session("3", "b");
  assertEquals(r.add(a1), true);
  assertEquals(r.add(a2), false);
  assertEquals(r.add(b), true);
  assertEquals(r.get("a"), [a1, a2]);
  assertEquals([r.sessions, r.users], [3, 2]);
  assertEquals(r.get("nobody"), []);
});

Deno.test("registry removes by session identity: a stale session never removes a newer one", () => {
  const r = new Registry();
  const old = session("1", "a"), fresh = session("2", "a");
  r.add(old);
  assertEquals(r.remove(old), true);
  r.add(fresh);
  // The old connection's close arrives late: it must not unregister the new one.
  assertEquals(r.remove(old), false);
  assertEquals(r.get("a"), [fresh]);
  assertEquals([r.sessions, r.users], [1, 1]);
  assertEquals(r.remove(fresh), true);
  assertEquals([r.sessions, r.users, r.has("a")], [0, 0, false]);
});

Deno.test("registry lists are replaced, not mutated, so a running fan-out is unaffected", () => {
  const r = new Registry();
  const a1 = session("1", "a"), a2 = session("2", "a");
  r.add(a1);
  r.add(a2);
  const during = r.get("a");
  r.remove(a1);
  assertEquals(during, [a1, a2]);
  assertEquals(r.get("a"), [a2]);
  assertStrictEquals(r.add(a2), false);
  assertEquals(r.sessions, 1);
});
