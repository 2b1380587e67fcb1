/**
 * The six bugs of issue 15, each reproduced through the page as a person meets it.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { DEMO_USERS_FILE, loadDirectory } from "../reference/directory.ts";
import {
  chatLog,
  launchBrowser,
  openChat,
  openPage,
  openTab,
  startRelay,
  TIMEOUT_MS,
  typeAndSend,
  waitConnection,
  waitDisabled,
} from "./testing.ts";

const directory = await loadDirectory(DEMO_USERS_FILE);

Deno.test("bug: after a final close the page cannot send", async (t) => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory, limits: { maxSessionsPerUser: 1 } });
  try {
    await t.step("replaced by a newer session (4004): the input is disabled", async () => {
      const old = await openChat(browser, relay, "1001");
      await openChat(browser, relay, "1001");
      await waitConnection(old.page, "已断开");
      await old.page.getByRole("button", { name: "李四", exact: true }).click();
      await waitDisabled(old.page.getByRole("textbox", { name: "输入消息" }));
      await waitDisabled(old.page.getByRole("button", { name: "发送", exact: true }));
      assertEquals(old.problems, []);
    });

    await t.step("an invalid id (4002): the input is disabled", async () => {
      const bad = await openPage(browser, relay, "/?id=10%2001");
      await waitConnection(bad.page, "已断开");
      await bad.page.getByRole("button", { name: "李四", exact: true }).click();
      await waitDisabled(bad.page.getByRole("textbox", { name: "输入消息" }));
      assertEquals(bad.problems, []);
    });
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("bug: messages written while disconnected wait for a recipient who reconnects later", async () => {
  const browser = await launchBrowser();
  let relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    const b = await openChat(browser, relay, "1002");
    await a.page.getByRole("button", { name: "李四", exact: true }).click();
    const port = relay.port;
    await relay.close();
    await waitConnection(a.page, "正在重连");
    // B stays away until A is back and has sent: A reconnects first.
    await b.context.setOffline(true);
    await typeAndSend(a.page, "断线时写给李四");
    relay = await startRelay({ directory, port });
    await waitConnection(a.page, "已连接");
    await b.context.setOffline(false);
    await waitConnection(b.page, "已连接");
    await b.page.getByRole("status", { name: "张三 未读消息 1" }).waitFor({ timeout: 30_000 });
    await b.page.getByRole("button", { name: "张三", exact: true }).click();
    await chatLog(b.page).getByText("断线时写给李四").waitFor();
    // The friend's status is the relay's presence, not a guess from the message's outcome.
    await a.page.getByRole("img", { name: "李四 在线", exact: true }).waitFor();
    assertEquals([...a.problems, ...b.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("bug: a second tab of the same user", async (t) => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    const b1 = await openChat(browser, relay, "1002");
    const b2 = await openTab(b1, relay, "1002");

    await t.step("both tabs raise the unread badge", async () => {
      await a.page.getByRole("button", { name: "李四", exact: true }).click();
      await typeAndSend(a.page, "两个标签页都该看到");
      for (const { page } of [b1, b2]) {
        await page.getByRole("status", { name: "张三 未读消息 1" }).waitFor();
      }
    });

    await t.step("a message sent in one tab shows in the other tab's open chat", async () => {
      await b2.page.getByRole("button", { name: "张三", exact: true }).click();
      await chatLog(b2.page).getByText("两个标签页都该看到").waitFor();
      await b1.page.getByRole("button", { name: "张三", exact: true }).click();
      await typeAndSend(b1.page, "第一个标签页发的");
      await chatLog(a.page).getByText("第一个标签页发的").waitFor();
      await chatLog(b2.page).getByText("第一个标签页发的").waitFor();
    });
    assertEquals([...a.problems, ...b1.problems, ...b2.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("bug: two tabs writing history at once lose nothing", async () => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    const b1 = await openChat(browser, relay, "1002");
    const b2 = await openTab(b1, relay, "1002");
    await a.page.getByRole("button", { name: "李四", exact: true }).click();
    await b1.page.getByRole("button", { name: "张三", exact: true }).click();
    const n = 40;
    // A writes to B (both of B's tabs store it) while B's first tab writes to A.
    await Promise.all([
      (async () => {
        for (let i = 0; i < n; i++) await typeAndSend(a.page, `甲${i}号`);
      })(),
      (async () => {
        for (let i = 0; i < n; i++) await typeAndSend(b1.page, `乙${i}号`);
      })(),
    ]);
    await chatLog(b1.page).getByText(`甲${n - 1}号`, { exact: true }).waitFor();
    await chatLog(a.page).getByText(`乙${n - 1}号`, { exact: true }).waitFor();
    await b2.page.close();
    await b1.page.reload();
    await waitConnection(b1.page, "已连接");
    await b1.page.getByRole("button", { name: "张三", exact: true }).click();
    const log = chatLog(b1.page);
    await log.getByText(`甲${n - 1}号`, { exact: true }).waitFor();
    const missing: string[] = [];
    for (let i = 0; i < n; i++) {
      for (const text of [`甲${i}号`, `乙${i}号`]) {
        if (await log.getByText(text, { exact: true }).count() !== 1) missing.push(text);
      }
    }
    assertEquals(missing, [], "every message is in the history exactly once after a reload");
    assertEquals([...a.problems, ...b1.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("bug: a message over LayIM's 3,000 characters is refused before sending, text kept", async () => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    const b = await openChat(browser, relay, "1002");
    await a.page.getByRole("button", { name: "李四", exact: true }).click();
    const input = a.page.getByRole("textbox", { name: "输入消息" });
    const long = "长".repeat(70_000);
    await input.fill(long);
    await input.press("Enter");
    await a.page.getByText("内容最长不能超过3000个字符").waitFor();
    assertEquals((await input.inputValue()).length, long.length);
    assertEquals(await chatLog(a.page).locator("li").count(), 0);
    await typeAndSend(a.page, "短消息");
    await b.page.getByRole("status", { name: "张三 未读消息 1" }).waitFor();
    assertEquals([...a.problems, ...b.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});

Deno.test("bug: a stranger's message keeps collapsed groups and focus", async () => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001");
    const stranger = await openChat(browser, relay, "9999");
    const friends = a.page.getByRole("button", { name: /^好友/ });
    await friends.click();
    assertEquals(await friends.getAttribute("aria-expanded"), "false");
    const colleagues = a.page.getByRole("button", { name: /^同事/ });
    await colleagues.focus();

    await stranger.page.getByRole("button", { name: "张三", exact: true }).click();
    await typeAndSend(stranger.page, "你好，我是陌生人");
    await a.page.getByRole("button", { name: "9999", exact: true }).waitFor({
      timeout: TIMEOUT_MS,
    });
    assertEquals(
      await a.page.getByRole("button", { name: /^好友/ }).getAttribute("aria-expanded"),
      "false",
    );
    assert(
      await a.page.getByRole("button", { name: /^同事/ }).evaluate((el) =>
        el === document.activeElement
      ),
      "focus stays on the 同事 group",
    );
    assertEquals([...a.problems, ...stranger.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});
