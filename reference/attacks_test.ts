/**
 * The attacks of issue 13 against the reference relay itself — `reference/main.ts` in a
 * subprocess, with its default settings — on each transport. On `tcp` each attack is refused
 * or survived the way RFC 6455 and the spec ask; on `deno` each test asserts the failure that
 * Deno's own WebSocket cannot avoid, so the two tests of an attack are what the transport
 * changes (the tcp assertions fail on deno, as its own test shows).
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { fragmented, idle, ignoredClose, violations } from "../fuzz/attacks.ts";
import { relayTarget, startTarget } from "../fuzz/target.ts";

const MIB = 2 ** 20;

// Two sockets, each one text message of 32 MiB in 1 MiB fragments that never ends, before
// identify (64 KiB frame limit by default).
const HUGE = { sockets: 2, totalBytes: 32 * MIB, fragmentBytes: MIB, timeoutMs: 20_000 };

Deno.test("fragmented huge messages [tcp]: closed 1009 within the limit, RSS bounded", async () => {
  await using relay = await startTarget(relayTarget("tcp"));
  const result = await fragmented(relay, HUGE);
  assertEquals(result.closes, [1009, 1009], JSON.stringify(result));
  // The client could write what the sockets' buffers took, never the 32 MiB.
  assert(result.sentMiB.every((mib) => mib < 16), JSON.stringify(result));
  assert(result.rssPeakMiB - result.rssBaseMiB < 16, JSON.stringify(result));
  // The issue's own figures: eight sockets of 60 MiB in 16 KiB fragments.
  const eight = await fragmented(relay, {
    sockets: 8,
    totalBytes: 60 * MIB,
    fragmentBytes: 16 * 1024,
    timeoutMs: 20_000,
  });
  assertEquals(eight.closes, Array(8).fill(1009));
  assert(eight.rssPeakMiB - eight.rssBaseMiB < 24, JSON.stringify(eight));
  assert(eight.alive);
});

Deno.test("fragmented huge messages [deno]: read whole, held in memory, never refused", async () => {
  await using relay = await startTarget(relayTarget("deno", ["--identify-timeout", "3000"]));
  const result = await fragmented(relay, HUGE);
  // Deno assembles the message before the relay sees anything: every byte was taken, the
  // memory grew by as much, and only the identify timeout (4003) ended it.
  assertEquals(result.sentMiB, [32, 32], JSON.stringify(result));
  assertEquals(result.closes, [4003, 4003], JSON.stringify(result));
  assert(result.rssPeakMiB - result.rssBaseMiB > 48, JSON.stringify(result));
});

Deno.test("more idle connections than descriptors, slowloris [tcp]: survived, every one cut", async () => {
  await using relay = await startTarget(relayTarget("tcp", [], 512));
  // Held past the 10 s header timeout: below the cap each gets 408, above it 503 at once.
  const result = await idle(relay, { count: 800, holdMs: 11_000 });
  assertEquals(relay.exited, undefined, relay.tail);
  assert(result.alive);
  assertEquals(result.opened + result.failed, 800);
  assertEquals(result.endedByServer, result.opened, JSON.stringify(result));
  assert(result.pairAfter, JSON.stringify(result));
});

Deno.test("more idle connections than descriptors [deno]: the relay process dies", async () => {
  await using relay = await startTarget(relayTarget("deno", [], 512));
  const result = await idle(relay, { count: 800, holdMs: 1000 });
  assertEquals([result.alive, result.pairAfter], [false, false], JSON.stringify(result));
  assert(relay.exited && !relay.exited.success);
  assertStringIncludes(relay.tail, "Too many open files");
});

Deno.test("a close the relay starts and the peer ignores [tcp]: TCP dropped after the close timeout", async () => {
  await using relay = await startTarget(relayTarget("tcp"));
  // A binary frame: the relay closes with 1003; the client never answers.
  const result = await ignoredClose(relay, { sockets: 20, waitMs: 5000 });
  assertEquals([result.closeFrames, result.dropped], [20, 20], JSON.stringify(result));
  // The 3 s close timeout, checked every 750 ms.
  assert(result.slowestDropMs < 4500, JSON.stringify(result));
});

Deno.test("a close the relay starts and the peer ignores [deno]: the connection stays", async () => {
  await using relay = await startTarget(relayTarget("deno"));
  const result = await ignoredClose(relay, { sockets: 20, waitMs: 5000 });
  assertEquals([result.closeFrames, result.dropped], [20, 0], JSON.stringify(result));
});

Deno.test("protocol violations [tcp]: unmasked 1002, invalid UTF-8 1007", async () => {
  await using relay = await startTarget(relayTarget("tcp"));
  assertEquals(await violations(relay), { unmasked: 1002, utf8: 1007 });
});

Deno.test("protocol violations [deno]: unmasked accepted, invalid UTF-8 dropped without a close frame", async () => {
  await using relay = await startTarget(relayTarget("deno"));
  assertEquals(await violations(relay), {
    unmasked: "nothing (accepted)",
    utf8: "no close frame, TCP ended",
  });
});
