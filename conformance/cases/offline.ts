/**
 * Offline-drop cases: a message to a user with no session is dropped for good.
 *
 * @module
 */
import { BOTH, group } from "../case.ts";
import { check, handled, nothingAt, stillUsable } from "../verify.ts";

/** The offline cases. */
export const offline = group("offline", "messages to absent users are dropped for good", [
  {
    name: "dropped",
    title: "a message to an offline user reaches no one, now or later; the sender stays usable",
    requirements: ["OFFLINE-1", "OFFLINE-2", "OFFLINE-3"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const absent = ctx.user();
      const dropped = ctx.content("dropped");
      const ref = ctx.profile === "v1" ? ctx.ref() : undefined;
      a.send(absent, dropped, { ref });
      const outcome = ref ? await a.waitOutcome(ref) : undefined;
      // Order per sender connection: once this arrives, the server has handled the drop.
      await handled(ctx, a, b);
      // What happened to the message first: delivered to someone else is worse than unreported.
      check(
        b.messagesWith(dropped).length === 0,
        "B never gets the message for the offline user",
        "B got it",
      );
      if (ref) {
        check(
          outcome?.type === "undelivered" && outcome.reason === "offline" && outcome.to === absent,
          `{"type":"undelivered","ref":"${ref}","to":"${absent}","reason":"offline"}`,
          outcome ? JSON.stringify(outcome) : "no outcome",
          "OFFLINE-3",
        );
      }
      await stillUsable(ctx, a, b, "a message to an offline user", "OFFLINE-2");
      // Through a second relay node it could still be in flight: let it land first.
      await ctx.quiet();
      const x = await ctx.connect(absent, { node: "b" });
      await ctx.quiet();
      nothingAt(x, "messages sent while it was offline are dropped, not stored");
    },
  },
]);
