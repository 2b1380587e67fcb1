/**
 * Robustness cases: bad input on one connection never spreads. Each case checks that the other
 * sessions keep working and the server stays reachable, and reports what happened to the
 * offending connection.
 *
 * @module
 */
import type { Case, CaseContext, Peer, Profile } from "../case.ts";
import type { SimClient } from "../client.ts";

const BOTH: readonly Profile[] = ["legacy", "v1"];

/** What an offence should lead to. */
interface Offence {
  /** Contents the offending frames carried: they must never be delivered. */
  never: string[];
  /** v1: the error frames expected, in order. */
  errors: { code: string; ref?: string }[];
  /** Close code expected for a fatal offence; absent: the connection stays open. */
  close?: number;
}

async function offenderFate(ctx: CaseContext, o: Peer, b: Peer, offence: Offence): Promise<void> {
  if (ctx.profile === "v1") {
    for (const e of offence.errors) await ctx.expectError(o, e.code, e.ref);
  }
  const codes = ctx.profile === "v1"
    ? ` after error ${offence.errors.map((e) => e.code).join(", ")}`
    : "";
  if (offence.close !== undefined) {
    if (ctx.builtin) await ctx.expectClose(o, offence.close, "the offence is fatal");
    const closed = await o.client.waitClose(ctx.timeoutMs);
    ctx.check(closed, "the offending connection closed", "it stays open");
    ctx.note(`offender: closed ${closed.code}${codes}`);
    return;
  }
  // Order per sender connection: once this arrives, a bad frame routed by mistake would have too.
  await ctx.expectDelivery(o, b, "after");
  ctx.note(`offender: stayed open and usable${codes}`);
}

/** Connects A and B (B on node "b"), then the offender O, a third user on A's node. */
async function withOffender(ctx: CaseContext): Promise<[Peer, Peer, Peer]> {
  const [a, b] = await ctx.pair();
  return [a, b, await ctx.connect(ctx.user())];
}

/** Fails unless A ↔ B still deliver and a new user is reachable from A. */
async function othersUnaffected(ctx: CaseContext, a: Peer, b: Peer): Promise<void> {
  await ctx.expectWorking(a, b);
  await ctx.expectReachable(a);
}

function isolationCase(
  name: string,
  title: string,
  requirements: string[],
  offend: (ctx: CaseContext, o: Peer, b: Peer) => Offence,
): Case {
  return {
    id: `robustness/${name}`,
    title,
    group: "robustness",
    requirements: ["ROBUST-1", ...requirements],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b, o] = await withOffender(ctx);
      const offence = offend(ctx, o, b);
      await offenderFate(ctx, o, b, offence);
      await othersUnaffected(ctx, a, b);
      for (const c of offence.never) {
        ctx.check(
          b.messagesWith(c).length === 0,
          `the refused frame ${c} never delivered`,
          "it was",
        );
      }
    },
  };
}

function v1Ref(ctx: CaseContext): string | undefined {
  return ctx.profile === "v1" ? ctx.ref() : undefined;
}

/** The robustness cases. */
export const robustnessCases: Case[] = [
  isolationCase(
    "malformed-json",
    "malformed JSON is refused without affecting anyone",
    ["ROBUST-2", "CTRL-4"],
    (_ctx, o) => {
      const frames = ['{"mine":{"content":"x"},"to":', "not json at all", "{}}"];
      for (const f of frames) o.sendText(f);
      return { never: [], errors: frames.map(() => ({ code: "invalid_json" })) };
    },
  ),
  isolationCase(
    "schema-invalid",
    "schema-invalid frames (nested object, group chat, numeric content) are refused",
    ["ROBUST-2", "CTRL-5", "CTRL-2", "ROUTE-11"],
    (ctx, o, b) => {
      const nested = ctx.content("nested");
      const group = ctx.content("group");
      const refs = [v1Ref(ctx), v1Ref(ctx)];
      o.send(b.user, nested, { ref: refs[0], mine: { extra: { nested: true } } });
      o.send(b.user, group, { ref: refs[1], to: { type: "group" } });
      o.sendText(
        JSON.stringify({ mine: { id: o.user, content: 5 }, to: { id: b.user, type: "friend" } }),
      );
      return {
        never: [nested, group],
        errors: [...refs.map((ref) => ({ code: "invalid_frame", ref })), { code: "invalid_frame" }],
      };
    },
  ),
  isolationCase(
    "binary",
    "a binary frame closes only the offending connection (1003)",
    ["TRANS-5"],
    (_ctx, o) => {
      (o.client as SimClient).sendBinary(new TextEncoder().encode('{"mine":{}}'));
      return { never: [], errors: [{ code: "unsupported_data" }], close: 1003 };
    },
  ),
  isolationCase(
    "oversized",
    "a frame over maxFrameBytes closes only the offending connection (1009)",
    ["ROBUST-3"],
    (ctx, o, b) => {
      const max = ctx.limits.maxFrameBytes;
      const head = ctx.content("big");
      const empty = new TextEncoder().encode(o.messageText(b.user, head)).byteLength;
      const big = head + "x".repeat(max + 1 - empty);
      o.send(b.user, big);
      ctx.note(`sent ${max + 1} bytes (maxFrameBytes ${max}${ctx.advertised ? "" : ", default"})`);
      return { never: [big], errors: [{ code: "frame_too_large" }], close: 1009 };
    },
  ),
  {
    id: "robustness/flood",
    title: "a short flood leaves other sessions working and the flooder connected",
    group: "robustness",
    requirements: ["ROBUST-1", "ROBUST-4"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b, o] = await withOffender(ctx);
      const n = Math.min(ctx.limits.rateBurst * 2 + 100, 5000);
      const nobody = ctx.stranger();
      for (let i = 0; i < n; i++) o.send(nobody, `flood #${i}`);
      if (ctx.profile === "v1") {
        const limited = await o.waitFrame((f) => f.type === "error" && f.code === "rate_limited");
        ctx.check(
          limited,
          `rate_limited errors for ${n} frames sent back-to-back (rateBurst ${ctx.limits.rateBurst})`,
          o.open ? "none" : `close ${o.client.closed?.code}`,
        );
      }
      await othersUnaffected(ctx, a, b);
      const limited = o.framesOfType("error").filter((e) => e.code === "rate_limited").length;
      ctx.note(
        `offender sent ${n} frames: ${o.open ? "stayed open" : `closed ${o.client.closed?.code}`}` +
          (ctx.profile === "v1" ? `, ${limited} rate_limited errors so far` : ""),
      );
      ctx.check(
        o.open,
        "the flooding connection stays open (frames dropped)",
        () => `closed ${o.client.closed?.code}`,
      );
    },
  },
];
