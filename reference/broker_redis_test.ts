import { assertEquals, assertRejects } from "@std/assert";
import { BrokerUnavailable, type Envelope } from "./broker.ts";
import { redisBroker } from "./broker_redis.ts";
import { startRedis } from "../testing/redis.ts";
import { until, Wakeup } from "../testing/wait.ts";

/** A node: every envelope handed to its local delivery (its own direct attempts included), and how many sessions it pretends to hold. */
function node(url: string, nodeId: string, localSessions = new Map<string, number>()) {
  const received: Envelope[] = [];
  const wakeup = new Wakeup();
  const broker = redisBroker(url, { maxBackoffMs: 100 })((env) => {
    received.push(env);
    wakeup.wake();
    return localSessions.get(env.to) ?? 0;
  }, nodeId);
  return {
    broker,
    received,
    localSessions,
    /** Resolves when `count` envelopes have been handed to this node's sessions. */
    async until(count: number, timeoutMs = 5000) {
      if (!await until(() => received.length >= count, timeoutMs, wakeup)) {
        throw new Error(`expected ${count} envelopes, got ${received.length}`);
      }
    },
  };
}

Deno.test("redis broker: cross-node delivery, offline count, no echo of its own copy", async () => {
  await using redis = await startRedis();
  const a = node(redis.url, "A");
  const b = node(redis.url, "B", new Map([["u2", 1]]));
  try {
    await Promise.all([a.broker.whenUp(), b.broker.whenUp()]);
    await b.broker.subscribe("u2");
    assertEquals(await a.broker.publish({ to: "u2", origin: "A:s1", data: "m1" }), 1);
    await b.until(1);
    assertEquals(b.received, [{ to: "u2", origin: "A:s1", data: "m1" }]);
    // Nobody holds u3: offline everywhere (A's direct local attempt found no session).
    assertEquals(await a.broker.publish({ to: "u3", origin: "A:s1", data: "m2" }), 0);
    // A node holding the user writes its own sessions directly and counts them once.
    a.localSessions.set("u4", 2);
    await a.broker.subscribe("u4");
    assertEquals(await a.broker.publish({ to: "u4", origin: "A:s1", data: "m3" }), 2);
    // B's message reaches A through Redis after A's own copy would have: A skipped that copy.
    assertEquals(await b.broker.publish({ to: "u4", origin: "B:s9", data: "m5" }), 1);
    await a.until(4);
    assertEquals(a.received.map((e) => e.data), ["m1", "m2", "m3", "m5"]);
    b.broker.unsubscribe("u2");
    assertEquals(await a.broker.publish({ to: "u2", origin: "A:s1", data: "m4" }), 0);
    assertEquals(b.received.map((e) => e.data), ["m1", "m5"]);
  } finally {
    await a.broker.close();
    await b.broker.close();
  }
});

Deno.test("redis broker: outage answers unavailable, local delivery goes on, resumes after restart", async () => {
  await using redis = await startRedis();
  const a = node(redis.url, "A", new Map([["local", 1]]));
  const b = node(redis.url, "B", new Map([["u2", 1]]));
  try {
    await Promise.all([a.broker.whenUp(), b.broker.whenUp()]);
    await b.broker.subscribe("u2");
    await redis.stop();
    // The publish of a relay that has not yet noticed the outage fails instead of queueing.
    await assertRejects(
      async () => await a.broker.publish({ to: "u2", origin: "A:s1", data: "lost" }),
      BrokerUnavailable,
    );
    assertEquals(a.broker.state, "down");
    assertEquals(await a.broker.publish({ to: "local", origin: "A:s1", data: "here" }), 1);
    await redis.start();
    const restarted = Date.now();
    await Promise.all([a.broker.whenUp(), b.broker.whenUp()]);
    assertEquals(await a.broker.publish({ to: "u2", origin: "A:s1", data: "m2" }), 1);
    await b.until(1);
    console.log(`cross-node delivery resumed ${Date.now() - restarted} ms after Redis restarted`);
    // Nothing from the outage shows up later, nothing twice.
    assertEquals(b.received.map((e) => e.data), ["m2"]);
    assertEquals(a.received.map((e) => e.data), ["lost", "here", "m2"]);
  } finally {
    await a.broker.close();
    await b.broker.close();
  }
});
