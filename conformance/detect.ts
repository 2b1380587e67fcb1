/**
 * Recognises a server that speaks another protocol on top of WebSocket (Engine.IO/Socket.IO,
 * SockJS, STOMP, MQTT, WAMP, a binary protocol) from what it did before and right after the
 * first frame, so that the run stops with one sentence instead of failing every case.
 *
 * @module
 */
import type { HandshakeError, ReceivedMessage } from "./wire.ts";

/** What the probe saw of the server. */
export interface Observation {
  /** The opening handshake failed with this error. */
  handshake?: HandshakeError;
  /** The subprotocol the server selected. */
  protocol?: string;
  /** What the server sent before and right after the runner's first frame. */
  received?: readonly ReceivedMessage[];
}

const LAYIM = "a LayIM server exchanges plain JSON text frames";

function brief(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** The sentence saying what protocol the server speaks, or `undefined` when nothing else is seen. */
export function recognize(o: Observation): string | undefined {
  const h = o.handshake;
  if (h?.body !== undefined) {
    let json: { code?: unknown; message?: unknown } | undefined;
    try {
      json = JSON.parse(h.body);
    } catch {
      json = undefined;
    }
    if (typeof json?.code === "number" && typeof json.message === "string") {
      return `the server speaks Engine.IO (Socket.IO), not plain WebSocket: it answered the upgrade with HTTP ${h.status} ${
        brief(h.body.trim())
      }, an Engine.IO error (point --url at /socket.io/?EIO=4&transport=websocket to confirm; ${LAYIM})`;
    }
    if (/welcome to sockjs/i.test(h.body)) {
      return `the server speaks SockJS, not plain WebSocket: it answered the upgrade with HTTP ${h.status} "Welcome to SockJS!" (${LAYIM})`;
    }
  }
  const protocol = o.protocol ?? "";
  if (/stomp/i.test(protocol)) {
    return `the server speaks STOMP: it selected the subprotocol ${protocol} (${LAYIM})`;
  }
  if (/^mqtt/i.test(protocol)) {
    return `the server speaks MQTT: it selected the subprotocol ${protocol} (${LAYIM})`;
  }
  if (/^wamp/i.test(protocol)) {
    return `the server speaks WAMP: it selected the subprotocol ${protocol} (${LAYIM})`;
  }
  const received = o.received ?? [];
  const first = received.find((m) => m.kind === "text");
  if (first) {
    const t = first.text;
    if (/^0\{.*"sid"/s.test(t)) {
      return `the server speaks Engine.IO (Socket.IO), not plain WebSocket: its first frame is the Engine.IO open packet ${
        brief(t)
      } (${LAYIM})`;
    }
    if (t === "o" || /^[ac]\[/.test(t) || t === "h") {
      return `the server speaks SockJS, not plain WebSocket: its first frame is the SockJS frame ${
        JSON.stringify(brief(t))
      } (${LAYIM})`;
    }
    if (/^(CONNECTED|ERROR|MESSAGE|RECEIPT)\r?\n/.test(t)) {
      return `the server speaks STOMP: it answered with the STOMP frame ${
        JSON.stringify(brief(t.split(/\r?\n/)[0]))
      } (${LAYIM})`;
    }
  }
  if (received.length > 0 && received.every((m) => m.kind === "binary")) {
    return `the server speaks a binary protocol: it sent ${received.length} binary frame${
      received.length > 1 ? "s" : ""
    } and no text (${LAYIM})`;
  }
  return undefined;
}
