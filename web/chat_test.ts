import { assertEquals } from "@std/assert";
import { DEMO_USERS_FILE, loadDirectory } from "../reference/directory.ts";
import {
  chatLog,
  launchBrowser,
  openChat,
  screenshot,
  startRelay,
  typeAndSend,
  waitConnection,
} from "./testing.ts";

Deno.test("chat page: two users in a real browser", async (t) => {
  const directory = await loadDirectory(DEMO_USERS_FILE);
  const browser = await launchBrowser();
  let relay = await startRelay({ directory });
  try {
    const a = await openChat(browser, relay, "1001"); // 张三
    const b = await openChat(browser, relay, "1002"); // 李四

    await t.step("A → B raises an unread badge; B opens it; B → A arrives", async () => {
      await a.page.getByRole("button", { name: "李四", exact: true }).click();
      await typeAndSend(a.page, "你好，李四 face[微笑]");
      await chatLog(a.page).getByText("你好，李四").waitFor();

      const badge = b.page.getByRole("status", { name: "张三 未读消息 1" });
      await badge.waitFor();
      await screenshot(b.page, "main-panel");
      await b.page.getByRole("button", { name: "张三", exact: true }).click();
      await chatLog(b.page).getByText("你好，李四").waitFor();
      await badge.waitFor({ state: "hidden" });

      await typeAndSend(b.page, "收到！\n第二行 a(https://layui.dev)[layui]");
      await chatLog(a.page).getByText("第二行").waitFor();
      await chatLog(a.page).getByRole("link", { name: "layui" }).waitFor();
      await screenshot(a.page, "chat-window");
    });

    await t.step("the 发送 button sends too", async () => {
      await b.page.getByRole("textbox", { name: "输入消息" }).fill("按钮发送");
      await b.page.getByRole("button", { name: "发送" }).click();
      await chatLog(a.page).getByText("按钮发送").waitFor();
    });

    await t.step("history survives a reload", async () => {
      await a.page.reload();
      await waitConnection(a.page, "已连接");
      await a.page.getByRole("button", { name: "李四", exact: true }).click();
      for (const text of ["你好，李四", "收到！", "按钮发送"]) {
        await chatLog(a.page).getByText(text).waitFor();
      }
    });

    await t.step("a message to an offline friend says so under its bubble", async () => {
      await a.page.getByRole("button", { name: "王五", exact: true }).click();
      await typeAndSend(a.page, "在吗？");
      await chatLog(a.page).getByRole("listitem").filter({ hasText: "在吗？" })
        .getByText("对方不在线，未送达").waitFor();
      await screenshot(a.page, "offline-friend");
      await a.page.getByRole("tab", { name: "李四" }).click();
    });

    await t.step("relay restarted: both pages reconnect, nothing typed is lost", async () => {
      const port = relay.port;
      await relay.close();
      await waitConnection(a.page, "正在重连");
      await waitConnection(b.page, "正在重连");
      await chatLog(a.page).getByText("连接已断开（中继正在重启或关闭），正在重连…").waitFor();
      // Typed while the relay is away; A stays offline until B is back, so it cannot be
      // refused as undelivered.
      await a.context.setOffline(true);
      await typeAndSend(a.page, "断线时写的消息");
      relay = await startRelay({ directory, port });
      await waitConnection(b.page, "已连接");
      await a.context.setOffline(false);
      await waitConnection(a.page, "已连接");
      await chatLog(b.page).getByText("断线时写的消息").waitFor();
      await typeAndSend(b.page, "重启后回复");
      await chatLog(a.page).getByText("重启后回复").waitFor();
      await screenshot(a.page, "after-restart", { readme: true });
    });

    assertEquals([...a.problems, ...b.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});
