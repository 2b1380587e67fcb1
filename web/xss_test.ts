import { assertEquals } from "@std/assert";
import { createDirectory } from "../reference/directory.ts";
import { chatLog, launchBrowser, openChat, openPage, startRelay, typeAndSend } from "./testing.ts";

const PAYLOADS = [
  "<img src=x onerror=alert(1)>",
  "<script>alert(2)</script>",
  "a(javascript:alert(3))[x]",
  "img[javascript:alert(4)]",
  "[div onclick=alert(5)]点我[/div]",
];

/** Anything a payload could have injected: inline scripts, handlers, script URLs. */
const INJECTED = [
  "script:not([src])",
  "[onerror]",
  "[onclick]",
  "[onload]",
  'a[href^="javascript:" i]',
  'img[src^="javascript:" i]',
  'img[src="x"]',
  "div[onclick]",
].join(", ");

Deno.test("chat page: hostile content and usernames stay text", async (t) => {
  const directory = createDirectory([
    { id: "1001", username: "张三", avatar: "/avatars/1001.svg" },
    ...PAYLOADS.map((username, i) => ({
      id: `evil${i}`,
      username,
      avatar: "/avatars/1002.svg",
      sign: PAYLOADS[(i + 1) % PAYLOADS.length],
    })),
  ]);
  const browser = await launchBrowser();
  const relay = await startRelay({ directory });
  try {
    await t.step("the user picker shows hostile usernames literally", async () => {
      const picker = await openPage(browser, relay, "/");
      for (const username of PAYLOADS) {
        await picker.page.getByRole("link", { name: username, exact: true }).waitFor();
      }
      assertEquals(await picker.page.locator(INJECTED).count(), 0);
      assertEquals(picker.problems, []);
      await picker.context.close();
    });

    await t.step("hostile content and names render as text on both ends", async () => {
      const victim = await openChat(browser, relay, "1001");
      const evil = await openChat(browser, relay, "evil0");
      for (const username of PAYLOADS) {
        await victim.page.getByRole("button", { name: username, exact: true }).waitFor();
      }
      await evil.page.getByRole("button", { name: "张三", exact: true }).click();
      for (const payload of PAYLOADS) await typeAndSend(evil.page, payload);
      await typeAndSend(
        evil.page,
        "face[微笑] a(https://example.com/ok)[安全链接] img[/avatars/1001.svg]",
      );

      await victim.page.getByRole("button", { name: PAYLOADS[0], exact: true }).click();
      const log = chatLog(victim.page);
      await log.getByRole("link", { name: "安全链接" }).waitFor();
      for (const payload of PAYLOADS) {
        await log.getByText(payload, { exact: true }).first().waitFor();
      }
      assertEquals(
        await log.getByRole("link", { name: "安全链接" }).getAttribute("href"),
        "https://example.com/ok",
      );
      await log.getByRole("img", { name: "微笑" }).waitFor();
      await log.getByRole("img", { name: "图片" }).waitFor();
      for (const { page } of [victim, evil]) {
        assertEquals(await page.locator(INJECTED).count(), 0);
      }
      assertEquals([...victim.problems, ...evil.problems], []);
    });
  } finally {
    await browser.close();
    await relay.close();
  }
});
