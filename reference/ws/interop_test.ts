/**
 * Interop: real clients against an echo server on this transport — Deno's own `WebSocket`,
 * the npm `ws` client (8.23.0, as in `bench/peers`) and Chromium (playwright-core). Each sends
 * text (small, non-ASCII, large enough to be fragmented or use the 64-bit length), binary, a
 * subprotocol, and closes with a code the server must see.
 */
import { assertEquals } from "@std/assert";
import WebSocketClient from "ws";
import { serve, type Server } from "./server.ts";
import { launchBrowser } from "../../web/testing.ts";

const PAGE = "<!doctype html><title>echo</title><p>echo</p>";

function echoServer(): { server: Server; closes: [number, string][]; url: string } {
  const closes: [number, string][] = [];
  const server = serve({ port: 0 }, (req, info) => {
    if (req.headers.get("upgrade") === null) {
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    const offered = req.headers.get("sec-websocket-protocol")?.split(",").map((p) => p.trim());
    const { socket, response } = info.upgrade({
      protocol: offered?.includes("echo.v1") ? "echo.v1" : undefined,
    });
    socket.onText = (text) => socket.send(text);
    socket.onBinary = (data) => socket.sendBinary(data);
    socket.onClose = (code, reason) => closes.push([code, reason]);
    return response;
  });
  return { server, closes, url: `ws://127.0.0.1:${server.addr.port}/` };
}

const LARGE = "é".repeat(100_000); // 200 KB of UTF-8: a 64-bit length frame each way

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("Deno's WebSocket client talks to the transport", async () => {
  const { server, closes, url } = echoServer();
  try {
    const ws = new WebSocket(url, ["echo.v1"]);
    ws.binaryType = "arraybuffer";
    const received: unknown[] = [];
    ws.onmessage = (e) => received.push(e.data);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    assertEquals(ws.protocol, "echo.v1");
    ws.send("héllo 你好");
    ws.send(LARGE);
    ws.send(new Uint8Array([1, 2, 3]));
    await until(() => received.length === 3, "three echoes");
    assertEquals(received[0], "héllo 你好");
    assertEquals(received[1], LARGE);
    assertEquals([...new Uint8Array(received[2] as ArrayBuffer)], [1, 2, 3]);
    const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
    ws.close(4000, "bye");
    assertEquals((await closed).code, 4000);
    await until(() => closes.length === 1, "server onClose");
    assertEquals(closes, [[4000, "bye"]]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("the npm ws client talks to the transport", async () => {
  const { server, closes, url } = echoServer();
  try {
    const ws = new WebSocketClient(url, ["echo.v1"]);
    const received: [string | Uint8Array, boolean][] = [];
    ws.on("message", (data: Uint8Array, isBinary: boolean) => {
      received.push([isBinary ? new Uint8Array(data) : new TextDecoder().decode(data), isBinary]);
    });
    await new Promise((resolve, reject) => {
      ws.on("open", resolve);
      ws.on("error", reject);
    });
    assertEquals(ws.protocol, "echo.v1");
    ws.send("héllo 你好");
    ws.send(LARGE);
    ws.send(new Uint8Array([4, 5]), { binary: true });
    await until(() => received.length === 3, "three echoes");
    assertEquals(received[0], ["héllo 你好", false]);
    assertEquals(received[1], [LARGE, false]);
    assertEquals([[...received[2][0] as Uint8Array], received[2][1]], [[4, 5], true]);
    const closed = new Promise<number>((resolve) => ws.on("close", resolve));
    ws.close(4001, "done");
    assertEquals(await closed, 4001);
    await until(() => closes.length === 1, "server onClose");
    assertEquals(closes, [[4001, "done"]]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("Chromium talks to the transport: a page served by it opens a WebSocket", async () => {
  const { server, closes, url } = echoServer();
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(url.replace("ws:", "http:"));
    const result = await page.evaluate(async ([wsUrl, large]) => {
      const ws = new WebSocket(wsUrl, ["echo.v1"]);
      ws.binaryType = "arraybuffer";
      const received: unknown[] = [];
      await new Promise((resolve) => ws.onopen = resolve);
      const three = new Promise<void>((resolve) => {
        ws.onmessage = (e) => {
          received.push(e.data instanceof ArrayBuffer ? [...new Uint8Array(e.data)] : e.data);
          if (received.length === 3) resolve();
        };
      });
      ws.send("héllo 你好");
      ws.send(large);
      ws.send(new Uint8Array([7, 8, 9]));
      await three;
      const closed = new Promise<number>((resolve) => ws.onclose = (e) => resolve(e.code));
      ws.close(4002, "page done");
      return {
        protocol: ws.protocol,
        small: received[0],
        largeOk: received[1] === large,
        binary: received[2],
        closeCode: await closed,
      };
    }, [url, LARGE] as const);
    assertEquals(result, {
      protocol: "echo.v1",
      small: "héllo 你好",
      largeOk: true,
      binary: [7, 8, 9],
      closeCode: 4002,
    });
    await until(() => closes.length === 1, "server onClose");
    assertEquals(closes, [[4002, "page done"]]);
  } finally {
    await browser.close();
    await server.shutdown();
  }
});
