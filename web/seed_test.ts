import { assertEquals } from "@std/assert";
import { DEMO_USERS_FILE, loadDirectory } from "../reference/directory.ts";
import { waitFor } from "../testing/wait.ts";
import {
  chatLog,
  launchBrowser,
  openChat,
  openPage,
  startRelay,
  TIMEOUT_MS,
  typeAndSend,
} from "./testing.ts";

Deno.test("seed page (legacy profile) chats with the v1 page through the relay", async () => {
  const browser = await launchBrowser();
  const profiles: unknown[] = [];
  const relay = await startRelay({
    directory: await loadDirectory(DEMO_USERS_FILE),
    logger: { event: (name, fields) => name === "connect" && profiles.push(fields?.profile) },
  });
  try {
    const v1 = await openChat(browser, relay, "1002");
    const seed = await openPage(browser, relay, "/seed.html?id=1001&friend=1002");
    // The seed page shows no connection state (and its send throws before the socket is
    // open): wait until the relay has identified its bare-id first frame.
    await waitFor(() => relay.stats().users === 2, TIMEOUT_MS, "seed page identified");
    assertEquals(profiles, ["v1", "legacy"]);

    await seed.page.getByRole("button", { name: "李四", exact: true }).click();
    await typeAndSend(seed.page, "来自种子页面");
    await v1.page.getByRole("status", { name: "张三 未读消息 1" }).waitFor();
    await v1.page.getByRole("button", { name: "张三", exact: true }).click();
    await chatLog(v1.page).getByText("来自种子页面").waitFor();

    await typeAndSend(v1.page, "v1 页面的回复");
    await chatLog(seed.page).getByText("v1 页面的回复").waitFor();
    assertEquals([...seed.problems, ...v1.problems], []);
  } finally {
    await browser.close();
    await relay.close();
  }
});
