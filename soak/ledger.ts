/**
 * The soak's bookkeeping, without I/O: every session's life, every message's send, outcome and
 * receipts, and the v1 guarantees checked against them as the run goes:
 *
 * - every `ack`ed message is received exactly once by every session of the recipient that was
 *   ready before it was sent and still open after its ack arrived (a session leaves by sending a
 *   `ping` after its last ack and closing at the `pong`, so what was handed to it before has
 *   arrived), and never by the sending connection;
 * - every `undelivered` message is received by nobody;
 * - a session receives nothing twice, nothing meant for another user, and the messages of each
 *   sender connection in the order they were sent;
 * - every message gets exactly one outcome.
 *
 * Times are the soak process's clock (`performance.now()`): the order in which this one process
 * saw the events is what the guarantees are about.
 *
 * ```ts
 * import { Ledger } from "./ledger.ts";
 * const ledger = new Ledger();
 * ledger.ready("a.1", "alice", 1);
 * ledger.ready("b.1", "bob", 2);
 * const content = ledger.sent("a.1", 1, "bob", 3);
 * ledger.received("b.1", content, 4);
 * ledger.outcome("a.1", 1, "ack", 5);
 * ledger.leave("b.1", 6);
 * ledger.violations; // []
 * ```
 *
 * @module
 */

/** The outcome of one message, as its sender saw it. */
export type Outcome = "ack" | "offline" | "unavailable" | "error";

/** Counts of a run. */
export interface LedgerCounts {
  sent: number;
  acked: number;
  offline: number;
  unavailable: number;
  errors: number;
  /** getMessage frames received by the soak's sessions. */
  received: number;
  /** (message, session) pairs that had to be received, and were checked. */
  required: number;
  /** Sessions that identified, and that left cleanly. */
  sessions: number;
  left: number;
}

interface SessionState {
  user: string;
  readyAt: number;
  /** Index into the recipient's acked list from which messages may be owed to this session. */
  from: number;
  received: Set<string>;
  lastSeq: Map<string, number>;
}

interface Pending {
  to: string;
  sentAt: number;
  receipts: number;
}

interface Acked {
  key: string;
  conn: string;
  sentAt: number;
  ackAt: number;
}

/** A user's acked messages still owed to some open session, from global index `base`. */
interface AckedList {
  base: number;
  items: Acked[];
}

const MAX_VIOLATIONS = 50;

/** Records a soak run and checks its guarantees; {@linkcode violations} lists what failed. */
export class Ledger {
  readonly counts: LedgerCounts = {
    sent: 0,
    acked: 0,
    offline: 0,
    unavailable: 0,
    errors: 0,
    received: 0,
    required: 0,
    sessions: 0,
    left: 0,
  };
  /** The first violations (up to 50), one line each; {@linkcode violationCount} counts all. */
  readonly violations: string[] = [];
  violationCount = 0;
  #sessions = new Map<string, SessionState>();
  #byUser = new Map<string, Set<string>>();
  #pending = new Map<string, Pending>();
  #undelivered = new Set<string>();
  #acked = new Map<string, AckedList>();
  #lastOutcome = new Map<string, number>();

