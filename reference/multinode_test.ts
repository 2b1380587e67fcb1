import { assert, assertEquals } from "@std/assert";
import { runConformance } from "../conformance/mod.ts";
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import { TestClient } from "../testing/net.ts";
import { startRedis } from "../testing/redis.ts";
import { waitFor } from "../testing/wait.ts";
import { type RelayProcess, spawnRelay } from "../testing/relay_process.ts";
import { DEFAULT_TRANSPORT, TRANSPORT_NAMES, type TransportName } from "./transports.ts";

const brokerUp = (e: Record<string, unknown>) => e.event === "broker" && e.state === "up";
const brokerDown = (e: Record<string, unknown>) => e.event === "broker" && e.state === "down";

async function nodes(
  redisUrl: string,
  count: number,
  args: string[] = [],
  transport: TransportName = DEFAULT_TRANSPORT,
): Promise<RelayProcess[]> {
  const relays = await Promise.all(
    Array.from(
      { length: count },
      // No directory: presence for the runner's random users.
      () =>
        spawnRelay(
          [
            "--redis",
            redisUrl,
            "--no-web",
            "--no-users",
            "--presence",
            "all",
            "--transport",
            transport,
          ]
            .concat(args),
        ),
    ),
  );
  await Promise.all(relays.map((r) => r.waitForLog(brokerUp)));
  return relays;
}

async function v1(url: string, id: string): Promise<TestClient> {
  const client = await TestClient.connect(url, [SUBPROTOCOL]);
  client.send({ type: "identify", id });
  assertEquals((await client.nextJson()).type, "ready");
  return client;
}

function message(from: string, to: string, content: string, ref: string) {
  return { mine: { id: from, content }, to: { id: to, type: "friend" }, ref };
}

for (const transport of TRANSPORT_NAMES) {
  for (const profile of ["v1", "legacy"] as const) {
    Deno.test(`multi-node: conformance with clients on two relays sharing Redis passes every MUST and SHOULD (${profile}, ${transport})`, async () => {
      await using redis = await startRedis();
      const [one, two] = await nodes(redis.url, 2, [], transport);
      try {
        // Deno's own transport fails some transport cases (conformance/transport_test.ts).
        const skip = transport === "deno" ? ["transport"] : [];
        const report = await runConformance({ url: one.wsUrl, urlB: two.wsUrl, profile, skip });
        const failed = report.results.filter((r) => r.status === "fail");
        assertEquals(failed.map((r) => `${r.id}: ${r.reason ?? r.actual}`), []);
        assert(report.ok);
        // SHOULDs too: outcome order (OUTCOME-4) once failed only across nodes.
        const findings = report.results.filter((r) => r.status === "finding");
        assertEquals(findings.map((r) => `${r.id}: ${r.actual}`), []);
        assert(report.summary.passed > 20, `only ${report.summary.passed} cases passed`);
        const presence = report.results.filter((r) => r.id.startsWith("presence/"));
        if (profile === "v1") {
          const passed = presence.filter((r) => r.status === "pass").map((r) => r.id);
          for (const id of ["other-relay", "two-sessions", "before-message", "online-offline"]) {
            assert(passed.includes(`presence/${id}`), `presence/${id} did not pass`);
          }
        }
      } finally {
        await Promise.all([one.stop(), two.stop()]);
      }
    });
  }
}

Deno.test("multi-node: fan-out to sessions on three relays, exactly once each", async () => {
  await using redis = await startRedis();
  const relays = await nodes(redis.url, 3);
  const clients: TestClient[] = [];
  try {
    const a = await v1(relays[0].wsUrl, "mn-a");
    const b = await Promise.all(relays.map((r) => v1(r.wsUrl, "mn-b")));
    clients.push(a, ...b);
    a.send(message("mn-a", "mn-b", "一 face[微笑]", "r1"));
    const ack = await a.nextJson();
    assertEquals([ack.type, ack.ref], ["ack", "r1"]);
    for (const session of b) {
      const got = await session.nextJson();
      assertEquals([got.fromid, got.content, got.cid], ["mn-a", "一 face[微笑]", ack.cid]);
    }
    await Promise.all(b.map((s) => s.expectSilence(200)));
    await a.expectSilence(50);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(relays.map((r) => r.stop()));
  }
});

