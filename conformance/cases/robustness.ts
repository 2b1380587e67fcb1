/**
 * Robustness cases: bad input on one connection gets the answer the spec gives it (dropped,
 * an error frame, or a close code) and never spreads; floods are limited. Each case first
 * judges what happened to the offending connection, then that the others keep working.
 *
 * @module
 */
import { BOTH, CaseFailure, group, LEGACY } from "../case.ts";
import type { CaseContext } from "../context.ts";
import { carries } from "../dialect.ts";
import type { Peer } from "../peer.ts";
import {
  brief,
  check,
  describeEnd,
  expectClose,
  expectError,
  expectReachable,
  expectWorking,
  fail,
  stillUsable,
} from "../verify.ts";

/** The largest frame of the ladder below the ceiling: Python websockets' default limit + 1. */
const MIB = 1024 * 1024;

/** Connects A and B (B on node "b"), then the offender O, a third user on A's node. */
async function withOffender(ctx: CaseContext): Promise<[Peer, Peer, Peer]> {
  const [a, b] = await ctx.pair();
  return [a, b, await ctx.connect(ctx.user())];
}

/** Fails unless A ↔ B still deliver and a new user is reachable from A (ROBUST-1). */
async function othersUnaffected(ctx: CaseContext, a: Peer, b: Peer): Promise<void> {
  await expectWorking(ctx, a, b);
  await expectReachable(ctx, a);
}

/** The text of a sendMessage from `o` to `to` of exactly `bytes` UTF-8 bytes. */
function frameOf(o: Peer, to: string, head: string, bytes: number): string {
  const empty = new TextEncoder().encode(o.messageText(to, head)).byteLength;
  if (bytes < empty) throw new Error(`a frame cannot be ${bytes} bytes (at least ${empty})`);
  return o.messageText(to, head + "x".repeat(bytes - empty));
}

/** Sends one frame of `bytes` from a new offender to `b`: closed (how) or accepted (delivered?). */
async function sendSized(ctx: CaseContext, b: Peer, bytes: number) {
  const o = await ctx.connect(ctx.user());
  o.closeExpected = true;
  const head = ctx.content("big");
  o.offend(frameOf(o, b.user, head, bytes));
  const arrived = b.wire.waitFor((f) => f.text.includes(head) ? true : undefined, ctx.timeoutMs);
  const closed = o.wire.waitClose(ctx.timeoutMs);
  await Promise.race([arrived, closed]);
  return {
    o,
    closed: o.wire.closed,
    delivered: b.messages().some((m) => String(m.content).startsWith(head)),
  };
}

