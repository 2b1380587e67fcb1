/**
 * Routing cases: exactly once, to the right user only, in order, unchanged, sender owned by
 * the server.
 *
 * @module
 */
import { validateServerFrame } from "../../schemas/mod.ts";
import type { Case, CaseContext, Message, Peer, Profile } from "../case.ts";

const BOTH: readonly Profile[] = ["legacy", "v1"];

/** Contents that naive servers or clients tend to alter (ROUTE-6). */
export const TRICKY_CONTENTS: readonly string[] = [
  `<b>bold</b> <img src=x onerror="alert(1)"> &amp; &lt;script&gt;`,
  `"double" 'single' \`back\` "{\\"json\\":1}"`,
  String.raw`back\slash \n \u0041 C:\path\ \\`,
  "emoji 😀👍🏽🇨🇳 and a lone ZWJ \u200d",
  "中文汉字 日本語 한국어",
  "face[微笑] face[哈哈] img[https://example.org/a.png] a(https://example.org)[link] [pre class=layui-code]x[/pre]",
  "line 1\nline 2\r\nline 3\ttab",
  "  leading and trailing spaces  ",
];

/** Checks the getMessage fields of `m`, sent by `from` with `content` (ROUTE-5, ROUTE-7, ROUTE-9). */
function checkFields(ctx: CaseContext, m: Message, from: Peer, content: string, sentAt: number) {
  if (ctx.builtin) {
    const v = validateServerFrame(m);
    ctx.check(
      v.ok,
      "a getMessage valid against get-message.schema.json",
      () => `${JSON.stringify(m)}: ${v.ok ? "" : v.error}`,
    );
  }
  ctx.check(m.type === "friend", `type "friend"`, JSON.stringify(m.type));
  ctx.check(m.mine === false, "mine false", JSON.stringify(m.mine));
  ctx.check(m.content === content, JSON.stringify(content), JSON.stringify(m.content));
  ctx.check(
    typeof m.username === "string" && typeof m.avatar === "string",
    "username and avatar strings",
    `username ${JSON.stringify(m.username)}, avatar ${JSON.stringify(m.avatar)}`,
  );
  ctx.check(
    typeof m.cid === "string" && m.cid !== "",
    "a non-empty string cid",
    JSON.stringify(m.cid),
  );
  const ts = m.timestamp;
  ctx.check(
    Number.isInteger(ts) && Math.abs((ts as number) - sentAt) < 5 * 60_000,
    `a server timestamp in integer milliseconds near ${sentAt}`,
    JSON.stringify(ts),
  );
  ctx.check(
    String(m.id) === from.user && String(m.fromid) === from.user,
    `id and fromid ${JSON.stringify(from.user)}`,
    `id ${JSON.stringify(m.id)}, fromid ${JSON.stringify(m.fromid)}`,
  );
}

/** Checks that `got` holds `expected` contents, in order. */
function checkSequence(ctx: CaseContext, who: string, got: Message[], expected: string[]) {
  ctx.check(
    got.length === expected.length,
    `${who} to receive ${expected.length} messages`,
    `${got.length}`,
  );
  const i = got.findIndex((m, i) => m.content !== expected[i]);
  ctx.check(
    i < 0,
    `${who} message #${i} to be ${JSON.stringify(expected[i])}`,
    () => JSON.stringify(got[i]?.content),
  );
}

