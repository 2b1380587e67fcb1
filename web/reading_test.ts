/**
 * Reading: scrolling that respects the reader, a reload that forgets nothing, the recent
 * conversations list, transient notices not stored, tabs agreeing on unread counts, faces
 * and links.
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
  openTab,
  startRelay,
  typeAndSend,
  waitConnection,
} from "./testing.ts";

const directory = await loadDirectory(DEMO_USERS_FILE);

/** How far the open conversation is scrolled from its end, in pixels. */
const fromBottom = (page: Page) =>
  chatLog(page).evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);

Deno.test("reading a conversation", async (t) => {
  const browser = await launchBrowser();
  let relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    const b = await openChat(browser, relay, "1002");
    const d = await openChat(browser, relay, "1004");
    await a.page.getByRole("button", { name: "李四", exact: true }).click();
    await b.page.getByRole("button", { name: "张三", exact: true }).click();

    await t.step("a message arriving while reading history: a marker, no jump", async () => {
      for (let i = 0; i < 25; i++) await typeAndSend(b.page, `历史消息 ${i}`);
      await chatLog(a.page).getByText("历史消息 24").waitFor();
      await chatLog(a.page).hover();
      await a.page.mouse.wheel(0, -100_000);
      await a.page.waitForFunction(() => document.querySelector('[role="log"]')!.scrollTop === 0);
      await typeAndSend(b.page, "读历史时来的");
      const marker = a.page.getByRole("button", { name: "↓ 1 条新消息" });
      await marker.waitFor();
      assertEquals(await chatLog(a.page).evaluate((el) => el.scrollTop), 0, "the view stays");
      await marker.click();
      await marker.waitFor({ state: "hidden" });
      assert(await fromBottom(a.page) < 24, "scrolled to the new message");
    });

    await t.step("unread lines start under a 以下为新消息 divider", async () => {
      await a.page.getByRole("button", { name: "关闭聊天窗口" }).click();
      await typeAndSend(b.page, "第一条未读");
      await typeAndSend(b.page, "第二条未读");
      await a.page.getByRole("status", { name: "李四 未读消息 2" }).waitFor();
      await a.page.getByRole("button", { name: "李四", exact: true }).click();
      await chatLog(a.page).getByRole("separator").filter({ hasText: "以下为新消息" }).waitFor();
    });

    await t.step("a reload restores open chats, unread counts, collapsed groups", async () => {
      await a.page.getByRole("button", { name: "王五", exact: true }).click();
      await a.page.getByRole("button", { name: /^同事/ }).click();
      await d.page.getByRole("button", { name: "张三", exact: true }).click();
      await typeAndSend(d.page, "赵六的未读");
      const colleagues = a.page.getByRole("button", { name: /^同事/ });
      await colleagues.getByLabel("1 条未读").waitFor();
      await a.page.reload();
      await waitConnection(a.page, "已连接");
      await a.page.getByRole("dialog", { name: "与 王五 的会话" }).waitFor();
      await a.page.getByRole("tab", { name: "李四" }).waitFor();
      assertEquals(await colleagues.getAttribute("aria-expanded"), "false");
      await colleagues.getByLabel("1 条未读").waitFor();
      await a.page.getByRole("button", { name: /^收到新消息/ }).filter({
        hasText: "赵六：赵六的未读",
      })
        .waitFor();
    });

    await t.step("the recent conversations list (历史会话)", async () => {
      await a.page.getByRole("tab", { name: "历史会话" }).click();
      const recent = a.page.getByRole("tabpanel", { name: "历史会话" });
      const items = recent.getByRole("button", { name: /^与 .* 的会话$/ });
      await items.first().waitFor();
      assertEquals(await items.evaluateAll((els) => els.map((e) => e.getAttribute("aria-label"))), [
        "与 赵六 的会话",
        "与 李四 的会话",
      ]);
      await recent.getByRole("button", { name: "与 赵六 的会话" }).filter({ hasText: "赵六的未读" })
        .getByLabel("1 条未读").waitFor();
      await recent.getByRole("button", { name: "与 赵六 的会话" }).click();
      await a.page.getByRole("dialog", { name: "与 赵六 的会话" }).waitFor();
      await recent.getByLabel("1 条未读").waitFor({ state: "detached" });
      await a.page.getByRole("tab", { name: "联系人" }).click();
    });

    await t.step("connection notices are shown, never stored", async () => {
      const port = relay.port;
      await relay.close();
      await chatLog(a.page).getByText(/^连接已断开/).waitFor();
      relay = await startRelay({ directory, port });
      await waitConnection(a.page, "已连接");
      await chatLog(a.page).getByText("已重新连接").waitFor();
      await a.page.reload();
      await waitConnection(a.page, "已连接");
      await chatLog(a.page).getByText("赵六的未读").waitFor();
      assertEquals(await chatLog(a.page).getByText(/^连接已断开|^已重新连接/).count(), 0);
    });
    assertEquals([...a.problems, ...b.problems, ...d.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("two tabs of one user agree on unread counts", async () => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    const b1 = await openChat(browser, relay, "1002");
    const b2 = await openTab(b1, relay, "1002");
    await a.page.getByRole("button", { name: "李四", exact: true }).click();
    await typeAndSend(a.page, "读了一个标签页，另一个也算读了");
    for (const { page } of [b1, b2]) {
      await page.getByRole("status", { name: "张三 未读消息 1" }).waitFor();
    }
    await b1.page.getByRole("button", { name: "张三", exact: true }).click();
    await b2.page.getByRole("status", { name: "张三 未读消息 1" }).waitFor({ state: "hidden" });
    assertEquals([...a.problems, ...b1.problems, ...b2.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("faces and links", async (t) => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    const b = await openChat(browser, relay, "1002");
    await a.page.getByRole("button", { name: "李四", exact: true }).click();
    await b.page.getByRole("button", { name: "张三", exact: true }).click();

    await t.step("the face picker offers LayIM's 72 faces and inserts one", async () => {
      const input = a.page.getByRole("textbox", { name: "输入消息" });
      await input.fill("厉害 ");
      await a.page.getByRole("button", { name: "选择表情" }).click();
      const picker = a.page.getByRole("dialog", { name: "表情" });
      assertEquals(await picker.getByRole("button").count(), 72);
      await picker.getByRole("button", { name: "威武" }).click();
      await picker.waitFor({ state: "hidden" });
      assertEquals(await input.inputValue(), "厉害 face[威武]");
      await input.press("Enter");
      await chatLog(b.page).getByRole("img", { name: "威武" }).waitFor();
    });

    await t.step("every LayIM face name renders, the nine that were missing too", async () => {
      const names = [
        "右哼哼",
        "左哼哼",
        "黑线",
        "互粉",
        "草泥马",
        "神马",
        "给力",
        "威武",
        "奥特曼",
      ];
      await typeAndSend(a.page, names.map((n) => `face[${n}]`).join(""));
      for (const name of names) await chatLog(b.page).getByRole("img", { name }).last().waitFor();
    });

    await t.step("plain http(s) URLs become safe links", async () => {
      await typeAndSend(a.page, "文档在 https://layui.dev/docs/ 。不是 javascript:alert(1)");
      const link = chatLog(b.page).getByRole("link", { name: "https://layui.dev/docs/" });
      await link.waitFor();
      assertEquals(await link.getAttribute("href"), "https://layui.dev/docs/");
      assertEquals(await link.getAttribute("rel"), "noopener noreferrer nofollow");
      assertEquals(await link.getAttribute("target"), "_blank");
      assertEquals(await chatLog(b.page).getByRole("link", { name: /javascript/ }).count(), 0);
    });
    assertEquals([...a.problems, ...b.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("history kept by the previous version of the page comes along", async () => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    await a.page.evaluate(() =>
      localStorage.setItem(
        "layim-ws:history:1001:1002",
        JSON.stringify([
          { mine: false, content: "旧版本收到的", timestamp: 1000, cid: "old-1" },
          { mine: true, content: "旧版本发出的", timestamp: 2000 },
          { mine: false, system: true, content: "连接已断开，正在重连…", timestamp: 3000 },
        ]),
      )
    );
    await a.page.reload();
    await waitConnection(a.page, "已连接");
    await a.page.getByRole("button", { name: "李四", exact: true }).click();
    await chatLog(a.page).getByText("旧版本收到的").waitFor();
    await chatLog(a.page).getByText("旧版本发出的").waitFor();
    assertEquals(await chatLog(a.page).getByText("连接已断开，正在重连…").count(), 0);
    assertEquals(
      await a.page.evaluate(() => localStorage.getItem("layim-ws:history:1001:1002")),
      null,
    );
    assertEquals(a.problems, []);
  } finally {
    await browser.close();
    await relay.close();
  }
});
