/**
 * Presence cases (spec section 13), for servers whose `ready` lists `presence`: the answer to
 * a watch, online and offline reports from either node, two sessions, order with messages, the
 * watch list's modes, limits, the offline delay and privacy. With `--jwt-secret` the watchers'
 * tokens name the users they watch in a `friends` claim, so a server that enforces privacy
 * lets them; without tokens, a server that refuses them skips these cases and says why.
 *
 * @module
 */
import { validateServerFrame } from "../../schemas/validate.ts";
import { group, V1 } from "../case.ts";
import { type CaseContext, closedOrNothing } from "../context.ts";
import type { Peer } from "../peer.ts";
import { brief, check, delivered, expectClose, expectError, fail } from "../verify.ts";

/** How long after a session ends a server may report it offline (advertised), ms. */
function offlineDelay(ctx: CaseContext): number {
  return ctx.settings.presence?.offlineDelayMs ?? 0;
}

/** The wait for an offline report: the advertised delay plus the run's timeout. */
function offlineWait(ctx: CaseContext): number {
  return offlineDelay(ctx) + ctx.timeoutMs;
}

/** Connects a watcher whose token (when the run mints tokens) names `friends`. */
function watcher(ctx: CaseContext, friends: string[], node: "a" | "b" = "a"): Promise<Peer> {
  return ctx.connect(ctx.user(), { node, friends });
}

/** Ids as a presence frame's member lists them, or `[]`. */
const ids = (value: unknown): unknown[] => Array.isArray(value) ? value : [];

/**
 * Sends a watch with a ref and returns its answer, checked (PRES-5): valid against
 * presence.schema.json, with the ref, each id listed once. Skips the case when the server
 * refuses the users for privacy (it may: PRES-8), saying how to run it.
 */
async function watchAnswer(
  ctx: CaseContext,
  peer: Peer,
  list: (string | number)[],
  mode?: "replace" | "add",
): Promise<Record<string, unknown>> {
  const ref = ctx.ref();
  peer.watch(list, { mode, ref });
  const answer = await peer.waitWatchAnswer(ref);
  if (answer?.type === "error" && answer.code === "watch_refused") {
    ctx.skip(
      `the server does not let ${peer.label} watch these users (${brief(JSON.stringify(answer))})` +
        (ctx.tokens.mintsFriends ? "" : ": pass --jwt-secret so that tokens name them as friends"),
    );
  }
  check(
    answer?.type === "presence",
    `a presence frame answering the watch with ref ${ref}`,
    () => answer ? JSON.stringify(answer) : closedOrNothing(peer, ctx.timeoutMs),
    "PRES-5",
  );
  const v = validateServerFrame(answer);
  check(
    v.ok,
    "an answer valid against presence.schema.json",
    () => `${brief(JSON.stringify(answer))}: ${v.ok ? "" : v.error}`,
    "PRES-5",
  );
  const listed = [...ids(answer.online), ...ids(answer.offline)];
  const wanted = [...new Set(list.map(String))];
  check(
    listed.length === wanted.length && wanted.every((id) => listed.includes(id)),
    `the answer to list each of ${JSON.stringify(wanted)} exactly once`,
    () => JSON.stringify(answer),
    "PRES-5",
  );
  return answer;
}

/** Fails unless `peer` is told `user` is `state` within `ms` (default: the run's timeout). */
async function reported(
  ctx: CaseContext,
  peer: Peer,
  user: string,
  state: "online" | "offline",
  why: string,
  requirement: string,
  ms = ctx.timeoutMs,
): Promise<void> {
  if (await peer.waitPresence(user, state, ms)) return;
  fail(
    `${peer.label} told that ${ctx.labelOf(user)} is ${state} (${why})`,
    peer.presenceOf(user)
      ? `last reported ${peer.presenceOf(user)} (${
        brief(JSON.stringify(peer.presenceFramesAbout(user).at(-1)))
      }), nothing else within ${ms} ms`
      : closedOrNothing(peer, ms),
    requirement,
  );
}

/**
 * `peer` watches `user`, who then comes (`connect` opens its session) and goes: `peer` must be
 * told both, the offline report within the offline delay; each check names `requirement`.
 */
