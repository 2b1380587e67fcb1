/**
 * Cleanup cases: every way a session ends leaves the registry right, and the end of an older
 * session never unregisters a newer one. A server may process an end after the client has seen
 * it (the seed's `finally` runs after the TCP teardown), so these cases never take the client's
 * view as the server's: they wait for evidence, or probe over the cleanup window.
 *
 * @module
 */
import { BOTH, group, V1 } from "../case.ts";
import { type CaseContext, delay } from "../context.ts";
import type { Peer } from "../peer.ts";
import {
  check,
  delivered,
  exactly,
  expectClose,
  expectDelivery,
  fail,
  sessionEnded,
} from "../verify.ts";

/** Connect/close cycles of `cleanup/cycles` with evidence of each end (v1, offline notices). */
const CYCLES = 20;
/** Cycles when each end costs the cleanup window (legacy gives no evidence). */
const BLIND_CYCLES = 5;
/** Interval between the probes of the newer session in `cleanup/stale-close`. */
const PROBE_MS = 100;

/**
 * Once the server has processed the end of `user`'s session: a new session of that user gets
 * the messages sent after it identified, and nothing else.
 */
async function forgotten(
  ctx: CaseContext,
  a: Peer,
  user: string,
  why: string,
  requirement: string,
): Promise<void> {
  await sessionEnded(ctx, a, user, why, requirement);
  const dropped = ctx.content("after-end");
  if (ctx.profile !== "v1") {
    a.send(user, dropped);
    // Let it land before the new session identifies: in flight through a second node it could
    // still reach a session that identified meanwhile, which is no stored message.
    await ctx.quiet();
  }
  const fresh = await ctx.connect(user, { node: "b" });
  const c = await expectDelivery(ctx, a, fresh, "fresh", "LIFE-7");
  await exactly(ctx, fresh, c, 1, "ROUTE-1");
  const other = fresh.messages().filter((m) => m.content !== c);
  check(
    other.length === 0,
    `the new session of ${user} gets only messages sent after it identified`,
    () => `also ${JSON.stringify(other[0])}`,
    "OFFLINE-1",
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
export const cleanup = group("cleanup", "ended sessions are forgotten, and only they", [
  {
    name: "clean-close",
    title: "a cleanly closed session is forgotten",
    requirements: ["LIFE-1", "OFFLINE-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      await b.close();
      await forgotten(ctx, a, b.user, "B closed cleanly", "LIFE-1");
    },
  },
  {
    name: "abrupt-loss",
    title: "a session whose TCP connection is dropped without a close frame is forgotten",
    requirements: ["LIFE-2"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      await b.drop();
      await forgotten(ctx, a, b.user, "B's TCP connection was dropped", "LIFE-2");
    },
  },
  {
    name: "reidentify",
    title: "a user can identify again as soon as the server has processed the close",
    requirements: ["LIFE-7"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      await b.close();
      await sessionEnded(ctx, a, b.user, "B closed", "LIFE-1");
      const b2 = await ctx.connect(b.user, { node: "b" });
      const c = await expectDelivery(ctx, a, b2);
      await exactly(ctx, b2, c, 1, "ROUTE-1");
    },
  },
  {
    name: "stale-close",
    title: "closing an older session never unregisters the newer session of the same user",
    requirements: ["LIFE-6"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, older, newer] = await twoSessions(ctx);
      await older.close();
      const closedAt = ctx.now();
      // The server may handle the close well after the client saw it: keep probing the newer
      // session over the whole cleanup window, not once.
      const arrived: number[] = [];
      for (let n = 1;; n++) {
        const sentAt = ctx.now() - closedAt;
        const c = ctx.content(`probe${n}`);
        a.send(newer.user, c);
        if (!await newer.waitMessage(c)) {
          fail(
            `${newer.label} (the newer session of user ${newer.user}) to receive every message ` +
              `sent within ${ctx.cleanupMs} ms after ${older.label} closed`,
            `probe ${n}, sent ${sentAt} ms after ${older.label}'s close, never arrived${
              arrived.length
                ? ` (probe${arrived.length > 1 ? "s" : ""} sent at +${arrived.join(", +")} ms did)`
                : ""
            }${newer.open ? "" : `; ${newer.label} was closed ${newer.wire.closed?.code}`}`,
          );
        }
        arrived.push(sentAt);
        if (ctx.now() - closedAt >= ctx.cleanupMs) break;
        await delay(PROBE_MS);
      }
    },
  },
  {
    name: "cycles",
    title: "connect/message/close cycles of one user leave no residue",
    requirements: ["LIFE-9", "LIFE-1", "LIFE-7"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const a = await ctx.connect(ctx.user());
      const user = ctx.user();
      const blind = ctx.profile !== "v1" &&
        !ctx.dialect.notices?.some((n) => n.means === "offline");
      const cycles = blind ? BLIND_CYCLES : CYCLES;
      ctx.note(
        `${cycles} cycles${
          blind ? ` (legacy: each waits the ${ctx.cleanupMs} ms cleanup window)` : ""
        }`,
      );
      for (let i = 0; i < cycles; i++) {
        const b = await ctx.connect(user, { node: "b" });
        const c = ctx.content(`cycle${i}`);
        a.send(user, c);
        await delivered(ctx, b, c, a, "LIFE-7");
        const got = b.messages();
        check(
          got.length === 1,
          `cycle ${i}: ${b.label} gets only ${c}`,
          () => `${got.length} messages: ${got.map((m) => JSON.stringify(m.content)).join(", ")}`,
          "LIFE-9",
        );
        await b.close();
        await sessionEnded(ctx, a, user, `${b.label} closed`, "LIFE-1");
      }
    },
  },
  {
    name: "session-cap",
    title: "one session over maxSessionsPerUser closes the oldest with 4004",
    requirements: ["LIFE-8", "LIFE-3"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const cap = ctx.limits.maxSessionsPerUser;
      if (cap > 64) ctx.skip(`maxSessionsPerUser ${cap} is too many to open`);
      const a = await ctx.connect(ctx.user());
      const user = ctx.user();
      const sessions: Peer[] = [];
      for (let i = 0; i <= cap; i++) sessions.push(await ctx.connect(user));
      const [oldest, ...kept] = sessions;
      await expectClose(ctx, oldest, 4004, `session ${cap + 1} of the user identified`);
      const closed = kept.filter((p) => !p.open).map((p) => p.label);
      check(closed.length === 0, "the newer sessions stay open", `closed: ${closed.join(", ")}`);
      const c = ctx.content();
      a.send(user, c);
      for (const p of kept) await delivered(ctx, p, c, a, "ROUTE-1");
      await ctx.quiet();
      const counts = kept.map((p) => p.messagesWith(c).length);
      check(
        counts.every((n) => n === 1),
        "each remaining session receives the message exactly once",
        counts.join(", "),
        "ROUTE-1",
      );
      check(
        oldest.messagesWith(c).length === 0,
        "nothing routed to the closed session",
        "it got it",
        "LIFE-3",
      );
    },
  },
]);
