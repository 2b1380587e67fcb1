/**
 * The reference relay of layim-ws: `serveRelay(options)` starts one on `Deno.serve`.
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
export { type Relay, type RelayOptions, serveRelay } from "./relay.ts";
export {
  type Broker,
  type BrokerFactory,
  BrokerUnavailable,
  type DeliverLocal,
  type Envelope,
} from "./broker.ts";
export { LocalBroker, localBroker } from "./broker_local.ts";
export type { Session } from "./registry.ts";
