import { assert, assertEquals } from "@std/assert";
import type { Browser, Page } from "playwright-core";
import { waitFor } from "../testing/wait.ts";
import { launchBrowser, TIMEOUT_MS } from "./testing.ts";

/** One WebSocket connection the fake server accepted. */
interface Conn {
  url: URL;
  protocol: string;
  socket: WebSocket;
  frames: string[];
}

/**
 * A scripted server: serves a page running `LayimClient` (events recorded in `window.log`)
 * and accepts WebSockets, selecting `layim-ws.v1` only when `v1` is set.
 */
function fakeServer(v1: boolean) {
  const conns: Conn[] = [];
  const clientJs = Deno.readTextFileSync(new URL("./client.js", import.meta.url));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/client.js") {
      return new Response(clientJs, { headers: { "content-type": "text/javascript" } });
    }
    if (url.pathname === "/") {
      return new Response("<!doctype html><title>client</title>", {
        headers: { "content-type": "text/html" },
      });
    }
    if (req.headers.get("upgrade") !== "websocket") return new Response(null, { status: 404 });
    const offered = req.headers.get("sec-websocket-protocol") ?? "";
    const protocol = v1 && offered.includes("layim-ws.v1") ? "layim-ws.v1" : "";
    const { socket, response } = Deno.upgradeWebSocket(req, protocol ? { protocol } : {});
    const conn: Conn = { url, protocol, socket, frames: [] };
    socket.onmessage = (e) => conn.frames.push(String(e.data));
    conns.push(conn);
    return response;
  });
  const origin = `http://127.0.0.1:${server.addr.port}`;
  return {
    conns,
    origin,
    /** The `n`th connection once it has at least `count` frames. */
    async frames(n: number, count: number): Promise<string[]> {
      await waitFor(() => (conns[n]?.frames.length ?? 0) >= count, TIMEOUT_MS, `conn ${n} frames`);
      return conns[n].frames;
    },
    close: () => server.shutdown(),
  };
}

async function startClient(page: Page, origin: string, options: object) {
  await page.goto(`${origin}/`);
  await page.addScriptTag({
    type: "module",
    content: `
      import { LayimClient } from "/client.js";
      window.log = [];
      window.client = new LayimClient(Object.assign({ url: "ws://${
      new URL(origin).host
    }/ws", id: "1001", minBackoffMs: 20 }, ${JSON.stringify(options)}), {
        onMessage: (m) => log.push(["message", m.content]),
        onAck: (a, sent) => log.push(["ack", a.cid, sent.mine.content]),
        onUndelivered: (u, sent) => log.push(["undelivered", u.reason, sent.mine.content]),
        onError: (e, sent) => log.push(["error", e.code, sent && sent.mine.content]),
        onState: (state, d) => log.push(["state", state, d.profile, d.code ?? null]),
        onStatus: (sent, status) => log.push(["status", status, sent.mine.content]),
        onPresence: (on, off) => log.push(["presence", on, off]),
        onPresenceUnknown: () => log.push(["presence unknown"]),
      });`,
  });
}

/** Runs `body` with a scripted server and a page running the client against it. */
async function withClient(
  browser: Browser,
  v1: boolean,
  options: object,
  body: (server: ReturnType<typeof fakeServer>, page: Page) => Promise<void>,
) {
  const server = fakeServer(v1);
  const page = await browser.newPage();
  try {
    await startClient(page, server.origin, options);
    await body(server, page);
  } finally {
    await page.close();
    await server.close();
  }
}

const send = (page: Page, content: string) =>
  page.evaluate(
    `client.send({ mine: { id: "1001", content: ${
      JSON.stringify(content)
    } }, to: { id: "1002", type: "friend" } })`,
  );

/** Waits until the page's event log has an entry equal to `entry`. */
function logged(page: Page, entry: unknown[]) {
  return page.waitForFunction(
    `(window.log ?? []).some((e) => JSON.stringify(e) === ${
      JSON.stringify(JSON.stringify(entry))
    })`,
    undefined,
    { timeout: TIMEOUT_MS },
  );
}

const READY = (limits: object) =>
  JSON.stringify({
    type: "ready",
    id: "1001",
    session: "s1",
    protocol: "layim-ws.v1",
    limits: {
      maxFrameBytes: 300,
      ratePerSecond: 100,
      rateBurst: 500,
      maxSessionsPerUser: 8,
      identifyTimeoutMs: 10000,
      idleTimeoutMs: 60000,
      maxBufferedBytes: 1048576,
      ...limits,
    },
    features: ["ack", "undelivered", "ping"],
  });

