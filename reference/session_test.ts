/**
 * The session state machine without a socket: a fake transport records what the session
 * writes and closes, and the test calls `text`, `binary` and `closed` as an adapter would.
 */
import { assert, assertEquals } from "@std/assert";
import type { Limits, Profile } from "../schemas/protocol.ts";
import { type Authenticator, AuthError, type Identity } from "./auth.ts";
import type { BrokerFactory } from "./broker.ts";
import { Hub } from "./hub.ts";
import { FakeTransport } from "../testing/fake_transport.ts";
import { settles } from "../testing/wait.ts";
import type { ClientSession } from "./session.ts";

/** A relay's hub with sessions on fake transports. */
function relay(limits: Partial<Limits> = {}, auth?: Authenticator) {
  const hub = new Hub({ limits, auth });
  const open = (profile: Profile = "v1"): [ClientSession, FakeTransport] => {
    const transport = new FakeTransport();
    return [hub.open(transport, profile, null, "127.0.0.1"), transport];
  };
  const identified = (id: string, profile: Profile = "v1"): [ClientSession, FakeTransport] => {
    const [session, transport] = open(profile);
    session.text(profile === "v1" ? JSON.stringify({ type: "identify", id }) : id);
    assertEquals(session.state, "identified");
    transport.take();
    return [session, transport];
  };
  return { hub, open, identified };
}

function message(to: string, content: string, ref?: string): string {
  return JSON.stringify({ mine: { content }, to: { id: to, type: "friend" }, ref });
}

/** An authenticator whose verifications the test settles by hand. */
function manualAuth() {
  const pending: { token: string; resolve(i: Identity): void; reject(e: unknown): void }[] = [];
  const auth: Authenticator = {
    verify: (token) => new Promise((resolve, reject) => pending.push({ token, resolve, reject })),
  };
  return { auth, pending };
}

/** The code of the first close `transport` is asked for, within `ms` (instead of hanging). */
async function firstClose(transport: FakeTransport, ms: number): Promise<number> {
  assert(await settles(transport.firstClose, ms), `no close within ${ms} ms`);
  return transport.firstClose;
}

Deno.test("awaiting: a v1 message before identify is refused, the session stays open", async () => {
  const { hub, open } = relay();
  const [session, transport] = open();
  session.text(message("bob", "early", "e1"));
  assertEquals(transport.take(), [
    { type: "error", code: "not_identified", message: "identify first", ref: "e1" },
  ]);
  assertEquals([session.state, transport.closes], ["awaiting", []]);
  await hub.closeSessions(0);
});

Deno.test("awaiting: a bad legacy id closes with 4002, an identify timeout with 4003", async () => {
  const { open } = relay({ identifyTimeoutMs: 20 });
  const [bad, badTransport] = open("legacy");
  bad.text("has space");
  assertEquals([bad.state, badTransport.closes], ["closed", [[4002, "invalid id"]]]);
  assertEquals(badTransport.sent, []); // legacy: no error frames
  const [late, lateTransport] = open("v1");
  assertEquals(await firstClose(lateTransport, 2000), 4003);
  assertEquals(late.state, "closed");
});

Deno.test("verifying: frames wait for the token, then run in order after ready", async () => {
  const { auth, pending } = manualAuth();
  const { hub, open } = relay({}, auth);
  const [session, transport] = open();
  session.text(JSON.stringify({ type: "identify", id: "alice", token: "t" }));
  assertEquals([session.state, pending.map((p) => p.token)], ["verifying", ["t"]]);
  session.text(JSON.stringify({ type: "ping", data: "1" }));
  session.text(JSON.stringify({ type: "ping", data: "2" }));
  assertEquals(transport.sent, []);
  pending[0].resolve({ sub: "alice", name: "Alice" });
  await Promise.resolve();
  const [ready, ...pongs] = transport.take();
  assertEquals([ready.type, ready.id, ready.user], ["ready", "alice", {
    username: "Alice",
    avatar: "",
  }]);
  assertEquals(pongs, [{ type: "pong", data: "1" }, { type: "pong", data: "2" }]);
  assertEquals(hub.stats(), { connections: 1, sessions: 1, users: 1 });
  await hub.closeSessions(0);
});

Deno.test("verifying: a refused token closes with 4001; a late verification of a gone session does nothing", async () => {
  const { auth, pending } = manualAuth();
  const { hub, open } = relay({}, auth);
  const [refused, refusedTransport] = open();
  refused.text(JSON.stringify({ type: "identify", id: "alice", token: "old" }));
  pending[0].reject(new AuthError("expired"));
  await firstClose(refusedTransport, 1000);
  assertEquals(refusedTransport.take().map((f) => [f.code, f.message]), [
    ["unauthorized", "token refused: expired"],
  ]);
  assertEquals(refusedTransport.closes, [[4001, "token refused: expired"]]);
  const [gone, goneTransport] = open();
  gone.text(JSON.stringify({ type: "identify", id: "bob", token: "t" }));
  gone.closed(1006);
  pending[1].resolve({ sub: "bob" });
  await Promise.resolve();
  assertEquals([gone.state, goneTransport.sent, hub.stats().sessions], ["closed", [], 0]);
});

Deno.test("identified: ping → pong, a second identify is refused, messages route with an ack", () => {
  const { identified } = relay();
  const [alice, aliceTransport] = identified("alice");
  const [, bobTransport] = identified("bob", "legacy");
  alice.text(JSON.stringify({ type: "ping", data: "x" }));
  alice.text(JSON.stringify({ type: "identify", id: "mallory" }));
  alice.text(message("bob", "hi", "r1"));
  const [pong, again, ack] = aliceTransport.take();
  assertEquals(pong, { type: "pong", data: "x" });
  assertEquals([again.code, alice.userId], ["already_identified", "alice"]);
  const [got] = bobTransport.take();
  assertEquals([got.fromid, got.content], ["alice", "hi"]);
  assertEquals(ack, { type: "ack", ref: "r1", cid: got.cid, timestamp: got.timestamp });
});