Deno.test("multi-node: Redis outage answers unavailable, keeps local delivery, resumes without duplicates", async () => {
  await using redis = await startRedis();
  const [one, two] = await nodes(redis.url, 2);
  const clients: TestClient[] = [];
  try {
    const a = await v1(one.wsUrl, "out-a");
    const c = await v1(one.wsUrl, "out-c");
    const b = await v1(two.wsUrl, "out-b");
    clients.push(a, b, c);
    const mark = [one.log.length, two.log.length];
    await redis.stop();
    await one.waitForLog(brokerDown, mark[0]);
    await two.waitForLog(brokerDown, mark[1]);
    const health = await (await fetch(`${one.url}/healthz`)).json();
    assertEquals(health.broker, "down");
    const metrics = await (await fetch(`${one.url}/metrics`)).text();
    assert(metrics.includes("layimws_broker_up 0"), "broker_up gauge is not 0 during the outage");

    a.send(message("out-a", "out-b", "during the outage", "r1"));
    assertEquals(await a.nextJson(), {
      type: "undelivered",
      ref: "r1",
      to: "out-b",
      reason: "unavailable",
    });
    a.send(message("out-a", "out-c", "local", "r2"));
    assertEquals((await a.nextJson()).type, "ack");
    assertEquals((await c.nextJson()).content, "local");
    // Identify does not wait for Redis: ready at once, reachable here at once.
    const d = await v1(one.wsUrl, "out-d");
    clients.push(d);
    a.send(message("out-a", "out-d", "local too", "r2d"));
    assertEquals((await a.nextJson()).type, "ack");
    assertEquals((await d.nextJson()).content, "local too");

    const restarted = performance.now();
    const up = [one.log.length, two.log.length];
    await redis.start();
    // The stated bound: reconnect backoff is capped at 1 s, so delivery resumes within 5 s.
    await one.waitForLog(brokerUp, up[0], 5000);
    await two.waitForLog(brokerUp, up[1], 5000);
    a.send(message("out-a", "out-b", "after the outage", "r3"));
    assertEquals((await a.nextJson()).type, "ack");
    assertEquals((await b.nextJson()).content, "after the outage");
    // The session that identified during the outage is subscribed now.
    b.send(message("out-b", "out-d", "from the other relay", "r4"));
    assertEquals((await b.nextJson()).type, "ack");
    assertEquals((await d.nextJson()).content, "from the other relay");
    const resumedMs = Math.round(performance.now() - restarted);
    console.log(`cross-node delivery resumed ${resumedMs} ms after Redis restarted`);
    // Nothing from the outage arrives late or twice.
    await b.expectSilence(300);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([one.stop(), two.stop()]);
  }
});

Deno.test("multi-node: a killed relay's users are reported offline on the other relay within the TTL", async () => {
  await using redis = await startRedis();
  const [one, two] = await nodes(redis.url, 2);
  const clients: TestClient[] = [];
  try {
    const w = await v1(two.wsUrl, "kill-w");
    clients.push(w);
    w.send({ type: "watch", ids: ["kill-x", "kill-y"], ref: "w" });
    assertEquals(await w.nextJson(), {
      type: "presence",
      online: [],
      offline: ["kill-x", "kill-y"],
      ref: "w",
    });
    clients.push(await v1(one.wsUrl, "kill-x"));
    assertEquals(await w.nextJson(), { type: "presence", online: ["kill-x"], offline: [] });
    // kill-y is on both relays: it stays online.
    clients.push(await v1(one.wsUrl, "kill-y"), await v1(two.wsUrl, "kill-y"));
    assertEquals(await w.nextJson(), { type: "presence", online: ["kill-y"], offline: [] });
    const killed = performance.now();
    await one.kill();
    // The stated bound: --presence-ttl, 5000 ms by default; a second of slack for the timers
    // of a loaded machine.
    assertEquals(await w.nextJson(6000), { type: "presence", online: [], offline: ["kill-x"] });
    const ms = Math.round(performance.now() - killed);
    console.log(`kill-x reported offline on the other relay ${ms} ms after SIGKILL (TTL 5000 ms)`);
    assert(ms >= 3000, `reported ${ms} ms after the kill: sooner than any heartbeat could lapse`);
    await w.expectSilence(300);
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await two.stop();
  }
});

