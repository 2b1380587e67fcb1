/**
 * v1 cases: subprotocol selection, `ready`, one outcome per ref, error codes, ping/pong.
 *
 * @module
 */
import { DEFAULT_LIMITS, SUBPROTOCOL, validateServerFrame } from "../../schemas/mod.ts";
import type { Case, CaseContext, Peer, Profile } from "../case.ts";

const V1: readonly Profile[] = ["v1"];

/** Sends a mix of frames with refs (online, offline, spoofed); returns the refs in send order. */
function mixedSends(ctx: CaseContext, a: Peer, b: Peer): string[] {
  const refs: string[] = [];
  for (let i = 0; i < 10; i++) {
    const [online, offline, spoofed] = [ctx.ref(), ctx.ref(), ctx.ref()];
    a.send(b.user, ctx.content(), { ref: online });
    a.send(ctx.stranger(), ctx.content(), { ref: offline });
    a.send(b.user, ctx.content(), { ref: spoofed, mineId: ctx.stranger() });
    refs.push(online, offline, spoofed);
  }
  return refs;
}

/** The v1 cases. */
export const v1Cases: Case[] = [
  {
    id: "v1/subprotocol",
    title: "layim-ws.v1 is selected when offered and only then",
    group: "v1",
    requirements: ["TRANS-2"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      const offered = await ctx.open(ctx.stranger());
      ctx.check(
        offered.protocol === SUBPROTOCOL,
        `Sec-WebSocket-Protocol ${SUBPROTOCOL}`,
        JSON.stringify(offered.protocol),
      );
      const plain = await ctx.open(ctx.stranger(), { protocols: [] });
      ctx.check(plain.protocol === "", "no subprotocol", JSON.stringify(plain.protocol));
    },
  },
  {
    id: "v1/ready",
    title: "identify is answered by ready with id, limits and features",
    group: "v1",
    requirements: ["IDENT-4", "LIMIT-1"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      const a = await ctx.open(ctx.user());
      a.identify();
      const ready = await ctx.identified(a);
      const v = validateServerFrame(ready);
      ctx.check(
        v.ok,
        "a ready frame valid against ready.schema.json",
        () => `${JSON.stringify(ready)}: ${v.ok ? "" : v.error}`,
      );
      ctx.check(
        a.client.received[0]?.json === ready,
        "ready as the first frame",
        a.client.received[0]?.text ?? "",
      );
      ctx.check(
        ready?.id === a.user,
        `ready.id ${JSON.stringify(a.user)}`,
        JSON.stringify(ready?.id),
      );
      const features = ready?.features as string[];
      for (const f of ["ack", "undelivered", "ping"]) {
        ctx.check(features.includes(f), `feature ${f}`, JSON.stringify(features));
      }
    },
  },
  {
    id: "v1/limit-defaults",
    title: "the advertised limits are the protocol defaults",
    group: "v1",
    requirements: ["LIMIT-2"],
    level: "SHOULD",
    profiles: V1,
    run(ctx: CaseContext) {
      const differ = Object.entries(DEFAULT_LIMITS)
        .filter(([k, v]) => ctx.limits[k as keyof typeof DEFAULT_LIMITS] !== v)
        .map(([k, v]) => `${k} ${ctx.limits[k as keyof typeof DEFAULT_LIMITS]} (default ${v})`);
      ctx.check(differ.length === 0, "the default limits", differ.join(", "));
      return Promise.resolve();
    },
  },
  {
    id: "v1/ack",
    title: "a delivered message with ref gets one ack with the delivered cid and timestamp",
    group: "v1",
    requirements: ["OUTCOME-1", "OUTCOME-2"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      const c = ctx.content();
      const ref = ctx.ref();
      a.send(b.user, c, { ref });
      const ack = await a.waitOutcome(ref);
      const m = await ctx.delivered(b, c, a);
      ctx.check(ack?.type === "ack", `an ack with ref ${ref}`, JSON.stringify(ack) ?? "nothing");
      ctx.check(
        validateServerFrame(ack).ok,
        "an ack valid against ack.schema.json",
        JSON.stringify(ack),
      );
      ctx.check(
        ack.cid === m.cid && ack.timestamp === m.timestamp,
        `cid ${JSON.stringify(m.cid)} and timestamp ${m.timestamp} of the delivered message`,
        `cid ${JSON.stringify(ack.cid)}, timestamp ${ack.timestamp}`,
      );
      await ctx.quiet();
      ctx.check(a.outcomes(ref).length === 1, "exactly one outcome", `${a.outcomes(ref).length}`);
    },
  },
  {
    id: "v1/one-outcome-each",
    title: "every ref'd message gets exactly one outcome (ack, undelivered or error)",
    group: "v1",
    requirements: ["OUTCOME-1", "CTRL-2"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      const refs = mixedSends(ctx, a, b);
      for (const ref of refs) {
        ctx.check(await a.waitOutcome(ref), `an outcome for ref ${ref}`, "none");
      }
      await ctx.quiet();
      const counts = refs.map((r) => a.outcomes(r).length);
      const bad = refs.filter((_, i) => counts[i] !== 1);
      ctx.check(
        bad.length === 0,
        "one outcome per ref",
        () => `${bad.map((r) => `${r}: ${a.outcomes(r).length}`).join(", ")}`,
      );
    },
  },
  {
    id: "v1/outcome-order",
    title: "outcomes come in the order of the frames they answer",
    group: "v1",
    requirements: ["OUTCOME-4"],
    level: "SHOULD",
    profiles: V1,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      const refs = mixedSends(ctx, a, b);
      for (const ref of refs) await a.waitOutcome(ref);
      const order = a.client.received.flatMap((f) => {
        const r = (f.json as { ref?: unknown } | undefined)?.ref;
        return typeof r === "string" && refs.includes(r) ? [r] : [];
      });
      ctx.check(order.join() === refs.join(), refs.join(" "), order.join(" "));
    },
  },
  {
    id: "v1/no-outcome-without-ref",
    title: "messages without ref get no ack or undelivered",
    group: "v1",
    requirements: ["OUTCOME-3"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      a.send(ctx.stranger(), ctx.content("offline"));
      await ctx.expectDelivery(a, b);
      await ctx.quiet();
      const got = [...a.framesOfType("ack"), ...a.framesOfType("undelivered")];
      ctx.check(got.length === 0, "no ack or undelivered", () => JSON.stringify(got[0]));
    },
  },
  {
    id: "v1/ping-pong",
    title: "ping is answered by pong with the same data",
    group: "v1",
    requirements: ["CTRL-1"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      const a = await ctx.connect(ctx.user());
      const data = ctx.content("ping");
      a.sendText(JSON.stringify({ type: "ping", data }));
      const pong = await a.waitFrame((f) => f.type === "pong");
      ctx.check(
        pong?.data === data,
        `{"type":"pong","data":"${data}"}`,
        JSON.stringify(pong) ?? "nothing",
      );
      a.sendText(JSON.stringify({ type: "ping" }));
      const bare = await a.waitFrame((f) => f.type === "pong" && f !== pong);
      ctx.check(bare && !("data" in bare), `{"type":"pong"}`, JSON.stringify(bare) ?? "nothing");
    },
  },
  {
    id: "v1/unknown-type",
    title: "a frame of unknown type gets invalid_frame and the connection stays",
    group: "v1",
    requirements: ["CTRL-3", "CTRL-2"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      const a = await ctx.connect(ctx.user());
      const ref = ctx.ref();
      a.sendText(JSON.stringify({ type: "typing", ref }));
      await ctx.expectError(a, "invalid_frame", ref);
      a.sendText(JSON.stringify({ type: "ping", data: "still" }));
      const pong = await a.waitFrame((f) => f.type === "pong");
      ctx.check(pong?.data === "still", "a pong afterwards", JSON.stringify(pong) ?? "nothing");
    },
  },
];
