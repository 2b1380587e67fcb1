/**
 * The transport over real sockets: every rule of the HTTP layer, the handshake, framing,
 * fragmentation, UTF-8, close codes, the close handshake and its hard drop, keepalive, limits,
 * the connection cap, back-pressure and write batching. Raw TCP clients break the rules.
 */
import { assert, assertEquals } from "@std/assert";
import { type Handler, serve, type ServeOptions, type Server } from "./server.ts";
import type { WebSocketConnection } from "./connection.ts";
import { closeBody, concat, encodeFrame } from "../../conformance/wire.ts";
import { RawSocket, upgradeHeaders } from "../../testing/raw_socket.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the echo server saw. */
interface Seen {
  closes: { code: number; reason: string }[];
  binary: Uint8Array[];
  sockets: WebSocketConnection[];
}

/** A server whose WebSockets echo text; plain GETs answer from `routes` or 404. */
function echoServer(options: ServeOptions = {}, handler?: Handler): {
  server: Server;
  port: number;
  seen: Seen;
  [Symbol.asyncDispose](): Promise<void>;
} {
  const seen: Seen = { closes: [], binary: [], sockets: [] };
  const server = serve(
    { port: 0, ...options },
    handler ?? ((req, info) => {
      const url = new URL(req.url);
      if (req.headers.get("upgrade") === null) {
        if (url.pathname === "/hello") return new Response(`hello ${req.method}`);
        return new Response("not found\n", { status: 404 });
      }
      const { socket, response } = info.upgrade({
        protocol: req.headers.get("sec-websocket-protocol")?.split(",")[0]?.trim(),
      });
      seen.sockets.push(socket);
      socket.onText = (text) => {
        if (text === "close-me") socket.close(4003, "asked to");
        else socket.send(text);
      };
      socket.onBinary = (data) => seen.binary.push(data);
      socket.onClose = (code, reason) => seen.closes.push({ code, reason });
      return response;
    }),
  );
  return {
    server,
    port: server.addr.port,
    seen,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

async function until(condition: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function get(port: number, path: string, extra: Record<string, string> = {}, method = "GET") {
  const socket = await RawSocket.connect(port);
  await socket.request(method, path, { Host: `127.0.0.1:${port}`, ...extra });
  const response = await socket.readResponse(2000, method === "HEAD");
  return { socket, response };
}

// ---- HTTP ----

Deno.test("a plain GET becomes a Request and its Response is written back", async () => {
  await using s = echoServer();
  const response = await fetch(`http://127.0.0.1:${s.port}/hello`);
  assertEquals([response.status, await response.text()], [200, "hello GET"]);
  const missing = await fetch(`http://127.0.0.1:${s.port}/nope`);
  assertEquals([missing.status, await missing.text()], [404, "not found\n"]);
});

Deno.test("HEAD gets the headers without a body; keep-alive serves a second request", async () => {
  await using s = echoServer();
  const { socket, response } = await get(s.port, "/hello", {}, "HEAD");
  assertEquals(response.status, 200);
  assertEquals(response.headers.get("connection"), "keep-alive");
  await socket.request("GET", "/hello", { Host: "x" });
  assertEquals((await socket.readResponse()).body, "hello GET");
  socket.close();
});

Deno.test("a long streamed body is sent chunked; a short one with its content-length", async () => {
  const big = "x".repeat(200_000);
  await using s = echoServer(
    {},
    (req) =>
      new URL(req.url).pathname === "/big"
        ? new Response(new Blob([big]).stream())
        : new Response("short"),
  );
  const { socket, response } = await get(s.port, "/big");
  assertEquals(response.headers.get("transfer-encoding"), "chunked");
  assertEquals(response.body.length, big.length);
  socket.close();
  const short = await get(s.port, "/s");
  assertEquals(short.response.headers.get("content-length"), "5");
  short.socket.close();
});

Deno.test("the server refuses bad requests itself: 400, 405, 413, 431, 501, 505", async () => {
  await using s = echoServer({ maxHeaderBytes: 1024 });
  const raw = async (text: string) => {
    const socket = await RawSocket.connect(s.port);
    await socket.write(text);
    const response = await socket.readResponse();
    await socket.expectEnd();
    socket.close();
    return [response.status, response.headers.get("connection")];
  };
  assertEquals(await raw("GET / HTTP/1.1\r\n\r\n"), [400, "close"], "no Host");
  assertEquals(await raw("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), [400, "close"]);
  assertEquals(await raw("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"), [400, "close"]);
  assertEquals(await raw("GET / HTTP/1.1\nHost: a\n\n"), [400, "close"], "bare LF");
  assertEquals(await raw("POST / HTTP/1.1\r\nHost: a\r\n\r\n"), [405, "close"]);
  assertEquals(await raw("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"), [
    413,
    "close",
  ]);
  assertEquals(await raw("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), [
    501,
    "close",
  ]);
  assertEquals(await raw("GET / HTTP/1.1\r\nHost: a\r\nX: " + "a".repeat(2000) + "\r\n\r\n"), [
    431,
    "close",
  ]);
  assertEquals(await raw("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), [505, "close"]);
});

Deno.test("slowloris: a head not complete within the header timeout gets 408 and a close", async () => {
  await using s = echoServer({ headerTimeoutMs: 150 });
  const socket = await RawSocket.connect(s.port);
  await socket.write("GET / HTTP/1.1\r\nHost: a\r\n");
  const started = Date.now();
  assertEquals((await socket.readResponse(2000)).status, 408);
  assert(Date.now() - started < 1000);
  socket.close();
  await until(() => s.server.connections === 0, "connection released");
});

Deno.test("a handler slower than the handshake timeout loses its connection", async () => {
  await using s = echoServer({ handshakeTimeoutMs: 100 }, () => new Promise(() => {}));
  const socket = await RawSocket.connect(s.port);
  await socket.request("GET", "/", { Host: "a" });
  await socket.expectEnd(2000);
  socket.close();
});

Deno.test("the connection cap answers 503 beyond it, and a closed connection frees a place", async () => {
  await using s = echoServer({ maxConnections: 2 });
  const a = await RawSocket.open(s.port);
  const b = await RawSocket.open(s.port);
  const c = await RawSocket.connect(s.port);
  assertEquals((await c.readResponse()).status, 503);
  assertEquals(s.server.refused, 1);
  a.close();
  await until(() => s.server.connections === 1, "a released");
  const d = await RawSocket.open(s.port);
  b.close();
  c.close();
  d.close();
});

// ---- handshake ----

Deno.test("the handler reads Origin, subprotocols and the query, and refuses with any Response", async () => {
  let seen: string[] = [];
  await using s = echoServer({}, (req, info) => {
    const url = new URL(req.url);
    seen = [
      req.headers.get("origin") ?? "",
      req.headers.get("sec-websocket-protocol") ?? "",
      url.searchParams.get("token") ?? "",
    ];
    if (req.headers.get("origin") === "http://evil") return new Response("no", { status: 403 });
    return info.upgrade({ protocol: "b" }).response;
  });
  const refused = await RawSocket.connect(s.port);
  await refused.request("GET", "/ws?token=t1", {
    ...upgradeHeaders(s.port),
    Origin: "http://evil",
    "Sec-WebSocket-Protocol": "a, b",
  });
  assertEquals((await refused.readResponse()).status, 403);
  assertEquals(seen, ["http://evil", "a, b", "t1"]);
  refused.close();
  const accepted = await RawSocket.connect(s.port);
  await accepted.request("GET", "/ws", {
    ...upgradeHeaders(s.port),
    "Sec-WebSocket-Protocol": "a, b",
  });
  const head = await accepted.readHead();
  assertEquals(head.status, 101);
  assertEquals(head.headers.get("sec-websocket-protocol"), "b");
  assertEquals(head.headers.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  accepted.close();
});

Deno.test("an invalid upgrade is answered 400, another version 426 with Sec-WebSocket-Version", async () => {
  await using s = echoServer();
  const attempt = async (change: Record<string, string>) => {
    const socket = await RawSocket.connect(s.port);
    await socket.request("GET", "/", { ...upgradeHeaders(s.port), ...change });
    const response = await socket.readResponse();
    socket.close();
    return [response.status, response.headers.get("sec-websocket-version")];
  };
  assertEquals(await attempt({ "Sec-WebSocket-Key": "short" }), [400, null]);
  assertEquals(await attempt({ Connection: "keep-alive" }), [400, null]);
  assertEquals(await attempt({ "Sec-WebSocket-Version": "8" }), [426, "13"]);
});

Deno.test("frames sent right behind the upgrade request are read after the 101", async () => {
  await using s = echoServer();
  const socket = await RawSocket.connect(s.port);
  const head = Object.entries(upgradeHeaders(s.port)).map(([k, v]) => `${k}: ${v}`).join("\r\n");
  const request = encoder.encode(`GET / HTTP/1.1\r\n${head}\r\n\r\n`);
  await socket.write(concat([request, encodeFrame({ opcode: 1, payload: "early" })]));
  assertEquals((await socket.readHead()).status, 101);
  assertEquals(decoder.decode((await socket.readFrame())!.payload), "early");
  socket.close();
});

// ---- framing ----

async function violation(
  frames: Parameters<RawSocket["send"]>[0][],
  expected: number,
  options: ServeOptions = {},
): Promise<void> {
  await using s = echoServer(options);
  const socket = await RawSocket.open(s.port);
  for (const frame of frames) await socket.send(frame).catch(() => {});
  const close = await socket.readClose();
  assertEquals(close?.code, expected, `close frame ${JSON.stringify(close)}`);
  await socket.expectEnd();
  socket.close();
  await until(() => s.seen.closes.length === 1, "onClose");
  assertEquals(s.seen.closes[0].code, expected);
}

Deno.test("an unmasked client frame is a protocol error: close 1002, then the TCP end", () =>
  violation([{ opcode: 1, payload: "hi", masked: false }], 1002));

Deno.test("reserved bits without an extension: 1002", async () => {
  for (const rsv of [1, 2, 4]) await violation([{ opcode: 1, payload: "x", rsv }], 1002);
});

Deno.test("reserved opcodes: 1002", async () => {
  for (const opcode of [3, 7, 0xb, 0xf]) await violation([{ opcode }], 1002);
});

Deno.test("control frames: longer than 125 bytes or fragmented are 1002", async () => {
  await violation([{ opcode: 9, payload: new Uint8Array(126) }], 1002);
  await violation([{ opcode: 9, fin: false }], 1002);
});

Deno.test("fragmentation: a continuation without a start, a new message inside one: 1002", async () => {
  await violation([{ opcode: 0, payload: "x" }], 1002);
  await violation([{ opcode: 1, payload: "a", fin: false }, { opcode: 1, payload: "b" }], 1002);
});

Deno.test("a fragmented text arrives whole; a ping between its fragments is answered at once", async () => {
  await using s = echoServer();
  const socket = await RawSocket.open(s.port);
  await socket.send({ opcode: 1, payload: "hel", fin: false });
  await socket.send({ opcode: 9, payload: "p" });
  const pong = await socket.readFrame();
  assertEquals([pong!.opcode, decoder.decode(pong!.payload), pong!.masked], [10, "p", false]);
  await socket.send({ opcode: 0, payload: "lo ", fin: false });
  await socket.send({ opcode: 0, payload: "wörld" });
  const echo = await socket.readFrame();
  assertEquals([echo!.opcode, echo!.fin, decoder.decode(echo!.payload)], [1, true, "hello wörld"]);
  socket.close();
});

Deno.test("invalid UTF-8 in a text message: 1007", () =>
  violation([{ opcode: 1, payload: new Uint8Array([0x61, 0xff]) }], 1007));

Deno.test("invalid UTF-8 split across fragments: 1007 at the fragment that makes it certain", async () => {
  await using s = echoServer();
  const socket = await RawSocket.open(s.port);
  await socket.send({ opcode: 1, payload: new Uint8Array([0x61, 0xce]), fin: false });
  await socket.send({ opcode: 0, payload: new Uint8Array([0x41]), fin: false });
  assertEquals((await socket.readClose())?.code, 1007, "before the message ends");
  socket.close();
});

Deno.test("a code point split across fragments is valid", async () => {
  await using s = echoServer();
  const socket = await RawSocket.open(s.port);
  await socket.send({ opcode: 1, payload: new Uint8Array([0xf0, 0x9f]), fin: false });
  await socket.send({ opcode: 0, payload: new Uint8Array([0x98, 0x80]) });
  assertEquals(decoder.decode((await socket.readFrame())!.payload), "😀");
  socket.close();
});

Deno.test("a text message ending inside a code point: 1007", () =>
  violation([
    { opcode: 1, payload: new Uint8Array([0x61, 0xe2]), fin: false },
    { opcode: 0, payload: new Uint8Array([0x82]) },
  ], 1007));

Deno.test("close frames: one byte, 1004/1005/1006/1015 or out-of-range codes are 1002", async () => {
  await violation([{ opcode: 8, payload: new Uint8Array([3]) }], 1002);
  for (const code of [999, 1004, 1005, 1006, 1015, 2000, 5000]) {
    await violation([{ opcode: 8, payload: closeBody(code) }], 1002);
  }
});

Deno.test("a close reason that is not UTF-8: 1007", () =>
  violation([{ opcode: 8, payload: closeBody(1000, new Uint8Array([0xff])) }], 1007));

Deno.test("binary messages are an event (whole, also when fragmented)", async () => {
  await using s = echoServer();
  const socket = await RawSocket.open(s.port);
  await socket.send({ opcode: 2, payload: new Uint8Array([1, 2]), fin: false });
  await socket.send({ opcode: 0, payload: new Uint8Array([3]) });
  await socket.send({ opcode: 2, payload: new Uint8Array([4]) });
  await until(() => s.seen.binary.length === 2, "binary events");
  assertEquals(s.seen.binary.map((b) => [...b]), [[1, 2, 3], [4]]);
  socket.close();
});

// ---- limits ----

Deno.test("a frame declared over the message limit is closed 1009 before its payload comes", async () => {
  await using s = echoServer({ maxMessageBytes: 1000 });
  const socket = await RawSocket.open(s.port);
  // Only the header of a 60 MiB frame: the server must not wait for the payload.
  await socket.write(new Uint8Array([0x81, 0xff, 0, 0, 0, 0, 3, 0xc0, 0, 0, 1, 2, 3, 4]));
  assertEquals((await socket.readClose())?.code, 1009);
  socket.close();
});

Deno.test("a fragmented message over the limit is closed 1009 within the limit", async () => {
  await using s = echoServer({ maxMessageBytes: 64 * 1024 });
  const socket = await RawSocket.open(s.port);
  const fragment = new Uint8Array(16 * 1024).fill(0x61);
  let sent = 0;
  const closed = socket.readClose(5000);
  const writer = (async () => {
    await socket.send({ opcode: 1, payload: fragment, fin: false });
    // 60 MiB in 16 KiB fragments, unless the server closes first.
    for (let i = 1; i < 3840; i++) {
      await socket.send({ opcode: 0, payload: fragment, fin: false });
      sent = (i + 1) * fragment.length;
    }
  })().catch(() => {});
  assertEquals((await closed)?.code, 1009);
  assert(sent < 8 * 1024 * 1024, `the client wrote ${sent} bytes before the close arrived`);
  await socket.expectEnd(5000);
  socket.close();
  await writer;
});

/** A server whose upgrades set their own limit and report oversized messages with a text. */
function tooBigServer(): { port: number; kinds: string[]; server: Server } {
  const kinds: string[] = [];
  const server = serve({ port: 0, maxMessageBytes: 1 << 20 }, (_req, info) => {
    const { socket, response } = info.upgrade({ maxMessageBytes: 1000 });
    socket.onTooBig = (kind) => {
      kinds.push(kind);
      socket.send(`too big: ${kind}`);
      if (kind === "binary") socket.close(1003, "no binary");
    };
    return response;
  });
  return { port: server.addr.port, kinds, server };
}

Deno.test("the upgrade's own limit applies, and onTooBig may send a last message before 1009", async () => {
  const { port, kinds, server } = tooBigServer();
  try {
    const socket = await RawSocket.open(port);
    await socket.send({ opcode: 1, payload: "a".repeat(600), fin: false });
    await socket.send({ opcode: 0, payload: "b".repeat(401), fin: false });
    assertEquals(decoder.decode((await socket.readFrame())!.payload), "too big: text");
    assertEquals((await socket.readClose())?.code, 1009);
    await socket.expectEnd();
    socket.close();
    // A binary message: the callee closes with its own code, which the connection keeps.
    const binary = await RawSocket.open(port);
    await binary.send({ opcode: 2, payload: new Uint8Array(1001) });
    assertEquals(decoder.decode((await binary.readFrame())!.payload), "too big: binary");
    assertEquals((await binary.readClose())?.code, 1003);
    binary.close();
    assertEquals(kinds, ["text", "binary"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a message at the limit passes", async () => {
  await using s = echoServer({ maxMessageBytes: 1000 });
  const socket = await RawSocket.open(s.port);
  await socket.send({ opcode: 1, payload: "a".repeat(600), fin: false });
  await socket.send({ opcode: 0, payload: "b".repeat(400) });
  assertEquals((await socket.readFrame())!.payload.length, 1000);
  socket.close();
});

// ---- close handshake ----

Deno.test("a close from the peer is echoed, the TCP connection closed, onClose told", async () => {
  await using s = echoServer();
  const socket = await RawSocket.open(s.port);
  await socket.send({ opcode: 8, payload: closeBody(4100, "bye") });
  assertEquals((await socket.readClose())?.code, 4100);
  await socket.expectEnd();
  await until(() => s.seen.closes.length === 1, "onClose");
  assertEquals(s.seen.closes, [{ code: 4100, reason: "bye" }]);
  socket.close();
});

Deno.test("a close the server starts and the peer ignores ends in a hard drop", async () => {
  await using s = echoServer({ closeTimeoutMs: 200 });
  const socket = await RawSocket.open(s.port);
  await socket.send({ opcode: 1, payload: "close-me" });
  const started = Date.now();
  assertEquals((await socket.readClose())?.code, 4003);
  // Never answer the close: the server must drop the TCP connection by itself.
  await socket.expectEnd(2000);
  const took = Date.now() - started;
  assert(took >= 150 && took < 1500, `dropped after ${took} ms`);
  await until(() => s.server.connections === 0, "connection released");
  assertEquals(s.seen.closes, [{ code: 4003, reason: "asked to" }]);
  socket.close();
});

Deno.test("a close the server starts, answered by the peer, ends at once", async () => {
  await using s = echoServer({ closeTimeoutMs: 5000 });
  const socket = await RawSocket.open(s.port);
  await socket.send({ opcode: 1, payload: "close-me" });
  assertEquals((await socket.readClose())?.code, 4003);
  await socket.send({ opcode: 8, payload: closeBody(4003) });
  await socket.expectEnd(1000);
  socket.close();
});

Deno.test("a connection lost without a close frame is reported 1006", async () => {
  await using s = echoServer();
  const socket = await RawSocket.open(s.port);
  socket.close();
  await until(() => s.seen.closes.length === 1, "onClose");
  assertEquals(s.seen.closes[0].code, 1006);
});

Deno.test("keepalive: a silent peer is pinged, then closed with the keepalive code", async () => {
  await using s = echoServer({ closeTimeoutMs: 100 }, (_req, info) => {
    const { socket, response } = info.upgrade({ idleTimeoutMs: 100, idleCloseCode: 4006 });
    socket.onClose = (code, reason) => closes.push([code, reason]);
    return response;
  });
  const closes: [number, string][] = [];
  const socket = await RawSocket.open(s.port);
  const ping = await socket.readFrame(1000);
  assertEquals(ping?.opcode, 9);
  const close = await socket.readClose(1000);
  assertEquals(close?.code, 4006);
  await socket.expectEnd();
  await until(() => closes.length === 1, "onClose");
  assertEquals(closes, [[4006, "keepalive timeout"]]);
  socket.close();
});

Deno.test("keepalive: a peer that answers pings stays open", async () => {
  await using s = echoServer({ closeTimeoutMs: 100 }, (_req, info) => {
    const { response } = info.upgrade({ idleTimeoutMs: 100 });
    return response;
  });
  const socket = await RawSocket.open(s.port);
  for (let i = 0; i < 4; i++) {
    const ping = await socket.readFrame(1000);
    assertEquals(ping?.opcode, 9);
    await socket.send({ opcode: 10, payload: ping!.payload });
  }
  assertEquals(s.server.connections, 1);
  socket.close();
});

// ---- writing ----

Deno.test("bufferedAmount counts bytes not yet written to a peer that does not read", async () => {
  await using s = echoServer();
  const socket = await RawSocket.open(s.port);
  await until(() => s.seen.sockets.length === 1, "upgrade");
  const ws = s.seen.sockets[0];
  const chunk = "x".repeat(65536);
  for (let i = 0; i < 400 && ws.bufferedAmount < 4 << 20; i++) {
    ws.send(chunk);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assert(ws.bufferedAmount >= 4 << 20, `bufferedAmount ${ws.bufferedAmount}`);
  socket.close();
});

Deno.test("frames sent in one tick go out in one write", async () => {
  await using s = echoServer();
  const socket = await RawSocket.open(s.port);
  await until(() => s.seen.sockets.length === 1, "upgrade");
  // Accepted and connected TCP connections share one class: count the server's writes on it.
  const proto = Object.getPrototypeOf(socket.conn) as Deno.TcpConn;
  const write = proto.write;
  let writes = 0;
  proto.write = function (this: Deno.TcpConn, data: Uint8Array) {
    writes++;
    return write.call(this, data);
  };
  try {
    for (let i = 0; i < 50; i++) s.seen.sockets[0].send(`m${i}`);
    for (let i = 0; i < 50; i++) {
      assertEquals(decoder.decode((await socket.readFrame())!.payload), `m${i}`);
    }
  } finally {
    proto.write = write;
  }
  assertEquals(writes, 1);
  socket.close();
});

Deno.test("shutdown closes open WebSockets with 1001 and resolves once they are gone", async () => {
  const s = echoServer();
  const socket = await RawSocket.open(s.port);
  const done = s.server.shutdown();
  assertEquals((await socket.readClose())?.code, 1001);
  await socket.send({ opcode: 8, payload: closeBody(1001) });
  await done;
  assertEquals(s.server.connections, 0);
  socket.close();
});
