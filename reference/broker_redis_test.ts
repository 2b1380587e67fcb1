import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { BrokerUnavailable, type Envelope } from "./broker.ts";
import { redisBroker } from "./broker_redis.ts";
import { startRedis } from "../testing/redis.ts";
import { settles, until, Wakeup } from "../testing/wait.ts";

/** A node: every envelope handed to its local delivery (its own direct attempts included), and how many sessions it pretends to hold. */
function node(
  url: string,
  nodeId: string,
  localSessions = new Map<string, number>(),
  timeoutMs?: number,
) {
  const received: Envelope[] = [];
  const wakeup = new Wakeup();
  const broker = redisBroker(url, { maxBackoffMs: 100, timeoutMs })((env) => {
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

const TIMEOUT = 300;
// Scheduling slack on a loaded machine: far below the 12 s and more a hung Redis used to cost.
const SLACK = 1000;

Deno.test("redis broker: a paused Redis (SIGSTOP) is down within 1.5 × timeout, every publish is answered within the timeout, and none runs late once it resumes", async () => {
  await using redis = await startRedis();
  const a = node(redis.url, "A", new Map([["local", 1]]), TIMEOUT);
  const b = node(redis.url, "B", new Map([["u2", 1]]), TIMEOUT);
  try {
    await Promise.all([a.broker.whenUp(), b.broker.whenUp()]);
    await b.broker.subscribe("u2");
    redis.pause();
    const paused = performance.now();
    const during = Promise.resolve(a.broker.publish({ to: "u2", origin: "A:s1", data: "paused" }));
    during.catch(() => {});
    assert(await settles(during.catch(() => {}), TIMEOUT + SLACK), "no answer while paused");
    await assertRejects(() => during, BrokerUnavailable);
    assert(
      await until(() => a.broker.state === "down", 1.5 * TIMEOUT + SLACK),
      "a paused Redis never counted as down",
    );
    console.log(`paused Redis counted as down after ${Math.round(performance.now() - paused)} ms`);
    // Known down: answered at once, local delivery goes on, subscribing does not wait.
    assertThrows(
      () => a.broker.publish({ to: "u2", origin: "A:s1", data: "x" }),
      BrokerUnavailable,
    );
    assertEquals(a.broker.publish({ to: "local", origin: "A:s1", data: "here" }), 1);
    assertEquals(a.broker.subscribe("u9"), undefined);
    redis.resume();
    await Promise.all([a.broker.whenUp(), b.broker.whenUp()]);
    assertEquals(await a.broker.publish({ to: "u2", origin: "A:s1", data: "resumed" }), 1);
    await b.until(1);
    // Redis ran the publication of the pause after its deadline: it published nothing.
    assertEquals(b.received.map((e) => e.data), ["resumed"]);
  } finally {
    redis.resume();
    await a.broker.close();
    await b.broker.close();
  }
});

Deno.test("redis broker: a stopped Redis never holds a subscription, and it is restored when Redis is back", async () => {
  await using redis = await startRedis();
  const a = node(redis.url, "A", new Map(), TIMEOUT);
  const b = node(redis.url, "B", new Map([["u5", 1]]), TIMEOUT);
  try {
    await Promise.all([a.broker.whenUp(), b.broker.whenUp()]);
    await redis.stop();
    await until(() => b.broker.state === "down", 1.5 * TIMEOUT + SLACK);
    // An identify on B while Redis is down: nothing to wait for.
    assertEquals(b.broker.subscribe("u5"), undefined);
    await redis.start();
    await Promise.all([a.broker.whenUp(), b.broker.whenUp()]);
    assertEquals(await a.broker.publish({ to: "u5", origin: "A:s1", data: "m" }), 1);
    await b.until(1);
  } finally {
    await a.broker.close();
    await b.broker.close();
  }
});

Deno.test("redis broker: a self-send or a user leaving this relay is counted exactly: no offline for a message another relay received", async () => {
  await using redis = await startRedis();
  const a = node(redis.url, "A");
  const b = node(redis.url, "B");
  try {
    await Promise.all([a.broker.whenUp(), b.broker.whenUp()]);
    // A holds u7's only session, the sender itself (no other local session took the message):
    // Redis counts A's own subscription, which is not a receiver.
    await a.broker.subscribe("u7");
    assertEquals(await a.broker.publish({ to: "u7", origin: "A:s1", data: "self" }), 0);
    // B holds u7 too: one receiver.
    await b.broker.subscribe("u7");
    assertEquals(await a.broker.publish({ to: "u7", origin: "A:s1", data: "both" }), 1);
    // u7 leaves A while a message to u7 is on its way: Redis may run the UNSUBSCRIBE (on the
    // subscriber's idle connection) before the PUBLISH (behind a backlog on the publisher's).
    for (const order of ["unsubscribe first", "publish first"]) {
      const backlog = Array.from(
        { length: 2000 },
        () => a.broker.publish({ to: "nobody", origin: "A:s1", data: "x" }),
      );
      if (order === "unsubscribe first") a.broker.unsubscribe("u7");
      const leaving = a.broker.publish({ to: "u7", origin: "A:s1", data: "leaving" });
      if (order === "publish first") a.broker.unsubscribe("u7");
      assertEquals(await leaving, 1, order);
      await Promise.all(backlog);
      await a.broker.subscribe("u7");
    }
    a.broker.unsubscribe("u7");
    b.broker.unsubscribe("u7");
    assertEquals(await a.broker.publish({ to: "u7", origin: "A:s1", data: "gone" }), 0);
  } finally {
    await a.broker.close();
    await b.broker.close();
  }
});

Deno.test("redis broker: back from an outage, nobody subscribed means unavailable until the other relays had time to resubscribe, then offline", async () => {
  await using redis = await startRedis();
  const a = node(redis.url, "A", new Map(), TIMEOUT);
  try {
    await a.broker.whenUp();
    assertEquals(await a.broker.publish({ to: "nobody", origin: "A:s1", data: "m" }), 0);
    await redis.stop();
    await until(() => a.broker.state === "down", 1.5 * TIMEOUT + SLACK);
    await redis.start();
    await a.broker.whenUp();
    const back = performance.now();
    // Another relay's users have empty channels until it has reconnected (backoff 100 ms here,
    // plus a health check): that is no proof that they are offline.
    await assertRejects(
      async () => await a.broker.publish({ to: "nobody", origin: "A:s1", data: "m" }),
      BrokerUnavailable,
    );
    const offline = () =>
      Promise.resolve()
        .then(() => a.broker.publish({ to: "nobody", origin: "A:s1", data: "m" }))
        .then((n) => n === 0, () => false);
    assert(await until(offline, 100 + TIMEOUT + SLACK), "never offline again");
    console.log(
      `offline answered again ${Math.round(performance.now() - back)} ms after Redis was back`,
    );
  } finally {
    await a.broker.close();
  }
});
