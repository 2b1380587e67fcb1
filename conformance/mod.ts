/**
 * The layim-ws conformance runner as a library: point it at any LayIM WebSocket server and get
 * a report of every case, each failure naming the requirement of `spec/protocol.md` it breaks.
 *
 * ```ts
 * import { runConformance } from "@layim-ws/layim-ws/conformance";
 * const report = await runConformance({ url: "ws://127.0.0.1:8080/ws" });
 * console.log(report.summary, report.failedRequirements, report.ok);
 * ```
 *
 * @module
 */
export {
  type CaseResult,
  type ConformanceOptions,
  type FailedRequirement,
  listCases,
  OtherProtocolError,
  type Report,
  type Requirement,
  runConformance,
  type RunInfo,
  selectCases,
  SetupError,
  type Status,
  type Transcript,
} from "./run.ts";
export {
  BOTH,
  type Case,
  CaseFailure,
  CaseSkip,
  type CaseSpec,
  type Group,
  group,
  LEGACY,
  type Level,
  V1,
} from "./case.ts";
export { GROUPS } from "./cases/mod.ts";
export { CaseContext, type OpenOptions, type RunSettings } from "./context.ts";
export { type Message, Peer, type PeerSettings, type SendOptions } from "./peer.ts";
export {
  closeBody,
  type CloseRecord,
  decodeFrame,
  encodeFrame,
  type FrameSpec,
  HandshakeError,
  type LoggedFrame,
  Opcode,
  parseCloseBody,
  type RawFrame,
  type ReceivedMessage,
  WireClient,
  type WireFrame,
  type WireOptions,
} from "./wire.ts";
export * as verify from "./verify.ts";
export {
  type Dialect,
  DialectError,
  type IdentifyStyle,
  type Json,
  loadDialect,
  type Match,
  parseDialect,
  type ReceiveRule,
} from "./dialect.ts";
export {
  type Baseline,
  type BaselineComparison,
  BaselineError,
  compareBaseline,
  loadBaseline,
  makeBaseline,
} from "./baseline.ts";
export { recognize } from "./detect.ts";
export type { BadTokenKind, TokenSource } from "./tokens.ts";
export type { Limits, Profile } from "../schemas/protocol.ts";
