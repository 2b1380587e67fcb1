// @ts-check
/// <reference lib="dom" />
/**
 * The chat history of one user in `localStorage`, shared by all of that user's tabs.
 *
 * Every line of a conversation is its own key and a read mark is another key, so no write
 * ever reads, changes and rewrites a value another tab may be writing at the same time:
 * two tabs storing the same received message write the same value under the same key, a
 * sent message is written only by the tab that sent it, and "read" is a key that is only
 * ever added. Nothing is lost to a race. Other tabs learn of every change through the
 * `storage` event ({@link Store.subscribe}).
 *
 * @module
 */

/**
 * One line of a conversation, as stored.
 * @typedef {object} Entry
 * @property {string} key unique within the conversation: `c<cid>` received, `l<id>` sent
 * @property {boolean} mine
 * @property {string} content
 * @property {number} timestamp
 * @property {string} [username]
 * @property {string} [avatar]
 * @property {string} [cid]
 * @property {string} [status] delivery state of a sent line (see layim.js)
 * @property {string} [reason] why a sent line was refused, in words
 * @property {boolean} [system] a system line (never stored)
 */

/** @typedef {{ friend: string, key: string, entry: Entry | null, read: boolean }} Change */

/**
 * A conversation in the recent list.
 * @typedef {{ friend: string, last: Entry, lastReceived: Entry | undefined, unread: number }} Conversation
 */

const PREFIX = "layim-ws:v2:";
/** Lines kept per conversation. */
export const HISTORY_LIMIT = 200;

/** @param {string} s */
const enc = (s) => encodeURIComponent(s);

/** The history of user `mine`. */
export class Store {
  #base;
  /** @param {string} mine */
  constructor(mine) {
    this.#base = `${PREFIX}${enc(mine)}:`;
  }

