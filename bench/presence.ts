/**
 * The cost of presence: watchers that each follow some friends, and the friends connecting and
 * disconnecting in rounds. Run against a relay offering presence (`--presence all`) it counts
 * and orders every `presence` frame the watchers receive (online, then offline, once each per
 * round); against the same relay without presence (`--presence off`) the same connections do
 * the same churn. The figure is server CPU per connect + disconnect of a friend.
 *
 * With `urlB` (two relays sharing Redis) the watchers are on node 2 and the friends on node 1,
 * so every transition crosses Redis.
 *
 * @module
 */
import type { Target, Verification } from "./clients.ts";
import { cpuByProcess, cpuReader } from "./load.ts";
import { connectWs, type WsClient } from "./wire.ts";
import { until, Wakeup } from "../testing/wait.ts";

/** Options of {@linkcode presenceChurn}. */
export interface PresenceChurnOptions {
  /** Connections that watch. */
  watchers: number;
  /** Friends each watcher follows. */
  follows: number;
  /** Friends, each followed by `watchers × follows / friends` watchers. */
  friends: number;
  /** Measured rounds: every friend connects and disconnects once per round. */
  rounds: number;
  /** Friends connecting at the same time. */
  concurrency: number;
  /** Whether the relay offers presence (the watchers watch) or not (they only stay connected). */
  presence: boolean;
  timeoutMs: number;
}

/** Result of {@linkcode presenceChurn}. */
export interface PresenceChurnResult extends Verification {
  /** Connect + disconnect cycles measured. */
  cycles: number;
  seconds: number;
  cyclesPerSec: number;
  /** Server CPU per cycle, µs, all processes. */
  cpuUsPerCycle: number;
  /** The part of each of the target's `pids`. */
  cpuUsPerCycleBy: Record<string, number>;
  /** presence frames the watchers received per cycle (0 without presence). */
  framesPerCycle: number;
}

/** One watcher connection and the presence it was told, per friend. */
class Watcher {
  /** Per friend: its online (+) and offline (-) reports, in order ("+-+-"). */
  readonly told = new Map<string, string>();
  frames = 0;
  errors = 0;
  /** The answer to its watch. */
  readonly answer: Promise<Record<string, unknown>>;

  constructor(readonly ws: WsClient, wakeup: Wakeup) {
    let answered!: (frame: Record<string, unknown>) => void;
    this.answer = new Promise((resolve) => answered = resolve);
    ws.onText = (text) => {
      const frame = JSON.parse(text);
      if (frame.type === "presence" && frame.ref !== undefined) return answered(frame);
      if (frame.type !== "presence") {
        this.errors++;
        return;
      }
      this.frames++;
      for (const user of frame.online) this.told.set(user, (this.told.get(user) ?? "") + "+");
      for (const user of frame.offline) this.told.set(user, (this.told.get(user) ?? "") + "-");
      wakeup.wake();
    };
  }
}

/** Opens a v1 connection identified as `id`; resolves on `ready` with its first frames. */
async function identified(url: string, id: string): Promise<{ ws: WsClient; first: string[] }> {
  const ws = await connectWs(url, {
    protocol: "layim-ws.v1",
    origin: `http://${new URL(url).host}`,
  });
  const first: string[] = [];
  let ready!: () => void;
  const done = new Promise<void>((resolve) => ready = resolve);
  ws.onText = (text) => {
    first.push(text);
    if (text.startsWith('{"type":"ready"') || text.startsWith('{"type":"presence"')) ready();
  };
  ws.onClose = () => ready();
  ws.start();
  ws.send(JSON.stringify({ type: "identify", id }));
  await done;
  if (!first[0]?.startsWith('{"type":"ready"')) throw new Error(`${id}: no ready (${first[0]})`);
  return { ws, first };
}

/** Sessions open on the relay at `wsUrl`, from its `/healthz`. */
async function sessionsAt(wsUrl: string): Promise<number> {
  const url = new URL(wsUrl);
  const response = await fetch(`http://${url.host}/healthz`);
  return (await response.json()).sessions;
}

/**
 * Connects the watchers (on `urlB`, else `url`), has them watch (with presence), then churns the
 * friends (on `url`) for one warm-up round and `rounds` measured ones. Between rounds it waits
 * until every watcher was told every transition (with presence) and the relays hold only the
 * watchers' sessions, so that a friend's next session never races its previous close.
 */
