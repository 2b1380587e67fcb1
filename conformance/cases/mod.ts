/**
 * Every conformance case, in run order.
 *
 * @module
 */
import type { Case } from "../case.ts";
import { cleanupCases } from "./cleanup.ts";
import { identifyCases } from "./identify.ts";
import { offlineCases } from "./offline.ts";
import { robustnessCases } from "./robustness.ts";
import { routingCases } from "./routing.ts";
import { v1Cases } from "./v1.ts";

/** All cases, grouped as identify, routing, offline, cleanup, robustness, v1. */
export const CASES: readonly Case[] = [
  ...identifyCases,
  ...routingCases,
  ...offlineCases,
  ...cleanupCases,
  ...robustnessCases,
  ...v1Cases,
];
