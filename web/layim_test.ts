import { assert, assertEquals } from "@std/assert";
import type { Browser } from "playwright-core";
import type { Relay } from "../reference/mod.ts";
import { DEMO_USERS_FILE, loadDirectory } from "../reference/directory.ts";
import {
  chatLog,
  launchBrowser,
  openChat,
  openPage,
  recorded,
  startRelay,
  typeAndSend,
  type UserPage,
  waitUntil,
} from "./testing.ts";

/**
 * A page that only loads layui and the module and configures it the LayIM way; the
 * module's events are recorded in `window.events`.
 */
async function layimPage(browser: Browser, relay: Relay, options: object): Promise<UserPage> {
  const user = await openPage(browser, relay, "/api/users", { instrument: true });
  await user.page.setContent(`<!doctype html>
    <link rel="stylesheet" href="/layui/css/layui.css"><link rel="stylesheet" href="/layim.css">
    <body class="app">
    <script src="/layui/layui.js"></script>
    <script type="module" src="/layim.js"></script>
    <script type="module">
      window.events = [];
      layui.use("layim", function (layim) {
        window.layim = layim;
        layim.on("ready", (o) => events.push("ready " + o.title));
        layim.on("chatChange", (res) => events.push("chatChange " + res.data.id + " " + res.type));
        layim.on("sendMessage", (data) => events.push(data));
        layim.config(Object.assign({
          init: {
            mine: { id: "1", username: "我", avatar: "/avatars/1001.svg" },
            friend: [{ groupname: "朋友", id: 1, list: [{ id: "2", username: "小红", avatar: "/avatars/1002.svg" }] }],
          },
        }, ${JSON.stringify(options)}));
      });
    </script>`);
  await user.page.waitForFunction("window.events.length > 0");
  return user;
}

Deno.test("layim module: the LayIM API surface", async (t) => {
  const browser = await launchBrowser();
  const relay = await startRelay({
    directory: await loadDirectory(DEMO_USERS_FILE),
    limits: { ratePerSecond: 1, rateBurst: 1 },
  });
  try {
    await t.step("config title + min; chat, chatChange, sendMessage, getMessage", async () => {
      const { page, problems } = await layimPage(browser, relay, { title: "测试标题", min: true });
      const panel = page.getByRole("region", { name: "LayIM 主面板" });
      assert(await panel.isHidden());
      await page.getByRole("button", { name: "打开主面板" }).filter({ hasText: "测试标题" })
        .click();
      await panel.waitFor();

      await page.evaluate(`layim.chat({ id: 3, name: "陌生人", avatar: "", type: "friend" })`);
      await page.getByRole("dialog", { name: "与 陌生人 的会话" }).waitFor();
      await panel.getByRole("button", { name: "陌生人", exact: true }).waitFor();
      await typeAndSend(page, "你好");
      assertEquals(await page.evaluate("events"), [
        "ready 测试标题",
        "chatChange 3 friend",
        {
          mine: {
            username: "我",
            avatar: "/avatars/1001.svg",
            id: "1",
            mine: true,
            content: "你好",
          },
          to: { id: "3", username: "陌生人", avatar: "", type: "friend" },
        },
      ]);

      await page.evaluate(`layim.setFriendStatus("2", "online")`);
      await panel.getByRole("img", { name: "在线" }).waitFor();
      const message = { id: "2", username: "小红", avatar: "", type: "friend", cid: "c1" };
      const json = JSON.stringify({ ...message, content: "嗨", timestamp: 0 });
      await page.evaluate(`layim.getMessage(${json}); layim.getMessage(${json})`);
      await page.getByRole("status", { name: "小红 未读消息 1" }).waitFor();

      await page.evaluate(
        `layim.getMessage({ system: true, id: 3, type: "friend", content: "系统提示" })`,
      );
      await chatLog(page).getByRole("note").filter({ hasText: "系统提示" }).waitFor();
      await panel.getByRole("button", { name: "小红", exact: true }).click();
      await page.getByRole("tab", { name: "陌生人" }).waitFor();
      await page.getByRole("button", { name: "关闭当前会话" }).click();
      await page.getByRole("dialog", { name: "与 陌生人 的会话" }).waitFor();
      await page.getByRole("tablist", { name: "会话列表" }).waitFor({ state: "hidden" });
      await page.getByRole("button", { name: "关闭聊天窗口" }).click();
      await page.getByRole("dialog").waitFor({ state: "hidden" });
      assertEquals(problems, []);
    });

    await t.step("voice and notice: LayIM's names and defaults", async () => {
      const byDefault = await layimPage(browser, relay, {});
      const message = JSON.stringify({ id: "2", username: "小红", type: "friend", content: "叮" });
      await byDefault.page.evaluate(`layim.getMessage(${message})`);
      await waitUntil(byDefault.page, `__layimTest.played.length === 1`);
      await byDefault.page.getByRole("button", { name: "消息提示音", pressed: true }).waitFor();
      assertEquals(await byDefault.page.getByRole("button", { name: "桌面通知" }).count(), 0);

      const quiet = await layimPage(browser, relay, { voice: false, notice: true });
      await quiet.page.evaluate(`layim.getMessage(${message})`);
      await quiet.page.getByRole("status", { name: "小红 未读消息 1" }).waitFor();
      assertEquals((await recorded(quiet.page)).played, []);
      assertEquals(await quiet.page.getByRole("button", { name: "消息提示音" }).count(), 0);
      await quiet.page.getByRole("button", { name: "桌面通知", pressed: false }).waitFor();
      assertEquals([...byDefault.problems, ...quiet.problems], []);
    });

    await t.step("config maxLength: refused before sending, text kept", async () => {
      const { page, problems } = await layimPage(browser, relay, { maxLength: 5 });
      await page.evaluate(`layim.chat({ id: "2", name: "小红", avatar: "", type: "friend" })`);
      await page.getByRole("textbox", { name: "输入消息" }).fill("六个字太长了");
      await page.getByRole("textbox", { name: "输入消息" }).press("Enter");
      await page.getByRole("alert").filter({ hasText: "内容最长不能超过5个字符" }).waitFor();
      assertEquals(await page.evaluate("events.length"), 2, "no sendMessage event");
      assertEquals(problems, []);
    });

    await t.step("config brief: no main panel, chats still open", async () => {
      const { page, problems } = await layimPage(browser, relay, { brief: true });
      await page.evaluate(`layim.chat({ id: "2", name: "小红", avatar: "", type: "friend" })`);
      await page.getByRole("dialog", { name: "与 小红 的会话" }).waitFor();
      assertEquals(await page.getByRole("region", { name: "LayIM 主面板" }).count(), 0);
      assertEquals(problems, []);
    });

    await t.step("a rate-limited message says so under its bubble", async () => {
      const a = await openChat(browser, relay, "1001");
      await openChat(browser, relay, "1002");
      await a.page.getByRole("button", { name: "李四", exact: true }).click();
      await typeAndSend(a.page, "第一条");
      await typeAndSend(a.page, "第二条");
      await chatLog(a.page).getByRole("listitem").filter({ hasText: "第二条" })
        .getByText("发送过于频繁，未送达").waitFor();
      assertEquals(a.problems, []);
    });
  } finally {
    await browser.close();
    await relay.close();
  }
});