  /** @param {string} friend */
  #linePrefix(friend) {
    return `${this.#base}m:${enc(friend)}:`;
  }

  /** @param {string} friend */
  #readPrefix(friend) {
    return `${this.#base}r:${enc(friend)}:`;
  }

  /** Every storage key starting with `prefix`. @param {string} prefix */
  #keys(prefix) {
    const keys = [];
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (key?.startsWith(prefix)) keys.push(key);
    }
    return keys;
  }

  /** The conversation with `friend`, oldest first. @param {string} friend @returns {Entry[]} */
  lines(friend) {
    const entries = [];
    for (const key of this.#keys(this.#linePrefix(friend))) {
      const entry = parse(localStorage.getItem(key));
      if (entry) entries.push(entry);
    }
    return entries.sort(byTime);
  }

  /** @param {string} friend @param {string} key @returns {Entry | null} */
  line(friend, key) {
    return parse(localStorage.getItem(this.#linePrefix(friend) + key));
  }

  /**
   * Stores a line (a received line that is already there is left as it is).
   * @param {string} friend
   * @param {Entry} entry
   * @returns {boolean} false when it could not be stored (storage full or disabled)
   */
  put(friend, entry) {
    const name = this.#linePrefix(friend) + entry.key;
    if (!entry.mine && localStorage.getItem(name) !== null) return true;
    try {
      localStorage.setItem(name, JSON.stringify(entry));
    } catch {
      // Full: make room in this conversation and try once more.
      this.#trim(friend, HISTORY_LIMIT / 2);
      try {
        localStorage.setItem(name, JSON.stringify(entry));
      } catch {
        return false;
      }
    }
    this.#trim(friend, HISTORY_LIMIT);
    return true;
  }

  /** Keeps the newest `keep` lines of a conversation. @param {string} friend @param {number} keep */
  #trim(friend, keep) {
    const lines = this.lines(friend);
    for (const old of lines.slice(0, Math.max(0, lines.length - keep))) {
      localStorage.removeItem(this.#linePrefix(friend) + old.key);
      localStorage.removeItem(this.#readPrefix(friend) + old.key);
    }
  }

  /** Whether a received line has been read. @param {string} friend @param {string} key */
  isRead(friend, key) {
    return localStorage.getItem(this.#readPrefix(friend) + key) !== null;
  }

  /** Marks received lines read. @param {string} friend @param {string[]} keys */
  markRead(friend, keys) {
    for (const key of keys) {
      try {
        localStorage.setItem(this.#readPrefix(friend) + key, "1");
      } catch {
        // Storage full: the count stays until the next read.
      }
    }
  }

  /** The received lines of a conversation that are not read yet. @param {string} friend */
  unread(friend) {
    return this.lines(friend).filter((e) => !e.mine && !this.isRead(friend, e.key));
  }

  /**
   * Every conversation that has lines, the most recent first, in one pass over the storage.
   * @returns {Conversation[]}
   */
  conversations() {
    /** @type {Map<string, { lines: Entry[], read: Set<string> }>} */
    const all = new Map();
    const of = (/** @type {string} */ friend) => {
      let c = all.get(friend);
      if (!c) all.set(friend, c = { lines: [], read: new Set() });
      return c;
    };
    for (let i = 0; i < localStorage.length; i++) {
      const name = localStorage.key(i);
      if (!name?.startsWith(this.#base)) continue;
      const [kind, friend, ...rest] = name.slice(this.#base.length).split(":");
      if (kind === "r") of(decodeURIComponent(friend)).read.add(rest.join(":"));
      if (kind !== "m") continue;
      const entry = parse(localStorage.getItem(name));
      if (entry) of(decodeURIComponent(friend)).lines.push(entry);
    }
    /** @type {Conversation[]} */
    const list = [];
    for (const [friend, { lines, read }] of all) {
      if (lines.length === 0) continue;
      lines.sort(byTime);
      list.push({
        friend,
        last: lines[lines.length - 1],
        lastReceived: lines.findLast((e) => !e.mine),
        unread: lines.filter((e) => !e.mine && !read.has(e.key)).length,
      });
    }
    return list.sort((a, b) => b.last.timestamp - a.last.timestamp);
  }

  /** A small preference of this user (shared by their tabs; the last write wins). @param {string} name */
  pref(name) {
    return parse(localStorage.getItem(`${this.#base}p:${name}`));
  }

  /** @param {string} name @param {unknown} value */
  setPref(name, value) {
    try {
      localStorage.setItem(`${this.#base}p:${name}`, JSON.stringify(value));
    } catch {
      // Not kept: the preference applies to this page only.
    }
  }

  /**
   * Calls `callback` for every line or read mark another tab of this user writes.
   * @param {(change: Change) => void} callback
   */
  subscribe(callback) {
    addEventListener("storage", (event) => {
      if (event.storageArea !== localStorage || !event.key?.startsWith(this.#base)) return;
      const [kind, friend, ...rest] = event.key.slice(this.#base.length).split(":");
      if (kind !== "m" && kind !== "r") return;
      callback({
        friend: decodeURIComponent(friend),
        key: rest.join(":"),
        entry: kind === "m" ? parse(event.newValue) : null,
        read: kind === "r",
      });
    });
  }

  /** Moves the history of the previous format (one array per conversation) to this one. */
  migrate() {
    const old = `layim-ws:history:${this.#base.slice(PREFIX.length, -1)}:`;
    for (const key of this.#keys(old)) {
      const friend = key.slice(old.length);
      const lines = parse(localStorage.getItem(key));
      if (Array.isArray(lines)) {
        lines.forEach((/** @type {Entry} */ e, i) => {
          if (e.system) return;
          this.put(friend, { ...e, key: e.cid ? `c${e.cid}` : `o${e.timestamp}-${i}` });
          if (!e.mine) this.markRead(friend, [e.cid ? `c${e.cid}` : `o${e.timestamp}-${i}`]);
        });
      }
      localStorage.removeItem(key);
    }
  }
}

/** @param {Entry} a @param {Entry} b */
function byTime(a, b) {
  return a.timestamp - b.timestamp || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/** @param {string | null} text */
function parse(text) {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
