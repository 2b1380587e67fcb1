import { assert, assertEquals } from "@std/assert";
import { type Fault, serveFaultyRelay } from "../testing/faulty_relay.ts";
import { soakRelay } from "./main.ts";
import { runSoak } from "./run.ts";

Deno.test("soak: 30 s of 200 churning clients: every guarantee holds, the relay's memory comes back", async () => {
  const seed = Math.floor(Math.random() * 2 ** 31);
  const report = await soakRelay({
    clients: 200,
    users: 100,
    durationMs: 30_000,
    window: 16,
    meanLifeMs: 3000,
    meanPauseMs: 500,
    seed,
    rssBoundMiB: 32,
  });
  const c = report.counts;
  console.log(
    `soak (seed ${seed}): ${c.sent} messages, ${c.acked} acked, ${c.offline} offline, ` +
      `${c.required} owed deliveries checked, ${c.sessions} sessions; relay RSS ` +
      `${report.rss.startMiB} → ${report.rss.peakMiB} → ${report.rss.endMiB} MiB ` +
      `(${report.rss.settledAfterS} s after everyone left)`,
  );
  assertEquals(report.violations, [], `seed ${seed}`);
  assertEquals(report.connectFailures, 0);
  assert(report.rss.ok, `RSS ${report.rss.endMiB} MiB, started at ${report.rss.startMiB} MiB`);
  // The run did what a soak must: plenty of traffic, churn, offline recipients, owed deliveries.
  assert(c.sent > 100_000, `only ${c.sent} messages`);
  assert(c.sessions > 1000 && c.left === c.sessions, `${c.sessions} sessions, ${c.left} left`);
  assert(c.offline > 0 && c.required > c.acked / 2, JSON.stringify(c));
});

const FAULTS: [Fault, RegExp][] = [
  ["drop", /acked, never received/],
  ["reorder", /received by .* after /],
  ["echo", /own sending connection/],
  ["misroute", /meant for .*, received by/],
  ["store-offline", /undelivered, yet received/],
];

for (const [fault, expected] of FAULTS) {
  Deno.test(`soak: its checks catch a relay with the fault ${fault}`, async () => {
    const relay = await serveFaultyRelay(new Set([fault]), {
      port: 0,
      webRoot: null,
      limits: { ratePerSecond: 1_000_000, rateBurst: 1_000_000 },
    });
    try {
      const result = await runSoak({
        url: relay.wsUrl,
        clients: 20,
        users: 6,
        durationMs: 1500,
        window: 4,
        meanLifeMs: 400,
        meanPauseMs: 200,
        seed: 7,
        outcomeWaitMs: 1000, // a relay that holds messages back: no need to wait 10 s
      });
      assert(result.violationCount > 0, `${fault}: no violation in ${result.counts.sent} messages`);
      assert(
        result.violations.some((v) => expected.test(v)),
        `${fault}: ${result.violations.slice(0, 5).join("; ")}`,
      );
    } finally {
      await relay.close();
    }
  });
}
