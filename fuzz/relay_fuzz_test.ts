import { assert, assertEquals } from "@std/assert";
import { denoServer } from "../reference/deno_adapter.ts";
import { type Relay, serveRelay } from "../reference/relay.ts";
import type { RelayServer } from "../reference/routes.ts";
import { type Fault, serveFaultyRelay } from "../testing/faulty_relay.ts";
import { RELAY_GENERATORS } from "./json_gen.ts";
import { savedCases } from "./relay_main.ts";
import {
  fuzzRelay,
  type RelayFuzzOptions,
  type RelayTarget,
  startRelayTarget,
} from "./relay_target.ts";

function options(o: Partial<RelayFuzzOptions>): RelayFuzzOptions {
  return {
    seed: Math.floor(Math.random() * 2 ** 31),
    frames: 0,
    seconds: 600,
    concurrency: 8,
    generators: RELAY_GENERATORS,
    ...o,
  };
}

Deno.test("fuzz relay: the saved regression cases pass", async () => {
  const target = await startRelayTarget();
  try {
    const saved = await savedCases();
    assert(saved.length > 0);
    const result = await fuzzRelay(target, options({ saved }));
    assertEquals(result.failures, []);
    assertEquals(result.cases, saved.length);
  } finally {
    await target.stop();
  }
});

Deno.test("fuzz relay: 10,000 frames against the relay process while a canary chats, no invariant broken", async () => {
  const target = await startRelayTarget();
  try {
    const o = options({ frames: 10_000 });
    const result = await fuzzRelay(target, o);
    console.log(
      `fuzz relay (seed ${o.seed}): ${result.frames} frames in ${result.cases} cases, ` +
        `${result.seconds.toFixed(1)} s; canary ${result.canaryMessages}; ${
          JSON.stringify(result.closes)
        }`,
    );
    assertEquals(result.failures, [], `replay: deno task fuzz --relay --seed ${o.seed}`);
    assert(result.frames >= 10_000 && result.canaryMessages > 0);
    // The mix reached both sides of the relay: connections kept open, and every kind of close.
    for (const close of ["open", "1003", "1009", "4002"]) assert(result.closes[close] > 0, close);
  } finally {
    await target.stop();
  }
});

/** An in-process relay as a fuzz target (it cannot exit: only the other invariants apply). */
function inProcess(relay: Relay): RelayTarget {
  return {
    wsUrl: relay.wsUrl,
    url: relay.url,
    port: relay.port,
    exited: undefined,
    tail: "",
    stop: () => relay.close(),
  };
}

/** Deno's server, except that no `error` frame ever reaches a client: refusals go unanswered. */
const silentServer: RelayServer = {
  listen: denoServer.listen,
  upgrade: (request, accepted) =>
    denoServer.upgrade(request, {
      ...accepted,
      open: (transport) =>
        accepted.open({
          send: (text) => text.startsWith('{"type":"error"') || transport.send(text),
          close: (code, reason) => transport.close(code, reason),
          get bufferedAmount() {
            return transport.bufferedAmount;
          },
        }),
    }),
};

const LIMITS = { ratePerSecond: 100_000, rateBurst: 100_000 };

Deno.test("fuzz relay: its invariants catch refusals without an answer, and a canary reordered or dropped", async () => {
  const cases: [string, () => Promise<Relay>, RegExp][] = [
    [
      "silent refusals",
      () => serveRelay({ port: 0, webRoot: null, limits: LIMITS, server: silentServer }),
      /refused by the schemas|refs sent/,
    ],
    // A held-back message shows as a canary out of order, or an outcome (or the errors queued
    // behind it) still missing at the pong; a lost one as a canary message or a probe acked and
    // never received.
    ...([
      ["reorder", /canary|refs sent|no outcome|refused by the schemas/],
      ["drop", /canary|never received/],
    ] as const)
      .map(([fault, expected]): [string, () => Promise<Relay>, RegExp] => [
        fault,
        () => serveFaultyRelay(new Set<Fault>([fault]), { port: 0, webRoot: null, limits: LIMITS }),
        expected,
      ]),
  ];
  for (const [name, start, expected] of cases) {
    const target = inProcess(await start());
    try {
      const result = await fuzzRelay(
        target,
        options({
          frames: 2000,
          seconds: 10,
          generators: { "near-miss": RELAY_GENERATORS["near-miss"] },
        }),
      );
      assert(result.failures.length > 0, `${name}: nothing caught`);
      assert(
        result.failures.some((f) => expected.test(f.invariant)),
        `${name}: ${result.failures.map((f) => f.invariant).join("; ")}`,
      );
    } finally {
      await target.stop();
    }
  }
});
