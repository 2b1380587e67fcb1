import { assertEquals, assertMatch } from "@std/assert";
import { Ledger } from "./ledger.ts";

/** Two users, one session each, both ready at time 1. */
function setup() {
  const ledger = new Ledger();
  ledger.ready("a.1", "alice", 1);
  ledger.ready("b.1", "bob", 1);
  return ledger;
}

Deno.test("ledger: a clean exchange has no violations", () => {
  const ledger = setup();
  ledger.ready("b.2", "bob", 1);
  const m1 = ledger.sent("a.1", 1, "bob", 2);
  ledger.received("b.1", m1, 3);
  ledger.received("b.2", m1, 3);
  ledger.outcome("a.1", 1, "ack", 4);
  ledger.sent("a.1", 2, "carol", 5);
  ledger.outcome("a.1", 2, "offline", 6);
  ledger.leave("b.1", 7);
  ledger.leave("b.2", 7);
  ledger.finish();
  assertEquals(ledger.violations, []);
  assertEquals(ledger.counts.required, 2);
  assertEquals([ledger.counts.acked, ledger.counts.offline], [1, 1]);
});

Deno.test("ledger: every broken guarantee is a violation", () => {
  const cases: [string, (l: Ledger) => void, RegExp][] = [
    ["lost", (l) => {
      l.sent("a.1", 1, "bob", 2);
      l.outcome("a.1", 1, "ack", 3);
      l.leave("b.1", 4);
    }, /acked, never received by b\.1/],
    ["twice", (l) => {
      const m = l.sent("a.1", 1, "bob", 2);
      l.received("b.1", m, 3);
      l.received("b.1", m, 3);
    }, /received twice/],
    ["undelivered, then received", (l) => {
      const m = l.sent("a.1", 1, "bob", 2);
      l.outcome("a.1", 1, "offline", 3);
      l.received("b.1", m, 4);
    }, /undelivered, yet received/],
    ["received, then undelivered", (l) => {
      const m = l.sent("a.1", 1, "bob", 2);
      l.received("b.1", m, 3);
      l.outcome("a.1", 1, "unavailable", 4);
    }, /unavailable, yet received 1/],
    ["misrouted", (l) => {
      const m = l.sent("b.1", 1, "bob", 2);
      l.received("a.1", m, 3);
    }, /meant for bob, received by alice/],
    ["echoed", (l) => {
      const m = l.sent("b.1", 1, "bob", 2);
      l.received("b.1", m, 3);
    }, /own sending connection/],
    ["reordered", (l) => {
      const m1 = l.sent("a.1", 1, "bob", 2);
      const m2 = l.sent("a.1", 2, "bob", 2);
      l.received("b.1", m2, 3);
      l.received("b.1", m1, 3);
    }, /after a\.1\|2/],
    ["two outcomes", (l) => {
      l.sent("a.1", 1, "bob", 2);
      l.outcome("a.1", 1, "ack", 3);
      l.outcome("a.1", 1, "ack", 3);
    }, /no message in flight/],
    ["no outcome", (l) => {
      l.sent("a.1", 1, "bob", 2);
      l.finish();
    }, /no outcome/],
    [
      "closed by the relay",
      (l) => l.lost("b.1", "closed with 4005"),
      /b\.1 of bob: closed with 4005/,
    ],
  ];
  for (const [name, run, expected] of cases) {
    const ledger = setup();
    run(ledger);
    assertEquals(ledger.violationCount, 1, `${name}: ${ledger.violations}`);
    assertMatch(ledger.violations[0], expected, name);
  }
});

Deno.test("ledger: only sessions open from before the send to after the ack are owed a message", () => {
  const ledger = setup();
  const early = ledger.sent("a.1", 1, "bob", 2);
  ledger.ready("b.2", "bob", 3); // after the send: not owed
  ledger.received("b.1", early, 4);
  ledger.outcome("a.1", 1, "ack", 5);
  const late = ledger.sent("a.1", 2, "bob", 6);
  ledger.leave("b.1", 6.5); // before the ack: not owed either
  ledger.received("b.2", late, 6.8);
  ledger.outcome("a.1", 2, "ack", 7);
  ledger.leave("b.2", 8);
  ledger.finish();
  assertEquals(ledger.violations, []);
  assertEquals(ledger.counts.required, 2); // early to b.1, late to b.2
});
