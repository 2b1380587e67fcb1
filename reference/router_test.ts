import { assertEquals, assertMatch, assertNotEquals } from "@std/assert";
import type { Profile } from "../schemas/protocol.ts";
import type { SendMessage } from "../schemas/types.ts";
import { BrokerUnavailable, type DeliverLocal } from "./broker.ts";
import { LocalBroker } from "./broker_local.ts";
import { Registry, type Session } from "./registry.ts";
import { Router } from "./router.ts";

class Fake implements Session {
  sent: Record<string, unknown>[] = [];
  raw: string[] = [];
  closed: number | undefined;
  constructor(
    readonly id: string,
    readonly userId: string,
    readonly profile: Profile = "v1",
    readonly username?: string,
    readonly avatar?: string,
  ) {}
  send(text: string): void {
    this.raw.push(text);
    this.sent.push(JSON.parse(text));
  }
  close(code: number): void {
    this.closed = code;
  }
}

function setup(broker = (d: DeliverLocal) => new LocalBroker(d) as LocalBroker | AsyncBroker) {
  const registry = new Registry<Fake>();
  const counters = {
    messagesDelivered: 0,
    messagesDroppedOffline: 0,
    reasons: [] as string[],
  };
  const router = new Router<Fake>({
    registry,
    broker,
    counters,
    refused: (reason) => counters.reasons.push(reason),
    node: "n",
    maxSessionsPerUser: 2,
  });
  let seq = 0;
  const join = (user: string, profile: Profile = "v1", name?: string) => {
    const s = new Fake(`s${++seq}`, user, profile, name);
    router.attach(s);
    return s;
  };
  return { registry, router, counters, join };
}

function msg(to: string | number, content: string, extra: Partial<SendMessage> = {}): SendMessage {
  return { mine: { content }, to: { id: to, type: "friend" }, ...extra };
}

