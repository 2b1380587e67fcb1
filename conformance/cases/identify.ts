/**
 * Identify cases: ids are checked, identified sessions are reachable, tokens are enforced.
 *
 * @module
 */
import type { Case, CaseContext, Peer, Profile } from "../case.ts";
import { ConnectError } from "../client.ts";

const BOTH: readonly Profile[] = ["legacy", "v1"];
const V1: readonly Profile[] = ["v1"];

/** Identifies with `value` (sent literally when `raw`) and expects the refusal IDENT-5 requires. */
async function refused(ctx: CaseContext, value: string | number, what: string, raw?: string) {
  let peer: Peer;
  try {
    peer = await ctx.open(String(value), { token: null });
  } catch (error) {
    // A path/query dialect server may refuse the handshake for a bad id in the URL.
    if (ctx.builtin || !(error instanceof ConnectError)) throw error;
    ctx.note(`${what}: handshake refused`);
    return;
  }
  if (raw !== undefined) peer.sendText(raw);
  else peer.identify(value);
  if (ctx.profile === "v1") {
    await ctx.expectError(peer, "invalid_id");
    await ctx.expectClose(peer, 4002, what);
  } else if (ctx.builtin) {
    await ctx.expectClose(peer, 4002, what);
  } else {
    const closed = await peer.client.waitClose(ctx.timeoutMs);
    ctx.check(closed, `the connection closed (${what})`, `still open after ${ctx.timeoutMs} ms`);
    ctx.note(`${what}: closed ${closed.code}`);
  }
}

function badIdCase(name: string, title: string, values: (u: string) => [string, string][]): Case {
  return {
    id: `identify/bad-id-${name}`,
    title,
    group: "identify",
    requirements: ["IDENT-1", "IDENT-5"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      for (const [value, what] of values(ctx.stranger())) await refused(ctx, value, what);
    },
  };
}

async function refusedToken(ctx: CaseContext, user: string, token: string | null, what: string) {
  const peer = await ctx.open(user, { token });
  peer.identify();
  if (ctx.profile === "v1") await ctx.expectError(peer, "unauthorized");
  await ctx.expectClose(peer, 4001, what);
}

/** The identify cases. */
export const identifyCases: Case[] = [
  {
    id: "identify/reachable",
    title: "an identified client stays open and is reachable",
    group: "identify",
    requirements: ["IDENT-3", "IDENT-4", "IDENT-6"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      await ctx.expectDelivery(b, a);
      ctx.check(a.open, "A still open", "A closed");
    },
  },
  badIdCase("empty", "an empty id is refused", () => [["", "empty id"]]),
  badIdCase("whitespace", "ids with white space are refused", (u) => [
    [`${u} x`, "id with a space"],
    [`${u}\n`, "id ending in a newline"],
  ]),
  badIdCase("control", "ids with control characters are refused", (u) => [
    [`${u}\u0007`, "id with U+0007"],
    [`${u}\u007f`, "id with U+007F"],
  ]),
  {
    id: "identify/id-length",
    title: "a 64-character id is accepted, a 65-character id refused",
    group: "identify",
    requirements: ["IDENT-1", "IDENT-5"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      if (ctx.dialect.numericIds) ctx.skip("a 64-character id cannot be a numeric id");
      const long = ctx.user({ length: 64 });
      const a = await ctx.connect(long);
      const b = await ctx.connect(ctx.user(), { node: "b" });
      await ctx.expectDelivery(b, a);
      await refused(ctx, `${long}x`, "65-character id");
    },
  },
  {
    id: "identify/bad-id-type",
    title: "v1 ids that are not strings or safe integers are refused",
    group: "identify",
    requirements: ["IDENT-2", "IDENT-5"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      for (const raw of ["10.5", "9007199254740993", "true", "null", "{}"]) {
        await refused(ctx, raw, `id ${raw}`, `{"type":"identify","id":${raw}}`);
      }
    },
  },
  {
    id: "identify/numeric-id",
    title: "a v1 integer id is the same user as its decimal string",
    group: "identify",
    requirements: ["IDENT-2", "IDENT-4"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      const user = ctx.user({ numeric: true });
      const a = await ctx.open(user);
      a.identify(Number(user));
      const ready = await ctx.identified(a);
      ctx.check(ready?.id === user, `ready.id ${JSON.stringify(user)}`, JSON.stringify(ready?.id));
      const b = await ctx.connect(ctx.user(), { node: "b" });
      await ctx.expectDelivery(b, a);
    },
  },
  {
    id: "identify/token-refused",
    title: "missing, forged, expired and foreign tokens are refused with 4001",
    group: "identify",
    requirements: ["IDENT-7", "IDENT-11", "IDENT-15", "SEC-2"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const t = ctx.tokens;
      if (!t.badToken && !t.fixedUsers) {
        ctx.skip("the run has no tokens: pass --jwt-secret or --token-a/--token-b");
      }
      const a = ctx.user();
      await refusedToken(ctx, a, null, "no token");
      await refusedToken(ctx, a, "not-a-jwt", "malformed token");
      if (t.badToken) {
        for (const kind of ["wrong-key", "expired", "alg-none", "other-sub"] as const) {
          await refusedToken(ctx, a, await t.badToken(a, kind), `${kind} token`);
        }
      } else if ((t.fixedUsers?.length ?? 0) > 1) {
        const other = await t.tokenFor(ctx.user());
        await refusedToken(ctx, a, other ?? null, "token of another user");
      }
      await ctx.connect(a);
    },
  },
  {
    id: "identify/second-identify",
    title: "a second v1 identify is refused with already_identified and ignored",
    group: "identify",
    requirements: ["IDENT-9"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      const a = await ctx.connect(ctx.user());
      a.identify(ctx.stranger());
      await ctx.expectError(a, "already_identified");
      const b = await ctx.connect(ctx.user(), { node: "b" });
      await ctx.expectDelivery(b, a);
    },
  },
  {
    id: "identify/before-identify",
    title: "a v1 message before identify gets not_identified and is not routed",
    group: "identify",
    requirements: ["IDENT-10", "CTRL-2"],
    level: "MUST",
    profiles: V1,
    async run(ctx: CaseContext) {
      const b = await ctx.connect(ctx.user(), { node: "b" });
      const o = await ctx.open(ctx.user());
      const early = ctx.content("early");
      const ref = ctx.ref();
      o.send(b.user, early, { ref });
      await ctx.expectError(o, "not_identified", ref);
      o.identify();
      await ctx.identified(o);
      await ctx.expectDelivery(o, b, "later");
      ctx.check(
        b.messagesWith(early).length === 0,
        "the frame sent before identify never delivered",
        "B received it",
      );
    },
  },
];