Deno.test("identified: over the rate, v1 is answered rate_limited and legacy dropped", () => {
  // The identify takes the first of the three tokens (the bucket starts with the first frame).
  const { identified } = relay({ ratePerSecond: 1, rateBurst: 3 });
  const [v1, v1Transport] = identified("v");
  const [legacy, legacyTransport] = identified("l", "legacy");
  for (const ref of ["1", "2", "3"]) v1.text(message("l", ref, ref));
  assertEquals(v1Transport.take().map((f) => f.type === "ack" ? "ack" : f.code), [
    "ack",
    "ack",
    "rate_limited",
  ]);
  assertEquals(legacyTransport.take().length, 2);
  for (const n of ["1", "2", "3"]) legacy.text(message("v", n));
  assertEquals([v1Transport.take().length, legacyTransport.sent], [2, []]);
  assertEquals([v1.state, legacy.state], ["identified", "identified"]);
});

Deno.test("identified: a peer that stops reading is closed with 4005, a frame over the limit with 1009", () => {
  const { hub, identified } = relay({ maxBufferedBytes: 100, maxFrameBytes: 200 });
  const [slow, slowTransport] = identified("slow");
  const [fast, fastTransport] = identified("fast");
  slowTransport.bufferedAmount = 101;
  fast.text(message("slow", "x", "r"));
  assertEquals([slow.state, slowTransport.closes], ["closed", [[4005, "slow consumer"]]]);
  fast.text(message("slow", "x".repeat(201)));
  assertEquals(fastTransport.take().map((f) => f.type === "ack" ? "ack" : f.code), [
    "ack",
    "frame_too_large",
  ]);
  assertEquals(fastTransport.closes, [[1009, "frame too large"]]);
  assertEquals(hub.stats(), { connections: 0, sessions: 0, users: 0 });
});

Deno.test("closed: the session is forgotten at once, later events do nothing, done resolves", async () => {
  const { hub, identified } = relay();
  const [bob, bobTransport] = identified("bob");
  const [alice, aliceTransport] = identified("alice");
  bob.closed(1006);
  assertEquals([bob.state, hub.stats()], ["closed", { connections: 1, sessions: 1, users: 1 }]);
  await bob.done;
  alice.text(message("bob", "too late", "r"));
  assertEquals(aliceTransport.take(), [
    { type: "undelivered", ref: "r", to: "bob", reason: "offline" },
  ]);
  bob.text(JSON.stringify({ type: "ping" }));
  bob.binary();
  bob.send("{}");
  bob.close(1000, "again");
  assertEquals([bobTransport.sent, bobTransport.closes], [[], []]);
  assertEquals(hub.metrics.framesIn, 3); // two identifies and alice's message
});

Deno.test("a binary frame closes with 1003, v1 told unsupported_data first", () => {
  const { open } = relay();
  const [session, transport] = open();
  session.binary();
  assertEquals(transport.take().map((f) => f.code), ["unsupported_data"]);
  assertEquals([session.state, transport.closes[0][0]], ["closed", 1003]);
});

Deno.test("identifying: what is held for a session until its ready is bounded like its send buffer (4005)", async () => {
  // A broker whose subscriptions the test confirms by hand, per user.
  const confirm = new Map<string, () => void>();
  const broker: BrokerFactory = (deliverLocal) => ({
    state: "up",
    publish: deliverLocal,
    subscribe: (user) => new Promise<void>((resolve) => confirm.set(user, resolve)),
    unsubscribe() {},
    close: () => Promise.resolve(),
  });
  const hub = new Hub({ broker, limits: { maxBufferedBytes: 1000 } });
  const open = () => {
    const transport = new FakeTransport();
    return [hub.open(transport, "v1", null, "127.0.0.1"), transport] as const;
  };
  const [alice, aliceTransport] = open();
  alice.text(JSON.stringify({ type: "identify", id: "alice" }));
  confirm.get("alice")!();
  await Promise.resolve();
  const [bob, bobTransport] = open();
  bob.text(JSON.stringify({ type: "identify", id: "bob" }));
  aliceTransport.take();
  // Bob's subscription is never confirmed: messages to him wait for his ready, up to the cap.
  for (let i = 0; i < 20; i++) alice.text(message("bob", "x".repeat(100), `r${i}`));
  assertEquals([bob.state, bobTransport.closes], ["closed", [[4005, "slow consumer"]]]);
  assertEquals(bobTransport.sent, []);
  const outcomes = aliceTransport.take().map((f) => f.type === "ack" ? "ack" : f.reason);
  assert(outcomes.indexOf("offline") > 0 && outcomes.indexOf("offline") < 10, String(outcomes));
  await hub.closeSessions(0);
});

Deno.test("a refused frame keeps its ref when the ref is valid by code points (65 emoji: 130 UTF-16 units)", () => {
  const { open } = relay();
  const [session, transport] = open();
  const ref = "😀".repeat(65);
  session.text(message("bob", "early", ref));
  session.text(JSON.stringify({ mine: { content: 1 }, to: { id: "bob", type: "friend" }, ref }));
  assertEquals(transport.take().map((f) => [f.code, f.ref]), [
    ["not_identified", ref],
    ["invalid_frame", ref],
  ]);
});
