/**
 * layim-ws: a protocol for one-to-one LayIM chat over WebSocket.
 *
 * This module exports the frame types generated from the JSON Schemas, the validators
 * compiled from them and the protocol constants. The reference relay and the conformance
 * runner have their own entry points (see `deno.json` exports).
 *
 * @module
 */
export * from "./schemas/mod.ts";
