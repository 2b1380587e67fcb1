/**
 * The reference relay of layim-ws: `serveRelay(options)` starts one (on the project's own
 * RFC 6455 transport unless `options.transport` is `deno` or `options.server` names another
 * {@linkcode RelayServer}). A server adapter implements
 * `RelayServer` and connects each WebSocket to a session through {@linkcode Transport} and
 * {@linkcode SessionEvents}.
 *
 * ```ts ignore
 * import { serveRelay } from "./mod.ts";
 * const relay = await serveRelay({ port: 0 });
 * console.log(relay.wsUrl);
 * await relay.close();
 * ```
 *
 * @module
 */
export { type Relay, type RelayOptions, relayServer, serveRelay } from "./relay.ts";
export {
  type Broker,
  type BrokerFactory,
  BrokerUnavailable,
  type DeliverLocal,
  type Envelope,
} from "./broker.ts";
export { LocalBroker, localBroker } from "./broker_local.ts";
export { denoServer } from "./deno_adapter.ts";
export { tcpServer, type TcpServerOptions } from "./tcp_adapter.ts";
export { DEFAULT_TRANSPORT, TRANSPORT_NAMES, type TransportName } from "./transports.ts";
export type { RelayStats } from "./hub.ts";
export {
  DEFAULT_PRESENCE,
  type PresenceBus,
  type PresenceMode,
  type PresenceSettings,
} from "./presence.ts";
export type { Session } from "./registry.ts";
export type { Accepted, Listening, RelayServer, Routes, Upgrade } from "./routes.ts";
export type { SessionEvents, Transport } from "./session.ts";
