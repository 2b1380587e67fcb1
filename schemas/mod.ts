/**
 * The layim-ws frame schemas as code: TypeScript types generated from the JSON Schemas,
 * validators compiled from them, and the protocol constants.
 *
 * ```ts
 * import { isSendMessage, parseClientFrame } from "@layim-ws/layim-ws/schemas";
 * const result = parseClientFrame('{"type":"ping"}');
 * if (result.ok && !isSendMessage(result.frame)) console.log(result.frame.type); // "ping"
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./protocol.ts";
export {
  isSendMessage,
  normalizeId,
  parseClientFrame,
  parseServerFrame,
  type SchemaName,
  schemas,
  validateClientFrame,
  validateLegacyId,
  validateServerFrame,
  validateWith,
  type Validation,
} from "./validate.ts";