async function comesAndGoes(
  ctx: CaseContext,
  peer: Peer,
  user: string,
  connect: () => Promise<Peer>,
  requirement: string,
): Promise<void> {
  await watchAnswer(ctx, peer, [user]);
  const x = await connect();
  await reported(ctx, peer, user, "online", `${x.label} identified on ${x.url}`, requirement);
  await x.close();
  await reported(ctx, peer, user, "offline", `${x.label} closed`, requirement, offlineWait(ctx));
}

/**
 * Fails if `peer` hears of `user` (beyond the `seen` frames about it) within the offline delay
 * and a quiet window.
 */
async function nothingAbout(
  ctx: CaseContext,
  peer: Peer,
  user: string,
  seen: number,
  why: string,
  requirement: string,
): Promise<void> {
  await peer.wire.waitFor(
    () => peer.presenceFramesAbout(user).length > seen ? true : undefined,
    offlineDelay(ctx) + ctx.settings.quietMs,
  );
  const later = peer.presenceFramesAbout(user).slice(seen);
  check(
    later.length === 0,
    `no presence frame about ${ctx.labelOf(user)} (${why})`,
    () => `${later.length}: ${brief(JSON.stringify(later[0]))}`,
    requirement,
  );
}

/** The presence cases. */
export const presence = group("presence", "who of my friends is online (v1, feature presence)", [
  {
    name: "advertised",
    title: "ready lists presence and its parameters",
    requirements: ["PRES-1"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const a = await ctx.connect(ctx.user());
      const ready = a.framesOfType("ready")[0];
      const v = validateServerFrame(ready);
      check(
        v.ok && typeof ready.presence === "object" && ready.presence !== null,
        "a ready valid against ready.schema.json, with a presence member",
        () => `${brief(JSON.stringify(ready), 400)}${v.ok ? "" : `: ${v.error}`}`,
      );
    },
  },
  {
    name: "unoffered-watch",
    title: "a server that does not offer presence answers watch as an unknown type",
    requirements: ["CTRL-3"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      if (ctx.features.includes("presence")) ctx.skip("the server offers presence");
      const a = await ctx.connect(ctx.user());
      const ref = ctx.ref();
      a.watch([ctx.stranger()], { ref });
      await expectError(ctx, a, "invalid_frame", ref);
      a.sendText(JSON.stringify({ type: "ping", data: "still" }));
      const pong = await a.waitFrame((f) => f.type === "pong");
      check(pong?.data === "still", "a pong afterwards", JSON.stringify(pong) ?? "nothing");
    },
  },
  {
    name: "initial-state",
    title: "a watch is answered at once with each id's state, online and offline",
    requirements: ["PRES-5", "IDENT-2"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const b = await ctx.connect(ctx.user(), { node: "b" });
      const c = ctx.user();
      const n = ctx.user({ numeric: true });
      const a = await watcher(ctx, [b.user, c, n]);
      const answer = await watchAnswer(ctx, a, [b.user, c, b.user, Number(n)]);
      check(
        ids(answer.online).includes(b.user),
        `B (${b.user}, connected) listed online`,
        JSON.stringify(answer),
      );
      check(
        ids(answer.offline).includes(c) && ids(answer.offline).includes(n),
        `${c} and ${n} (never connected; the latter watched as a JSON number) listed offline`,
        JSON.stringify(answer),
      );
    },
  },
  {
    name: "online-offline",
    title: "a watched user coming and going is reported, once each, within the offline delay",
    requirements: ["PRES-6", "PRES-12"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const user = ctx.user();
      const a = await watcher(ctx, [user]);
      await comesAndGoes(ctx, a, user, () => ctx.connect(user, { node: "b" }), "PRES-12");
      await ctx.quiet();
      const about = a.presenceFramesAbout(user);
      check(
        about.length === 3,
        `the answer, one online and one offline report about ${ctx.labelOf(user)}`,
        () => `${about.length} frames: ${about.map((f) => JSON.stringify(f)).join(" ")}`,
        "PRES-6",
      );
    },
  },
  {
    name: "other-relay",
    title: "a watcher on the other relay (--url-b) is told of sessions on this one",
    requirements: ["PRES-15", "PRES-6"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      if (ctx.settings.urlB === ctx.settings.url) {
        ctx.note("one relay: pass --url-b to put the watcher on another one");
      }
      const user = ctx.user();
      const w = await watcher(ctx, [user], "b");
      await comesAndGoes(ctx, w, user, () => ctx.connect(user), "PRES-15");
    },
  },
  {
    name: "two-sessions",
    title: "a user with two sessions (one per relay) is offline only after both closed",
    requirements: ["PRES-6", "PRES-12"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const user = ctx.user();
      const x1 = await ctx.connect(user);
      const x2 = await ctx.connect(user, { node: "b" });
      const a = await watcher(ctx, [user]);
      const answer = await watchAnswer(ctx, a, [user]);
      check(ids(answer.online).includes(user), `${x1.label} listed online`, JSON.stringify(answer));
      const seen = a.presenceFramesAbout(user).length;
      await x1.close();
      await nothingAbout(ctx, a, user, seen, `${x2.label} is still open`, "PRES-6");
      await x2.close();
      await reported(ctx, a, user, "offline", "both sessions closed", "PRES-12", offlineWait(ctx));
    },
  },
  {
    name: "before-message",
    title: "a message from a watched user never arrives before the report that it is online",
    requirements: ["PRES-7"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const users = Array.from({ length: 5 }, () => ctx.user());
      const w = await watcher(ctx, users, "b");
      await watchAnswer(ctx, w, users);
      for (const user of users) {
        const x = await ctx.connect(user);
        const content = ctx.content("first");
        // The first frame after ready: the relay cannot have reported it any earlier.
        x.send(w.user, content);
        await delivered(ctx, w, content, x);
        const order = w.wire.received.flatMap((f, i) => {
          const json = f.json as Record<string, unknown> | undefined;
          if (json?.type === "friend" && json.content === content) return [["message", i]];
          if (json?.type === "presence" && ids(json.online).includes(user)) return [["online", i]];
          return [];
        });
        check(
          order[0]?.[0] === "online",
          `the report that ${x.label} is online before its message ${JSON.stringify(content)}`,
          () =>
            order.length < 2 ? "the message, and no online report before it" : "the message first",
        );
      }
    },
  },
  {
    name: "replace-add",
    title: "replace makes the watch list, add extends it; unwatched users are not reported",
    requirements: ["PRES-4", "PRES-5"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const [b, c] = [ctx.user(), ctx.user()];
      const a = await watcher(ctx, [b, c]);
      await watchAnswer(ctx, a, [b]);
      // The answer to an add lists the added ids only.
      await watchAnswer(ctx, a, [c], "add");
      const xb = await ctx.connect(b, { node: "b" });
      const xc = await ctx.connect(c, { node: "b" });
      await reported(ctx, a, b, "online", "watched with replace", "PRES-4");
      await reported(ctx, a, c, "online", "added with add", "PRES-4");
      await watchAnswer(ctx, a, [c]);
      const seen = a.presenceFramesAbout(b).length;
      await xb.close();
      await nothingAbout(ctx, a, b, seen, `${xb.label} is no longer watched`, "PRES-4");
      await xc.close();
      await reported(ctx, a, c, "offline", "still watched", "PRES-6", offlineWait(ctx));
      const empty = await watchAnswer(ctx, a, []);
      check(
        ids(empty.online).length + ids(empty.offline).length === 0,
        "an empty answer to an empty watch list",
        JSON.stringify(empty),
        "PRES-5",
      );
    },
  },
  {
    name: "legacy-counts",
    title: "a legacy session makes its user online to v1 watchers",
    requirements: ["PRES-3"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      if (ctx.tokens.mintsFriends || ctx.tokens.fixedUsers) {
        ctx.skip("needs a legacy session without a token (the run uses tokens)");
      }
      const user = ctx.user();
      const a = await watcher(ctx, [user]);
      // Without layim-ws.v1: a legacy session, identified by its bare id.
      const legacy = async () => {
        const x = await ctx.open(user, { node: "b", protocols: [] });
        x.identify();
        return x;
      };
      await comesAndGoes(ctx, a, user, legacy, "PRES-3");
    },
  },
  {
    name: "debounce",
    title: "a user who reconnects at once (a page reload) is not reported offline",
    requirements: ["PRES-13", "PRES-12"],
    level: "SHOULD",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const delay = offlineDelay(ctx);
      check(delay >= 1000, "an offlineDelayMs of at least 1000", `${delay}`);
      const user = ctx.user();
      const x = await ctx.connect(user, { node: "b" });
      const a = await watcher(ctx, [user]);
      await watchAnswer(ctx, a, [user]);
      const seen = a.presenceFramesAbout(user).length;
      await x.close();
      await ctx.connect(user);
      await nothingAbout(ctx, a, user, seen, "it was back within the offline delay", "PRES-12");
    },
  },
  {
    name: "watch-limit",
    title: "a watch list over maxWatchIds is refused with watch_limit and left as it was",
    requirements: ["PRES-11", "PRES-4"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const max = ctx.settings.presence?.maxWatchIds ?? 0;
      const many = Array.from({ length: max + 1 }, () => ctx.stranger());
      if (
        JSON.stringify({ type: "watch", ids: many, ref: "r" }).length >= ctx.limits.maxFrameBytes
      ) {
        ctx.skip(`${max + 1} ids do not fit in one frame of ${ctx.limits.maxFrameBytes} bytes`);
      }
      const user = ctx.user();
      const a = await watcher(ctx, [user]);
      await watchAnswer(ctx, a, [user]);
      const ref = ctx.ref();
      a.watch(many, { ref });
      await expectError(ctx, a, "watch_limit", ref);
      const x = await ctx.connect(user, { node: "b" });
      await reported(ctx, a, user, "online", "the refused watch left the list as it was", "PRES-4");
      await x.close();
    },
  },
  {
    name: "watch-rate",
    title: "watch frames beyond watchBurst at once are refused with rate_limited",
    requirements: ["PRES-11"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const burst = ctx.settings.presence?.watchBurst ?? 0;
      if (burst + 1 > ctx.limits.rateBurst) {
        ctx.skip(`watchBurst ${burst} is above the frame burst ${ctx.limits.rateBurst}`);
      }
      const user = ctx.user();
      const a = await watcher(ctx, [user]);
      const refs = Array.from({ length: burst + 1 }, () => ctx.ref());
      for (const ref of refs) a.watch([user], { ref });
      const last = await a.waitWatchAnswer(refs.at(-1)!);
      check(
        last?.type === "error" && last.code === "rate_limited",
        `the watch number ${burst + 1} refused with rate_limited (watchBurst ${burst})`,
        () => last ? JSON.stringify(last) : closedOrNothing(a, ctx.timeoutMs),
      );
    },
  },
  {
    name: "refused",
    title: "a user may watch only whom the server allows (token friends claim, directory)",
    requirements: ["PRES-8"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const [friend, stranger] = [ctx.user(), ctx.stranger()];
      const minted = ctx.tokens.mintsFriends === true;
      const a = await watcher(ctx, [friend]);
      const ref = ctx.ref();
      // Without tokens naming friends, no random user is one.
      a.watch(minted ? [friend, stranger] : [stranger], { ref });
      const answer = await a.waitWatchAnswer(ref);
      if (!minted && answer?.type === "presence") {
        ctx.skip("the server lets anyone watch anyone (no privacy configured)");
      }
      check(
        answer?.type === "error" && answer.code === "watch_refused",
        `an error watch_refused: ${a.label}'s ${
          minted ? "token names only " + friend : "server knows no " + stranger
        }`,
        () => answer ? JSON.stringify(answer) : closedOrNothing(a, ctx.timeoutMs),
      );
      check(
        JSON.stringify(answer.ids) === JSON.stringify([stranger]) && answer.ref === ref,
        `ids ${JSON.stringify([stranger])} and ref ${ref}`,
        JSON.stringify(answer),
      );
      await watchAnswer(ctx, a, [a.user]);
      if (minted) await watchAnswer(ctx, a, [friend, a.user]);
    },
  },
  {
    name: "friends-claim",
    title: "a token whose friends claim is not a list of ids is refused with 4001",
    requirements: ["PRES-9", "IDENT-7"],
    level: "MUST",
    profiles: V1,
    async run(ctx) {
      ctx.needsFeature("presence");
      const mint = ctx.tokens.badToken;
      if (!mint) return ctx.skip("needs minted tokens: pass --jwt-secret");
      const user = ctx.user();
      const peer = await ctx.open(user, { token: await mint(user, "bad-friends") });
      peer.identify();
      await expectError(ctx, peer, "unauthorized");
      await expectClose(ctx, peer, 4001, 'a friends claim of "everyone"');
    },
  },
]);
