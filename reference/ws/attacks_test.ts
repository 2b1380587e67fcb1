/**
 * The attacks of issue 13 as regression tests, against the minimal relay on this transport in
 * a subprocess (`fuzz/attacks.ts` runs the same attacks against any relay; against Deno's own
 * WebSocket they fail, see the README of issue 13's report).
 */
import { assert, assertEquals } from "@std/assert";
import { fragmented, idle, ignoredClose, violations } from "../../fuzz/attacks.ts";
import { startTarget, tcpRelay } from "../../fuzz/target.ts";

Deno.test("60 MiB fragmented messages cost at most the message limit each (1009, bounded RSS)", async () => {
  await using target = await startTarget(tcpRelay(["--max-message-bytes", "65536"]));
  const result = await fragmented(target, {
    sockets: 8,
    totalBytes: 60 * 2 ** 20,
    fragmentBytes: 16 * 1024,
    timeoutMs: 10_000,
  });
  assertEquals(result.closes, Array(8).fill(1009));
  assert(result.alive);
  // Eight sockets at a 64 KiB limit: a few MiB of buffers at most, never the 480 MiB sent.
  assert(result.rssPeakMiB - result.rssBaseMiB < 24, JSON.stringify(result));
  assert(result.sentMiB.every((mib) => mib < 16), JSON.stringify(result.sentMiB));
});

Deno.test("more idle TCP connections than descriptors do not crash the relay; slowloris is cut", async () => {
  await using target = await startTarget(
    tcpRelay(["--header-timeout-ms", "1000"], 512),
  );
  const result = await idle(target, { count: 800, holdMs: 2500 });
  assertEquals(target.exited, undefined, target.tail);
  assert(result.alive);
  assertEquals(result.opened + result.failed, 800);
  // Beyond the cap a 503, below it a 408 after the header timeout: every one ended.
  assertEquals(result.endedByServer, result.opened, JSON.stringify(result));
  assert(result.pairAfter, JSON.stringify(result));
});

Deno.test("a close the relay starts and the peer ignores is enforced with a hard drop", async () => {
  await using target = await startTarget(tcpRelay(["--close-timeout-ms", "500"]));
  const result = await ignoredClose(target, { sockets: 20, waitMs: 3000 });
  assertEquals([result.closeFrames, result.dropped], [20, 20], JSON.stringify(result));
  assert(result.slowestDropMs < 2000, JSON.stringify(result));
});

Deno.test("unmasked frames are closed 1002, invalid UTF-8 1007", async () => {
  await using target = await startTarget(tcpRelay());
  assertEquals(await violations(target), { unmasked: 1002, utf8: 1007 });
});
