/**
 * Shared helpers of the browser tests: Chromium (see `testing/programs.ts`) driven by playwright-core, one
 * browser per test file, one context per user, and the chat page served by an in-process
 * relay.
 *
 * @module
 */
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Locator,
  type Page,
} from "playwright-core";
import { assertEquals } from "@std/assert";
import { serveRelay, TRANSPORT_NAMES } from "../reference/mod.ts";
import type { Relay, RelayOptions, TransportName } from "../reference/mod.ts";
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

/**
 * Starts a relay serving the page, allowing only its own origin, on the transport named by
 * `LAYIM_WS_TRANSPORT` (`tcp` or `deno`; unset: the relay's default), so that the browser
 * tests run on either: `LAYIM_WS_TRANSPORT=deno deno task test web/`.
 */
export function startRelay(options: RelayOptions = {}): Promise<Relay> {
  const transport = Deno.env.get("LAYIM_WS_TRANSPORT") || undefined;
  if (transport !== undefined && !(TRANSPORT_NAMES as readonly string[]).includes(transport)) {
    throw new Error(`LAYIM_WS_TRANSPORT must be ${TRANSPORT_NAMES.join(" or ")}, not ${transport}`);
  }
  return serveRelay({
    hostname: "127.0.0.1",
    port: 0,
    transport: transport as TransportName | undefined,
    ...options,
  });
}

/** One user's browser context and page. */
export interface UserPage {
  context: BrowserContext;
  page: Page;
  /** Dialogs and uncaught page errors seen so far: a test asserts this stays empty. */
  problems: string[];
}

/** How a test's browser context differs from a desktop one. */
export interface PageOptions {
  /** Default 1280×720. */
  viewport?: { width: number; height: number };
  /** Records sounds and desktop notifications and lets the test hide the tab ({@link INSTRUMENT}). */
  instrument?: boolean;
}

/**
 * An init script standing in for what headless Chromium cannot show a test: it records
 * every sound the page plays (`HTMLMediaElement.play`), replaces the Notification API by a
 * recorder whose permission prompt is answered "allow" (headless Chromium always denies),
 * and lets the test put the tab in the background (`document.visibilityState`, which is
 * always "visible" headless). The page's own code is untouched.
 */
export const INSTRUMENT = `(() => {
  const t = window.__layimTest = { played: [], notifications: [], requests: 0, hidden: false };
  HTMLMediaElement.prototype.play = function () {
    t.played.push(this.src);
    return Promise.resolve();
  };
  let permission = "default";
  window.Notification = class {
    constructor(title, options) {
      t.notifications.push({ title, body: options?.body ?? "" });
      t.shown = [...(t.shown ?? []), this];
    }
    close() {}
    static get permission() { return permission; }
    static async requestPermission() { t.requests++; permission = "granted"; return permission; }
  };
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get: () => (t.hidden ? "hidden" : "visible"),
  });
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => t.hidden });
  // The person clicks the latest notification.
  t.clickNotification = () => t.shown.at(-1).onclick?.();
  t.setHidden = (hidden) => {
    t.hidden = hidden;
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  };
})();`;

/** Opens a fresh context (own storage) on `path` of the relay. */
export async function openPage(
  browser: Browser,
  relay: { url: string },
  path: string,
  options: PageOptions = {},
): Promise<UserPage> {
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1280, height: 720 },
  });
  context.setDefaultTimeout(TIMEOUT_MS);
  if (options.instrument) await context.addInitScript(INSTRUMENT);
  const page = await context.newPage();
  const problems = watch(page);
  await page.goto(new URL(path, relay.url).href);
  return { context, page, problems };
}

/** Collects dialogs and uncaught errors of a page. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on("dialog", (dialog) => {
    problems.push(`dialog fired: ${dialog.type()} ${dialog.message()}`);
    dialog.dismiss();
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return problems;
}

/** Opens the chat page as `id` and waits until it is connected. */
export async function openChat(
  browser: Browser,
  relay: { url: string },
  id: string,
  options: PageOptions = {},
): Promise<UserPage> {
  const user = await openPage(browser, relay, `/?id=${encodeURIComponent(id)}`, options);
  await waitConnection(user.page, "已连接");
  return user;
}

