/**
 * Presence across relays over a real `redis-server`: buses on their own connections (as two
 * relays would have), then two in-process relays whose watchers and senders are on different
 * nodes.
 */
import { assert, assertEquals } from "@std/assert";
import { createClient } from "redis";
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import { redisBroker } from "./broker_redis.ts";
import type { LogValue } from "./log.ts";
import { RedisPresenceBus } from "./presence_redis.ts";
import { Subscriptions } from "./redis_subscriptions.ts";
import { serveRelay } from "./relay.ts";
import { TestClient } from "../testing/net.ts";
import { startRedis, type TestRedis } from "../testing/redis.ts";
import { until, Wakeup } from "../testing/wait.ts";

type Client = ReturnType<typeof createClient>;

/** One node's bus on its own two connections, and what it reported. */
class Node {
  readonly changes: string[][] = [];
  readonly log: Record<string, LogValue>[] = [];
  readonly wakeup = new Wakeup();
  bus!: RedisPresenceBus;
  pub!: Client;
  sub!: Client;

  static async start(url: string, id: string, ttlMs: number, reconnectMs = 50): Promise<Node> {
    const node = new Node();
    const socket = { reconnectStrategy: () => reconnectMs };
    node.pub = createClient({ url, disableOfflineQueue: true, socket });
    node.sub = createClient({ url, socket });
    const subscriptions = new Subscriptions(node.sub);
    for (const c of [node.pub, node.sub]) c.on("error", () => {});
    await Promise.all([node.pub.connect(), node.sub.connect()]);
    const logger = {
      event: (_: string, fields: Record<string, LogValue> = {}) => {
        node.log.push(fields);
        node.wakeup.wake();
      },
    };
    node.bus = new RedisPresenceBus(node.pub, node.sub, subscriptions, id, { ttlMs, logger });
    node.bus.start((users) => {
      node.changes.push([...users]);
      node.wakeup.wake();
    });
    await node.until(() => node.log.some((e) => e.state === "registered"), "registered");
    return node;
  }

  /** Waits (up to 5 s) until `ready()` holds. */
  async until(ready: () => boolean, what: string, ms = 5000): Promise<void> {
    assert(await until(ready, ms, this.wakeup), `${what} within ${ms} ms`);
  }

  /** Waits until this node's view of `user` on other nodes is `online`; returns the wait, ms. */
  async sees(user: string, online: boolean, ms = 5000): Promise<number> {
    const start = performance.now();
    await this.until(() => this.bus.elsewhere(user) === online, `${user} ${online}`, ms);
    return performance.now() - start;
  }

  /** Dies without a word: connections dropped, no goodbye, no more heartbeats. */
  async kill(): Promise<void> {
    this.pub.destroy();
    this.sub.destroy();
    await this.bus.close(0);
  }

  async stop(lingerMs = 0): Promise<void> {
    await this.bus.close(lingerMs);
    await Promise.allSettled([this.pub.close(), this.sub.close()]);
  }
}

async function withRedis(run: (redis: TestRedis) => Promise<void>): Promise<void> {
  await using redis = await startRedis();
  await run(redis);
}

/** Nodes a and b with a TTL of `ttlMs`, and a plain client to tamper with Redis. */
function withNodes(
  ttlMs: number,
  run: (a: Node, b: Node, admin: Client, redis: TestRedis) => Promise<void>,
): Promise<void> {
  return withRedis(async (redis) => {
    const a = await Node.start(redis.url, "a", ttlMs);
    const b = await Node.start(redis.url, "b", ttlMs);
    const admin = createClient({ url: redis.url });
    await admin.connect();
    try {
      a.bus.join("x");
      await b.sees("x", true);
      await run(a, b, admin, redis);
    } finally {
      await admin.close();
      await Promise.all([a.stop(), b.stop()]);
    }
  });
}

/** How many times `node` has registered. */
const registered = (node: Node) => node.log.filter((e) => e.state === "registered").length;

