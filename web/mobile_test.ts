/**
 * The page at 375×812, in the spirit of LayIM's mobile UI: the list full screen, a full-screen
 * chat with a back button, the send button as the obvious way to send, other chats' messages
 * in a bar on top.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { DEMO_USERS_FILE, loadDirectory } from "../reference/directory.ts";
import {
  chatLog,
  launchBrowser,
  openChat,
  screenshot,
  startRelay,
  typeAndSend,
} from "./testing.ts";

const PHONE = { width: 375, height: 812 };

Deno.test("mobile layout (375×812)", async (t) => {
  const browser = await launchBrowser();
  const relay = await startRelay({ directory: await loadDirectory(DEMO_USERS_FILE) });
  try {
    const a = await openChat(browser, relay, "1001", { viewport: PHONE });
    const b = await openChat(browser, relay, "1002");
    const c = await openChat(browser, relay, "1003");
    const panel = a.page.getByRole("region", { name: "LayIM 主面板" });

    await t.step("the list fills the screen", async () => {
      const box = await panel.boundingBox();
      assert(box && box.width === PHONE.width, `panel width ${box?.width}`);
      assertEquals(await a.page.getByRole("button", { name: "最小化主面板" }).isVisible(), false);
    });

    await t.step("a chat is full screen with a back button; 发送 sends", async () => {
      await a.page.getByRole("button", { name: "李四", exact: true }).click();
      const chat = a.page.getByRole("dialog", { name: "与 李四 的会话" });
      const box = await chat.boundingBox();
      assertEquals(box, { x: 0, y: 0, ...PHONE });
      await a.page.getByRole("button", { name: "返回" }).waitFor();
      const input = a.page.getByRole("textbox", { name: "输入消息" });
      assertEquals(await input.getAttribute("placeholder"), "输入消息");
      assertEquals(await input.getAttribute("enterkeyhint"), "send");
      const send = a.page.getByRole("button", { name: "发送", exact: true });
      const sendBox = await send.boundingBox();
      assert(sendBox && sendBox.height >= 40, `send button height ${sendBox?.height}`);
      await input.fill("手机上发的 face[威武]");
      await send.click();
      await b.page.getByRole("status", { name: "张三 未读消息 1" }).waitFor();
    });

    await t.step("a third person's message shows on top and switches the chat", async () => {
      await c.page.getByRole("button", { name: "张三", exact: true }).click();
      await typeAndSend(c.page, "手机能看到我吗");
      const bar = a.page.getByRole("button", { name: /^收到新消息/ });
      await bar.filter({ hasText: "王五：手机能看到我吗" }).waitFor();
      await bar.evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished)));
      const box = await bar.boundingBox();
      const back = await a.page.getByRole("button", { name: "返回" }).boundingBox();
      assert(box && back && box.width === PHONE.width, `bar at ${JSON.stringify(box)}`);
      assert(box.y >= back.y + back.height && box.y < 100, "on top, below the back button");
      await screenshot(a.page, "mobile", { readme: true });
      await bar.click();
      await a.page.getByRole("dialog", { name: "与 王五 的会话" }).waitFor();
      await chatLog(a.page).getByText("手机能看到我吗").waitFor();
    });

    await t.step("back returns to the list, focus on the conversation's friend", async () => {
      await a.page.getByRole("button", { name: "返回" }).click();
      await a.page.getByRole("dialog").waitFor({ state: "hidden" });
      await panel.waitFor();
      assert(
        await a.page.getByRole("button", { name: "王五", exact: true })
          .evaluate((el) => el === document.activeElement),
        "focus is on 王五 in the list",
      );
      await a.page.getByRole("button", { name: "李四", exact: true }).click();
      await chatLog(a.page).getByText("手机上发的").waitFor();
      await a.page.keyboard.press("Escape");
      await a.page.getByRole("dialog").waitFor({ state: "hidden" });
      // On a phone the list is home: Escape there does not hide it.
      await a.page.keyboard.press("Escape");
      assert(await panel.isVisible(), "the list stays");
    });
    assertEquals([...a.problems, ...b.problems, ...c.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});
