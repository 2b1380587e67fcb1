/**
 * The `transport` section against real WebSocket implementations: both transports of the
 * reference relay in both profiles, and the Node `ws`, Bun and Python `websockets` servers of
 * the bench. Every verdict is asserted, case by case, with why that implementation gives it —
 * the section must fail exactly what each one gets wrong, and pass what it does right.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { serveRelay } from "../reference/mod.ts";
import type { TransportName } from "../reference/transports.ts";
import { RELAYS, startRelay } from "../bench/relays.ts";
import { startSeedPython } from "./fixtures/seed_python.ts";
import { listCases, type Report, runConformance } from "./mod.ts";

const FAST = { timeoutMs: 1500, settleMs: 60, quietMs: 100 } as const;

type Verdict = [status: "fail" | "finding", requirement: string, actual: RegExp];

/** Deno's WebSocket fails the connection on these without a close frame: TCP just ends. */
const DROPPED = /ended without a close frame \(1006\)/;

/** What each server gets wrong; every other transport case must pass. */
const EXPECTED: Record<string, Record<string, Verdict>> = {
  tcp: {},
  deno: {
    // Deno.upgradeWebSocket reads unmasked client frames like masked ones.
    "transport/unmasked": ["fail", "WS-4", /^still open after \d+ ms; B received its message/],
    // A fragmented text message ending inside a character arrives without its last bytes.
    "transport/utf8-incomplete-end": ["fail", "WS-11", /^still open after/],
    // Every other violation is refused, but by dropping TCP: the client sees 1006, not why.
    "transport/reserved-bits": ["finding", "WS-13", DROPPED],
    "transport/reserved-opcodes": ["finding", "WS-13", DROPPED],
    "transport/control-long": ["finding", "WS-13", DROPPED],
    "transport/control-fragmented": ["finding", "WS-13", DROPPED],
    "transport/continuation-first": ["finding", "WS-13", DROPPED],
    "transport/data-inside-message": ["finding", "WS-13", DROPPED],
    "transport/utf8-invalid": ["finding", "WS-13", DROPPED],
    "transport/utf8-across-fragments": ["finding", "WS-13", DROPPED],
    "transport/close-codes": ["finding", "WS-13", /^a 1-byte body: TCP connection ended/],
    "transport/close-reason-utf8": ["finding", "WS-13", /: TCP connection ended without/],
  },
  // ws 8 still accepts Sec-WebSocket-Version 8 (the hybi-08 draft) beside 13.
  node: { "transport/handshake-version": ["fail", "WS-2", /upgraded \(101\)/] },
  bun: {},
  // websockets 10.4 refuses version 8 with a bare 400, naming no version it speaks.
  seed: { "transport/handshake-version": ["fail", "WS-2", /^HTTP 400 without one$/] },
};

/** Asserts the verdicts of `report` against `expected`: exactly those fail, the rest pass. */
function assertVerdicts(report: Report, expected: Record<string, Verdict>, name: string): void {
  const transportCases = listCases().filter((c) => c.group === "transport").map((c) => c.id);
  const got = Object.fromEntries(report.results.map((r) => [r.id, r]));
  assertEquals(Object.keys(got).sort(), [...transportCases].sort(), name);
  const wrong = report.results.flatMap((r) => {
    const want = expected[r.id];
    const status = want ? want[0] : "pass";
    if (r.status === status && (!want || r.requirement === want[1])) return [];
    return [`${r.id}: ${r.status} [${r.requirement}] ${r.cause ?? r.actual ?? r.reason ?? ""}`];
  });
  assertEquals(wrong, [], `${name}: verdicts its implementation does not justify`);
  for (const [id, [, , actual]] of Object.entries(expected)) {
    assertMatch(got[id].actual ?? "", actual, `${name} ${id}`);
  }
}

for (const transport of ["tcp", "deno"] as TransportName[]) {
  for (const profile of ["v1", "legacy"] as const) {
    Deno.test(`transport section: the reference relay on ${transport}, ${profile}`, async () => {
      const relay = await serveRelay({ port: 0, webRoot: null, transport });
      try {
        const report = await runConformance({
          url: relay.wsUrl,
          profile,
          only: ["transport"],
          ...FAST,
        });
        assertEquals(report.profile, profile);
        assertVerdicts(report, EXPECTED[transport], `${transport} ${profile}`);
      } finally {
        await relay.close();
      }
    });
  }
}

for (const name of ["node", "bun"] as const) {
  Deno.test(`transport section: the ${RELAYS[name].label}`, async () => {
    const missing = await RELAYS[name].prepare();
    if (missing) throw new Error(`${name} cannot run here: ${missing}`);
    const relay = await startRelay(RELAYS[name]);
    try {
      // Both select the first subprotocol offered, layim-ws.v1 included: they speak legacy.
      const report = await runConformance({
        url: relay.url,
        profile: "legacy",
        only: ["transport"],
        ...FAST,
      });
      assertVerdicts(report, EXPECTED[name], name);
    } finally {
      await relay.stop();
    }
  });
}

Deno.test("transport section: the seed's Python server (websockets)", async () => {
  await using seed = await startSeedPython();
  const report = await runConformance({ url: seed.url, only: ["transport"], ...FAST });
  assertVerdicts(report, EXPECTED.seed, "seed");
});
