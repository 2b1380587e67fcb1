/**
 * Verify helpers: the checks cases are made of. Each waits for evidence with a timeout (a frame,
 * a close, an outcome) and, when the evidence does not come, throws a {@link CaseFailure} that
 * names the requirement it checks (the case's first one unless given), what it expected and
 * what it saw.
 *
 * @module
 */
import { validateServerFrame } from "../schemas/validate.ts";
import { CaseFailure } from "./case.ts";
import { type CaseContext, closedOrNothing, delay } from "./context.ts";
import { type Message, OFFENDING, type Peer } from "./peer.ts";

/** Fails the check for `requirement` (default: the case's first requirement). */
export function fail(
  expected: string,
  actual: string,
  requirement?: string,
  cause?: string,
): never {
  throw new CaseFailure(expected, actual, requirement, cause);
}

/** Fails unless `ok`. `actual` may be a function, called only on failure. */
export function check(
  ok: unknown,
  expected: string,
  actual: string | (() => string),
  requirement?: string,
): asserts ok {
  if (!ok) fail(expected, typeof actual === "function" ? actual() : actual, requirement);
}

function times(n: number): string {
  return n === 1 ? "exactly once" : `${n} times`;
}

/** A short form of a frame's text for a sentence. */
export function brief(text: string, max = 120): string {
  // deno-lint-ignore no-control-regex
  const shown = text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
  return shown.length > max ? `${shown.slice(0, max)}… (${text.length} chars)` : shown;
}

/**
 * How `peer`'s connection ended, as a cause: who ended it, the code, and the frame it had sent
 * last, e.g. `the server closed O with 1011, 1 ms after O sent {not json`.
 */
export function describeEnd(peer: Peer): string {
  const c = peer.wire.closed;
  if (!c) return `${peer.label} is still open`;
  const what = c.by === "network"
    ? `${peer.label}'s connection was lost without a close frame (1006)`
    : `the ${c.by} closed ${peer.label} with ${c.code}${
      c.reason ? ` ${JSON.stringify(c.reason)}` : ""
    }`;
  // Bad frames the server has not yet been seen to survive are the likely trigger.
  const bad = peer.wire.log.filter((f) =>
    f.tag === OFFENDING && f.n !== undefined && f.n > peer.handledUpTo && f.at <= c.at
  );
  if (bad.length === 1) {
    return `${what}, ${c.at - bad[0].at} ms after ${peer.label} sent the bad frame #${bad[0].n}: ${
      brief(bad[0].text)
    }`;
  }
  if (bad.length > 1) {
    return `${what}, ${c.at - bad.at(-1)!.at} ms after ${peer.label} sent bad frames #${
      bad[0].n
    }–#${bad.at(-1)!.n} (the first: ${brief(bad[0].text)})`;
  }
  const last = c.afterSent;
  return last
    ? `${what}, ${c.at - last.at} ms after ${peer.label} sent frame #${last.n}: ${brief(last.text)}`
    : `${what} before ${peer.label} sent anything`;
}

/**
 * Waits for `content` at `to`; gives up early (after a quiet window for what is in flight)
 * once the server has ended `from`'s connection.
 */
export async function arrival(
  ctx: CaseContext,
  to: Peer,
  content: string,
  from: Peer,
): Promise<Message | undefined> {
  const ended = from.wire.waitClose(ctx.timeoutMs).then(async (c) => {
    if (c && c.by !== "client") await ctx.quiet();
  });
  const m = await Promise.race([to.waitMessage(content), ended.then(() => undefined)]);
  return m ?? to.messagesWith(content)[0];
}

/** Waits for `content` at `to`, sent by `from`; fails when it does not arrive. */
export async function delivered(
  ctx: CaseContext,
  to: Peer,
  content: string,
  from: Peer,
  requirement?: string,
): Promise<Message> {
  const m = await arrival(ctx, to, content, from);
  check(
    m,
    `${to.label} to receive ${from.label}'s message ${JSON.stringify(content)}`,
    () => closedOrNothing(to, ctx.timeoutMs),
    requirement,
  );
  return m;
}

