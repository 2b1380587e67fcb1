/**
 * Presence in the page: two browsers see each other come and go (friends' dots and the chat
 * header's 在线/离线) within a stated bound, on one relay and on two relays sharing Redis; a
 * reload does not flap; nothing shows while the connection is down (the legacy profile, which
 * shows none either, is in `delivery_test.ts`).
 *
 * The bounds: 在线 within {@linkcode ONLINE_BOUND_MS} of the other page showing 已连接, 离线
 * within {@linkcode OFFLINE_BOUND_MS} of it closing (the relay's offline delay, 2 s, plus 2 s).
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import type { Browser, Page } from "playwright-core";
import { redisBroker } from "../reference/broker_redis.ts";
import { DEMO_USERS_FILE, loadDirectory } from "../reference/directory.ts";
import { DEFAULT_PRESENCE } from "../reference/presence.ts";
import type { Relay } from "../reference/mod.ts";
import { startRedis } from "../testing/redis.ts";
import {
  chatLog,
  launchBrowser,
  noStatusShown,
  openChat,
  screenshot,
  startRelay,
  typeAndSend,
  waitConnection,
} from "./testing.ts";

const directory = await loadDirectory(DEMO_USERS_FILE);

/** A friend shows 在线 this soon after its page is connected. */
const ONLINE_BOUND_MS = 2000;
/** A friend shows 离线 this soon after its page closed: the offline delay and 2 s. */
const OFFLINE_BOUND_MS = DEFAULT_PRESENCE.offlineDelayMs + 2000;

/** The dot of friend `name` in the main panel, in `state`. */
const dot = (page: Page, name: string, state: "在线" | "离线") =>
  page.getByRole("img", { name: `${name} ${state}`, exact: true });

/** The chat header's status line. */
const header = (page: Page, state: "在线" | "离线") =>
  page.getByRole("dialog").locator(".layim-sign").getByText(state, { exact: true });

/** Waits for `locator` within `ms`; returns how long it took. */
async function within(locator: ReturnType<typeof dot>, ms: number): Promise<number> {
  const start = performance.now();
  await locator.waitFor({ timeout: ms });
  return Math.round(performance.now() - start);
}

/** Records, in the page, every label the dot of friend `id` shows from now on. */
function recordDot(page: Page, id: string): Promise<void> {
  return page.evaluate((id) => {
    const node = document.querySelector(`li[data-id="${id}"] .layim-status`)!;
    const seen: string[] = [];
    (globalThis as unknown as { __dot: string[] }).__dot = seen;
    new MutationObserver(() => {
      seen.push(node.hasAttribute("hidden") ? "" : node.getAttribute("aria-label") ?? "");
    }).observe(node, { attributes: true });
  }, id);
}

/** 张三 (1001) on relay `one` and 李四 (1002) on relay `two` see each other come and go. */
async function comingAndGoing(browser: Browser, one: Relay, two: Relay, setup: string) {
  const a = await openChat(browser, one, "1001");
  // 李四 has no session: the answer to the page's watch says so.
  await dot(a.page, "李四", "离线").waitFor();
  await dot(a.page, "王五", "离线").waitFor();
  await a.page.getByRole("button", { name: "李四", exact: true }).click();
  await header(a.page, "离线").waitFor();

  const b = await openChat(browser, two, "1002");
  const came = await within(dot(a.page, "李四", "在线"), ONLINE_BOUND_MS);
  await within(dot(b.page, "张三", "在线"), ONLINE_BOUND_MS);
  await header(a.page, "在线").waitFor();
  if (one === two) await screenshot(a.page, "presence", { readme: true });

  // A reload closes the connection and opens another within the offline delay: no 离线.
  await recordDot(a.page, "1002");
  await b.page.reload();
  await waitConnection(b.page, "已连接");
  const flapped = await dot(a.page, "李四", "离线")
    .waitFor({ timeout: DEFAULT_PRESENCE.offlineDelayMs + 500 }).then(() => true, () => false);
  const labels = await a.page.evaluate(() => (globalThis as unknown as { __dot: string[] }).__dot);
  assertEquals([flapped, labels.filter((l) => l !== "李四 在线")], [false, []]);

  // Messages still flow, and the friend is still 在线.
  await b.page.getByRole("button", { name: "张三", exact: true }).click();
  await typeAndSend(b.page, "我在");
  await chatLog(a.page).getByText("我在").waitFor();

  await b.context.close();
  const went = await within(dot(a.page, "李四", "离线"), OFFLINE_BOUND_MS);
  await header(a.page, "离线").waitFor();
  console.log(
    `${setup}: 在线 ${came} ms after the other page connected (bound ${ONLINE_BOUND_MS} ms), ` +
      `离线 ${went} ms after it closed (bound ${OFFLINE_BOUND_MS} ms, offline delay ` +
      `${DEFAULT_PRESENCE.offlineDelayMs} ms)`,
  );
  assertEquals([...a.problems, ...b.problems], []);
}

Deno.test("presence on one relay: two browsers see each other come and go", async () => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  try {
    await comingAndGoing(browser, relay, relay, "one relay");
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("presence on two relays sharing Redis: two browsers see each other come and go", async () => {
  await using redis = await startRedis();
  const browser = await launchBrowser();
  const relays = await Promise.all(
    [0, 1].map(() => startRelay({ directory, broker: redisBroker(redis.url) })),
  );
  try {
    await comingAndGoing(browser, relays[0], relays[1], "two relays via Redis");
  } finally {
    await browser.close();
    await Promise.all(relays.map((r) => r.close()));
  }
});

Deno.test("presence: no status while the connection is down, the relay's again after", async () => {
  const browser = await launchBrowser();
  let relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    const b = await openChat(browser, relay, "1002");
    await dot(a.page, "李四", "在线").waitFor();
    const port = relay.port;
    await relay.close();
    await waitConnection(a.page, "正在重连");
    await noStatusShown(a.page);
    relay = await startRelay({ directory, port });
    await waitConnection(a.page, "已连接");
    await waitConnection(b.page, "已连接");
    await dot(a.page, "李四", "在线").waitFor();
    await dot(a.page, "王五", "离线").waitFor();
    assertEquals([...a.problems, ...b.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});