Deno.test("LayimClient against scripted servers", async (t) => {
  const browser = await launchBrowser();
  try {
    await t.step("legacy server: bare id, no ref, getMessage delivered", async () => {
      await withClient(browser, false, {}, async (server, page) => {
        await logged(page, ["state", "open", "legacy", null]);
        await send(page, "hello");
        // Connection 0 offered v1: Chromium fails a handshake that ignores it, and the client
        // tries again at once without the subprotocol.
        assertEquals(server.conns[0].frames, []);
        const [id, message] = await server.frames(1, 2);
        assertEquals(id, "1001");
        assertEquals(JSON.parse(message), {
          mine: { id: "1001", content: "hello" },
          to: { id: "1002", type: "friend" },
        });
        server.conns[1].socket.send(JSON.stringify({ type: "friend", id: "1002", content: "hi" }));
        await logged(page, ["message", "hi"]);
      });
    });

    await t.step("legacy server with a token: it goes in the URL", async () => {
      await withClient(browser, false, { token: "t.o.k" }, async (server, _page) => {
        assertEquals(await server.frames(1, 1), ["1001"]);
        assertEquals(server.conns[1].url.searchParams.get("token"), "t.o.k");
        assertEquals(server.conns[0].frames, []);
      });
    });

    await t.step("v1: identify, outcomes, local size limit, resend after a drop", async () => {
      await withClient(browser, true, { token: "jwt" }, async (server, page) => {
        const [identify] = await server.frames(0, 1);
        assertEquals(JSON.parse(identify), { type: "identify", id: "1001", token: "jwt" });
        await send(page, "queued before ready");
        server.conns[0].socket.send(READY({}));
        await logged(page, ["state", "open", "v1", null]);

        const first = JSON.parse((await server.frames(0, 2))[1]);
        assertEquals(first.mine.content, "queued before ready");
        server.conns[0].socket.send(
          JSON.stringify({ type: "ack", ref: first.ref, cid: "c1", timestamp: 1 }),
        );
        await logged(page, ["ack", "c1", "queued before ready"]);

        await send(page, "to nobody");
        const second = JSON.parse((await server.frames(0, 3))[2]);
        server.conns[0].socket.send(
          JSON.stringify({ type: "undelivered", ref: second.ref, to: "1002", reason: "offline" }),
        );
        await logged(page, ["undelivered", "offline", "to nobody"]);

        await send(page, "x".repeat(400));
        await logged(page, ["error", "frame_too_large", "x".repeat(400)]);

        await send(page, "unanswered");
        const third = JSON.parse((await server.frames(0, 4))[3]);
        server.conns[0].socket.close(1001);
        await logged(page, ["state", "reconnecting", "v1", 1001]);
        await server.frames(1, 1);
        server.conns[1].socket.send(READY({}));
        const resent = JSON.parse((await server.frames(1, 2))[1]);
        assertEquals(resent, third);
        assertEquals(server.conns[0].frames.length, 4);
      });
    });

    await t.step(
      "v1: a message that waited for the connection outlives an offline answer",
      async () => {
        const server = fakeServer(true);
        const page = await browser.newPage();
        try {
          await startClient(page, server.origin, {});
          await server.frames(0, 1);
          await send(page, "held");
          await logged(page, ["status", "waiting", "held"]);
          server.conns[0].socket.send(READY({}));
          const first = JSON.parse((await server.frames(0, 2))[1]);
          await logged(page, ["status", "sending", "held"]);
          server.conns[0].socket.send(
            JSON.stringify({ type: "undelivered", ref: first.ref, to: "1002", reason: "offline" }),
          );
          await logged(page, ["status", "retrying", "held"]);
          // The recipient writes: it is online, and the held message goes again.
          server.conns[0].socket.send(
            JSON.stringify({ type: "friend", id: "1002", content: "hi" }),
          );
          const again = JSON.parse((await server.frames(0, 3))[2]);
          assertEquals(again, first);
          server.conns[0].socket.send(
            JSON.stringify({ type: "ack", ref: again.ref, cid: "c9", timestamp: 1 }),
          );
          await logged(page, ["ack", "c9", "held"]);
          assertEquals(
            await page.evaluate(`log.filter((e) => e[0] === "undelivered").length`),
            0,
            "never reported undelivered",
          );
        } finally {
          await page.close();
          await server.close();
        }
      },
    );

    await t.step("v1: a final close abandons what was not answered", async () => {
      await withClient(browser, true, {}, async (server, page) => {
        await server.frames(0, 1);
        server.conns[0].socket.send(READY({}));
        await logged(page, ["state", "open", "v1", null]);
        await send(page, "in flight");
        await server.frames(0, 2);
        server.conns[0].socket.close(4004, "replaced");
        await logged(page, ["state", "closed", "v1", 4004]);
        await logged(page, ["status", "abandoned", "in flight"]);
        await send(page, "after the end");
        await logged(page, ["status", "abandoned", "after the end"]);
      });
    });

    await t.step(
      "v1 presence: watch after ready in frames under the limit, again after a reconnect",
      async () => {
        await withClient(browser, true, {}, async (server, page) => {
          await server.frames(0, 1);
          // 30 friends of 12 characters do not fit in one frame of 300 bytes.
          const friends = Array.from(
            { length: 30 },
            (_, i) => `friend-${String(i).padStart(5, "0")}`,
          );
          await page.evaluate(`client.watch(${JSON.stringify(friends)})`);
          const presence = {
            maxWatchIds: 25,
            watchRatePerSecond: 1,
            watchBurst: 10,
            offlineDelayMs: 0,
          };
          const ready = { ...JSON.parse(READY({})), features: ["presence"], presence };
          server.conns[0].socket.send(JSON.stringify(ready));
          await logged(page, ["state", "open", "v1", null]);
          await waitFor(() => server.conns[0].frames.length >= 4, TIMEOUT_MS, "watch frames");
          const watches = server.conns[0].frames.slice(1).map((f) => JSON.parse(f));
          assertEquals(watches.map((w) => w.mode), ["replace", "add", "add"]);
          assert(server.conns[0].frames.slice(1).every((f) => f.length <= 300));
          // maxWatchIds: the first 25.
          assertEquals(watches.flatMap((w) => w.ids), friends.slice(0, 25));
          server.conns[0].socket.send(
            JSON.stringify({
              type: "presence",
              online: ["friend-00001"],
              offline: ["friend-00002"],
            }),
          );
          await logged(page, ["presence", ["friend-00001"], ["friend-00002"]]);
          // Refused users are left out of the next watch.
          server.conns[0].socket.send(JSON.stringify({
            type: "error",
            code: "watch_refused",
            message: "no",
            ref: watches[0].ref,
            ids: ["friend-00000"],
          }));
          await waitFor(() => server.conns[0].frames.length >= 5, TIMEOUT_MS, "watch again");
          const rewatch = JSON.parse(server.conns[0].frames[4]);
          assertEquals([rewatch.mode, rewatch.ids[0]], ["replace", "friend-00001"]);
          assertEquals(await page.evaluate(`log.filter((e) => e[0] === "error").length`), 0);
          server.conns[0].socket.close(1001);
          await logged(page, ["presence unknown"]);
          await server.frames(1, 1);
          server.conns[1].socket.send(JSON.stringify(ready));
          const again = JSON.parse((await server.frames(1, 2))[1]);
          assertEquals([again.type, again.mode, again.ids[0]], [
            "watch",
            "replace",
            "friend-00001",
          ]);
        });
      },
    );

    await t.step("v1 without the feature, and legacy: no watch is ever sent", async () => {
      await withClient(browser, true, {}, async (server, page) => {
        await server.frames(0, 1);
        await logged(page, ["state", "connecting", null, null]);
        await page.evaluate(`client.watch(["1002"])`);
        server.conns[0].socket.send(READY({}));
        await logged(page, ["state", "open", "v1", null]);
        await send(page, "after ready");
        const frames = await server.frames(0, 2);
        assertEquals(JSON.parse(frames[1]).mine.content, "after ready");
      });
      await withClient(browser, false, {}, async (server, page) => {
        await logged(page, ["state", "open", "legacy", null]);
        await page.evaluate(`client.watch(["1002"])`);
        await send(page, "hello");
        assertEquals((await server.frames(1, 2)).map((f) => f.startsWith('{"type"')), [
          false,
          false,
        ]);
      });
    });

    await t.step("v1: a missing pong reconnects; 4001 stops for good", async () => {
      await withClient(browser, true, {}, async (server, page) => {
        await server.frames(0, 1);
        server.conns[0].socket.send(READY({ idleTimeoutMs: 3000 }));
        const ping = JSON.parse((await server.frames(0, 2))[1]);
        assertEquals(ping, { type: "ping" });
        // No pong: at the next ping time the client gives the connection up.
        await server.frames(1, 1);
        server.conns[1].socket.close(4001, "unauthorized");
        await logged(page, ["state", "closed", "v1", 4001]);
      });
    });
  } finally {
    await browser.close();
  }
});
