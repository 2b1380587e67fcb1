/**
 * Routing cases: exactly once, to the right sessions only, in order, unchanged, with the
 * getMessage members LayIM needs, the sender owned by the server.
 *
 * @module
 */
import { BOTH, group, LEGACY } from "../case.ts";
import type { CaseContext } from "../context.ts";
import type { Message, Peer } from "../peer.ts";
import {
  arrival,
  brief,
  check,
  delivered,
  exactly,
  expectDelivery,
  expectError,
  fail,
  handled,
  nothingAt,
  stillUsable,
  validGetMessage,
} from "../verify.ts";

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

/** The members `layim.getMessage` uses (ROUTE-5) and those it does without (ROUTE-15). */
const NEEDED = ["username", "avatar", "id", "type", "content"] as const;
const OPTIONAL = ["timestamp", "fromid", "cid", "mine"] as const;

/** Pairs A and B and delivers one message A → B: B, the content and the message received. */
async function oneMessage(ctx: CaseContext): Promise<{ b: Peer; c: string; m: Message }> {
  const [a, b] = await ctx.pair();
  const c = await expectDelivery(ctx, a, b, undefined, "ROUTE-1");
  return { b, c, m: b.messagesWith(c)[0] };
}

/** Fails unless `m` has every one of `members`. */
function hasMembers(m: Message, members: readonly string[], expected: string): void {
  const missing = members.filter((k) => m[k] === undefined);
  check(
    missing.length === 0,
    expected,
    () => `${missing.join(", ")} missing: ${brief(JSON.stringify(m))}`,
  );
}

/**
 * Judges the order of what arrived (ROUTE-4): the contents received, in order, must be a
 * subsequence of those sent. Missing ones are noted; whether a burst may be limited is
 * robustness/burst's business.
 */
function checkOrder(ctx: CaseContext, who: string, got: Message[], sent: string[]): void {
  const index = new Map(sent.map((c, i) => [c, i]));
  const seen = new Set<string>();
  let last = -1;
  for (const [n, m] of got.entries()) {
    const i = index.get(m.content as string);
    if (i === undefined) continue;
    check(
      !seen.has(m.content as string),
      `${who} to receive each message once`,
      () => `message #${i} arrived twice (as the ${n + 1}th message)`,
      "ROUTE-1",
    );
    seen.add(m.content as string);
    check(
      i > last,
      `${who} to receive the messages in the order sent`,
      () => `message #${i} arrived after #${last}`,
      "ROUTE-4",
    );
    last = i;
  }
  check(seen.size > 0, `${who} to receive the messages`, "none arrived", "ROUTE-1");
  if (seen.size < sent.length) ctx.note(`${who}: ${seen.size} of ${sent.length} arrived, in order`);
}

/** Sends `count` messages from `a` to `b` back-to-back and waits for them (or a quiet end). */
async function burst(ctx: CaseContext, a: Peer, b: Peer, label: string, count: number) {
  const base = ctx.content(label);
  const sent = Array.from({ length: count }, (_, i) => `${base} #${i}`);
  for (const c of sent) a.send(b.user, c);
  const mine = (m: Message) => typeof m.content === "string" && m.content.startsWith(base);
  await b.waitMessages(count, mine, ctx.timeoutMs * 3);
  return { sent, got: b.messages().filter(mine) };
}

