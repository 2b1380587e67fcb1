/**
 * Shared helpers of the browser tests: Chromium (see `testing/programs.ts`) driven by playwright-core, one
 * browser per test file, one context per user, and the chat page served by an in-process
 * relay.
 *
 * @module
 */
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { serveRelay } from "../reference/mod.ts";
import type { Relay, RelayOptions } from "../reference/mod.ts";
import { CHROMIUM, programPath } from "../testing/programs.ts";

/** Where the tests write their screenshots (git-ignored). */
export const OUTPUT_DIR = new URL("./test-output/", import.meta.url);

/** Longest wait for anything the page should show. */
export const TIMEOUT_MS = 10_000;

/** Launches headless Chromium with the flags that keep it quiet and offline. */
export async function launchBrowser(): Promise<Browser> {
  return await chromium.launch({
    executablePath: await programPath(CHROMIUM),
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
