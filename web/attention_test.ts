/**
 * Nothing missed: LayIM's behaviour for arriving messages (the "收到新消息" bar, the shaking
 * tab, `voice`, `notice`) and the unread count in the title and favicon while hidden.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { DEMO_USERS_FILE, loadDirectory } from "../reference/directory.ts";
import type { Locator } from "playwright-core";
import {
  chatLog,
  launchBrowser,
  openChat,
  openTab,
  recorded,
  screenshot,
  setHidden,
  startRelay,
  TIMEOUT_MS,
  typeAndSend,
  waitUntil,
} from "./testing.ts";
import { waitFor } from "../testing/wait.ts";

/** Whether an element has a running animation (the shake). */
const shaking = (locator: Locator) => locator.evaluate((el) => el.getAnimations().length > 0);

Deno.test("arriving messages are never missed", async (t) => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory: await loadDirectory(DEMO_USERS_FILE) });
  try {
    const a = await openChat(browser, relay, "1001", { instrument: true }); // 张三
    const b = await openChat(browser, relay, "1002"); // 李四
    const c = await openChat(browser, relay, "1003"); // 王五
    await b.page.getByRole("button", { name: "张三", exact: true }).click();
    await c.page.getByRole("button", { name: "张三", exact: true }).click();
    const bar = a.page.getByRole("button", { name: /^收到新消息/ });

    await t.step(
      "no chat open: the 收到新消息 bar, sender, first words, shake, sound",
      async () => {
        await typeAndSend(b.page, "你好张三，周五的会议改到下午三点了");
        await bar.filter({ hasText: "李四：你好张三，周五的会议改到下午三点了" }).waitFor();
        assert(await shaking(bar), "the bar shakes");
        await a.page.getByRole("status", { name: "李四 未读消息 1" }).waitFor();
        await a.page.getByRole("status", { name: "新消息提醒" })
          .filter({ hasText: "李四：你好张三" }).waitFor();
        await waitUntil(
          a.page,
          `__layimTest.played.some((src) => src.endsWith("/voice/default.wav"))`,
        );
        await bar.evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished)));
        await screenshot(a.page, "new-message-bar", { readme: true });
        await bar.click();
        await a.page.getByRole("dialog", { name: "与 李四 的会话" }).waitFor();
        await chatLog(a.page).getByText("周五的会议改到下午三点了").waitFor();
        await bar.waitFor({ state: "hidden" });
        await a.page.getByRole("status", { name: "李四 未读消息 1" }).waitFor({ state: "hidden" });
      },
    );

    await t.step("chatting with one friend, another's message raises the bar", async () => {
      await typeAndSend(c.page, "在吗？");
      await bar.filter({ hasText: "王五：在吗？" }).waitFor();
      await a.page.getByRole("status", { name: "王五 未读消息 1" }).waitFor();
      await bar.click();
      await a.page.getByRole("dialog", { name: "与 王五 的会话" }).waitFor();
      await a.page.getByRole("tab", { name: "李四" }).waitFor();
    });

    await t.step("an open tab that is not selected shakes and counts", async () => {
      await typeAndSend(b.page, "看到请回复");
      const tab = a.page.getByRole("tab", { name: "李四" });
      await tab.filter({ hasText: "1" }).waitFor();
      assert(await shaking(tab), "the tab shakes");
      assert(await bar.isHidden(), "an open tab needs no bar");
      await tab.click();
      await chatLog(a.page).getByText("看到请回复").waitFor();
    });

    await t.step("main panel and chat minimized: the bar still shows", async () => {
      await a.page.getByRole("button", { name: "最小化聊天窗口" }).click();
      await a.page.getByRole("button", { name: "最小化主面板" }).click();
      await typeAndSend(c.page, "最小化了也要看到");
      await bar.filter({ hasText: "王五：最小化了也要看到" }).waitFor();
      await a.page.getByRole("button", { name: /^打开聊天窗口（1 条未读）/ }).waitFor();
      await a.page.getByRole("button", { name: "打开主面板" }).click();
    });

    await t.step("desktop notifications: asked only on a click, shown while hidden", async () => {
      assertEquals((await recorded(a.page)).requests, 0, "never asked on load");
      const notice = a.page.getByRole("button", { name: "桌面通知" });
      assertEquals(await notice.getAttribute("aria-pressed"), "false");
      await notice.click();
      await waitUntil(a.page, `__layimTest.requests === 1`);
      await a.page.getByRole("button", { name: "桌面通知", pressed: true }).waitFor();

      await setHidden(a.page, true);
      await typeAndSend(b.page, "后台时收到");
      await waitUntil(
        a.page,
        `__layimTest.notifications.some((n) => n.title === "来自 李四 的消息" && n.body === "后台时收到")`,
      );
      await waitUntil(a.page, `/^\\(\\d+\\) layim-ws 聊天$/.test(document.title)`);
      await waitUntil(
        a.page,
        `document.querySelector('link[rel~="icon"]').href.startsWith("data:image/png")`,
      );
      await setHidden(a.page, false);
      await waitUntil(a.page, `document.title === "layim-ws 聊天"`);
      await waitUntil(
        a.page,
        `document.querySelector('link[rel~="icon"]').getAttribute("href") === "data:,"`,
      );
      await a.page.evaluate("__layimTest.clickNotification()");
      await a.page.getByRole("dialog", { name: "与 李四 的会话" }).waitFor();
      await chatLog(a.page).getByText("后台时收到").waitFor();
    });

    await t.step("hidden with the chat open: counted while hidden, read on return", async () => {
      // The notification's click reopened the chat; read what came while it was minimized.
      await a.page.getByRole("tab", { name: "王五" }).click();
      await a.page.getByRole("tab", { name: "李四" }).click();
      await setHidden(a.page, true);
      await typeAndSend(b.page, "你不在的时候");
      await chatLog(a.page).getByText("你不在的时候").waitFor();
      await waitUntil(a.page, `document.title === "(1) layim-ws 聊天"`);
      await setHidden(a.page, false);
      await waitUntil(a.page, `document.title === "layim-ws 聊天"`);
      await a.page.getByRole("tab", { name: "李四" }).filter({ hasText: "1" })
        .waitFor({ state: "detached" });
    });

    await t.step("the sound can be turned off", async () => {
      const sound = a.page.getByRole("button", { name: "消息提示音" });
      assertEquals(
        await sound.getAttribute("aria-pressed"),
        "true",
        "LayIM's voice is on by default",
      );
      await sound.click();
      const before = (await recorded(a.page)).played.length;
      await typeAndSend(b.page, "静音后收到");
      await a.page.getByRole("status", { name: "新消息提醒" }).filter({ hasText: "静音后收到" })
        .or(chatLog(a.page).getByText("静音后收到")).first().waitFor();
      assertEquals((await recorded(a.page)).played.length, before);
    });
    assertEquals([...a.problems, ...b.problems, ...c.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("one user's tabs ring once per message", async () => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory: await loadDirectory(DEMO_USERS_FILE) });
  try {
    const a = await openChat(browser, relay, "1001");
    const b1 = await openChat(browser, relay, "1002", { instrument: true });
    const b2 = await openTab(b1, relay, "1002");
    const rings = async () =>
      (await recorded(b1.page)).played.length + (await recorded(b2.page)).played.length;
    await a.page.getByRole("button", { name: "李四", exact: true }).click();
    // A second ring for the first message would have shown by the time the second one rang.
    for (const [n, text] of Array.from({ length: 15 }, (_, i) => [i + 1, `第${i}声`] as const)) {
      await typeAndSend(a.page, text);
      for (const { page } of [b1, b2]) {
        await page.getByRole("status", { name: `张三 未读消息 ${n}` }).waitFor();
      }
      await waitFor(async () => await rings() >= n, TIMEOUT_MS, `ring ${n}`);
      assertEquals(await rings(), n, `rings after message ${n}`);
    }
    assertEquals([...a.problems, ...b1.problems, ...b2.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});
