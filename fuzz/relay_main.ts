/**
 * `deno task fuzz --relay`: the whole reference relay fuzzed at the level of its frames (random
 * JSON, near-misses of every frame, deep nesting, huge strings, control and format characters,
 * lone surrogates, binary messages, raw frames over TCP) while a v1 canary pair chats through
 * it; fails on a crash, a frame no schema allows, a refusal without an error or a close code, a
 * hang, a canary message lost or out of order, or gauges that do not return to zero. The saved
 * regression cases (`relay_regressions.json`) run first. Progress every 2 s; a failing case is
 * printed whole, with its seed and index (replay it with `--seed S --case I`).
 *
 * ```sh
 * deno task fuzz --relay                          # 100,000 frames
 * deno task fuzz --relay --frames 1000000
 * deno task fuzz --relay --seconds 3600 --seed 7  # an hour
 * deno task fuzz --relay --generators near-miss,chars
 * deno task fuzz --relay --seed 1 --case 439      # one case again
 * deno task fuzz --relay --transport deno         # the relay on Deno's own WebSocket
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { COMMON_FLAGS, numberFlag, pickGenerators } from "./cli.ts";
import { DEFAULT_TRANSPORT, TRANSPORT_NAMES } from "../reference/transports.ts";
import { RELAY_GENERATORS } from "./json_gen.ts";
import { fuzzRelay, type SavedCase, startRelayTarget } from "./relay_target.ts";

const USAGE = "usage: deno task fuzz --relay [--frames N] [--seconds S] [--seed N] [--case I] " +
  `[--concurrency N] [--generators ${Object.keys(RELAY_GENERATORS).join(",")}] ` +
  `[--transport ${TRANSPORT_NAMES.join("|")}]`;

/** The saved regression cases. */
export async function savedCases(): Promise<SavedCase[]> {
  const url = new URL("./relay_regressions.json", import.meta.url);
  return (JSON.parse(await Deno.readTextFile(url)) as { cases: { case: SavedCase }[] }).cases
    .map((c) => c.case);
}

const number = (value: string | undefined, fallback: number, name: string) =>
  numberFlag(value, fallback, name, USAGE);

/** Runs `deno task fuzz --relay` with `args` (without `--relay`); resolves to the exit code. */
export async function relayMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...COMMON_FLAGS, transport: { type: "string", default: DEFAULT_TRANSPORT } },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const generators = pickGenerators(RELAY_GENERATORS, values.generators, USAGE);
  const seed = number(values.seed, Math.floor(Math.random() * 2 ** 31), "seed");
  const only = values.case === undefined ? undefined : number(values.case, 0, "case");
  const transport = values.transport;
  if (!(TRANSPORT_NAMES as readonly string[]).includes(transport)) {
    throw new Error(`bad --transport: ${transport}\n${USAGE}`);
  }
  const target = await startRelayTarget(["--transport", transport]);
  console.log(`fuzz relay: seed ${seed}, against ${target.wsUrl} (transport ${transport})`);
  try {
    const result = await fuzzRelay(target, {
      seed,
      only,
      frames: number(values.frames, 100_000, "frames"),
      seconds: number(values.seconds, 86_400, "seconds"),
      concurrency: number(values.concurrency, 8, "concurrency"),
      generators,
      saved: only === undefined ? await savedCases() : [],
      progress: (line) => console.log(line),
    });
    console.log(
      `fuzz relay: ${result.frames.toLocaleString("en-US")} frames in ${
        result.cases.toLocaleString("en-US")
      } cases, ${result.seconds.toFixed(1)} s; canary ${result.canaryMessages} in order; ` +
        `connections ended: ${JSON.stringify(result.closes)}`,
    );
    for (const f of result.failures) {
      console.log(
        `FAILED (${f.generator}, seed ${f.seed}, case ${f.index}): ${f.invariant}\n` +
          `  replay: deno task fuzz --relay --seed ${f.seed} --case ${f.index}\n` +
          `  keep it in fuzz/relay_regressions.json: ${JSON.stringify({ case: f.case })}`,
      );
    }
    return result.failures.length === 0 ? 0 : 1;
  } finally {
    await target.stop();
  }
}