Deno.test("redis presence: joins and leaves reach the other node; a late node loads them", async () => {
  await withRedis(async (redis) => {
    const a = await Node.start(redis.url, "a", 5000);
    const b = await Node.start(redis.url, "b", 5000);
    try {
      a.bus.join("x");
      a.bus.join("y");
      a.bus.leave("y");
      await b.sees("x", true);
      assertEquals(b.bus.elsewhere("y"), false);
      // A node does not count itself.
      assertEquals(a.bus.elsewhere("x"), false);
      const c = await Node.start(redis.url, "c", 5000);
      await c.sees("x", true);
      b.bus.join("x");
      a.bus.leave("x");
      await c.until(() => c.changes.length > 0 && !a.bus.elsewhere("x"), "settled");
      // x is still on b.
      await c.sees("x", true);
      await a.sees("x", true);
      b.bus.leave("x");
      await c.sees("x", false);
      await a.sees("x", false);
      await c.stop();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

Deno.test("redis presence: a killed node's users are offline elsewhere within the TTL", async () => {
  await withRedis(async (redis) => {
    const ttl = 1000;
    const a = await Node.start(redis.url, "a", ttl);
    const b = await Node.start(redis.url, "b", ttl);
    try {
      a.bus.join("x");
      await b.sees("x", true);
      const killed = performance.now();
      await a.kill();
      await b.sees("x", false, ttl * 3);
      const ms = Math.round(performance.now() - killed);
      console.log(`x offline on the other node ${ms} ms after its node was killed (TTL ${ttl})`);
      // Within the TTL, and a TTL of slack for timers on a loaded machine.
      assert(ms <= ttl * 2, `${ms} ms`);
    } finally {
      await b.stop();
    }
  });
});

Deno.test("redis presence: a clean close keeps the users one offline delay longer", async () => {
  await withRedis(async (redis) => {
    const a = await Node.start(redis.url, "a", 1000);
    const b = await Node.start(redis.url, "b", 1000);
    try {
      a.bus.join("x");
      await b.sees("x", true);
      const closed = performance.now();
      await a.stop(600);
      await b.sees("x", false);
      const ms = performance.now() - closed;
      assert(ms >= 600, `offline ${ms} ms after the close, before the delay of 600 ms`);
    } finally {
      await b.stop();
    }
  });
});

Deno.test("redis presence: a node taken for dead (stalled) registers its users again", async () => {
  await withNodes(1000, async (a, b, admin) => {
    const seen = b.changes.length;
    const flips = () => b.changes.slice(seen).filter((users) => users.includes("x")).length;
    // As if a had not heartbeated for a long time: the next heartbeat removes it.
    await admin.zAdd("layimws:presence:nodes", { score: 0, value: "a" });
    await a.until(() => a.log.some((e) => e.state === "unregistered"), "a noticed");
    // Offline while a was taken for dead, online again once it registered its set.
    await b.until(() => flips() === 2, "x offline, then online");
    assertEquals(b.bus.elsewhere("x"), true);
  });
});

Deno.test("redis presence: lost events are noticed by their numbers and the state loaded again", async () => {
  await withNodes(5000, async (a, b, admin) => {
    // A change b never hears of, then a later event: b sees the gap and resynchronizes.
    await admin.sRem("layimws:presence:node:a", "x");
    await admin.sAdd("layimws:presence:node:a", "z");
    await admin.incr("layimws:presence:seq");
    a.bus.join("y");
    await b.until(() => b.log.some((e) => e.state === "resync"), "resync");
    await b.sees("y", true);
    await b.sees("x", false);
    await b.sees("z", true);
  });
});

Deno.test("redis presence: a Redis restart (empty) flaps no one; the state comes back", async () => {
  await withRedis(async (redis) => {
    // a comes back later than b: b's first snapshot after the restart does not show a.
    const a = await Node.start(redis.url, "a", 2000, 500);
    const b = await Node.start(redis.url, "b", 2000, 20);
    try {
      a.bus.join("x");
      await b.sees("x", true);
      const changes = b.changes.length;
      await redis.stop();
      await redis.start();
      await a.until(() => registered(a) >= 2, "a registered again");
      await b.until(() => registered(b) >= 2, "b registered again");
      a.bus.join("w");
      await b.sees("w", true);
      // x stayed online on b throughout: kept while a came back, then in a's new set.
      assertEquals(b.bus.elsewhere("x"), true);
      assertEquals(b.changes.slice(changes).flat().filter((u) => u === "x"), []);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

Deno.test("redis presence: a Redis emptied under running relays (FLUSHALL) is noticed", async () => {
  await withNodes(1000, async (a, b, admin) => {
    await admin.flushAll();
    // Both find themselves gone at their next heartbeat and register again, in a new epoch.
    await a.until(() => registered(a) >= 2, "a registered again");
    await b.until(() => registered(b) >= 2, "b registered again");
    a.bus.leave("x");
    await b.sees("x", false);
    a.bus.join("y");
    await b.sees("y", true);
  });
});

/** A v1 client identified as `id`. */
async function v1(url: string, id: string): Promise<TestClient> {
  const client = await TestClient.connect(url, [SUBPROTOCOL]);
  client.send({ type: "identify", id });
  assertEquals((await client.nextJson()).type, "ready");
  return client;
}

Deno.test("two relays on Redis: a watcher learns a user is online before any message of it", async () => {
  await using redis = await startRedis();
  const relay = await Promise.all([0, 1].map(() =>
    serveRelay({
      port: 0,
      webRoot: null,
      presence: { mode: "all", offlineDelayMs: 0 },
      broker: redisBroker(redis.url),
    })
  ));
  const clients: TestClient[] = [];
  try {
    const w = await v1(relay[1].wsUrl, "w");
    clients.push(w);
    const rounds = 30;
    const ids = Array.from({ length: rounds }, (_, i) => `x${i}`);
    w.send({ type: "watch", ids, ref: "w" });
    const answer = await w.nextJson();
    assertEquals([answer.ref, answer.online, (answer.offline as string[]).length], [
      "w",
      [],
      rounds,
    ]);
    for (const id of ids) {
      // Identify and send at once: the message is the first frame after ready.
      const x = await TestClient.connect(relay[0].wsUrl, [SUBPROTOCOL]);
      clients.push(x);
      x.send({ type: "identify", id });
      assertEquals((await x.nextJson()).type, "ready");
      x.send({ mine: { id, content: `from ${id}` }, to: { id: "w", type: "friend" }, ref: "m" });
      assertEquals((await x.nextJson()).type, "ack");
      assertEquals(await w.nextJson(), { type: "presence", online: [id], offline: [] });
      assertEquals((await w.nextJson()).content, `from ${id}`);
      await x.close();
      assertEquals(await w.nextJson(), { type: "presence", online: [], offline: [id] });
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(relay.map((r) => r.close()));
  }
});
