/**
 * `deno task fuzz`: random and mutated WebSocket frames over raw TCP against a relay in a
 * subprocess, a canary pair chatting through it all along; fails on a crash, a hang or a
 * canary message lost or out of order. Progress every 2 s; a failing case is printed with its
 * seed and index (replay it with `--seed S --case I`) and its bytes, to add to
 * `fuzz/regressions.json`.
 *
 * With `--relay`, the whole reference relay is fuzzed at the level of its frames instead
 * (`relay_main.ts`: JSON-level generators, raw frames over TCP, a v1 canary; cases kept in
 * `fuzz/relay_regressions.json`).
 *
 * ```sh
 * deno task fuzz --frames 1000000            # until a million frames (default 100,000)
 * deno task fuzz --seconds 600 --seed 42      # ten minutes
 * deno task fuzz --generators mutated,noise   # some generators only
 * deno task fuzz --seed 42 --case 1234        # replay one case
 * deno task fuzz --reference tcp --frames 1000000  # raw frames to reference/main.ts on tcp
 * deno task fuzz --target "deno run -A my_relay.ts --port {port}" --path /ws
 * deno task fuzz --relay --frames 1000000     # the reference relay, JSON-level and raw frames
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { COMMON_FLAGS, numberFlag, pickGenerators } from "./cli.ts";
import { fuzz } from "./engine.ts";
import { GENERATORS } from "./frames.ts";
import { relayMain } from "./relay_main.ts";
import { FUZZ_RELAY, relayTarget, startTarget, type TargetCommand } from "./target.ts";

const USAGE = "usage: deno task fuzz [--frames N] [--seconds S] [--seed N] [--case I] " +
  `[--concurrency N] [--generators ${Object.keys(GENERATORS).join(",")}] ` +
  '[--reference tcp|deno | --target "COMMAND with {port}"] [--path /ws]\n' +
  "       deno task fuzz --relay …  (the reference relay at the level of its frames; " +
  "--relay --help)";

const number = (value: string | undefined, fallback: number, name: string) =>
  numberFlag(value, fallback, name, USAGE);

async function main(args: string[]): Promise<number> {
  if (args.includes("--relay")) return await relayMain(args.filter((a) => a !== "--relay"));
  const { values } = parseArgs({
    args,
    options: {
      ...COMMON_FLAGS,
      target: { type: "string" },
      reference: { type: "string" },
      path: { type: "string", default: "/" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const generators = pickGenerators(GENERATORS, values.generators, USAGE);
  const seed = number(values.seed, Math.floor(Math.random() * 2 ** 31), "seed");
  const reference = values.reference;
  if (reference !== undefined && reference !== "tcp" && reference !== "deno") {
    throw new Error(`bad --reference: ${reference}\n${USAGE}`);
  }
  if (reference !== undefined && values.target !== undefined) {
    throw new Error(`--reference and --target both name the target: choose one\n${USAGE}`);
  }
  const command: TargetCommand = reference ? relayTarget(reference) : values.target
    ? (port) => {
      const words = values.target!.replaceAll("{port}", String(port)).split(/\s+/);
      return [words[0], words.slice(1)];
    }
    : FUZZ_RELAY;
  const target = await startTarget(command, values.path);
  console.error(`fuzzing pid ${target.pid} on port ${target.port} with seed ${seed}`);
  try {
    const result = await fuzz(target, {
      seed,
      frames: number(values.frames, values.seconds ? Infinity : 100_000, "frames"),
      seconds: number(values.seconds, Infinity, "seconds"),
      concurrency: number(values.concurrency, 32, "concurrency"),
      generators,
      endWithinMs: 10_000,
      progress: (line) => console.error(line),
      only: values.case === undefined ? undefined : number(values.case, 0, "case"),
    });
    console.log(JSON.stringify({ ...result, failures: result.failures.length }));
    for (const failure of result.failures) {
      const file = await Deno.makeTempFile({ prefix: "fuzz-failure-", suffix: ".json" });
      const saved = {
        name: `${failure.invariant} (seed ${failure.seed}, case ${failure.index})`,
        raw: failure.raw,
        chunks: failure.chunks,
      };
      await Deno.writeTextFile(file, JSON.stringify(saved, null, 2) + "\n");
      console.error(
        `FAILED: ${failure.invariant} (seed ${failure.seed}, case ${failure.index}, ` +
          `${failure.generator}); replay: deno task fuzz --seed ${failure.seed} --case ` +
          `${failure.index}; the case: ${file} (add it to fuzz/regressions.json)`,
      );
    }
    return result.failures.length === 0 ? 0 : 1;
  } finally {
    await target.stop();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(2);
  }
}
