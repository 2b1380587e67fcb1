import { assertEquals } from "@std/assert";
import type { LogValue } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { Refusals } from "./refusals.ts";
import { until, Wakeup } from "../testing/wait.ts";

function setup(intervalMs: number) {
  const lines: Record<string, LogValue>[] = [];
  const wakeup = new Wakeup();
  const logger = {
    event(event: string, fields: Record<string, LogValue> = {}) {
      lines.push({ event, ...fields });
      wakeup.wake();
    },
  };
  const metrics = new Metrics();
  return { lines, wakeup, metrics, refusals: new Refusals(metrics, logger, intervalMs) };
}

Deno.test("refusals: one line per reason per interval, with the count and the first sample", async () => {
  const { lines, wakeup, metrics, refusals } = setup(30);
  for (let i = 0; i < 1000; i++) refusals.add("rate_limited", { session: `n.${i}` });
  refusals.add("origin", { ip: "127.0.0.1", reason: "forged", count: -1 });
  assertEquals(lines, []); // nothing before the interval ends
  await until(() => lines.length === 2, 2000, wakeup);
  assertEquals(lines, [
    { event: "refused", session: "n.0", reason: "rate_limited", count: 1000 },
    { event: "refused", ip: "127.0.0.1", reason: "origin", count: 1 },
  ]);
  // The next interval starts with the next refusal; close() logs what is left at once.
  refusals.add("rate_limited", { session: "n.9" });
  refusals.close();
  assertEquals(lines.length, 3);
  assertEquals(lines[2], { event: "refused", session: "n.9", reason: "rate_limited", count: 1 });
  const text = await metrics.render();
  assertEquals(text.includes('layimws_frames_refused_total{reason="rate_limited"} 1001'), true);
});

Deno.test("refusals: an idle relay holds no timer", () => {
  const { lines, refusals } = setup(60_000);
  refusals.close();
  assertEquals(lines, []);
});