/** Fails unless no friend's dot and no 在线/离线 shows anywhere on the page. */
export async function noStatusShown(page: Page): Promise<void> {
  assertEquals(await page.getByRole("img", { name: /在线|离线/ }).count(), 0);
  assertEquals(await page.getByText(/^(在线|离线)$/).count(), 0);
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

/** Where the README's screenshots live. */
export const SCREENSHOTS_DIR = new URL("./screenshots/", import.meta.url);

/**
 * Saves a screenshot of the page (or of one element) into the test output folder; with
 * `LAYIM_WS_UPDATE_SCREENSHOT=1`, one marked `readme` also replaces the README's copy in
 * `web/screenshots/`.
 */
export async function screenshot(
  target: Page | Locator,
  name: string,
  options: { readme?: boolean } = {},
): Promise<void> {
  await Deno.mkdir(OUTPUT_DIR, { recursive: true });
  await target.screenshot({ path: new URL(`${name}.png`, OUTPUT_DIR).pathname });
  if (options.readme && Deno.env.get("LAYIM_WS_UPDATE_SCREENSHOT")) {
    await target.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS_DIR).pathname });
  }
}

/** Opens another tab of `user`'s context (same storage, same user) on the chat page. */
export async function openTab(
  user: UserPage,
  relay: { url: string },
  id: string,
): Promise<UserPage> {
  const page = await user.context.newPage();
  const problems = watch(page);
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

/** What an instrumented page ({@link INSTRUMENT}) recorded. */
export function recorded(page: Page): Promise<{
  played: string[];
  notifications: { title: string; body: string }[];
  requests: number;
}> {
  return page.evaluate(() => {
    const t = (globalThis as unknown as { __layimTest: Record<string, unknown> }).__layimTest;
    const { played, notifications, requests } = t;
    return JSON.parse(JSON.stringify({ played, notifications, requests }));
  });
}

/** Puts an instrumented page's tab in the background or in front. */
export function setHidden(page: Page, hidden: boolean): Promise<void> {
  return page.evaluate((h) => {
    const t = (globalThis as unknown as { __layimTest: { setHidden(h: boolean): void } })
      .__layimTest;
    t.setHidden(h);
  }, hidden);
}

/** Waits until the JavaScript expression `check` holds in the page (a DOM or recorded fact). */
export async function waitUntil(page: Page, check: string): Promise<void> {
  await page.waitForFunction(check, undefined, { timeout: TIMEOUT_MS });
}

/**
 * A server in front of a relay, as another deployment would be: it forwards the page's HTTP
 * requests and pipes each WebSocket to the relay. `legacy` makes it a server that only
 * speaks the legacy profile (it never selects `layim-ws.v1`); `withholdOutcomes` drops the
 * relay's `ack`/`undelivered` frames, like a relay that never answers; `stall` forwards nothing
 * the page sends, so it never gets identified.
 */
export function startProxy(
  relay: Relay,
  options: { legacy?: boolean; withholdOutcomes?: boolean; stall?: boolean } = {},
): { url: string; close(): Promise<void> } {
  const sockets = new Set<WebSocket>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (req.headers.get("upgrade") !== "websocket") {
      const upstream = await fetch(new URL(url.pathname + url.search, relay.url));
      return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
    }
    const offered = req.headers.get("sec-websocket-protocol") ?? "";
    const v1 = !options.legacy && offered.includes("layim-ws.v1");
    const { socket, response } = Deno.upgradeWebSocket(req, v1 ? { protocol: "layim-ws.v1" } : {});
    const upstream = v1 ? new WebSocket(relay.wsUrl, "layim-ws.v1") : new WebSocket(relay.wsUrl);
    const early: string[] = [];
    sockets.add(socket).add(upstream);
    socket.onmessage = (e) => {
      if (options.stall) return;
      if (upstream.readyState === WebSocket.OPEN) upstream.send(e.data);
      else early.push(e.data);
    };
    upstream.onopen = () => early.splice(0).forEach((f) => upstream.send(f));
    upstream.onmessage = (e) => {
      if (options.withholdOutcomes && /"type":"(ack|undelivered)"/.test(String(e.data))) return;
      if (socket.readyState === WebSocket.OPEN) socket.send(e.data);
    };
    upstream.onclose = (e) => {
      if (socket.readyState === WebSocket.OPEN) socket.close(e.code === 1005 ? 1000 : e.code);
    };
    socket.onclose = () => upstream.close();
    return response;
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async close() {
      for (const s of sockets) s.close();
      await server.shutdown();
    },
  };
}
