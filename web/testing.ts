/**
 * Shared helpers of the browser tests: Debian's Chromium driven by playwright-core, one
 * browser per test file, one context per user, and the chat page served by an in-process
 * relay.
 *
 * @module
 */
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { serveRelay } from "../reference/mod.ts";
import type { Relay, RelayOptions } from "../reference/mod.ts";

/** Where the tests write their screenshots (git-ignored). */
export const OUTPUT_DIR = new URL("./test-output/", import.meta.url);

/** Longest wait for anything the page should show. */
export const TIMEOUT_MS = 10_000;

const CHROMIUM_CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

/** The Chromium executable: `$CHROMIUM_PATH`, else Debian's. Throws how to install it. */
export function findChromium(): string {
  const fromEnv = Deno.env.get("CHROMIUM_PATH");
  for (const path of fromEnv ? [fromEnv, ...CHROMIUM_CANDIDATES] : CHROMIUM_CANDIDATES) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not there: try the next one
    }
  }
  throw new Error(
    "The browser tests need Chromium and found none (looked at $CHROMIUM_PATH, " +
      `${CHROMIUM_CANDIDATES.join(", ")}). Install it with \`apt-get install -y chromium\` ` +
      "or set CHROMIUM_PATH to a Chromium executable.",
  );
}

/** Launches headless Chromium with the flags that keep it quiet and offline. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

/** Starts a relay serving the page, allowing only its own origin. */
export function startRelay(options: RelayOptions = {}): Promise<Relay> {
  return serveRelay({ hostname: "127.0.0.1", port: 0, ...options });
}

/** One user's browser context and page. */
export interface UserPage {
  context: BrowserContext;
  page: Page;
  /** Dialogs and uncaught page errors seen so far: a test asserts this stays empty. */
  problems: string[];
}

/** Opens a fresh context (own storage) on `path` of the relay. */
export async function openPage(browser: Browser, relay: Relay, path: string): Promise<UserPage> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("dialog", (dialog) => {
    problems.push(`dialog fired: ${dialog.type()} ${dialog.message()}`);
    dialog.dismiss();
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.goto(new URL(path, relay.url).href);
  return { context, page, problems };
}

/** Opens the chat page as `id` and waits until it is connected. */
export async function openChat(browser: Browser, relay: Relay, id: string): Promise<UserPage> {
  const user = await openPage(browser, relay, `/?id=${encodeURIComponent(id)}`);
  await waitConnection(user.page, "已连接");
  return user;
}

/** Waits until the connection indicator shows `text`. */
export async function waitConnection(page: Page, text: string): Promise<void> {
  await page.getByRole("status", { name: "连接状态" }).filter({ hasText: text }).waitFor();
}

/** Types `text` into the open chat and presses Enter (Shift+Enter for each newline). */
export async function typeAndSend(page: Page, text: string): Promise<void> {
  const input = page.getByRole("textbox", { name: "输入消息" });
  const lines = text.split("\n");
  await input.fill(lines[0]);
  for (const line of lines.slice(1)) {
    await input.press("Shift+Enter");
    await input.pressSequentially(line);
  }
  await input.press("Enter");
}

/** The chat log of the open conversation. */
export function chatLog(page: Page) {
  return page.getByRole("log", { name: "聊天记录" });
}

/** Saves a screenshot into the test output folder. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(OUTPUT_DIR, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, OUTPUT_DIR).pathname });
}

/** Opens another tab of `user`'s context (same storage, same user) on the chat page. */
export async function openTab(user: UserPage, relay: Relay, id: string): Promise<UserPage> {
  const page = await user.context.newPage();
  const problems: string[] = [];
  page.on("dialog", (dialog) => {
    problems.push(`dialog fired: ${dialog.type()} ${dialog.message()}`);
    dialog.dismiss();
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.goto(new URL(`/?id=${encodeURIComponent(id)}`, relay.url).href);
  await waitConnection(page, "已连接");
  return { context: user.context, page, problems };
}

/** Waits until the element is disabled. */
export async function waitDisabled(locator: Locator): Promise<void> {
  const handle = await locator.elementHandle({ timeout: TIMEOUT_MS });
  if (!handle) throw new Error("element not found");
  await handle.waitForElementState("disabled", { timeout: TIMEOUT_MS });
}
