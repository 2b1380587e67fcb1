import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { saturate } from "./load.ts";
import { runBench } from "./main.ts";
import { summarizeProfile } from "./profile.ts";
import { evaluateTargets, fmt, summarize } from "./report.ts";
import { SCENARIO_NAMES } from "./scenarios.ts";
import { serveFaultyRelay } from "../testing/faulty_relay.ts";

Deno.test("bench --quick runs every scenario against ref, reftcp and min with zero loss", async () => {
  const out = await Deno.makeTempDir({ prefix: "layim-ws-bench-" });
  try {
    const report = await runBench({
      mode: "quick",
      scenarios: SCENARIO_NAMES,
      relays: ["ref", "reftcp", "min"],
      repeats: 1,
      profile: false,
      out,
      log: () => {},
    });
    for (const s of report.summaries) {
      const name = `${s.scenario} ${s.variant} ${s.relay}`;
      assertEquals(s.errors, [], name);
      assertEquals(s.failures, 0, `${name}: lost, reordered, duplicated or misrouted`);
      assertEquals(s.runs, 1, name);
    }
    const ran = new Set(report.summaries.map((s) => `${s.scenario}/${s.relay}`));
    for (const scenario of SCENARIO_NAMES) {
      assert(ran.has(`${scenario}/reftcp`), scenario);
      assert(ran.has(`${scenario}/ref`) === (scenario !== "presence"), scenario);
    }
    assert(!ran.has("saturation-v1/min"), "the minimal relay speaks legacy only");
    assert(!ran.has("multinode/min"), "multinode runs against the reference relay only");
    assertEquals(report.targets.filter((t) => t.value === undefined).map((t) => t.target), [
      "legacy saturation CPU/msg: ref ≤ 0.85 × Node ws",
      "legacy saturation CPU/msg: ref ≤ 0.50 × seed Python",
      "server/client CPU per message (legacy saturation): reftcp ≤ 0.9 × Bun",
      "p99 latency at 5,000 msg/s: reftcp ≤ 1.0 × Bun",
      "RSS per idle connection: reftcp ≤ 2 × Bun",
      "server CPU per connect: reftcp ≤ 1.0 × Bun",
      // Quick mode holds fewer than 1,000 idle connections: nothing past 1,000 to compare.
      "RSS per connection flat from 1,000 to the limit (what each half of the connections " +
      "past 1,000 added per connection): reftcp max/min ≤ 1.15",
    ]);
    const json = JSON.parse(await Deno.readTextFile(`${out}/latest.json`));
    assertEquals(json.cells.length, report.cells.length);
    const md = await Deno.readTextFile(`${out}/REPORT.md`);
    assertStringIncludes(md, "](cpu.svg)");
    assertStringIncludes(md, "| `reftcp` |");
    assertStringIncludes(md, "## The transports against every baseline (issue 13's table)");
    assertMatch(await Deno.readTextFile(`${out}/cpu.svg`), /^<svg [^>]+>[\s\S]*<\/svg>\n$/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a multinode-only run writes multinode.json beside the full run, keeping latest.json", async () => {
  const out = await Deno.makeTempDir({ prefix: "layim-ws-bench-" });
  try {
    const full = `${new URL("results", import.meta.url).pathname}/latest.json`;
    await Deno.copyFile(full, `${out}/latest.json`);
    const report = await runBench({
      mode: "quick",
      scenarios: ["multinode"],
      relays: ["ref", "min"],
      repeats: 1,
      profile: false,
      out,
      log: () => {},
    });
    assertEquals(
      report.summaries.map((s) => [s.variant, s.relay, s.errors, s.failures]),
      ["nodes=1", "nodes=2", "nodes=1 v1+ack", "nodes=2 v1+ack"].map((v) => [v, "ref", [], 0]),
    );
    const two = report.summaries.find((s) => s.variant === "nodes=2")!.stats;
    for (const part of ["node1", "node2", "redis"]) assert(`cpuUsPerMsgBy.${part}` in two, part);
    assertEquals(await Deno.readTextFile(`${out}/latest.json`), await Deno.readTextFile(full));
    const side = JSON.parse(await Deno.readTextFile(`${out}/multinode.json`));
    assertEquals(side.cells.length, 4);
    const md = await Deno.readTextFile(`${out}/REPORT.md`);
    assertStringIncludes(md, "## Targets");
    assertStringIncludes(md, "| `ref`, legacy | one node | two nodes via Redis | ratio |");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("summaries take medians and ranges; targets are ratios of medians", () => {
  const cell = (relay: string, repeat: number, cpuUsPerMsg: number) => ({
    scenario: "saturation" as const,
    variant: "",
    relay,
    repeat,
    metrics: { cpuUsPerMsg, lost: 0 },
  });
  const summaries = summarize([
    cell("ref", 1, 9),
    cell("ref", 2, 11),
    cell("ref", 3, 10),
    cell("min", 1, 8),
    cell("min", 2, 8),
  ]);
  assertEquals(summaries[0].stats.cpuUsPerMsg, { median: 10, min: 9, max: 11 });
  const target = evaluateTargets(summaries)[0];
  assertEquals([target.value, target.met], [1.25, false]);
  assertEquals([fmt(12345.6), fmt(0.012345), fmt(NaN)], ["12,346", "0.0123", "–"]);
});

Deno.test("profile summary: self and inclusive shares of busy samples", () => {
  const frame = (functionName: string) => ({ functionName, url: "", lineNumber: 0 });
  const summary = summarizeProfile({
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2, 4] },
      { id: 2, callFrame: frame("route"), children: [3] },
      { id: 3, callFrame: frame("stringify") },
      { id: 4, callFrame: frame("(idle)") },
    ],
    samples: [2, 3, 3, 3, 4, 4],
  });
  assertEquals(summary.busySamples, 4);
  assertEquals(summary.functions[0], { name: "stringify", self: 0.75, total: 0.75 });
  assertEquals(summary.functions.find((f) => f.name === "route"), {
    name: "route",
    self: 0.25,
    total: 1,
  });
});

for (const fault of ["drop", "reorder"] as const) {
  Deno.test(`saturate counts a relay that ${fault}s messages`, async () => {
    const relay = await serveFaultyRelay(new Set([fault]), { port: 0, webRoot: null });
    try {
      const result = await saturate(
        { url: relay.wsUrl, profile: "legacy" },
        { pairs: 2, messages: 400, warmup: 0, window: 4, contentBytes: 20, timeoutMs: 500 },
      );
      if (fault === "drop") assert(result.lost > 0 && result.timedOut, JSON.stringify(result));
      else assert(result.outOfOrder > 0, JSON.stringify(result));
    } finally {
      await relay.close();
    }
  });
}
