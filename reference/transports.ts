/**
 * The relay's WebSocket transports by name (`--transport`, `RelayOptions.transport`):
 * `tcp`, the project's own RFC 6455 server on `Deno.listen` (`tcp_adapter.ts`), and `deno`,
 * `Deno.serve` with `Deno.upgradeWebSocket` (`deno_adapter.ts`). Names only, so that the
 * command line can list them without loading either.
 *
 * @module
 */

/** A transport's name. */
export type TransportName = "tcp" | "deno";

/** Every transport, the default first. */
export const TRANSPORT_NAMES: readonly TransportName[] = ["tcp", "deno"];

/**
 * The default: the one that passes the transport conformance section and survives the
 * attacks of issue 13 (see the README's "Transports").
 */
export const DEFAULT_TRANSPORT: TransportName = "tcp";
