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
  BrokerUnavailable,
  type DeliverLocal,
  type Envelope,
  LocalBroker,
  localBroker,
} from "./broker.ts";
export type { Fault } from "./router.ts";
export type { Session } from "./registry.ts";
