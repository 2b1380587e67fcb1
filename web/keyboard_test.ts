/**
 * Keyboard and screen reader: visible focus, Escape, focus that goes somewhere sensible,
 * messages for other chats announced, close reasons in words.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import type { Page } from "playwright-core";
import { DEMO_USERS_FILE, loadDirectory } from "../reference/directory.ts";
import {
  chatLog,
  launchBrowser,
  openChat,
  startRelay,
  typeAndSend,
  waitConnection,
} from "./testing.ts";

const directory = await loadDirectory(DEMO_USERS_FILE);

/** The accessible name (aria-label or text) of the focused element. */
const focused = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    return el?.getAttribute("aria-label") ?? el?.textContent?.trim() ?? "";
  });

/** The focused element's outline, as drawn once layui's transitions have run. */
const outline = (page: Page) =>
  page.evaluate(async () => {
    const el = document.activeElement as Element;
    await Promise.all(el.getAnimations().map((a) => a.finished));
    const style = getComputedStyle(el);
    return `${style.outlineStyle} ${style.outlineWidth}`;
  });

Deno.test("keyboard and screen reader", async (t) => {
  const browser = await launchBrowser();
  let relay = await startRelay({ directory, limits: { maxSessionsPerUser: 1 } });
  try {
    const a = await openChat(browser, relay, "1001");
    const b = await openChat(browser, relay, "1002");
    const c = await openChat(browser, relay, "1003");
    const page = a.page;

    await t.step("focus is visible on every control", async () => {
      await page.keyboard.press("Tab");
      assertEquals(await outline(page), "solid 2px", `on ${await focused(page)}`);
      await page.getByRole("button", { name: "李四", exact: true }).click();
      await page.keyboard.press("Tab"); // 关闭当前会话 (layui's button)
      await page.keyboard.press("Tab"); // 发送
      assertEquals(await focused(page), "发送");
      assertEquals(await outline(page), "solid 2px");
      await page.getByRole("button", { name: "王五", exact: true }).focus();
      await page.keyboard.press("Shift+Tab");
      assertEquals(await outline(page), "solid 2px", `on ${await focused(page)}`);
    });

    await t.step("Escape closes the face picker, then minimizes the chat", async () => {
      await page.getByRole("textbox", { name: "输入消息" }).focus();
      await page.getByRole("button", { name: "选择表情" }).click();
      await page.getByRole("dialog", { name: "表情" }).waitFor();
      assertEquals(await focused(page), "微笑");
      await page.keyboard.press("ArrowRight");
      assertEquals(await focused(page), "嘻嘻");
      await page.keyboard.press("Escape");
      await page.getByRole("dialog", { name: "表情" }).waitFor({ state: "hidden" });
      assertEquals(await focused(page), "选择表情");
      await page.keyboard.press("Escape");
      await page.getByRole("dialog", { name: "与 李四 的会话" }).waitFor({ state: "hidden" });
      assertEquals(await focused(page), "打开聊天窗口", "focus on the minimized chat's bar");
      await page.keyboard.press("Enter");
      await page.getByRole("dialog", { name: "与 李四 的会话" }).waitFor();
      assertEquals(await focused(page), "输入消息");
    });

    await t.step("closing the chat puts focus back on the friend", async () => {
      await page.getByRole("button", { name: "关闭聊天窗口" }).click();
      await page.getByRole("dialog").waitFor({ state: "hidden" });
      assertEquals(await focused(page), "李四");
    });

    await t.step("Escape in the main panel minimizes it; focus on the way back", async () => {
      await page.keyboard.press("Escape");
      await page.getByRole("region", { name: "LayIM 主面板" }).waitFor({ state: "hidden" });
      assertEquals(await focused(page), "打开主面板");
      await page.keyboard.press("Enter");
      await page.getByRole("region", { name: "LayIM 主面板" }).waitFor();
      assertEquals(await focused(page), "联系人");
    });

    await t.step("messages for other chats are announced", async () => {
      await page.getByRole("button", { name: "李四", exact: true }).click();
      await c.page.getByRole("button", { name: "张三", exact: true }).click();
      await typeAndSend(c.page, "给张三的悄悄话");
      await page.getByRole("status", { name: "新消息提醒" })
        .filter({ hasText: "新消息 王五：给张三的悄悄话" }).waitFor();
      // The open chat is a log: screen readers read its new lines themselves.
      await b.page.getByRole("button", { name: "张三", exact: true }).click();
      await typeAndSend(b.page, "当前会话的消息");
      await chatLog(page).getByText("当前会话的消息").waitFor();
    });

    await t.step("every close reason is said in words", async () => {
      const port = relay.port;
      await relay.close();
      await waitConnection(page, "正在重连…（中继正在重启或关闭）");
      await chatLog(page).getByText("连接已断开（中继正在重启或关闭），正在重连…").waitFor();
      relay = await startRelay({ directory, port, limits: { maxSessionsPerUser: 1 } });
      await waitConnection(page, "已连接");
      await chatLog(page).getByText("已重新连接").waitFor();
      await openChat(browser, relay, "1001");
      await waitConnection(page, "已断开（此账号打开的窗口过多，本窗口已被新窗口替换）");
      await page.getByRole("alert").filter({ hasText: "此账号打开的窗口过多" }).waitFor();
      assert(!/\d{4}/.test(await page.getByRole("status", { name: "连接状态" }).innerText()));
    });
    assertEquals([...a.problems, ...b.problems, ...c.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});