/** The robustness cases. */
export const robustness = group("robustness", "bad input never spreads; floods are limited", [
  {
    name: "malformed-json",
    title: "malformed JSON is dropped (v1: invalid_json) and the sender stays connected",
    requirements: ["ROBUST-2", "CTRL-4", "ROBUST-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b, o] = await withOffender(ctx);
      const rule = ctx.profile === "v1" ? "CTRL-4" : "ROBUST-2";
      // One at a time, each followed by proof that O is still served: a close names its frame.
      for (const f of ['{"mine":{"content":"x"},"to":', "not json at all", "{}}"]) {
        o.offend(f);
        if (ctx.profile === "v1") await expectError(ctx, o, "invalid_json", undefined, rule);
        await stillUsable(ctx, o, b, `the malformed frame ${JSON.stringify(f)}`, rule);
      }
      await othersUnaffected(ctx, a, b);
    },
  },
  {
    name: "schema-invalid",
    title: "schema-invalid frames (nested object, numeric content) are dropped, never routed",
    requirements: ["ROBUST-2", "CTRL-5", "ROBUST-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b, o] = await withOffender(ctx);
      const v1 = ctx.profile === "v1";
      const rule = v1 ? "CTRL-5" : "ROBUST-2";
      const offences: [string, string | number, Record<string, unknown>][] = [
        ["a numeric content", Math.floor(Math.random() * 1e9), {}],
      ];
      // A flat send template cannot carry the nested object.
      if (v1 || carries(ctx.dialect, "mine.extra")) {
        offences.unshift(["a nested object in mine", ctx.content("nested"), {
          extra: { nested: true },
        }]);
      }
      for (const [what, content, mine] of offences) {
        const ref = v1 ? ctx.ref() : undefined;
        o.offend(o.messageText(b.user, content, { ref, mine }));
        if (ref) await expectError(ctx, o, "invalid_frame", ref, rule);
        await stillUsable(ctx, o, b, `a frame with ${what}`, rule);
        const got = b.messagesWith(content)[0];
        check(
          !got,
          `the frame with ${what} dropped, never delivered`,
          () => `delivered to B: ${brief(JSON.stringify(got))}`,
          rule,
        );
      }
      await othersUnaffected(ctx, a, b);
    },
  },
  {
    name: "binary",
    title: "a binary frame closes only the offending connection (1003)",
    requirements: ["TRANS-5", "ROBUST-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b, o] = await withOffender(ctx);
      const c = ctx.content("binary");
      o.offend(new TextEncoder().encode(o.messageText(b.user, c)));
      if (ctx.profile === "v1") await expectError(ctx, o, "unsupported_data");
      try {
        await expectClose(ctx, o, 1003, "a binary frame");
      } catch (error) {
        if (!(error instanceof CaseFailure) || b.messagesWith(c).length === 0) throw error;
        fail(error.expected, `${error.actual}; the binary frame's message was delivered to B`);
      }
      await othersUnaffected(ctx, a, b);
    },
  },
  {
    name: "oversized",
    title: "a frame over the server's size limit closes only its connection with 1009",
    requirements: ["ROBUST-3", "ROBUST-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      if (ctx.profile === "v1") {
        // The limit is advertised: one byte over it must be refused.
        const max = ctx.limits.maxFrameBytes;
        const o = await ctx.connect(ctx.user());
        o.offend(frameOf(o, b.user, ctx.content("big"), max + 1));
        await expectError(ctx, o, "frame_too_large");
        await expectClose(ctx, o, 1009, `a frame of ${max + 1} bytes (maxFrameBytes ${max})`);
        ctx.note(
          `${max + 1} bytes: closed 1009 (maxFrameBytes ${max}${
            ctx.advertised ? "" : ", default"
          })`,
        );
      } else {
        // A legacy server cannot say its limit: look for one, up to the ceiling.
        const ceiling = ctx.settings.frameCeiling;
        const sizes = [...new Set([ctx.limits.maxFrameBytes + 1, MIB + 1, ceiling])]
          .filter((n) => n <= ceiling).sort((x, y) => x - y);
        const accepted: string[] = [];
        for (const bytes of sizes) {
          const { o, closed, delivered } = await sendSized(ctx, b, bytes);
          if (closed?.by === "server" && closed.code === 1009) {
            ctx.note(
              `closed 1009 at ${bytes} bytes${
                accepted.length ? `; accepted ${accepted.join(", ")}` : ""
              }`,
            );
            return await othersUnaffected(ctx, a, b);
          }
          if (closed) {
            fail(
              `a frame over the size limit to close its connection with 1009`,
              `${describeEnd(o)} (a frame of ${bytes} bytes)`,
            );
          }
          accepted.push(`${bytes} bytes${delivered ? " (delivered)" : ""}`);
        }
        fail(
          `a frame size limit: some frame of at most ${ceiling} bytes closed with 1009`,
          `every frame was accepted: ${accepted.join(", ")}`,
        );
      }
      await othersUnaffected(ctx, a, b);
    },
  },
  {
    name: "frame-default",
    title: "the frame size limit is the 64 KiB default: 65536 bytes accepted, 65537 closed",
    requirements: ["LIMIT-2"],
    level: "SHOULD",
    profiles: LEGACY,
    async run(ctx) {
      const b = await ctx.connect(ctx.user(), { node: "b" });
      const max = ctx.limits.maxFrameBytes;
      const at = await sendSized(ctx, b, max);
      check(
        !at.closed,
        `a frame of ${max} bytes (the default maxFrameBytes) accepted`,
        () => describeEnd(at.o),
      );
      const over = await sendSized(ctx, b, max + 1);
      check(
        over.closed?.by === "server" && over.closed.code === 1009,
        `a frame of ${max + 1} bytes closed with 1009`,
        () =>
          over.closed ? describeEnd(over.o) : `accepted${over.delivered ? " and delivered" : ""}`,
      );
    },
  },
  {
    name: "flood",
    title: "a flood from one connection is rate-limited, and the flooder stays connected",
    requirements: ["ROBUST-4", "ROBUST-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b, o] = await withOffender(ctx);
      const burst = ctx.limits.rateBurst;
      const n = Math.min(burst * 4, 20_000);
      const v1 = ctx.profile === "v1";
      // v1 says so with rate_limited errors; legacy only by not delivering, so flood a recipient.
      const target = v1 ? ctx.stranger() : b.user;
      const tag = ctx.content("flood");
      for (let i = 0; i < n; i++) o.offend(o.messageText(target, `${tag} #${i}`));
      const flood = () => b.messages().filter((m) => String(m.content).startsWith(tag)).length;
      const limited = () => o.framesOfType("error").filter((e) => e.code === "rate_limited").length;
      if (v1) await o.waitFrame((f) => f.type === "error" && f.code === "rate_limited");
      else {
        // Wait until the flood stops arriving (bounded), then count.
        const end = performance.now() + ctx.timeoutMs * 3;
        for (let last = -1; flood() !== last && flood() < n && performance.now() < end;) {
          last = flood();
          await b.wire.until(
            () => flood() !== last || flood() >= n,
            Math.max(ctx.settings.quietMs, 200),
          );
        }
      }
      if (!o.open) {
        fail(
          "the flooding connection to stay open (frames over the limit are dropped)",
          o.wire.closed?.by === "network" ? "lost" : `closed ${o.wire.closed?.code}`,
          undefined,
          describeEnd(o),
        );
      }
      if (v1) {
        check(
          limited() > 0,
          `rate_limited errors for ${n} frames sent back-to-back (rateBurst ${burst})`,
          "none",
        );
        ctx.note(`${n} frames sent: ${limited()} rate_limited errors so far`);
      } else {
        check(
          flood() < n,
          `fewer than the ${n} frames sent back-to-back delivered (default rateBurst ${burst})`,
          `all ${n} were delivered to B: no rate limit`,
        );
        ctx.note(`${n} frames sent back-to-back: ${flood()} delivered`);
      }
      await othersUnaffected(ctx, a, b);
      check(o.open, "the flooding connection stays open", () => describeEnd(o));
    },
  },
  {
    name: "burst",
    title: "300 frames sent back-to-back right after identify are not rate-limited",
    requirements: ["ROBUST-6"],
    level: "SHOULD",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const tag = ctx.content("burst");
      for (let i = 0; i < 300; i++) a.send(b.user, `${tag} #${i}`);
      const mine = (m: Record<string, unknown>) => String(m.content).startsWith(tag);
      const got = await b.waitMessages(300, mine, ctx.timeoutMs * 3);
      const limited = a.framesOfType("error").filter((e) => e.code === "rate_limited").length;
      check(
        got.length === 300,
        "all 300 delivered",
        `${got.length} delivered${limited ? `, ${limited} rate_limited errors` : ""}`,
      );
    },
  },
]);