/** The routing cases. */
export const routingCases: Case[] = [
  {
    id: "routing/exactly-once",
    title: "A → B is delivered exactly once with the getMessage fields",
    group: "routing",
    requirements: ["ROUTE-1", "ROUTE-5", "ROUTE-7", "ROUTE-9"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      const c = ctx.content();
      const sentAt = Date.now();
      a.send(b.user, c);
      const m = await ctx.delivered(b, c, a);
      checkFields(ctx, m, a, c, sentAt);
      await ctx.exactly(b, c, 1);
    },
  },
  {
    id: "routing/no-echo",
    title: "the sender's own connection never gets its message back",
    group: "routing",
    requirements: ["ROUTE-2"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      const c = await ctx.expectDelivery(a, b);
      await ctx.exactly(a, c, 0);
    },
  },
  {
    id: "routing/third-user",
    title: "a third online user gets nothing",
    group: "routing",
    requirements: ["ROUTE-3"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      const c = await ctx.connect(ctx.user(), { node: "b" });
      await ctx.expectDelivery(a, b);
      await ctx.quiet();
      ctx.nothingAt(c, "the message was for B");
    },
  },
  {
    id: "routing/order-300",
    title: "300 messages sent back-to-back arrive in order, each with its own cid",
    group: "routing",
    requirements: ["ROUTE-4", "ROUTE-9", "ROBUST-6"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      const base = ctx.content("order");
      const sent = Array.from({ length: 300 }, (_, i) => `${base} #${i}`);
      for (const c of sent) a.send(b.user, c);
      const got = await b.waitMessages(300, undefined, ctx.timeoutMs * 3);
      checkSequence(ctx, "B", got, sent);
      const cids = new Set(got.map((m) => m.cid));
      ctx.check(cids.size === 300, "300 distinct cids", `${cids.size}`);
    },
  },
  {
    id: "routing/content-unchanged",
    title: "HTML, quotes, backslashes, emoji, CJK, LayIM markup and newlines arrive unchanged",
    group: "routing",
    requirements: ["ROUTE-6"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      for (const c of TRICKY_CONTENTS) a.send(b.user, c);
      const got = await b.waitMessages(TRICKY_CONTENTS.length);
      checkSequence(ctx, "B", got, [...TRICKY_CONTENTS]);
    },
  },
  {
    id: "routing/numeric-to-id",
    title: "a numeric to.id reaches the user with that decimal id",
    group: "routing",
    requirements: ["IDENT-2"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const a = await ctx.connect(ctx.user());
      const b = await ctx.connect(ctx.user({ numeric: true }), { node: "b" });
      const c = ctx.content();
      a.send(Number(b.user), c);
      await ctx.delivered(b, c, a);
    },
  },
  {
    id: "routing/both-directions",
    title: "A → B and B → A at the same time, each stream complete and in order",
    group: "routing",
    requirements: ["ROUTE-1", "ROUTE-2", "ROUTE-4"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      const base = ctx.content("dir");
      const ab = Array.from({ length: 50 }, (_, i) => `${base} A→B #${i}`);
      const ba = Array.from({ length: 50 }, (_, i) => `${base} B→A #${i}`);
      for (let i = 0; i < 50; i++) {
        a.send(b.user, ab[i]);
        b.send(a.user, ba[i]);
      }
      const [gotB, gotA] = await Promise.all([b.waitMessages(50), a.waitMessages(50)]);
      checkSequence(ctx, "B", gotB, ab);
      checkSequence(ctx, "A", gotA, ba);
    },
  },
  {
    id: "routing/spoofed-sender",
    title: "a message whose mine.id names another user never reaches the recipient",
    group: "routing",
    requirements: ["ROUTE-8", "ROUTE-7"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const [a, b] = await ctx.pair();
      const victim = await ctx.connect(ctx.user());
      const spoofed = ctx.content("spoofed");
      const ref = ctx.ref();
      a.send(b.user, spoofed, { mineId: victim.user, ref: ctx.profile === "v1" ? ref : undefined });
      if (ctx.profile === "v1") await ctx.expectError(a, "sender_mismatch", ref);
      // Order per sender connection: once this arrives, the spoofed frame would have too.
      await ctx.expectDelivery(a, b, "honest");
      const got = b.messagesWith(spoofed)[0];
      ctx.check(
        !got,
        `the frame claiming mine.id ${JSON.stringify(victim.user)} refused, never delivered`,
        () =>
          String(got.id) === victim.user || String(got.fromid) === victim.user
            ? `delivered to B as ${victim.label} (${JSON.stringify(got)})`
            : `delivered to B (as ${JSON.stringify(got.id)})`,
      );
      ctx.check(a.open, "A still open", "A closed");
    },
  },
  {
    id: "routing/self-send",
    title: "a message to one's own id reaches one's other sessions only",
    group: "routing",
    requirements: ["ROUTE-12", "ROUTE-2"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx: CaseContext) {
      const user = ctx.user();
      const a1 = await ctx.connect(user);
      const a2 = await ctx.connect(user, { node: "b" });
      const c = await ctx.expectDelivery(a1, a2);
      await ctx.exactly(a1, c, 0);
    },
  },
  {
    id: "routing/all-sessions",
    title: "every v1 session of the recipient gets the message exactly once",
    group: "routing",
    requirements: ["ROUTE-1", "LIFE-5"],
    level: "MUST",
    profiles: ["v1"],
    async run(ctx: CaseContext) {
      const a = await ctx.connect(ctx.user());
      const user = ctx.user();
      const b1 = await ctx.connect(user, { node: "b" });
      const b2 = await ctx.connect(user);
      const c = ctx.content();
      a.send(user, c);
      await ctx.delivered(b1, c, a);
      await ctx.delivered(b2, c, a);
      await ctx.exactly(b1, c, 1);
      ctx.check(
        b2.messagesWith(c).length === 1,
        "B2 to receive it exactly once",
        () => `${b2.messagesWith(c).length} times`,
      );
    },
  },
  {
    id: "routing/legacy-frames-only",
    title: "a legacy connection receives nothing but getMessage frames",
    group: "routing",
    requirements: ["TRANS-3", "ROUTE-5"],
    level: "MUST",
    profiles: ["legacy"],
    async run(ctx: CaseContext) {
      if (!ctx.builtin) ctx.skip("a dialect defines its own frames");
      const [a, b] = await ctx.pair();
      a.send(ctx.stranger(), ctx.content("offline"));
      a.sendText("{not json");
      a.send(b.user, ctx.content("spoof"), { mineId: ctx.stranger() });
      await ctx.expectWorking(a, b);
      await ctx.quiet();
      for (const p of [a, b]) {
        for (const f of p.client.received) {
          const v = validateServerFrame(f.json);
          ctx.check(
            v.ok && (f.json as { type?: unknown }).type === "friend",
            `only getMessage frames on ${p.label}'s legacy connection`,
            f.text,
          );
        }
      }
    },
  },
];
