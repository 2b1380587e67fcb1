import { assertEquals, assertRejects } from "@std/assert";
import { settles, until, waitFor, Wakeup } from "./wait.ts";

Deno.test("settles: true when the promise settles in time, false after the deadline", async () => {
  assertEquals(await settles(Promise.resolve(), 1000), true);
  assertEquals(await settles(new Promise(() => {}), 10), false);
  await assertRejects(() => settles(Promise.reject(new Error("boom")), 1000), Error, "boom");
});

Deno.test("until: re-checks at each wake, false when time is up", async () => {
  const wakeup = new Wakeup();
  const seen: number[] = [];
  let value = 0;
  const waiting = until(() => seen.push(value) > 0 && value === 2, 1000, wakeup);
  for (const v of [1, 2]) {
    await new Promise((resolve) => setTimeout(resolve, 0)); // a later event, as a socket's
    value = v;
    wakeup.wake();
  }
  assertEquals(await waiting, true);
  assertEquals(seen, [0, 1, 2]);
  assertEquals(await until(() => false, 20, wakeup), false);
});

Deno.test("until: a wake while an asynchronous check runs is not missed", async () => {
  const wakeup = new Wakeup();
  let ready = false;
  const started = performance.now();
  const ok = await until(
    async () => {
      const now = ready;
      // The event happens while this check is in flight: it saw `false`.
      ready = true;
      wakeup.wake();
      await Promise.resolve();
      return now;
    },
    5000,
    wakeup,
  );
  assertEquals(ok, true);
  assertEquals(performance.now() - started < 1000, true, "woken, not timed out");
});

Deno.test("waitFor polls state nothing announces and names what it waited for", async () => {
  const since = Date.now();
  await waitFor(() => Date.now() - since >= 20, 1000);
  await assertRejects(
    () => waitFor(() => false, 20, "the moon"),
    Error,
    "the moon not met within 20 ms",
  );
});
