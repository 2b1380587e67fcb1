/**
 * v1 cases: subprotocol selection, `ready`, one outcome per ref, error codes, ping/pong.
 *
 * @module
 */
import { DEFAULT_LIMITS, SUBPROTOCOL } from "../../schemas/protocol.ts";
import { validateServerFrame } from "../../schemas/validate.ts";
import { group, V1 } from "../case.ts";
import type { CaseContext } from "../context.ts";
import type { Peer } from "../peer.ts";
import { check, delivered, expectDelivery, expectError } from "../verify.ts";

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
export const v1 = group("v1", "the v1 profile: ready, outcomes, errors, ping", [
  {
    name: "subprotocol",
    title: "layim-ws.v1 is selected when offered and only then",
    requirements: ["TRANS-2"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const offered = await ctx.open(ctx.stranger());
      check(
        offered.protocol === SUBPROTOCOL,
        `Sec-WebSocket-Protocol ${SUBPROTOCOL}`,
        JSON.stringify(offered.protocol),
      );
      const plain = await ctx.open(ctx.stranger(), { protocols: [] });
      check(plain.protocol === "", "no subprotocol", JSON.stringify(plain.protocol));
    },
  },
  {
    name: "ready",
    title: "identify is answered by ready with id, limits and features",
    requirements: ["IDENT-4", "LIMIT-1"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const a = await ctx.open(ctx.user());
      a.identify();
      const ready = await ctx.identified(a);
      const v = validateServerFrame(ready);
      check(
        v.ok,
        "a ready frame valid against ready.schema.json",
        () => `${JSON.stringify(ready)}: ${v.ok ? "" : v.error}`,
      );
      check(
        a.wire.received[0]?.json === ready,
        "ready as the first frame",
        a.wire.received[0]?.text ?? "",
      );
      check(
        ready?.id === a.user,
        `ready.id ${JSON.stringify(a.user)}`,
        JSON.stringify(ready?.id),
      );
      const features = ready?.features as string[];
      for (const f of ["ack", "undelivered", "ping"]) {
        check(features.includes(f), `feature ${f}`, JSON.stringify(features));
      }
    },
  },
  {
    name: "limit-defaults",
    title: "the advertised limits are the protocol defaults",
    requirements: ["LIMIT-2"],
    level: "SHOULD",
    profiles: V1,
    run(ctx) {
      const differ = Object.entries(DEFAULT_LIMITS)
        .filter(([k, v]) => ctx.limits[k as keyof typeof DEFAULT_LIMITS] !== v)
        .map(([k, v]) => `${k} ${ctx.limits[k as keyof typeof DEFAULT_LIMITS]} (default ${v})`);
      check(differ.length === 0, "the default limits", differ.join(", "));
      return Promise.resolve();
    },
  },
  {
    name: "ack",
    title: "a delivered message with ref gets one ack with the delivered cid and timestamp",
    requirements: ["OUTCOME-2", "OUTCOME-1"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const c = ctx.content();
      const ref = ctx.ref();
      a.send(b.user, c, { ref });
      const ack = await a.waitOutcome(ref);
      const m = await delivered(ctx, b, c, a, "ROUTE-1");
      check(ack?.type === "ack", `an ack with ref ${ref}`, JSON.stringify(ack) ?? "nothing");
      check(
        validateServerFrame(ack).ok,
        "an ack valid against ack.schema.json",
        JSON.stringify(ack),
      );
      check(
        ack.cid === m.cid && ack.timestamp === m.timestamp,
        `cid ${JSON.stringify(m.cid)} and timestamp ${m.timestamp} of the delivered message`,
        `cid ${JSON.stringify(ack.cid)}, timestamp ${ack.timestamp}`,
      );
      await ctx.quiet();
      check(
        a.outcomes(ref).length === 1,
        "exactly one outcome",
        `${a.outcomes(ref).length}`,
        "OUTCOME-1",
      );
    },
  },
  {
    name: "one-outcome-each",
    title: "every ref'd message gets exactly one outcome (ack, undelivered or error)",
    requirements: ["OUTCOME-1", "CTRL-2"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const refs = mixedSends(ctx, a, b);
      for (const ref of refs) {
        check(await a.waitOutcome(ref), `an outcome for ref ${ref}`, "none");
      }
      await ctx.quiet();
      const counts = refs.map((r) => a.outcomes(r).length);
      const bad = refs.filter((_, i) => counts[i] !== 1);
      check(
        bad.length === 0,
        "one outcome per ref",
        () => `${bad.map((r) => `${r}: ${a.outcomes(r).length}`).join(", ")}`,
      );
    },
  },
  {
    name: "outcome-order",
    title: "outcomes come in the order of the frames they answer",
    requirements: ["OUTCOME-4"],
    level: "SHOULD",
    profiles: V1,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const refs = mixedSends(ctx, a, b);
      for (const ref of refs) await a.waitOutcome(ref);
      const order = a.wire.received.flatMap((f) => {
        const r = (f.json as { ref?: unknown } | undefined)?.ref;
        return typeof r === "string" && refs.includes(r) ? [r] : [];
      });
      check(order.join() === refs.join(), refs.join(" "), order.join(" "));
    },
  },
  {
    name: "no-outcome-without-ref",
    title: "messages without ref get no ack or undelivered",
    requirements: ["OUTCOME-3"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      a.send(ctx.stranger(), ctx.content("offline"));
      await expectDelivery(ctx, a, b, undefined, "ROUTE-1");
      await ctx.quiet();
      const got = [...a.framesOfType("ack"), ...a.framesOfType("undelivered")];
      check(got.length === 0, "no ack or undelivered", () => JSON.stringify(got[0]));
    },
  },
  {
    name: "ping-pong",
    title: "ping is answered by pong with the same data",
    requirements: ["CTRL-1"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const a = await ctx.connect(ctx.user());
      const data = ctx.content("ping");
      a.sendText(JSON.stringify({ type: "ping", data }));
      const pong = await a.waitFrame((f) => f.type === "pong");
      check(
        pong?.data === data,
        `{"type":"pong","data":"${data}"}`,
        JSON.stringify(pong) ?? "nothing",
      );
      a.sendText(JSON.stringify({ type: "ping" }));
      const bare = await a.waitFrame((f) => f.type === "pong" && f !== pong);
      check(bare && !("data" in bare), `{"type":"pong"}`, JSON.stringify(bare) ?? "nothing");
    },
  },
  {
    name: "unknown-type",
    title: "a frame of unknown type gets invalid_frame and the connection stays",
    requirements: ["CTRL-3", "CTRL-2"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const a = await ctx.connect(ctx.user());
      const ref = ctx.ref();
      a.sendText(JSON.stringify({ type: "typing", ref }));
      await expectError(ctx, a, "invalid_frame", ref);
      a.sendText(JSON.stringify({ type: "ping", data: "still" }));
      const pong = await a.waitFrame((f) => f.type === "pong");
      check(pong?.data === "still", "a pong afterwards", JSON.stringify(pong) ?? "nothing");
    },
  },
]);