  #violate(text: string): void {
    this.violationCount++;
    if (this.violations.length < MAX_VIOLATIONS) this.violations.push(text);
  }

  #list(user: string): AckedList {
    let list = this.#acked.get(user);
    if (!list) this.#acked.set(user, list = { base: 0, items: [] });
    return list;
  }

  /** Session `session` of `user` received its `ready` at `at`. */
  ready(session: string, user: string, at: number): void {
    const list = this.#list(user);
    this.#sessions.set(session, {
      user,
      readyAt: at,
      from: list.base + list.items.length,
      received: new Set(),
      lastSeq: new Map(),
    });
    let open = this.#byUser.get(user);
    if (!open) this.#byUser.set(user, open = new Set());
    open.add(session);
    this.counts.sessions++;
  }

  /** Connection `conn` sent its message number `seq` to `to` at `at`; returns its content. */
  sent(conn: string, seq: number, to: string, at: number): string {
    const key = `${conn}|${seq}`;
    this.#pending.set(key, { to, sentAt: at, receipts: 0 });
    this.counts.sent++;
    return `soak|${key}|${to}`;
  }

  /** Connection `conn` got the outcome of its message `seq` at `at`. */
  outcome(conn: string, seq: number, outcome: Outcome, at: number): void {
    const key = `${conn}|${seq}`;
    const pending = this.#pending.get(key);
    if (!pending) {
      this.#violate(`${key}: an outcome (${outcome}) for no message in flight (twice?)`);
      return;
    }
    const last = this.#lastOutcome.get(conn) ?? 0;
    if (seq <= last) this.#violate(`${key}: outcome after the outcome of ${conn}|${last}`);
    this.#lastOutcome.set(conn, seq);
    this.#pending.delete(key);
    if (outcome === "ack") {
      this.counts.acked++;
      this.#list(pending.to).items.push({ key, conn, sentAt: pending.sentAt, ackAt: at });
      return;
    }
    if (outcome === "error") this.counts.errors++;
    else this.counts[outcome]++;
    this.#undelivered.add(key);
    if (pending.receipts > 0) {
      this.#violate(`${key}: ${outcome}, yet received ${pending.receipts} time(s)`);
    }
  }

  /** Session `session` received a getMessage whose content is `content` at `_at`. */
  received(session: string, content: string, _at: number): void {
    this.counts.received++;
    const s = this.#sessions.get(session);
    const [tag, conn, seqText, to] = content.split("|");
    const seq = Number(seqText);
    const key = `${conn}|${seqText}`;
    if (!s) return this.#violate(`${key}: received by ${session}, which is not open`);
    if (tag !== "soak" || !Number.isSafeInteger(seq)) {
      return this.#violate(`${session}: received foreign content ${JSON.stringify(content)}`);
    }
    if (to !== s.user) return this.#violate(`${key}: meant for ${to}, received by ${s.user}`);
    if (conn === session) this.#violate(`${key}: received by its own sending connection`);
    if (s.received.has(key)) return this.#violate(`${key}: received twice by ${session}`);
    s.received.add(key);
    const last = s.lastSeq.get(conn) ?? 0;
    if (seq <= last) this.#violate(`${key}: received by ${session} after ${conn}|${last}`);
    else s.lastSeq.set(conn, seq);
    const pending = this.#pending.get(key);
    if (pending) pending.receipts++;
    else if (this.#undelivered.has(key)) this.#violate(`${key}: undelivered, yet received`);
  }

  /**
   * Session `session` left cleanly: it stopped sending at `at` and every frame the relay wrote
   * to it before has arrived. Checks what it was owed; what it receives until it is
   * {@linkcode closed} is still checked (never twice, never another user's, never undelivered).
   */
  leave(session: string, at: number): void {
    const s = this.#end(session);
    if (!s) return;
    this.counts.left++;
    const list = this.#list(s.user);
    for (let i = Math.max(0, s.from - list.base); i < list.items.length; i++) {
      const m = list.items[i];
      if (m.ackAt >= at) break;
      if (m.sentAt <= s.readyAt || m.conn === session) continue;
      this.counts.required++;
      if (!s.received.has(m.key)) {
        this.#violate(
          `${m.key}: acked, never received by ${session} of ${s.user}, open throughout`,
        );
      }
    }
    this.#prune(s.user);
  }

  /** Session `session` ended without leaving cleanly, for the reason `why`. */
  lost(session: string, why: string): void {
    const s = this.#end(session);
    if (!s) return;
    this.#violate(`${session} of ${s.user}: ${why}`);
    this.#prune(s.user);
  }

  /** The connection of `session` is closed: nothing more can arrive on it. */
  closed(session: string): void {
    this.#sessions.delete(session);
  }

  #end(session: string): SessionState | undefined {
    const s = this.#sessions.get(session);
    if (!s || !this.#byUser.get(s.user)!.delete(session)) return undefined;
    return s;
  }

  /** Forgets the acked messages of `user` that no open session can still be owed. */
  #prune(user: string): void {
    const list = this.#list(user);
    let keep = list.base + list.items.length;
    for (const id of this.#byUser.get(user) ?? []) {
      keep = Math.min(keep, this.#sessions.get(id)!.from);
    }
    const drop = keep - list.base;
    if (drop > 0) {
      list.items.splice(0, drop);
      list.base = keep;
    }
  }

  /** Messages whose outcome has not arrived. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sessions open now (identified, not yet left). */
  get open(): number {
    let n = 0;
    for (const sessions of this.#byUser.values()) n += sessions.size;
    return n;
  }

  /** Ends the run: a message without an outcome is a violation. */
  finish(): void {
    for (const key of this.#pending.keys()) this.#violate(`${key}: no outcome`);
    this.#pending.clear();
  }
}
