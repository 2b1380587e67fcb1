/**
 * Cleanup cases: every way a session ends leaves the registry right, and a stale close never
 * unregisters a newer session.
 *
 * @module
 */
import { type Case, type CaseContext, delay, type Peer, type Profile } from "../case.ts";

const BOTH: readonly Profile[] = ["legacy", "v1"];
/** Connect/close cycles of `cleanup/cycles`. */
const CYCLES = 20;
/** Poll interval while waiting for a server to notice a lost connection. */
const POLL_MS = 25;

/**
 * v1: polls with ref'd messages until the server answers `undelivered` for `user` (it has
 * forgotten every session); fails when it still acknowledges after the timeout.
 */
async function offlineSoon(ctx: CaseContext, a: Peer, user: string, why: string): Promise<void> {
  const start = performance.now();
  for (let attempt = 1;; attempt++) {
    const ref = ctx.ref();
    a.send(user, ctx.content("probe"), { ref });
    const outcome = await a.waitOutcome(ref);
    if (outcome?.type === "undelivered" && outcome.reason === "offline") {
      if (attempt > 1) {
        ctx.note(`${why}: offline after ${Math.round(performance.now() - start)} ms`);
      }
      return;
    }
    const elapsed = performance.now() - start;
    if (!outcome || outcome.type !== "ack" || elapsed > ctx.timeoutMs) {
      ctx.fail(
        `undelivered/offline for ${user} once ${why}`,
        outcome
          ? `${JSON.stringify(outcome)} (attempt ${attempt}, ${Math.round(elapsed)} ms)`
          : "no outcome",
      );
    }
    await delay(POLL_MS);
  }
}

/** After a session of `user` ended: offline (v1), then a new session gets only new messages. */
async function forgotten(ctx: CaseContext, a: Peer, user: string, why: string): Promise<void> {
  const dropped = ctx.content("after-end");
  if (ctx.profile === "v1") await offlineSoon(ctx, a, user, why);
  else {
    a.send(user, dropped);
    // Let it land before the new session identifies: in flight through a second node it could
    // still reach a session that identified meanwhile, which is no stored message.
    await ctx.quiet();
  }
  const fresh = await ctx.connect(user, { node: "b" });
  const c = await ctx.expectDelivery(a, fresh, "fresh");
  await ctx.exactly(fresh, c, 1);
  const other = fresh.messages().filter((m) => m.content !== c);
  ctx.check(
    other.length === 0,
    `the new session of ${user} gets only messages sent after it identified`,
    () => `also ${JSON.stringify(other[0])}`,
  );
}

/** Connects A, then two sessions (older, newer) of one other user on node "b". */
async function twoSessions(ctx: CaseContext): Promise<[Peer, Peer, Peer]> {
  const a = await ctx.connect(ctx.user());
  const user = ctx.user();
  const older = await ctx.connect(user, { node: "b" });
  const newer = await ctx.connect(user, { node: "b" });
  return [a, older, newer];
}

