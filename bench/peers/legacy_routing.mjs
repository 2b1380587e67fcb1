/**
 * The routing every minimal baseline relay shares (Deno on either transport, Node `ws`, Bun),
 * so that what differs between them is the runtime and its WebSocket only: the first text
 * frame is the user id, a `Map` of sessions per user, `JSON.parse` (a frame that is not JSON is
 * ignored), a map lookup, a getMessage built with `JSON.stringify`. No validation, no limits.
 *
 * ```js
 * import { legacyRouting } from "./legacy_routing.mjs";
 * const routing = legacyRouting();
 * // per socket: routing.text(socket, state, text) for each text frame, routing.leave(socket, state)
 * ```
 *
 * @module
 */

/**
 * @typedef {{ send(text: string): unknown }} Peer
 * @typedef {{ id?: string }} PeerState
 */

/** A relay's sessions and the handlers of its sockets' text frames and closes. */
export function legacyRouting() {
  /** @type {Map<string, Set<Peer>>} */
  const sessions = new Map();
  let nextCid = 0;
  return {
    /**
     * A text frame of `socket`: its identify (the first), or a message to route.
     * @param {Peer} socket
     * @param {PeerState} state
     * @param {string} text
     */
    text(socket, state, text) {
      const id = state.id;
      if (id === undefined) {
        state.id = text;
        let own = sessions.get(text);
        if (own === undefined) sessions.set(text, own = new Set());
        own.add(socket);
        return;
      }
      let message;
      try {
        message = JSON.parse(text);
      } catch {
        return;
      }
      const peers = sessions.get(String(message?.to?.id));
      if (peers === undefined) return;
      const mine = message.mine ?? {};
      const out = JSON.stringify({
        username: mine.username,
        avatar: mine.avatar,
        id,
        type: "friend",
        content: mine.content,
        timestamp: Date.now(),
        fromid: id,
        cid: String(++nextCid),
        mine: false,
      });
      for (const peer of peers) if (peer !== socket) peer.send(out);
    },
    /**
     * `socket` is gone.
     * @param {Peer} socket
     * @param {PeerState} state
     */
    leave(socket, state) {
      if (state.id === undefined) return;
      const own = sessions.get(state.id);
      if (own === undefined) return;
      own.delete(socket);
      if (own.size === 0) sessions.delete(state.id);
    },
  };
}