export async function presenceChurn(
  target: Target,
  o: PresenceChurnOptions,
): Promise<PresenceChurnResult> {
  const prefix = `p${crypto.randomUUID().slice(0, 8)}-`;
  const friendIds = Array.from({ length: o.friends }, (_, i) => `${prefix}f${i}`);
  const watcherUrl = target.urlB ?? target.url;
  const wakeup = new Wakeup();
  const watchers: Watcher[] = [];
  const step = Math.max(1, Math.floor(o.friends / o.follows));
  const followed = (i: number) =>
    Array.from({ length: o.follows }, (_, k) => friendIds[(i + k * step) % o.friends]);
  // Watchers of each friend: the transitions every round must produce.
  const watchersOf = new Map<string, number>();
  let errors = 0;
  try {
    let next = 0;
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < o.watchers) {
        const i = next++;
        const { ws } = await identified(watcherUrl, `${prefix}w${i}`);
        const w = new Watcher(ws, wakeup);
        watchers[i] = w;
        if (!o.presence) continue;
        const ids = followed(i);
        ws.send(JSON.stringify({ type: "watch", ids, ref: "w" }));
        const answer = await w.answer;
        if ((answer.offline as unknown[]).length !== ids.length) errors++;
        for (const id of ids) watchersOf.set(id, (watchersOf.get(id) ?? 0) + 1);
      }
    }));
    const expectedPerRound = [...watchersOf.values()].reduce((n, c) => n + 2 * c, 0);
    const cpu = await cpuReader(target);
    const byProcess = await cpuByProcess(target);
    const received = () => watchers.reduce((n, w) => n + w.frames, 0);

    const round = async () => {
      let i = 0;
      await Promise.all(Array.from({ length: Math.min(o.concurrency, o.friends) }, async () => {
        while (i < o.friends) {
          const { ws } = await identified(target.url, friendIds[i++]);
          await ws.close();
        }
      }));
    };
    const settled = async (frames: number) => {
      const deadline = performance.now() + o.timeoutMs;
      if (o.presence) {
        await until(() => received() >= frames, o.timeoutMs, wakeup);
      }
      const idle = async () =>
        target.urlB === undefined
          ? await sessionsAt(target.url) === o.watchers
          : await sessionsAt(target.url) === 0 && await sessionsAt(target.urlB) === o.watchers;
      await until(idle, Math.max(0, deadline - performance.now()));
    };

    await round();
    await settled(expectedPerRound);
    const framesBefore = received();
    const startCpu = cpu();
    const startBy = byProcess();
    const start = performance.now();
    for (let r = 1; r <= o.rounds; r++) {
      await round();
      await settled(expectedPerRound * (r + 1));
    }
    const seconds = (performance.now() - start) / 1000;
    const cycles = o.rounds * o.friends;
    const endBy = byProcess();
    const cpuUsPerCycleBy = Object.fromEntries(
      Object.entries(endBy).map(([name, us]) => [name, (us - startBy[name]) / cycles]),
    );
    // Each watcher must have been told, per followed friend and round, online then offline.
    let lost = 0, outOfOrder = 0, duplicates = 0, misrouted = 0;
    watchers.forEach((w, i) => {
      errors += w.errors;
      if (!o.presence) {
        misrouted += w.frames;
        return;
      }
      const mine = new Set(followed(i));
      for (const [user, told] of w.told) {
        if (!mine.has(user)) misrouted += told.length;
      }
      for (const user of mine) {
        const told = w.told.get(user) ?? "";
        const wanted = "+-".repeat(o.rounds + 1);
        if (told === wanted) continue;
        if (told.length < wanted.length) lost += wanted.length - told.length;
        else if (told.length > wanted.length) duplicates += told.length - wanted.length;
        else outOfOrder++;
      }
    });
    return {
      cycles,
      seconds,
      cyclesPerSec: cycles / seconds,
      cpuUsPerCycle: (cpu() - startCpu) / cycles,
      cpuUsPerCycleBy,
      framesPerCycle: (received() - framesBefore) / cycles,
      lost,
      outOfOrder,
      duplicates,
      misrouted,
      errors,
    };
  } finally {
    await Promise.all(watchers.filter(Boolean).map((w) => w.ws.close()));
  }
}