/** Sends a new message from `from` to `to`'s user and waits for it at `to`; returns its content. */
export async function expectDelivery(
  ctx: CaseContext,
  from: Peer,
  to: Peer,
  label?: string,
  requirement?: string,
): Promise<string> {
  const content = ctx.content(label);
  from.send(to.user, content);
  await delivered(ctx, to, content, from, requirement);
  return content;
}

/** After a quiet window, fails unless `peer` received exactly `count` messages with `content`. */
export async function exactly(
  ctx: CaseContext,
  peer: Peer,
  content: string,
  count: number,
  requirement?: string,
): Promise<void> {
  await ctx.quiet();
  const n = peer.messagesWith(content).length;
  check(
    n === count,
    `${peer.label} to receive ${JSON.stringify(content)} ${times(count)}`,
    `${peer.label} received it ${times(n)}`,
    requirement,
  );
}

/** Fails unless `peer` received no chat message at all. */
export function nothingAt(peer: Peer, why: string, requirement?: string): void {
  const got = peer.messages();
  check(
    got.length === 0,
    `${peer.label} (user ${peer.user}) to receive nothing (${why})`,
    () => `${got.length} message(s): ${brief(JSON.stringify(got[0]))}`,
    requirement,
  );
}

/** v1: waits for an `error` frame with `code` (and `ref` when given) and checks its shape. */
export async function expectError(
  ctx: CaseContext,
  peer: Peer,
  code: string,
  ref?: string,
  requirement?: string,
): Promise<Record<string, unknown>> {
  const err = await peer.waitFrame((f) =>
    f.type === "error" && (ref === undefined || f.ref === ref)
  );
  check(
    err?.code === code,
    `an error frame with code ${code}${ref ? ` and ref ${ref}` : ""} to ${peer.label}`,
    () => err ? JSON.stringify(err) : closedOrNothing(peer, ctx.timeoutMs),
    requirement,
  );
  const shape = validateServerFrame(err);
  check(
    shape.ok,
    "an error frame valid against error.schema.json",
    () => `${JSON.stringify(err)}: ${shape.ok ? "" : shape.error}`,
    "CTRL-2",
  );
  return err;
}

/** Waits for the server to close `peer` with `code`; fails otherwise. */
export async function expectClose(
  ctx: CaseContext,
  peer: Peer,
  code: number,
  why: string,
  requirement?: string,
): Promise<void> {
  peer.closeExpected = true;
  const closed = await peer.wire.waitClose(ctx.timeoutMs);
  check(
    closed?.by === "server" && closed.code === code,
    `${peer.label} closed by the server with ${code} (${why})`,
    () => closedOrNothing(peer, ctx.timeoutMs).replace(/^nothing within/, "still open after"),
    requirement,
  );
}

/**
 * Fails unless `peer` is still open and a message it sends now reaches `to` (by per-connection
 * order, also proof that the server handled everything `peer` sent before).
 */
export async function stillUsable(
  ctx: CaseContext,
  peer: Peer,
  to: Peer,
  why: string,
  requirement?: string,
): Promise<void> {
  if (!peer.open) {
    fail(
      `${peer.label} to stay open (${why})`,
      closedOrNothing(peer, ctx.timeoutMs),
      requirement,
      describeEnd(peer),
    );
  }
  const content = ctx.content("after");
  peer.send(to.user, content);
  const sent = peer.wire.sentCount;
  const m = await arrival(ctx, to, content, peer);
  if (m) peer.handledUpTo = sent;
  if (!m && !peer.open) {
    fail(
      `${peer.label} to stay open (${why})`,
      closedOrNothing(peer, ctx.timeoutMs),
      requirement,
      describeEnd(peer),
    );
  }
  check(
    m,
    `${to.label} to receive ${peer.label}'s next message after ${why}`,
    () => closedOrNothing(to, ctx.timeoutMs),
    requirement,
  );
}

