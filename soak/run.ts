/**
 * The soak's clients: `clients` v1 connections shared by `users` users, each one connecting,
 * identifying, sending messages with a `ref` to random users (a window of them in flight),
 * then leaving after a random life and coming back after a random pause, until the run has
 * sent its messages or its time is up. Everything is recorded in a {@linkcode Ledger}, which
 * checks the guarantees as the run goes.
 *
 * A session leaves cleanly: it stops sending, waits for its last outcome, sends a `ping` and
 * closes once the `pong` is back, so every frame the relay wrote to it before has arrived.
 *
 * @module
 */
import { SUBPROTOCOL } from "../schemas/protocol.ts";
import { Ledger, type LedgerCounts, type Outcome } from "./ledger.ts";

/** How a soak runs. */
export interface SoakOptions {
  /** The relay's WebSocket URL. */
  url: string;
  /** Connections (at most this many open at once). */
  clients: number;
  /** Users the connections identify as (connection i is user i mod users). */
  users: number;
  /** Stop sending after this many messages (the run ends once every session has left). */
  messages?: number;
  /** Stop sending after this long (ms). */
  durationMs?: number;
  /** Messages in flight per connection. */
  window: number;
  /** Mean life of a session before it leaves (ms, exponentially distributed). */
  meanLifeMs: number;
  /** Mean pause before a connection comes back (ms, exponentially distributed). */
  meanPauseMs: number;
  /** Seed of the random choices (targets, lives, pauses). */
  seed: number;
  /** How long a session may wait for an outcome before it counts as stuck (default 10 s). */
  outcomeWaitMs?: number;
  /** Called every `progressMs` with the counts so far. */
  onProgress?: (progress: SoakProgress) => void;
  progressMs?: number;
}

/** Where a run is. */
export interface SoakProgress {
  elapsedMs: number;
  counts: LedgerCounts;
  open: number;
  inFlight: number;
  violations: number;
}

/** The outcome of a run. */
export interface SoakResult {
  elapsedMs: number;
  counts: LedgerCounts;
  /** Connections that failed to open or identify. */
  connectFailures: number;
  violationCount: number;
  violations: string[];
}

/** Mulberry32: a small seeded generator, so a run's choices can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Resolves after `ms`: a client's think time, not a synchronisation. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs the soak against `options.url`; resolves once every session has left. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const outcomeWait = options.outcomeWaitMs ?? 10_000;
  const ledger = new Ledger();
  const rand = random(options.seed);
  const exp = (mean: number) => -mean * Math.log(1 - rand());
  const started = performance.now();
  let budget = options.messages ?? Infinity;
  let stopping = false;
  let connectFailures = 0;
  const stopAt = options.durationMs === undefined ? Infinity : started + options.durationMs;
  const sending = () => !stopping && budget > 0 && performance.now() < stopAt;

  /** One connection's life: open, identify, send, leave. Resolves when it has closed. */
  async function life(slot: number, n: number): Promise<void> {
    const user = `soak-${slot % options.users}`;
    const conn = `s${slot}.${n}`;
    const socket = new WebSocket(options.url, SUBPROTOCOL);
    let ready = false;
    let leaving = false;
    let seq = 0;
    let inFlight = 0;
    let leaveAt = Infinity;
    let lastOutcome = 0;
    let closed!: () => void;
    const done = new Promise<void>((resolve) => closed = resolve);
    let identified!: (ok: boolean) => void;
    const readyOrNot = new Promise<boolean>((resolve) => identified = resolve);
    // Resolves when the session has nothing in flight and stops sending (or is closed).
    let idle!: () => void;
    const stopped = new Promise<void>((resolve) => idle = resolve);
    let ponged!: () => void;
    const pong = new Promise<void>((resolve) => ponged = resolve);

    const pump = () => {
      while (inFlight < options.window && performance.now() < leaveAt && sending()) {
        budget--;
        seq++;
        inFlight++;
        const to = `soak-${Math.floor(rand() * options.users)}`;
        const content = ledger.sent(conn, seq, to, performance.now());
        socket.send(JSON.stringify({
          mine: { id: user, content },
          to: { id: to, type: "friend" },
          ref: String(seq),
        }));
      }
      if (inFlight === 0) idle();
    };
    const outcome = (ref: string, kind: Outcome) => {
      lastOutcome = performance.now();
      ledger.outcome(conn, Number(ref), kind, lastOutcome);
      inFlight--;
      pump();
    };

    socket.onopen = () => socket.send(JSON.stringify({ type: "identify", id: user }));
    socket.onmessage = (e) => {
      const frame = JSON.parse(e.data);
      switch (frame.type) {
        case "friend":
          return ledger.received(conn, frame.content, performance.now());
        case "ack":
          return outcome(frame.ref, "ack");
        case "undelivered":
          return outcome(frame.ref, frame.reason === "offline" ? "offline" : "unavailable");
        case "error":
          return frame.ref === undefined
            ? ledger.lost(conn, `error ${frame.code} without a ref`)
            : outcome(frame.ref, "error");
        case "ready":
          ready = true;
          ledger.ready(conn, user, performance.now());
          return identified(true);
        case "pong":
          return ponged();
      }
    };
    socket.onerror = () => {};
    socket.onclose = (e) => {
      if (!ready) {
        connectFailures++;
        identified(false);
      } else if (!leaving) ledger.lost(conn, `closed by the relay with ${e.code}`);
      ledger.closed(conn);
      leaving = true;
      idle();
      ponged();
      closed();
    };

    if (!await readyOrNot) return done;
    lastOutcome = performance.now();
    leaveAt = lastOutcome + exp(options.meanLifeMs);
    // Ends the life on time when nothing is in flight to end it, and catches a stuck session.
    const watchdog = setInterval(() => {
      const now = performance.now();
      if (inFlight > 0 && now - lastOutcome > outcomeWait) {
        ledger.lost(conn, `${inFlight} message(s) without an outcome for ${outcomeWait} ms`);
        leaving = true;
        socket.close(1000);
      } else pump();
    }, 100);
    pump();
    await stopped;
    clearInterval(watchdog);
    if (leaving) return done;
    leaving = true;
    const byeAt = performance.now();
    socket.send(JSON.stringify({ type: "ping", data: "bye" }));
    await pong;
    if (socket.readyState === WebSocket.OPEN) {
      ledger.leave(conn, byeAt);
      socket.close(1000);
    }
    return done;
  }

  async function slot(i: number): Promise<void> {
    // Connections start spread over the first second, not all in one instant.
    await pause(rand() * 1000);
    for (let n = 1; sending(); n++) {
      await life(i, n);
      if (sending()) await pause(exp(options.meanPauseMs));
    }
  }

  const every = options.progressMs ?? 5000;
  const timer = options.onProgress
    ? setInterval(() =>
      options.onProgress!({
        elapsedMs: performance.now() - started,
        counts: { ...ledger.counts },
        open: ledger.open,
        inFlight: ledger.inFlight,
        violations: ledger.violationCount,
      }), every)
    : undefined;
  try {
    await Promise.all(Array.from({ length: options.clients }, (_, i) => slot(i)));
  } finally {
    stopping = true;
    clearInterval(timer);
  }
  ledger.finish();
  return {
    elapsedMs: performance.now() - started,
    counts: ledger.counts,
    connectFailures,
    violationCount: ledger.violationCount,
    violations: ledger.violations,
  };
}
