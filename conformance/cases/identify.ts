/**
 * Identify cases: valid ids are accepted and reachable, invalid ids refused, tokens enforced.
 *
 * @module
 */
import { BOTH, type CaseSpec, group, V1 } from "../case.ts";
import type { CaseContext } from "../context.ts";
import type { Peer } from "../peer.ts";
import { check, expectClose, expectDelivery, expectError } from "../verify.ts";
import { HandshakeError } from "../wire.ts";

/** Identifies with `value` (sent literally when `raw` is given) and waits for its refusal. */
async function refusal(
  ctx: CaseContext,
  value: string | number,
  what: string,
  raw?: string,
): Promise<() => Promise<void>> {
  let peer: Peer;
  try {
    peer = await ctx.open(String(value), { token: null });
  } catch (error) {
    // A path/query dialect server may refuse the handshake for a bad id in the URL.
    if (ctx.builtin || !(error instanceof HandshakeError)) throw error;
    return () => Promise.resolve(ctx.note(`${what}: handshake refused`));
  }
  if (raw !== undefined) peer.sendText(raw);
  else peer.identify(value);
  return async () => {
    if (ctx.profile === "v1") await expectError(ctx, peer, "invalid_id", undefined, "IDENT-5");
    await expectClose(ctx, peer, 4002, what, "IDENT-5");
  };
}

/** Sends every refused identify at once, then checks each refusal (one timeout in all). */
async function allRefused(ctx: CaseContext, values: [string | number, string, string?][]) {
  const checks = [];
  for (const [value, what, raw] of values) checks.push(await refusal(ctx, value, what, raw));
  for (const c of checks) await c();
}

function badId(name: string, title: string, values: (u: string) => [string, string][]): CaseSpec {
  return {
    name: `bad-id-${name}`,
    title,
    requirements: ["IDENT-5", "IDENT-1"],
    level: "MUST",
    profiles: BOTH,
    run: (ctx) => allRefused(ctx, values(ctx.stranger())),
  };
}

async function refusedToken(ctx: CaseContext, user: string, token: string | null, what: string) {
  const peer = await ctx.open(user, { token });
  peer.identify();
  return async () => {
    if (ctx.profile === "v1") await expectError(ctx, peer, "unauthorized", undefined, "IDENT-7");
    await expectClose(ctx, peer, 4001, what, "IDENT-7");
  };
}

/** The identify cases. */
export const identify = group("identify", "ids are checked, identified sessions reachable", [
  {
    name: "reachable",
    title: "an identified client stays open and is reachable",
    requirements: ["IDENT-6", "IDENT-3", "IDENT-4"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      await expectDelivery(ctx, b, a);
      check(a.open, "A still open", "A closed");
    },
  },
  badId("empty", "an empty id is refused with 4002", () => [["", "empty id"]]),
  badId("whitespace", "ids with white space are refused with 4002", (u) => [
    [`${u} x`, "id with a space"],
    [`${u}\n`, "id ending in a newline"],
  ]),
  badId("control", "ids with control characters are refused with 4002", (u) => [
    [`${u}\u0007`, "id with U+0007"],
    [`${u}\u007f`, "id with U+007F"],
  ]),
  badId("long", "a 65-character id is refused with 4002", (u) => [
    [u.padEnd(65, "x"), "65-character id"],
  ]),
  {
    name: "id-64",
    title: "a 64-character id is accepted and reachable",
    requirements: ["IDENT-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      if (ctx.dialect.numericIds) ctx.skip("a 64-character id cannot be a numeric id");
      const a = await ctx.connect(ctx.user({ length: 64 }));
      const b = await ctx.connect(ctx.user(), { node: "b" });
      await expectDelivery(ctx, b, a);
    },
  },
  {
    name: "bad-id-type",
    title: "v1 ids that are not strings or safe integers are refused",
    requirements: ["IDENT-5", "IDENT-2"],
    level: "MUST",
    profiles: V1,
    run: (ctx) =>
      allRefused(
        ctx,
        ["10.5", "9007199254740993", "true", "null", "{}"].map((raw) => [
          raw,
          `id ${raw}`,
          `{"type":"identify","id":${raw}}`,
        ]),
      ),
  },
  {
    name: "numeric-id",
    title: "a v1 integer id is the same user as its decimal string",
    requirements: ["IDENT-2", "IDENT-4"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const user = ctx.user({ numeric: true });
      const a = await ctx.open(user);
      a.identify(Number(user));
      const ready = await ctx.identified(a);
      check(ready?.id === user, `ready.id ${JSON.stringify(user)}`, JSON.stringify(ready?.id));
      const b = await ctx.connect(ctx.user(), { node: "b" });
      await expectDelivery(ctx, b, a);
    },
  },
  {
    name: "token-refused",
    title: "missing, forged, expired and foreign tokens are refused with 4001",
    requirements: ["IDENT-7", "IDENT-11", "IDENT-15", "SEC-2"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const t = ctx.tokens;
      if (!t.badToken && !t.fixedUsers) {
        ctx.skip("the run has no tokens: pass --jwt-secret or --token-a/--token-b");
      }
      const a = ctx.user();
      const checks = [
        await refusedToken(ctx, a, null, "no token"),
        await refusedToken(ctx, a, "not-a-jwt", "malformed token"),
      ];
      if (t.badToken) {
        for (const kind of ["wrong-key", "expired", "alg-none", "other-sub"] as const) {
          checks.push(await refusedToken(ctx, a, await t.badToken(a, kind), `${kind} token`));
        }
      } else if ((t.fixedUsers?.length ?? 0) > 1) {
        const other = await t.tokenFor(ctx.user());
        checks.push(await refusedToken(ctx, a, other ?? null, "token of another user"));
      }
      for (const c of checks) await c();
      await ctx.connect(a);
    },
  },
  {
    name: "second-identify",
    title: "a second v1 identify is refused with already_identified and ignored",
    requirements: ["IDENT-9"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const a = await ctx.connect(ctx.user());
      a.identify(ctx.stranger());
      await expectError(ctx, a, "already_identified");
      const b = await ctx.connect(ctx.user(), { node: "b" });
      await expectDelivery(ctx, b, a);
    },
  },
  {
    name: "before-identify",
    title: "a v1 message before identify gets not_identified and is not routed",
    requirements: ["IDENT-10"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      const b = await ctx.connect(ctx.user(), { node: "b" });
      const o = await ctx.open(ctx.user());
      const early = ctx.content("early");
      const ref = ctx.ref();
      o.send(b.user, early, { ref });
      await expectError(ctx, o, "not_identified", ref);
      o.identify();
      await ctx.identified(o);
      await expectDelivery(ctx, o, b, "later");
      check(
        b.messagesWith(early).length === 0,
        "the frame sent before identify never delivered",
        "B received it",
      );
    },
  },
]);
