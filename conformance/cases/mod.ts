/**
 * The case groups, in run order: the one place a group is listed. A new group (for example
 * RFC 6455 framing, presence) is a module exporting a {@link Group} and one entry here.
 *
 * @module
 */
import type { Case, Group } from "../case.ts";
import { cleanup } from "./cleanup.ts";
import { identify } from "./identify.ts";
import { offline } from "./offline.ts";
import { presence } from "./presence.ts";
import { robustness } from "./robustness.ts";
import { routing } from "./routing.ts";
import { transport } from "./transport.ts";
import { v1 } from "./v1.ts";

/**
 * Every group, in run order. The WebSocket layer's cases come last: they are the most hostile,
 * and a server they crash has had its protocol cases judged first.
 */
export const GROUPS: readonly Group[] = [
  identify,
  routing,
  offline,
  cleanup,
  robustness,
  v1,
  presence,
  transport,
];

/** Every case, in run order. */
export const CASES: readonly Case[] = GROUPS.flatMap((g) => g.cases);