/** The cleanup cases. */
export const cleanupCases: Case[] = [
  {
    id: "cleanup/clean-close",
    title: "a cleanly closed session is forgotten",
    group: "cleanup",
    requirements: ["LIFE-1", "OFFLINE-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      await b.close();
      await forgotten(ctx, a, b.user, "B closed cleanly");
    },
  },
  {
    id: "cleanup/abrupt-loss",
    title: "a session whose TCP connection is dropped without a close frame is forgotten",
    group: "cleanup",
    requirements: ["LIFE-2", "ROBUST-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const a = await ctx.connect(ctx.user());
      const user = ctx.user();
      const raw = await ctx.open(user, { node: "b", raw: true });
      raw.identify();
      await ctx.identified(raw);
      await raw.close();
      await forgotten(ctx, a, user, "B's TCP connection was dropped");
    },
  },
  {
    id: "cleanup/reidentify",
    title: "a user can identify again at once after closing",
    group: "cleanup",
    requirements: ["LIFE-7", "IDENT-6"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      await b.close();
      const b2 = await ctx.connect(b.user, { node: "b" });
      const c = await ctx.expectDelivery(a, b2);
      await ctx.exactly(b2, c, 1);
    },
  },
  {
    id: "cleanup/stale-close",
    title: "closing an older session never unregisters the newer session of the same user",
    group: "cleanup",
    requirements: ["LIFE-6", "LIFE-5"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, older, newer] = await twoSessions(ctx);
      await older.close();
      const c = await ctx.expectDelivery(a, newer);
      await ctx.exactly(newer, c, 1);
    },
  },
  {
    id: "cleanup/cycles",
    title: `${CYCLES} connect/message/close cycles of one user leave no residue`,
    group: "cleanup",
    requirements: ["LIFE-1", "LIFE-7", "LIFE-9"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const a = await ctx.connect(ctx.user());
      const user = ctx.user();
      for (let i = 0; i < CYCLES; i++) {
        const b = await ctx.connect(user, { node: "b" });
        const c = ctx.content(`cycle${i}`);
        a.send(user, c);
        const m = await ctx.delivered(b, c, a);
        ctx.check(
          b.messages().length === 1,
          `cycle ${i}: only ${c}`,
          () => `${b.messages().length} messages, first ${JSON.stringify(m)}`,
        );
        await b.close();
      }
      await forgotten(ctx, a, user, `${CYCLES} sessions closed`);
    },
  },
  {
    id: "cleanup/duplicate-policy",
    title: "what happens with two sessions of one user (fan-out or replace)",
    group: "cleanup",
    requirements: ["LIFE-5", "ROUTE-1"],
    level: "INFO",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, older, newer] = await twoSessions(ctx);
      const c = ctx.content();
      a.send(older.user, c);
      await Promise.race([older.waitMessage(c), newer.waitMessage(c)]);
      await ctx.quiet();
      const [o, n] = [older.messagesWith(c).length, newer.messagesWith(c).length];
      const olderState = older.open ? "stays open" : `was closed ${older.client.closed?.code}`;
      ctx.note(
        o === 1 && n === 1
          ? "fan-out: both sessions received the message"
          : o === 0 && n === 1
          ? `replace: only the newer session received it; the older ${olderState}`
          : o === 1 && n === 0
          ? `first wins: only the older session received it`
          : `older received it ${o} times, newer ${n} times; the older ${olderState}`,
      );
    },
  },
  {
    id: "cleanup/session-cap",
    title: "one session over maxSessionsPerUser closes the oldest with 4004",
    group: "cleanup",
    requirements: ["LIFE-8", "LIFE-3"],
    level: "MUST",
    profiles: ["v1"],
    async run(ctx: CaseContext) {
      const cap = ctx.limits.maxSessionsPerUser;
      if (cap > 64) ctx.skip(`maxSessionsPerUser ${cap} is too many to open`);
      const a = await ctx.connect(ctx.user());
      const user = ctx.user();
      const sessions: Peer[] = [];
      for (let i = 0; i <= cap; i++) sessions.push(await ctx.connect(user));
      const [oldest, ...kept] = sessions;
      await ctx.expectClose(oldest, 4004, `session ${cap + 1} of the user identified`);
      const closed = kept.filter((p) => !p.open).map((p) => p.label);
      ctx.check(
        closed.length === 0,
        "the newer sessions stay open",
        `closed: ${closed.join(", ")}`,
      );
      const c = ctx.content();
      a.send(user, c);
      for (const p of kept) await ctx.delivered(p, c, a);
      await ctx.quiet();
      const counts = kept.map((p) => p.messagesWith(c).length);
      ctx.check(
        counts.every((n) => n === 1),
        "each remaining session receives the message exactly once",
        counts.join(", "),
      );
    },
  },
];
