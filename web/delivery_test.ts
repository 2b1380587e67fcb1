/**
 * Nothing lost, every state visible: the delivery state under every sent bubble, retry, and
 * presence only as the relay reports it, never guessed from outcomes; in v1 and in the legacy
 * profile.
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import type { Page } from "playwright-core";
import { DEMO_USERS_FILE, loadDirectory } from "../reference/directory.ts";
import {
  chatLog,
  launchBrowser,
  noStatusShown,
  openChat,
  openPage,
  screenshot,
  startProxy,
  startRelay,
  typeAndSend,
  waitConnection,
} from "./testing.ts";

const directory = await loadDirectory(DEMO_USERS_FILE);

/** The state line under the sent bubble with `text`. */
const stateOf = (page: Page, text: string, state: string) =>
  chatLog(page).getByRole("listitem").filter({ hasText: text }).getByText(state, { exact: true });

Deno.test("v1: every sent bubble shows its state", async (t) => {
  const browser = await launchBrowser();
  let relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    const b = await openChat(browser, relay, "1002");

    await t.step("delivered (ack)", async () => {
      await a.page.getByRole("button", { name: "李四", exact: true }).click();
      await typeAndSend(a.page, "送达了吗");
      await stateOf(a.page, "送达了吗", "已送达").waitFor();
    });

    await t.step("not delivered (offline), retried once the friend is there", async () => {
      await a.page.getByRole("button", { name: "王五", exact: true }).click();
      await typeAndSend(a.page, "王五在吗");
      await stateOf(a.page, "王五在吗", "对方不在线，未送达").waitFor();
      // The relay's presence, not the outcome, marks 王五 offline.
      await a.page.getByRole("img", { name: "王五 离线", exact: true }).waitFor();
      await screenshot(a.page.getByRole("dialog"), "delivery-offline", { readme: true });
      const c = await openChat(browser, relay, "1003");
      await chatLog(a.page).getByRole("listitem").filter({ hasText: "王五在吗" })
        .getByRole("button", { name: "重试" }).click();
      await stateOf(a.page, "王五在吗", "已送达").waitFor();
      await c.page.getByRole("status", { name: "张三 未读消息 1" }).waitFor();
      await c.context.close();
    });

    await t.step("waiting for the connection, then delivered after the restart", async () => {
      await a.page.getByRole("tab", { name: "李四" }).click();
      const port = relay.port;
      await relay.close();
      await waitConnection(a.page, "正在重连");
      await typeAndSend(a.page, "断线时写的");
      await stateOf(a.page, "断线时写的", "等待连接…").waitFor();
      await noStatusShown(a.page);
      await screenshot(a.page.getByRole("dialog"), "delivery-waiting", { readme: true });
      relay = await startRelay({ directory, port });
      await waitConnection(a.page, "已连接");
      await waitConnection(b.page, "已连接");
      await stateOf(a.page, "断线时写的", "已送达").waitFor({ timeout: 20_000 });
      await b.page.getByRole("button", { name: "张三", exact: true }).click();
      await chatLog(b.page).getByText("断线时写的").waitFor();
      await a.page.getByRole("img", { name: "李四 在线", exact: true }).waitFor();
    });
    assertEquals([...a.problems, ...b.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("v1: sending…, the connection closed for good, and a page closed mid-send", async (t) => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory, limits: { maxSessionsPerUser: 1 } });
  // A relay that never answers: outcomes are withheld, so the bubble stays "sending".
  const silent = startProxy(relay, { withholdOutcomes: true });
  try {
    const b = await openChat(browser, relay, "1002");
    const a = await openChat(browser, silent, "1001");
    await a.page.getByRole("button", { name: "李四", exact: true }).click();

    await t.step("sending… until an outcome comes", async () => {
      await typeAndSend(a.page, "等回执");
      await stateOf(a.page, "等回执", "发送中…").waitFor();
      await b.page.getByRole("status", { name: "张三 未读消息 1" }).waitFor();
    });

    await t.step("a reload before the outcome: the state is unknown, retry offered", async () => {
      await a.page.reload();
      await waitConnection(a.page, "已连接");
      await stateOf(a.page, "等回执", "页面关闭前未确认是否送达").waitFor();
      await chatLog(a.page).getByRole("button", { name: "重试" }).waitFor();
    });

    await t.step(
      "replaced by a newer session: pending messages say they were not sent",
      async () => {
        await typeAndSend(a.page, "被替换前发的");
        await stateOf(a.page, "被替换前发的", "发送中…").waitFor();
        await openChat(browser, relay, "1001");
        await waitConnection(a.page, "已断开");
        await stateOf(a.page, "被替换前发的", "连接已关闭，未发送").waitFor();
        await chatLog(a.page).getByRole("button", { name: "重试" }).waitFor({ state: "detached" });
      },
    );
    assertEquals([...a.problems, ...b.problems], []);
  } finally {
    await browser.close();
    await silent.close();
    await relay.close();
  }
});

Deno.test("legacy profile: no receipts, so a sent bubble says 已发出", async () => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  const legacy = startProxy(relay, { legacy: true });
  try {
    const b = await openChat(browser, relay, "1002");
    const a = await openChat(browser, legacy, "1001");
    await a.page.getByRole("button", { name: "李四", exact: true }).click();
    await typeAndSend(a.page, "来自 legacy 页面");
    await stateOf(a.page, "来自 legacy 页面", "已发出").waitFor();
    await b.page.getByRole("button", { name: "张三", exact: true }).click();
    await chatLog(b.page).getByText("来自 legacy 页面").waitFor();
    await typeAndSend(b.page, "回复 legacy");
    await chatLog(a.page).getByText("回复 legacy").waitFor();
    await noStatusShown(a.page);
    // The legacy session still counts for the v1 page's presence.
    await b.page.getByRole("img", { name: "张三 在线", exact: true }).waitFor();
    assertEquals([...a.problems, ...b.problems], []);
  } finally {
    await browser.close();
    await legacy.close();
    await relay.close();
  }
});

Deno.test("v1: a message still waiting when the page closes says it was not sent", async () => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  // The page connects but is never identified: what it sends waits.
  const stalled = startProxy(relay, { stall: true });
  try {
    const a = await openPage(browser, stalled, "/?id=1001");
    await waitConnection(a.page, "正在连接");
    await a.page.getByRole("button", { name: "李四", exact: true }).click();
    await typeAndSend(a.page, "还没连上");
    await stateOf(a.page, "还没连上", "等待连接…").waitFor();
    await a.page.reload();
    await stateOf(a.page, "还没连上", "页面关闭时尚未发出").waitFor();
    await chatLog(a.page).getByRole("button", { name: "重试" }).waitFor();
    assertEquals(a.problems, []);
  } finally {
    await browser.close();
    await stalled.close();
    await relay.close();
  }
});
