/**
 * The relay on Deno's own server: `Deno.serve` runs the routes, `Deno.upgradeWebSocket`
 * upgrades, and each socket becomes a session's {@linkcode Transport} whose events are handed
 * to the session as plain calls. What the adapter adds: the handshake checks Deno skips (a
 * 16-byte key, version 13), and Deno's own keepalive timeout, reported only as a close (1001)
 * or an error with a fixed message, counted as the protocol's 4006. What it cannot add is in
 * the README ("Transports"): Deno reads frames and messages before the adapter sees them.
 *
 * @module
 */
import { CloseCode } from "../schemas/protocol.ts";
import type { Accepted, Listening, RelayServer, Routes } from "./routes.ts";
import type { Transport } from "./session.ts";
import { checkKeyAndVersion } from "./ws/handshake.ts";
import { UpgradeError } from "./ws/server.ts";

// What Deno 2 reports when a peer leaves its keepalive ping unanswered.
const IDLE_REASON = "No response from ping frame.";
const OPEN = 1; // WebSocket.OPEN

/** A Deno WebSocket as a session's transport: writes only while open, never throws. */
class DenoTransport implements Transport {
  #socket: WebSocket;

  constructor(socket: WebSocket) {
    this.#socket = socket;
  }

  send(text: string): void {
    // Deno's send throws unless the socket is open (it is closing once the peer's close came).
    if (this.#socket.readyState === OPEN) this.#socket.send(text);
  }

  close(code: number, reason: string): void {
    try {
      this.#socket.close(code, reason);
    } catch {
      // Not open yet or already closing: the session is closed either way.
    }
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }
}

function listen(hostname: string, port: number, routes: Routes): Listening {
  const server = Deno.serve(
    { hostname, port, onListen() {} },
    (request, info) => routes(request, info.remoteAddr.hostname),
  );
  return { port: server.addr.port, shutdown: () => server.shutdown() };
}

function upgrade(request: Request, accepted: Accepted): Response {
  // Deno upgrades without a key or a version: refuse as RFC 6455 §4.2 says (400, 426).
  const field = (name: string) => {
    const value = request.headers.get(name);
    return value === null ? [] : [value];
  };
  const refused = checkKeyAndVersion(field("sec-websocket-version"), field("sec-websocket-key"));
  if (refused) return new UpgradeError(refused).response();
  const { socket, response } = Deno.upgradeWebSocket(request, {
    protocol: accepted.protocol,
    idleTimeout: accepted.idleTimeoutMs / 1000,
  });
  const session = accepted.open(new DenoTransport(socket));
  socket.onmessage = (e) => typeof e.data === "string" ? session.text(e.data) : session.binary();
  socket.onclose = (e) => {
    session.closed(
      e.code === CloseCode.goingAway && e.reason === IDLE_REASON
        ? CloseCode.keepaliveTimeout
        : e.code,
    );
  };
  socket.onerror = (e) => {
    const idle = e instanceof ErrorEvent && e.message === IDLE_REASON;
    session.closed(idle ? CloseCode.keepaliveTimeout : 1006);
  };
  return response;
}

/** `Deno.serve` with `Deno.upgradeWebSocket`: the relay's default server. */
export const denoServer: RelayServer = { listen, upgrade };