Deno.test("multi-node: a relay stopped cleanly keeps its users online elsewhere for the offline delay", async () => {
  await using redis = await startRedis();
  const [one, two, three] = await nodes(redis.url, 3);
  const clients: TestClient[] = [];
  try {
    const w = await v1(three.wsUrl, "stop-w");
    clients.push(w);
    w.send({ type: "watch", ids: ["stop-x"] });
    assertEquals((await w.nextJson()).offline, ["stop-x"]);
    clients.push(await v1(one.wsUrl, "stop-x"));
    assertEquals((await w.nextJson()).online, ["stop-x"]);
    // A rolling restart: the relay stops, its user is back on another one within a second.
    await one.stop();
    clients.push(await v1(two.wsUrl, "stop-x"));
    await w.expectSilence(4000);
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await Promise.all([two.stop(), three.stop()]);
  }
});

Deno.test("multi-node: an id with a lone surrogate never reaches the user whose id has U+FFFD there", async () => {
  await using redis = await startRedis();
  const [one, two] = await nodes(redis.url, 2);
  const clients: TestClient[] = [];
  try {
    // UTF-8 has no lone surrogates: encoded into a Redis channel name, "\ud800-x" would become
    // "\ufffd-x", another user's channel.
    const victim = await v1(two.wsUrl, "\ufffd-x");
    const a = await v1(one.wsUrl, "lone-a");
    clients.push(victim, a);
    a.send(message("lone-a", "\ud800-x", "meant for someone else", "r1"));
    const refused = await a.nextJson();
    assertEquals([refused.type, refused.code, refused.ref], ["error", "invalid_frame", "r1"]);
    const impostor = await TestClient.connect(one.wsUrl, [SUBPROTOCOL]);
    clients.push(impostor);
    impostor.send({ type: "identify", id: "\ud800-x" });
    assertEquals((await impostor.nextJson()).code, "invalid_id");
    assertEquals((await impostor.expectClose()).code, 4002);
    // The real owner of the id still gets its own messages, and nothing else.
    a.send(message("lone-a", "\ufffd-x", "for the victim", "r2"));
    assertEquals((await a.nextJson()).type, "ack");
    assertEquals((await victim.nextJson()).content, "for the victim");
    await victim.expectSilence(200);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([one.stop(), two.stop()]);
  }
});

Deno.test("multi-node: a paused Redis (SIGSTOP) holds no identify and no sender beyond its bound; nothing arrives late or twice after it resumes", async () => {
  await using redis = await startRedis();
  const timeout = 300;
  const [one, two] = await nodes(redis.url, 2, ["--redis-timeout", String(timeout)]);
  const clients: TestClient[] = [];
  try {
    const a = await v1(one.wsUrl, "hung-a");
    const c = await v1(one.wsUrl, "hung-c");
    const b = await v1(two.wsUrl, "hung-b");
    clients.push(a, b, c);
    const mark = one.log.length;
    redis.pause();
    const paused = performance.now();
    // Not yet known to be down: the sender still gets its answer within the timeout.
    a.send(message("hung-a", "hung-b", "during the pause", "r1"));
    assertEquals(await a.nextJson(timeout + 1000), {
      type: "undelivered",
      ref: "r1",
      to: "hung-b",
      reason: "unavailable",
    });
    await one.waitForLog(brokerDown, mark, 1.5 * timeout + 1000);
    console.log(
      `relay saw the paused Redis as down after ${Math.round(performance.now() - paused)} ms`,
    );
    const d = await v1(one.wsUrl, "hung-d"); // ready at once, not after the pause
    clients.push(d);
    a.send(message("hung-a", "hung-c", "local", "r2"));
    assertEquals((await a.nextJson()).type, "ack");
    assertEquals((await c.nextJson()).content, "local");
    a.send(message("hung-a", "hung-b", "still paused", "r3"));
    assertEquals((await a.nextJson()).reason, "unavailable");
    const up = one.log.length;
    redis.resume();
    await one.waitForLog(brokerUp, up, 5000);
    // Relay two had no traffic: whether a health check of its own timed out depends on timing.
    await waitFor(async () => (await (await fetch(`${two.url}/healthz`)).json()).broker === "up");
    a.send(message("hung-a", "hung-b", "after the pause", "r4"));
    assertEquals((await a.nextJson()).type, "ack");
    // The publication of the pause ran past its deadline: it reached nobody.
    assertEquals((await b.nextJson()).content, "after the pause");
    await b.expectSilence(300);
    await d.expectSilence(50);
  } finally {
    redis.resume();
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([one.stop(), two.stop()]);
  }
});