/** The routing cases. */
export const routing = group("routing", "A → B reaches exactly B's sessions, in order", [
  {
    name: "exactly-once",
    title: "A → B is delivered exactly once",
    requirements: ["ROUTE-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const c = await expectDelivery(ctx, a, b);
      await exactly(ctx, b, c, 1);
    },
  },
  {
    name: "get-message",
    title: "the delivered object has the members layim.getMessage uses",
    requirements: ["ROUTE-5", "ROUTE-6"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const { b, c, m } = await oneMessage(ctx);
      hasMembers(m, NEEDED, `the members ${NEEDED.join(", ")}`);
      check(m.type === "friend", `type "friend"`, JSON.stringify(m.type));
      check(
        typeof m.username === "string" && typeof m.avatar === "string",
        "username and avatar strings",
        `username ${JSON.stringify(m.username)}, avatar ${JSON.stringify(m.avatar)}`,
      );
      const idOk = typeof m.id === "string" || (ctx.dialect.numericIds && Number.isInteger(m.id));
      check(idOk, "id as a string", JSON.stringify(m.id));
      const filled = b.filledBy(c);
      if (filled.length) ctx.note(`filled in by the page: ${filled.join(", ")}`);
    },
  },
  {
    name: "get-message-complete",
    title: "the delivered object also has timestamp, fromid, cid and mine false",
    requirements: ["ROUTE-15"],
    level: "SHOULD",
    profiles: BOTH,
    async run(ctx) {
      const { m } = await oneMessage(ctx);
      hasMembers(m, OPTIONAL, `the members ${OPTIONAL.join(", ")} as well`);
      check(m.mine === false, "mine false", JSON.stringify(m.mine));
      if (ctx.builtin) validGetMessage(m, "ROUTE-15");
    },
  },
  {
    name: "server-fields",
    title: "timestamp and cid, when sent, are the server's: integer ms of now, one cid per message",
    requirements: ["ROUTE-9"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const before = Date.now();
      const c1 = await expectDelivery(ctx, a, b);
      const c2 = await expectDelivery(ctx, a, b);
      const after = Date.now();
      const [m1, m2] = [b.messagesWith(c1)[0], b.messagesWith(c2)[0]];
      const filled = b.filledBy(c1);
      const sent = (k: string) => m1[k] !== undefined && !filled.includes(k as never);
      if (!sent("timestamp") && !sent("cid")) {
        ctx.skip("the server sends neither timestamp nor cid");
      }
      if (sent("timestamp")) {
        check(
          [m1, m2].every((m) =>
            Number.isInteger(m.timestamp) &&
            (m.timestamp as number) >= before - 60_000 && (m.timestamp as number) <= after + 60_000
          ),
          `timestamps in integer milliseconds between ${before} and ${after} (±60 s of clock skew)`,
          `${JSON.stringify(m1.timestamp)}, ${JSON.stringify(m2.timestamp)}`,
        );
      } else ctx.note("no timestamp sent");
      if (sent("cid")) {
        check(
          typeof m1.cid === "string" && m1.cid !== "" && m1.cid !== m2.cid,
          "a non-empty string cid, another for the next message",
          `${JSON.stringify(m1.cid)}, ${JSON.stringify(m2.cid)}`,
        );
      } else ctx.note("no cid sent");
    },
  },
  {
    name: "sender-id",
    title: "id (and fromid) is the sender session's id, also when the frame has no mine.id",
    requirements: ["ROUTE-7"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const c = ctx.content();
      a.send(b.user, c, { mine: { id: undefined } });
      const m = await delivered(ctx, b, c, a);
      check(
        String(m.id) === a.user && (m.fromid === undefined || String(m.fromid) === a.user),
        `id${m.fromid === undefined ? "" : " and fromid"} ${JSON.stringify(a.user)} (A)`,
        `id ${JSON.stringify(m.id)}, fromid ${JSON.stringify(m.fromid)}`,
      );
    },
  },
  {
    name: "minimal-frame",
    title: "a sendMessage without username and avatar is delivered with display fields",
    requirements: ["ROUTE-13", "ROUTE-5"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const c = ctx.content();
      a.send(b.user, c, { mine: { username: undefined, avatar: undefined, mine: undefined } });
      const m = await delivered(ctx, b, c, a);
      check(
        typeof m.username === "string" && typeof m.avatar === "string",
        `username and avatar strings (the sender's id and "" unless a directory or token has them)`,
        `username ${JSON.stringify(m.username)}, avatar ${JSON.stringify(m.avatar)}`,
      );
    },
  },
  {
    name: "no-echo",
    title: "the sender's own connection never gets its message back",
    requirements: ["ROUTE-2"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const c = await expectDelivery(ctx, a, b, undefined, "ROUTE-1");
      await exactly(ctx, a, c, 0);
    },
  },
  {
    name: "third-user",
    title: "a third online user gets nothing",
    requirements: ["ROUTE-3"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const c = await ctx.connect(ctx.user(), { node: "b" });
      const m = ctx.content();
      a.send(b.user, m);
      await arrival(ctx, b, m, a);
      await ctx.quiet();
      // What reached C first: a message delivered to the wrong user is not "lost".
      nothingAt(c, "the message was for B");
      check(
        b.messagesWith(m).length > 0,
        `B to receive A's message ${JSON.stringify(m)}`,
        "it never arrived",
        "ROUTE-1",
      );
    },
  },
  {
    name: "order-300",
    title: "300 messages sent back-to-back arrive in order",
    requirements: ["ROUTE-4"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const { sent, got } = await burst(ctx, a, b, "order", 300);
      checkOrder(ctx, "B", got, sent);
    },
  },
  {
    name: "content-unchanged",
    title: "HTML, quotes, backslashes, emoji, CJK, LayIM markup and newlines arrive unchanged",
    requirements: ["ROUTE-6"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const marker = ctx.content("end");
      for (const c of TRICKY_CONTENTS) a.send(b.user, c);
      a.send(b.user, marker);
      await delivered(ctx, b, marker, a, "ROUTE-1");
      const got = new Set(b.messages().map((m) => m.content));
      for (const c of TRICKY_CONTENTS) {
        check(got.has(c), `${JSON.stringify(c)} unchanged`, () => {
          const others = [...got].filter((g) => g !== marker).map((g) => JSON.stringify(g));
          return `not among what arrived: ${brief(others.join(", "), 300)}`;
        });
      }
    },
  },
  {
    name: "numeric-to-id",
    title: "a numeric to.id reaches the user with that decimal id",
    requirements: ["IDENT-2"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const a = await ctx.connect(ctx.user());
      const b = await ctx.connect(ctx.user({ numeric: true }), { node: "b" });
      const c = ctx.content();
      a.send(Number(b.user), c);
      await delivered(ctx, b, c, a);
    },
  },
  {
    name: "both-directions",
    title: "A → B and B → A at the same time, each stream complete and in order",
    requirements: ["ROUTE-4", "ROUTE-1"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const [a, b] = await ctx.pair();
      const base = ctx.content("dir");
      const ab = Array.from({ length: 50 }, (_, i) => `${base} A→B #${i}`);
      const ba = Array.from({ length: 50 }, (_, i) => `${base} B→A #${i}`);
      for (let i = 0; i < 50; i++) {
        a.send(b.user, ab[i]);
        b.send(a.user, ba[i]);
      }
      const [gotB, gotA] = await Promise.all([b.waitMessages(50), a.waitMessages(50)]);
      checkOrder(ctx, "B", gotB, ab);
      checkOrder(ctx, "A", gotA, ba);
      check(
        gotB.length === 50 && gotA.length === 50,
        "50 messages each way",
        `${gotB.length} at B, ${gotA.length} at A`,
        "ROUTE-1",
      );
    },
  },
  {
    name: "not-friend",
    title: "a sendMessage whose to.type is not friend (group chat) is never routed",
    requirements: ["ROUTE-11"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      ctx.needs("to.type", "to send a group message");
      const [a, b] = await ctx.pair();
      const c = ctx.content("group");
      const ref = ctx.profile === "v1" ? ctx.ref() : undefined;
      a.offend(a.messageText(b.user, c, { to: { type: "group" }, ref }));
      if (ref) await expectError(ctx, a, "invalid_frame", ref);
      // Whether the server keeps A open is robustness/schema-invalid's business.
      await handled(ctx, a, b);
      await ctx.quiet();
      const got = b.messagesWith(c)[0];
      check(
        !got,
        "the group message never delivered",
        () => `delivered to B: ${brief(JSON.stringify(got))}`,
      );
    },
  },
  {
    name: "spoofed-sender",
    title: "a message whose mine.id names another user never reaches the recipient",
    requirements: ["ROUTE-8"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      ctx.needs("mine.id", "to claim another sender");
      const [a, b] = await ctx.pair();
      const victim = await ctx.connect(ctx.user());
      const spoofed = ctx.content("spoofed");
      const ref = ctx.ref();
      a.offend(
        a.messageText(b.user, spoofed, {
          mineId: victim.user,
          ref: ctx.profile === "v1" ? ref : undefined,
        }),
      );
      if (ctx.profile === "v1") {
        const err = await a.waitOutcome(ref);
        check(
          err?.type === "error" && err.code === "sender_mismatch",
          `an error frame with code sender_mismatch and ref ${ref}`,
          JSON.stringify(err) ?? "nothing",
        );
      }
      // Order per sender connection: once this arrives, the spoofed frame would have too.
      await stillUsable(ctx, a, b, "a frame claiming another mine.id");
      const got = b.messagesWith(spoofed)[0];
      check(
        !got,
        `the frame claiming mine.id ${JSON.stringify(victim.user)} refused, never delivered`,
        () =>
          String(got.id) === victim.user
            ? `delivered to B as ${victim.label} (${brief(JSON.stringify(got))})`
            : `delivered to B (as ${JSON.stringify(got.id)})`,
      );
    },
  },
  {
    name: "spoof-rebind",
    title: "a frame naming another user in mine.id never redirects that user's messages",
    requirements: ["ROUTE-16"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      ctx.needs("mine.id", "to claim another sender");
      const [a, b] = await ctx.pair();
      const victim = await ctx.connect(ctx.user());
      // Whatever the server does with the spoofed frame itself (spoofed-sender judges that),
      // the victim's messages must keep going to the victim, and never to A.
      a.offend(a.messageText(b.user, ctx.content("spoofed"), { mineId: victim.user }));
      await handled(ctx, a, b);
      const c = ctx.content("for-victim");
      b.send(victim.user, c);
      const m = await victim.waitMessage(c);
      if (!m) {
        const stolen = a.messagesWith(c).length > 0;
        fail(
          `${victim.label} (user ${victim.user}) to keep receiving its messages after A's frame named it`,
          stolen
            ? `A received B's message to ${victim.label}: A's connection now stands for ${victim.label}`
            : `${victim.label} got nothing within ${ctx.timeoutMs} ms`,
        );
      }
      await ctx.quiet();
      check(
        a.messagesWith(c).length === 0,
        `A never to receive B's message to ${victim.label}`,
        `A received it: A's connection now stands for ${victim.label} too`,
      );
    },
  },
  {
    name: "self-send",
    title: "a message to one's own id reaches one's other sessions only",
    requirements: ["ROUTE-12"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const alone = await ctx.connect(ctx.user());
      const c = ctx.content("alone");
      alone.send(alone.user, c);
      await exactly(ctx, alone, c, 0);
      const user = ctx.user();
      const older = await ctx.connect(user);
      const newer = await ctx.connect(user, { node: "b" });
      // From the older session: a server keeping one session per user has the newer one,
      // and that is routing/all-sessions' business.
      const c2 = ctx.content();
      older.send(user, c2);
      await delivered(ctx, newer, c2, older);
      await exactly(ctx, older, c2, 0);
    },
  },
  {
    name: "all-sessions",
    title: "every session of the recipient gets the message exactly once",
    requirements: ["ROUTE-1", "LIFE-5"],
    level: "MUST",
    profiles: BOTH,
    async run(ctx) {
      const a = await ctx.connect(ctx.user());
      const user = ctx.user();
      const b1 = await ctx.connect(user, { node: "b" });
      const b2 = await ctx.connect(user);
      if (!b1.open) {
        fail(
          `${b1.label} to stay open when ${b2.label} of the same user identified`,
          `closed ${b1.wire.closed?.code} by the server`,
          "LIFE-5",
        );
      }
      const c = ctx.content();
      a.send(user, c);
      const [m1, m2] = await Promise.all([b1.waitMessage(c), b2.waitMessage(c)]);
      check(
        m1 && m2,
        `both sessions of user ${user} (${b1.label}, ${b2.label}) to receive A's message`,
        () =>
          m1 || m2
            ? `only ${m1 ? b1.label : b2.label} (the ${m1 ? "older" : "newer"} session) did`
            : "neither did",
      );
      await exactly(ctx, b1, c, 1);
      await exactly(ctx, b2, c, 1);
    },
  },
  {
    name: "legacy-frames-only",
    title: "a legacy connection receives nothing but getMessage frames",
    requirements: ["TRANS-3"],
    level: "MUST",
    profiles: LEGACY,
    async run(ctx) {
      if (!ctx.builtin) ctx.skip("a dialect defines its own frames");
      const [a, b] = await ctx.pair();
      // Each of these tempts a server to answer with something else than a getMessage.
      a.send(ctx.stranger(), ctx.content("offline"));
      a.offend(a.messageText(b.user, ctx.content("spoof"), { mineId: ctx.stranger() }));
      a.offend(a.messageText(b.user, ctx.content("group"), { to: { type: "group" } }));
      await handled(ctx, a, b);
      a.offend("{not json");
      await ctx.quiet();
      for (const p of [a, b]) {
        for (const f of p.wire.received) {
          if (f.kind === "binary") fail(`only getMessage frames on ${p.label}`, f.text);
          validGetMessage(f.json, "TRANS-3");
        }
      }
    },
  },
]);
