import { assertEquals } from "@std/assert";
import { SignJWT } from "jose";
import { hs256Authenticator } from "../reference/auth.ts";
import { DEMO_USERS_FILE, loadDirectory } from "../reference/directory.ts";
import { launchBrowser, openPage, startRelay, waitConnection } from "./testing.ts";

const SECRET = "layim-ws browser test secret, 32+ bytes long";

function token(sub: string): Promise<string> {
  return new SignJWT({ sub }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("5m")
    .sign(new TextEncoder().encode(SECRET));
}

Deno.test("chat page: ?token= from the embedding site", async (t) => {
  const browser = await launchBrowser();
  const relay = await startRelay({
    directory: await loadDirectory(DEMO_USERS_FILE),
    auth: hs256Authenticator(SECRET),
  });
  try {
    await t.step("a valid token alone names the user and connects", async () => {
      const { page, problems } = await openPage(browser, relay, `/?token=${await token("1001")}`);
      await waitConnection(page, "已连接");
      await page.getByRole("region", { name: "LayIM 主面板" }).getByText("张三").first().waitFor();
      assertEquals(problems, []);
    });

    await t.step("a token for someone else is refused for good: 已断开", async () => {
      const path = `/?id=1001&token=${await token("1002")}`;
      const { page, problems } = await openPage(browser, relay, path);
      await waitConnection(page, "已断开");
      assertEquals(problems, []);
    });
  } finally {
    await browser.close();
    await relay.close();
  }
});
