/**
 * The fuzzer's fast variant (at least 10,000 frames against the minimal relay on the project's
 * transport, a canary pair chatting throughout), the saved regression cases, and proof that its
 * invariants can fail: a target that never ends a connection is reported as a hang.
 */
import { assert, assertEquals } from "@std/assert";
import { fuzz, runCase } from "./engine.ts";
import { GENERATORS } from "./frames.ts";
import { FUZZ_RELAY, relayTarget, startTarget, type TargetCommand } from "./target.ts";

/** 10,000 frames against `command`: no failure, the canary through, each close code seen. */
async function fuzzTenThousand(command: TargetCommand, seed: number, codes: string[]) {
  await using target = await startTarget(command);
  const result = await fuzz(target, {
    seed: Number(Deno.env.get("FUZZ_SEED") ?? seed),
    frames: 10_000,
    seconds: 60,
    concurrency: 32,
    generators: GENERATORS,
    endWithinMs: 10_000,
  });
  assertEquals(result.failures, []);
  assert(result.frames >= 10_000);
  assert(result.canaryMessages > 0, "the canary exchanged messages");
  for (const code of codes) assert(result.closes[code] > 0, code);
}

Deno.test("fuzz: 10,000 random and mutated frames, no crash, no hang, the canary in order", async () => {
  // Every kind of answer came up: protocol errors, invalid UTF-8, limits, and clean closes.
  await fuzzTenThousand(FUZZ_RELAY, 20261201, ["1002", "1007", "1009", "1000"]);
});

Deno.test("fuzz: 10,000 frames against the reference relay on tcp, the canary in order", async () => {
  // The transport's answers, and the relay's own: 1003 for binary, 4002 for a bad identify.
  await fuzzTenThousand(
    relayTarget("tcp"),
    20261202,
    ["1002", "1007", "1009", "1000", "1003", "3000-4999"],
  );
});

Deno.test("fuzz: the saved cases (known-bad inputs, and any failing case found) end cleanly", async () => {
  const cases: { name: string; chunks: string[]; raw: boolean; close?: string }[] = JSON.parse(
    await Deno.readTextFile(new URL("./regressions.json", import.meta.url)),
  );
  await using target = await startTarget(FUZZ_RELAY);
  for (const saved of cases) {
    const chunks = saved.chunks.map((h) =>
      new Uint8Array(h.match(/../g)?.map((b) => parseInt(b, 16)) ?? [])
    );
    const outcome = await runCase(target, {
      generator: "regression",
      raw: saved.raw,
      chunks,
      frames: 1,
      valid: false,
    }, 10_000);
    assertEquals(outcome.broken, undefined, saved.name);
    if (saved.close !== undefined) assertEquals(outcome.close, saved.close, saved.name);
  }
  assertEquals(target.exited, undefined);
});

Deno.test("fuzz: a target that never ends a connection is reported as a hang", async () => {
  await using target = await startTarget((port) => [Deno.execPath(), [
    "run",
    "--allow-net",
    new URL("./testdata/hanging_target.ts", import.meta.url).pathname,
    "--port",
    String(port),
  ]]);
  const c = {
    generator: "noise",
    raw: false,
    chunks: [new Uint8Array([1, 2, 3])],
    frames: 1,
    valid: false,
  };
  const outcome = await runCase(target, c, 300);
  assertEquals(outcome.broken, "connection not ended within 300 ms");
});
