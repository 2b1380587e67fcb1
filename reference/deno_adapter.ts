/**
 * The relay on Deno's own server: `Deno.serve` runs the routes, `Deno.upgradeWebSocket`
 * upgrades, and each socket becomes a session's {@linkcode Transport} whose events are handed
 * to the session as plain calls. The adapter's one piece of knowledge: Deno reports its own
 * keepalive timeout only as a close (1001) or an error with a fixed message, which the
 * protocol calls 4006.
 *
 * @module
 */
import { CloseCode } from "../schemas/protocol.ts";
import type { Accepted, Listening, RelayServer, Routes } from "./routes.ts";
import type { Transport } from "./session.ts";

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
