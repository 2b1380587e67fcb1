/**
 * Presence without a socket: fake watchers record what they are sent, a manual scheduler decides
 * when the offline delay ends, and a fake bus stands for the other nodes.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import type { Watch } from "../schemas/types.ts";
import { parseServerFrame } from "../schemas/validate.ts";
import { createDirectory } from "./directory.ts";
import { Hub } from "./hub.ts";
import {
  Presence,
  type PresenceBus,
  type PresenceOptions,
  type Scheduler,
  type Watcher,
} from "./presence.ts";
import { FakeTransport } from "../testing/fake_transport.ts";
import { waitFor } from "../testing/wait.ts";

/** A watcher that records the frames it is sent, parsed and checked against the schemas. */
class Recorder implements Watcher {
  readonly frames: Record<string, unknown>[] = [];
  readonly replies: Record<string, unknown>[] = [];
  constructor(readonly id: string, readonly userId: string, readonly friends?: string[]) {}
  send(text: string): void {
    this.frames.push(valid(text));
  }
  reply = (text: string, reason: string): void => {
    const frame = valid(text);
    assertEquals(frame.code, reason);
    this.replies.push(frame);
  };
  take(): Record<string, unknown>[] {
    return this.frames.splice(0);
  }
}

function valid(text: string): Record<string, unknown> {
  const result = parseServerFrame(text);
  assert(result.ok, `${text}: ${result.ok || result.error}`);
  return JSON.parse(text);
}

