import { assertEquals } from "@std/assert";
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import { Hub } from "../reference/hub.ts";
import { FakeTransport } from "./fake_transport.ts";
import { type Fault, faultyBroker, serveFaultyRelay } from "./faulty_relay.ts";
import { TestClient } from "./net.ts";

/** A hub whose broker has `fault`, with v1 sessions on fake transports. */
function relay(fault: Fault) {
  const hub = new Hub({ broker: faultyBroker(new Set([fault])) });
  const join = (id: string) => {
    const transport = new FakeTransport();
    const session = hub.open(transport, "v1", null, "127.0.0.1");
    session.text(JSON.stringify({ type: "identify", id }));
    transport.take();
    return { session, transport, contents: () => transport.take().map((f) => f.content) };
  };
  const say = (from: ReturnType<typeof join>, to: string, content: string) =>
    from.session.text(JSON.stringify({ mine: { content }, to: { id: to, type: "friend" } }));
  return { hub, join, say };
}

Deno.test("faulty broker: echo, misroute, reorder, drop and store-offline show in what sessions receive", async () => {
  {
    const { join, say } = relay("echo");
    const a = join("a"), b = join("b");
    say(a, "b", "x");
    assertEquals([a.contents(), b.contents()], [["x"], ["x"]]);
  }
  {
    const { join, say } = relay("misroute");
    const a = join("a"), b = join("b"), c = join("c");
    say(a, "b", "x");
    assertEquals([b.contents(), c.contents()], [[], ["x"]]);
  }
  {
    const { join, say } = relay("reorder");
    const a = join("a"), b = join("b");
    for (const m of ["1", "2", "3", "4"]) say(a, "b", m);
    assertEquals(b.contents(), ["2", "1", "4", "3"]);
  }
  {
    const { join, say } = relay("drop");
    const a = join("a"), b = join("b");
    for (let i = 1; i <= 20; i++) say(a, "b", String(i));
    assertEquals(b.contents().length, 18);
  }
  {
    const { join, say } = relay("store-offline");
    const a = join("a");
    say(a, "b", "later");
    const b = join("b");
    await Promise.resolve();
    assertEquals(b.contents(), ["later"]);
  }
});

Deno.test("faulty broker: no-cleanup acknowledges messages to a user whose sessions all closed", () => {
  const { join, hub } = relay("no-cleanup");
  const a = join("a"), b = join("b");
  b.session.closed(1000);
  a.session.text(
    JSON.stringify({ mine: { content: "x" }, to: { id: "b", type: "friend" }, ref: "1" }),
  );
  assertEquals(a.transport.take().map((f) => f.type), ["ack"]);
  assertEquals(hub.stats().sessions, 1);
});

Deno.test("faulty relay on the wire: ignore-cap advertises its cap and keeps every session", async () => {
  const relay = await serveFaultyRelay(new Set(["ignore-cap"]), {
    port: 0,
    webRoot: null,
    limits: { maxSessionsPerUser: 2 },
  });
  const clients: TestClient[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const c = await TestClient.connect(relay.wsUrl, SUBPROTOCOL);
      clients.push(c);
      c.send({ type: "identify", id: "a" });
      const ready = await c.nextJson<{ limits: { maxSessionsPerUser: number } }>();
      assertEquals(ready.limits.maxSessionsPerUser, 2);
    }
    await clients[0].expectSilence(100); // the oldest is not closed (4004)
    assertEquals(relay.stats().sessions, 3);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await relay.close();
  }
});

Deno.test("faulty relay on the wire: echo and store-offline reach the client, ready first", async () => {
  const relay = await serveFaultyRelay(new Set(["echo", "store-offline"]), {
    port: 0,
    webRoot: null,
  });
  const clients: TestClient[] = [];
  const v1 = async (id: string) => {
    const c = await TestClient.connect(relay.wsUrl, SUBPROTOCOL);
    clients.push(c);
    c.send({ type: "identify", id });
    assertEquals((await c.nextJson()).type, "ready");
    return c;
  };
  try {
    const a = await v1("a");
    a.send({ mine: { content: "early" }, to: { id: "b", type: "friend" }, ref: "1" });
    assertEquals((await a.nextJson()).content, "early"); // echoed to the sender
    assertEquals((await a.nextJson()).type, "undelivered");
    const b = await v1("b");
    assertEquals((await b.nextJson()).content, "early");
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await relay.close();
  }
});
