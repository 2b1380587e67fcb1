/**
 * Offline-drop cases: a message to a user with no session is dropped for good.
 *
 * @module
 */
import type { Case, CaseContext } from "../case.ts";

/** The offline cases. */
export const offlineCases: Case[] = [
  {
    id: "offline/dropped",
    title: "a message to an offline user reaches no one, now or later; the sender stays usable",
    group: "offline",
    requirements: ["OFFLINE-1", "OFFLINE-2", "OFFLINE-3"],
    level: "MUST",
    profiles: ["legacy", "v1"],
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      const absent = ctx.user();
      const dropped = ctx.content("dropped");
      const ref = ctx.ref();
      a.send(absent, dropped, { ref: ctx.profile === "v1" ? ref : undefined });
      if (ctx.profile === "v1") {
        const outcome = await a.waitOutcome(ref);
        ctx.check(
          outcome?.type === "undelivered" && outcome.reason === "offline" && outcome.to === absent,
          `{"type":"undelivered","ref":"${ref}","to":"${absent}","reason":"offline"}`,
          outcome ? JSON.stringify(outcome) : "no outcome",
        );
      }
      await ctx.expectDelivery(a, b);
      ctx.check(b.messagesWith(dropped).length === 0, "B never gets the offline message", "it did");
      const x = await ctx.connect(absent, { node: "b" });
      await ctx.quiet();
      ctx.nothingAt(x, "messages sent while it was offline are dropped, not stored");
      ctx.check(a.open, "A still open", "A closed");
    },
  },
];