/**
 * Waits until the server has handled what `peer` sent so far, without judging how: a marker
 * message from `peer` reaches `to`, or the server ends `peer`'s connection (whose case judges it).
 */
export async function handled(ctx: CaseContext, peer: Peer, to: Peer): Promise<void> {
  if (!peer.open) return;
  const content = ctx.content("marker");
  peer.send(to.user, content);
  const sent = peer.wire.sentCount;
  if (await arrival(ctx, to, content, peer)) peer.handledUpTo = sent;
}

/** Fails unless A → B and B → A both still deliver (other sessions keep working). */
export async function expectWorking(
  ctx: CaseContext,
  a: Peer,
  b: Peer,
  requirement = "ROBUST-1",
): Promise<void> {
  const ab = ctx.content("still-ab");
  const ba = ctx.content("still-ba");
  a.send(b.user, ab);
  b.send(a.user, ba);
  await delivered(ctx, b, ab, a, requirement);
  await delivered(ctx, a, ba, b, requirement);
}

/** Fails unless a brand-new user can identify and receive a message from `from`. */
export async function expectReachable(
  ctx: CaseContext,
  from: Peer,
  requirement = "ROBUST-1",
): Promise<void> {
  const fresh = await ctx.connect(ctx.user(), { node: "b" });
  await expectDelivery(ctx, from, fresh, "reachable", requirement);
}

/** Fails unless `m` is a getMessage valid against `get-message.schema.json`. */
export function validGetMessage(m: unknown, requirement = "ROUTE-5"): void {
  const v = validateServerFrame(m);
  check(
    v.ok && (m as { type?: unknown }).type === "friend",
    "a getMessage valid against get-message.schema.json",
    () => `${brief(JSON.stringify(m))}: ${v.ok ? "not a getMessage" : v.error}`,
    requirement,
  );
}

/** Poll interval while waiting for a server to act on an event it cannot confirm. */
export const POLL_MS = 25;

/**
 * Waits until the server has processed the end of the last session of `user`, so that a case
 * can reuse the id without racing the server's cleanup. Evidence: v1 `undelivered` `offline`
 * for a probe from `a`, or the dialect's offline notice; a legacy server gives none, so the
 * case waits the cleanup window. Fails citing `requirement` when v1 keeps acknowledging.
 */
export async function sessionEnded(
  ctx: CaseContext,
  a: Peer,
  user: string,
  why: string,
  requirement?: string,
): Promise<void> {
  const offlineNotices = ctx.dialect.notices?.some((n) => n.means === "offline");
  if (ctx.profile !== "v1" && !offlineNotices) {
    await delay(ctx.cleanupMs);
    return;
  }
  const start = performance.now();
  for (let attempt = 1;; attempt++) {
    const elapsed = () => Math.round(performance.now() - start);
    if (ctx.profile === "v1") {
      const ref = ctx.ref();
      a.send(user, ctx.content("probe"), { ref });
      const outcome = await a.waitOutcome(ref);
      if (outcome?.type === "undelivered" && outcome.reason === "offline") return;
      if (!outcome || outcome.type !== "ack" || elapsed() > ctx.timeoutMs) {
        fail(
          `undelivered/offline for ${user} once ${why}`,
          outcome
            ? `${JSON.stringify(outcome)} (probe ${attempt}, ${elapsed()} ms after)`
            : closedOrNothing(a, ctx.timeoutMs),
          requirement,
        );
      }
    } else {
      const seen = a.notices("offline");
      a.send(user, ctx.content("probe"));
      if (await a.waitNotice("offline", seen, Math.min(ctx.timeoutMs, ctx.cleanupMs))) return;
      if (elapsed() > ctx.timeoutMs) {
        fail(
          `the dialect's offline notice for ${user} once ${why}`,
          `none within ${elapsed()} ms (${attempt} probes)`,
          requirement,
        );
      }
    }
    await delay(POLL_MS);
  }
}
