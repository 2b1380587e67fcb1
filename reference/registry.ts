/**
 * The session registry: user id → that user's open sessions, oldest first.
 *
 * Lists are replaced, never mutated, so a delivery loop over a list stays valid while a
 * session of it closes (a slow consumer closed mid fan-out, a cap eviction).
 *
 * @module
 */
import type { Profile } from "../schemas/protocol.ts";

/** One identified connection, as the routing core sees it. */
export interface Session {
  /** Server-assigned session id, unique on this node. */
  readonly id: string;
  /** The identified user id (canonical string form). */
  readonly userId: string;
  /** The profile negotiated at the upgrade. */
  readonly profile: Profile;
  /** Display name from the token or the directory, when known. */
  readonly username?: string;
  /** Avatar from the token or the directory, when known. */
  readonly avatar?: string;
  /** Writes one text frame. Never throws. */
  send(text: string): void;
  /** Closes the connection; idempotent. */
  close(code: number, reason: string): void;
}

const EMPTY: readonly never[] = Object.freeze([]);

/** User id → open sessions. Sessions are removed by identity, never by user id. */
export class Registry<S extends Session = Session> {
  #users = new Map<string, readonly S[]>();
  #sessions = 0;

  /** Open sessions of `userId`, oldest first (an empty list when none). */
  get(userId: string): readonly S[] {
    return this.#users.get(userId) ?? EMPTY;
  }

  /** Adds `session`; true when it is the user's first session on this node. */
  add(session: S): boolean {
    const list = this.#users.get(session.userId);
    if (list?.includes(session)) return false;
    this.#users.set(session.userId, list ? [...list, session] : [session]);
    this.#sessions++;
    return list === undefined;
  }

  /**
   * Removes exactly this session object; a stale session (already gone or replaced by a
   * newer one of the same user) leaves the others alone. True when it was present.
   */
  remove(session: S): boolean {
    const list = this.#users.get(session.userId);
    if (!list) return false;
    const i = list.indexOf(session);
    if (i < 0) return false;
    if (list.length === 1) this.#users.delete(session.userId);
    else this.#users.set(session.userId, list.filter((s) => s !== session));
    this.#sessions--;
    return true;
  }

  /** Whether `userId` has an open session here. */
  has(userId: string): boolean {
    return this.#users.has(userId);
  }

  /** Open sessions. */
  get sessions(): number {
    return this.#sessions;
  }

  /** Users with at least one open session. */
  get users(): number {
    return this.#users.size;
  }
}