/** Timers that fire only when the test says how much time passed. */
class ManualTimers implements Scheduler {
  #now = 0;
  #timers = new Map<number, { at: number; run: () => void }>();
  #seq = 0;
  set(run: () => void, ms: number): number {
    this.#timers.set(++this.#seq, { at: this.#now + ms, run });
    return this.#seq;
  }
  clear(timer: unknown): void {
    this.#timers.delete(timer as number);
  }
  get pending(): number {
    return this.#timers.size;
  }
  advance(ms: number): void {
    this.#now += ms;
    for (const [id, t] of [...this.#timers].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at > this.#now) continue;
      this.#timers.delete(id);
      t.run();
    }
  }
}

/** Another node's sessions, as a bus would report them. */
class FakeBus implements PresenceBus {
  readonly joined: string[] = [];
  readonly left: string[] = [];
  readonly others = new Set<string>();
  closedWith?: number;
  #changed: (users: readonly string[]) => void = () => {};
  start(changed: (users: readonly string[]) => void): void {
    this.#changed = changed;
  }
  join(user: string): void {
    this.joined.push(user);
  }
  leave(user: string): void {
    this.left.push(user);
  }
  elsewhere(user: string): boolean {
    return this.others.has(user);
  }
  close(lingerMs: number): Promise<void> {
    this.closedWith = lingerMs;
    return Promise.resolve();
  }
  /** Another node gains or loses `user`. */
  set(user: string, online: boolean): void {
    if (online) this.others.add(user);
    else this.others.delete(user);
    this.#changed([user]);
  }
}

function setup(options: Partial<PresenceOptions> = {}) {
  const timers = new ManualTimers();
  const presence = new Presence<Recorder>({
    mode: "all",
    tokens: false,
    scheduler: timers,
    ...options,
  });
  return { presence, timers };
}

function watch(presence: Presence<Recorder>, w: Recorder, frame: Omit<Watch, "type">, now = 0) {
  presence.watch(w, { type: "watch", ...frame }, w.reply, now);
}

const online = (...ids: string[]) => ({ type: "presence", online: ids, offline: [] });
const offline = (...ids: string[]) => ({ type: "presence", online: [], offline: ids });

Deno.test("offered: with tokens or a directory by default, always with all, never with off", () => {
  const directory = createDirectory([{ id: "1001", username: "a", avatar: "/a.svg" }]);
  const offered = (o: Partial<PresenceOptions>) => new Presence({ tokens: false, ...o }).offered;
  assertEquals(offered({}), false);
  assertEquals(offered({ tokens: true }), true);
  assertEquals(offered({ directory }), true);
  assertEquals(offered({ mode: "all" }), true);
  assertEquals(offered({ mode: "off", tokens: true, directory }), false);
  assertEquals(new Presence({ tokens: false }).ready, undefined);
  assertEquals(new Presence({ tokens: true }).ready, {
    maxWatchIds: 1000,
    watchRatePerSecond: 1,
    watchBurst: 10,
    offlineDelayMs: 2000,
  });
  assertThrows(() => new Presence({ tokens: true, maxWatchIds: 0 }), RangeError);
  assertThrows(() => new Presence({ tokens: true, offlineDelayMs: -1 }), RangeError);
  assertThrows(() => new Presence({ tokens: true, mode: "some" as never }), RangeError);
});

Deno.test("watch: answered at once with every id's state, its ref, ids as strings, once each", () => {
  const { presence } = setup();
  presence.here("1002");
  const w = new Recorder("s1", "1001");
  watch(presence, w, { ids: ["1002", 1003, "1002", "1003"], ref: "w-1" });
  assertEquals(w.take(), [{ ...online("1002"), offline: ["1003"], ref: "w-1" }]);
  watch(presence, w, { ids: [] });
  assertEquals(w.take(), [{ type: "presence", online: [], offline: [] }]);
  assertEquals(w.replies, []);
});

Deno.test("transitions: online at once, offline after the delay, nothing for a quick return", () => {
  const { presence, timers } = setup({ offlineDelayMs: 2000 });
  const w = new Recorder("s1", "1001");
  watch(presence, w, { ids: ["1002"] });
  w.take();
  presence.here("1002");
  assertEquals(w.take(), [online("1002")]);
  presence.gone("1002");
  timers.advance(1999);
  assertEquals(w.take(), []);
  // Back within the delay (a page reload): no frame at all.
  presence.here("1002");
  timers.advance(5000);
  assertEquals([w.take(), timers.pending], [[], 0]);
  presence.gone("1002");
  timers.advance(2000);
  assertEquals(w.take(), [offline("1002")]);
  presence.here("1002");
  assertEquals(w.take(), [online("1002")]);
});

Deno.test("a delay of 0 reports offline at once", () => {
  const { presence, timers } = setup({ offlineDelayMs: 0 });
  const w = new Recorder("s1", "1001");
  watch(presence, w, { ids: ["1002"] });
  presence.here("1002");
  presence.gone("1002");
  assertEquals([w.take().slice(1), timers.pending], [[online("1002"), offline("1002")], 0]);
});

Deno.test("several watchers get the same change; a watcher that left gets nothing", () => {
  const { presence } = setup();
  const [a, b] = [new Recorder("s1", "1001"), new Recorder("s2", "1003")];
  watch(presence, a, { ids: ["1002"] });
  watch(presence, b, { ids: ["1002", "1004"] });
  a.take();
  b.take();
  presence.here("1002");
  assertEquals([a.take(), b.take()], [[online("1002")], [online("1002")]]);
  presence.forget(a);
  presence.gone("1002");
  presence.here("1004");
  assertEquals(a.take(), []);
  assertEquals(presence.watched, 2);
  presence.forget(b);
  assertEquals(presence.watched, 0);
});

Deno.test("replace makes the list, add extends it; ids no longer watched are not reported", () => {
  const { presence } = setup({ offlineDelayMs: 0 });
  const w = new Recorder("s1", "1001");
  watch(presence, w, { ids: ["a", "b"] });
  watch(presence, w, { ids: ["c"], mode: "add", ref: "w-2" });
  assertEquals(w.take().at(-1), { ...offline("c"), ref: "w-2" });
  for (const id of ["a", "b", "c"]) presence.here(id);
  assertEquals(w.take(), [online("a"), online("b"), online("c")]);
  watch(presence, w, { ids: ["c"], mode: "replace" });
  assertEquals(w.take(), [online("c")]);
  presence.gone("a");
  presence.gone("c");
  assertEquals(w.take(), [offline("c")]);
});

Deno.test("limit: a list over maxWatchIds is refused with watch_limit and left unchanged", () => {
  const { presence } = setup({ maxWatchIds: 3 });
  const w = new Recorder("s1", "1001");
  watch(presence, w, { ids: ["a", "b"] });
  watch(presence, w, { ids: ["c", "d"], mode: "add", ref: "w-2" });
  assertEquals(w.replies.map((r) => [r.code, r.ref]), [["watch_limit", "w-2"]]);
  watch(presence, w, { ids: ["a", "b", "c"] });
  assertEquals(w.replies.length, 1);
  w.take();
  presence.here("d");
  presence.here("c");
  assertEquals(w.take(), [online("c")]);
});

Deno.test("rate: watch frames beyond the bucket are refused with rate_limited, refilled in time", () => {
  const { presence } = setup({ watchBurst: 3, watchRatePerSecond: 1 });
  const w = new Recorder("s1", "1001");
  for (let i = 0; i < 4; i++) watch(presence, w, { ids: [`u${i}`], ref: `w${i}` }, 1000);
  assertEquals(w.replies.map((r) => [r.code, r.ref]), [["rate_limited", "w3"]]);
  assertEquals(w.take().map((f) => f.ref), ["w0", "w1", "w2"]);
  watch(presence, w, { ids: ["late"], ref: "w4" }, 2000);
  assertEquals(w.take().map((f) => f.ref), ["w4"]);
});

Deno.test("privacy: with a directory only its users; with a friends claim only those; self always", () => {
  const directory = createDirectory(
    ["1001", "1002", "1003"].map((id) => ({ id, username: id, avatar: "/a.svg" })),
  );
  const { presence } = setup({ mode: "friends", directory });
  const w = new Recorder("s1", "1001");
  watch(presence, w, { ids: ["1002", "9999", 8888], ref: "w-1" });
  assertEquals(w.replies, [{
    type: "error",
    code: "watch_refused",
    message: "not allowed to watch 2 of these users",
    ref: "w-1",
    ids: ["9999", "8888"],
  }]);
  assertEquals(w.take(), []);
  watch(presence, w, { ids: ["1002", "1003", "1001"] });
  assertEquals(w.take(), [offline("1002", "1003", "1001")]);
  // A token's friends claim wins over the directory.
  const t = new Recorder("s2", "1002", ["9999"]);
  watch(presence, t, { ids: ["1003"] });
  watch(presence, t, { ids: ["9999", "1002"] });
  assertEquals(t.replies.map((r) => r.ids), [["1003"]]);
  assertEquals(t.take(), [offline("9999", "1002")]);
  // Tokens without a claim and no directory: only oneself.
  const tokensOnly = setup({ mode: "friends", tokens: true }).presence;
  const u = new Recorder("s3", "1001");
  watch(tokensOnly, u, { ids: ["1002"] });
  watch(tokensOnly, u, { ids: ["1001"] });
  assertEquals([u.replies.map((r) => r.code), u.take()], [["watch_refused"], [offline("1001")]]);
});

Deno.test("not offered: watch is an unknown frame type, and sessions cost nothing", () => {
  const { presence, timers } = setup({ mode: "off" });
  const w = new Recorder("s1", "1001");
  watch(presence, w, { ids: ["1002"], ref: "w-1" });
  assertEquals(w.replies, [{
    type: "error",
    code: "invalid_frame",
    message: 'unknown frame type "watch"',
    ref: "w-1",
  }]);
  presence.here("1002");
  presence.gone("1002");
  assertEquals([w.frames, timers.pending], [[], 0]);
});

Deno.test("bus: users on other nodes count, local and remote sessions together", () => {
  const bus = new FakeBus();
  const { presence, timers } = setup({ bus, offlineDelayMs: 100 });
  bus.others.add("r");
  const w = new Recorder("s1", "1001");
  watch(presence, w, { ids: ["r", "x"] });
  assertEquals(w.take(), [{ type: "presence", online: ["r"], offline: ["x"] }]);
  bus.set("x", true);
  assertEquals(w.take(), [online("x")]);
  // x also here: the other node losing it changes nothing, nor does the local end until both.
  presence.here("x");
  bus.set("x", false);
  assertEquals(w.take(), []);
  presence.gone("x");
  timers.advance(100);
  assertEquals(w.take(), [offline("x")]);
  assertEquals([bus.joined, bus.left], [["x"], ["x"]]);
  // A user lingering here after its session ended is not left on the bus yet.
  presence.here("y");
  presence.gone("y");
  assertEquals(bus.left, ["x"]);
});

Deno.test("close: pending delays are dropped, the bus keeps this node's users one delay longer", async () => {
  const bus = new FakeBus();
  const { presence, timers } = setup({ bus, offlineDelayMs: 700 });
  presence.here("x");
  presence.gone("x");
  await presence.close();
  assertEquals([timers.pending, bus.closedWith], [0, 700]);
});

/** A relay's hub with v1 sessions on fake transports and presence for all. */
function hub(options: ConstructorParameters<typeof Hub>[0] = {}) {
  const h = new Hub({ presence: { mode: "all", offlineDelayMs: 0 }, ...options });
  const connect = (id: string, profile: "v1" | "legacy" = "v1") => {
    const transport = new FakeTransport();
    const session = h.open(transport, profile, null, "127.0.0.1");
    session.text(profile === "v1" ? JSON.stringify({ type: "identify", id }) : id);
    return { session, transport };
  };
  return { h, connect };
}

Deno.test("hub: ready lists presence; online before the newcomer's ready; offline only after both sessions", async () => {
  const { h, connect } = hub();
  const w = connect("w");
  const ready = w.transport.take()[0];
  assertEquals([(ready.features as string[]).includes("presence"), ready.presence], [true, {
    maxWatchIds: 1000,
    watchRatePerSecond: 1,
    watchBurst: 10,
    offlineDelayMs: 0,
  }]);
  w.session.text(JSON.stringify({ type: "watch", ids: ["x"], ref: "w-1" }));
  assertEquals(w.transport.take(), [{ ...offline("x"), ref: "w-1" }]);
  const x1 = connect("x");
  assertEquals(w.transport.take(), [online("x")]);
  const x2 = connect("x", "legacy");
  x1.session.closed(1000);
  assertEquals(w.transport.take(), []);
  x2.session.closed(1000);
  assertEquals(w.transport.take(), [offline("x")]);
  // A legacy session alone makes its user online too, and its connection gets no presence frame.
  const x3 = connect("x", "legacy");
  x3.session.text(JSON.stringify({ type: "watch", ids: ["w"] }));
  assertEquals([w.transport.take(), x3.transport.take()], [[online("x")], []]);
  await h.closeSessions(0);
  await h.close();
});

Deno.test("hub: a watcher that closes is forgotten; a session replaced at the cap changes nothing", async () => {
  const { h, connect } = hub({ limits: { maxSessionsPerUser: 1 } });
  const w = connect("w");
  w.session.text(JSON.stringify({ type: "watch", ids: ["x"] }));
  connect("x");
  w.transport.take();
  connect("x");
  assertEquals(w.transport.take().filter((f) => f.type === "presence"), []);
  w.session.closed(1000);
  assertEquals(h.presence.watched, 0);
  await h.closeSessions(0);
  await h.close();
});

Deno.test("hub: a token's friends claim decides; a watch before identify is not_identified", async () => {
  const auth = {
    verify: (token: string) => Promise.resolve({ sub: token, friends: ["friend"] }),
  };
  const h = new Hub({ auth });
  const transport = new FakeTransport();
  const session = h.open(transport, "v1", null, "127.0.0.1");
  session.text(JSON.stringify({ type: "watch", ids: ["friend"] }));
  assertEquals(transport.take().map((f) => f.code), ["not_identified"]);
  session.text(JSON.stringify({ type: "identify", id: "me", token: "me" }));
  // Queued while the token is verified, then handled in order.
  session.text(JSON.stringify({ type: "watch", ids: ["friend", "stranger"], ref: "a" }));
  session.text(JSON.stringify({ type: "watch", ids: ["friend"], ref: "b" }));
  await waitFor(() => transport.sent.length === 3, 1000, "ready and two answers");
  const frames = transport.take();
  assertEquals(frames[0].type, "ready");
  assertEquals(frames.slice(1).map((f) => [f.type, f.ref, f.code ?? f.offline]), [
    ["error", "a", "watch_refused"],
    ["presence", "b", ["friend"]],
  ]);
  await h.closeSessions(0);
  await h.close();
});