/** Lets every promise chain that waits on no I/O settle. */
function drain(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

class AsyncBroker {
  state: "up" | "down" = "up";
  constructor(readonly deliver: DeliverLocal, readonly fail = false) {}
  publish(env: Parameters<DeliverLocal>[0]): Promise<number> {
    return this.fail ? Promise.reject(new BrokerUnavailable()) : Promise.resolve(this.deliver(env));
  }
  subscribe() {}
  unsubscribe() {}
  close() {
    return Promise.resolve();
  }
}

Deno.test("router delivers one getMessage to every session of the recipient, never the sender or a third user", () => {
  const { router, join, counters } = setup();
  const a = join("a"), b1 = join("b"), b2 = join("b", "legacy"), c = join("c");
  router.send(
    a,
    msg("b", "<b>hi</b> face[微笑]", {
      ref: "r1",
      mine: { id: "a", content: "<b>hi</b> face[微笑]", username: "A", extra: 1 },
    }),
  );
  assertEquals(b1.raw.length, 1);
  assertEquals(b1.raw, b2.raw); // the same serialized frame for every recipient
  const got = b1.sent[0];
  assertEquals(Object.keys(got), [
    "username",
    "avatar",
    "id",
    "type",
    "content",
    "timestamp",
    "fromid",
    "cid",
    "mine",
  ]);
  assertEquals(
    { ...got, timestamp: 0, cid: "" },
    {
      username: "A",
      avatar: "",
      id: "a",
      type: "friend",
      content: "<b>hi</b> face[微笑]",
      timestamp: 0,
      fromid: "a",
      cid: "",
      mine: false,
    },
  );
  assertMatch(got.cid as string, /^n-/);
  assertEquals(a.sent, [{ type: "ack", ref: "r1", cid: got.cid, timestamp: got.timestamp }]);
  assertEquals(c.sent, []);
  assertEquals(counters.messagesDelivered, 1);
});

Deno.test("router keeps order per sender and assigns unique cids", () => {
  const { router, join } = setup();
  const a = join("a"), b = join("b");
  for (let i = 0; i < 50; i++) router.send(a, msg("b", String(i)));
  assertEquals(b.sent.map((m) => m.content), Array.from({ length: 50 }, (_, i) => String(i)));
  assertEquals(new Set(b.sent.map((m) => m.cid)).size, 50);
  assertEquals(a.sent, []); // no ref: no ack
});

Deno.test("router refuses a mine.id naming someone else (v1 error, legacy silent)", () => {
  const { router, join, counters } = setup();
  const a = join("a"), l = join("l", "legacy"), b = join("b");
  router.send(a, msg("b", "x", { ref: "r", mine: { id: "b", content: "x" } }));
  router.send(l, msg("b", "x", { ref: "r", mine: { id: "b", content: "x" } }));
  assertEquals(b.sent, []);
  assertEquals(a.sent.map((f) => [f.type, f.code, f.ref]), [["error", "sender_mismatch", "r"]]);
  assertEquals(l.sent, []);
  assertEquals(counters.reasons, ["sender_mismatch", "sender_mismatch"]);
});

Deno.test("router treats integer ids as their decimal strings", () => {
  const { router, join } = setup();
  const a = join("1001"), b = join("1002");
  router.send(a, { mine: { id: 1001, content: "x" }, to: { id: 1002, type: "friend" } });
  assertEquals(b.sent.map((m) => [m.id, m.fromid]), [["1001", "1001"]]);
});

Deno.test("router drops messages to offline users: undelivered for a v1 ref, nothing stored", () => {
  const { router, join, counters } = setup();
  const a = join("a");
  router.send(a, msg("b", "x", { ref: "r" }));
  router.send(a, msg("b", "y"));
  assertEquals(a.sent, [{ type: "undelivered", ref: "r", to: "b", reason: "offline" }]);
  assertEquals(counters.messagesDroppedOffline, 2);
  const b = join("b");
  assertEquals(b.sent, []);
});

Deno.test("router: self-send reaches the user's other sessions only", () => {
  const { router, join } = setup();
  const a1 = join("a"), a2 = join("a");
  router.send(a1, msg("a", "note", { ref: "r" }));
  assertEquals(a2.sent.map((m) => m.content), ["note"]);
  assertEquals(a1.sent.map((m) => m.type), ["ack"]);
});

Deno.test('router: display fields come from the session, then mine, then the id and ""', () => {
  const { router, join } = setup();
  const a = join("a", "v1", "Alice"), b = join("b");
  router.send(a, msg("b", "x", { mine: { content: "x", username: "Mallory", avatar: "m.png" } }));
  router.send(b, msg("a", "y"));
  assertEquals([b.sent[0].username, b.sent[0].avatar], ["Alice", "m.png"]);
  assertEquals([a.sent[0].username, a.sent[0].avatar], ["b", ""]);
});

Deno.test("router: legacy senders never get outcome frames", () => {
  const { router, join } = setup();
  const l = join("l", "legacy");
  join("b");
  router.send(l, msg("b", "x", { ref: "r" }));
  router.send(l, msg("nobody", "x", { ref: "r" }));
  assertEquals(l.sent, []);
});

Deno.test("router closes the oldest session beyond the cap and a stale detach is harmless", () => {
  const { router, join, registry } = setup();
  const a1 = join("a"), a2 = join("a"), a3 = join("a");
  assertEquals([a1.closed, a2.closed, a3.closed], [4004, undefined, undefined]);
  assertEquals(registry.get("a"), [a2, a3]);
  assertEquals(router.detach(a1), false);
  assertEquals(registry.get("a"), [a2, a3]);
});

Deno.test("router with an asynchronous broker: outcomes in order, unavailable when the broker is down", async () => {
  let broker: AsyncBroker | undefined;
  const { router, join } = setup((d) => broker = new AsyncBroker(d));
  const a = join("a"), b = join("b");
  router.send(a, msg("b", "1", { ref: "1" }));
  router.send(a, msg("nobody", "2", { ref: "2" }));
  // Refused at once, yet answered after the outcomes still in flight (OUTCOME-4).
  router.send(a, msg("b", "3", { ref: "3", mine: { id: "z", content: "3" } }));
  router.reply(a, JSON.stringify({ type: "error", code: "rate_limited", ref: "4" }));
  await drain();
  assertEquals(a.sent.map((f) => [f.type, f.ref]), [
    ["ack", "1"],
    ["undelivered", "2"],
    ["error", "3"],
    ["error", "4"],
  ]);
  assertEquals(b.sent.length, 1);
  const { router: r2, join: j2 } = setup((d) => new AsyncBroker(d, true));
  const x = j2("x");
  j2("y");
  r2.send(x, msg("y", "1", { ref: "1" }));
  await drain();
  assertEquals(x.sent, [{ type: "undelivered", ref: "1", to: "y", reason: "unavailable" }]);
  assertNotEquals(broker, undefined);
});
