import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  closeBody,
  decodeFrame,
  encodeFrame,
  HandshakeError,
  Opcode,
  parseCloseBody,
  parseResponseHead,
  WireClient,
} from "./wire.ts";

/** A Deno server: echoes text and binary, closes on "close:CODE", records how each end looked. */
function echoServer() {
  const ends: { code: number; wasClean: boolean }[] = [];
  let ended = () => {};
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (new URL(req.url).pathname === "/refuse") {
      return new Response('{"code":0,"message":"Transport unknown"}', { status: 400 });
    }
    const protocol = req.headers.get("sec-websocket-protocol")?.split(",")[0] ?? undefined;
    const origin = req.headers.get("origin") ?? "none";
    const { socket, response } = Deno.upgradeWebSocket(req, { protocol });
    socket.onmessage = (e) => {
      const m = typeof e.data === "string" ? e.data.match(/^close:(\d+)$/) : null;
      if (m) socket.close(Number(m[1]), "bye");
      else if (e.data === "origin") socket.send(origin);
      else socket.send(typeof e.data === "string" ? `echo:${e.data}` : e.data);
    };
    socket.onclose = (e) => {
      ends.push({ code: e.code, wasClean: e.wasClean });
      ended();
    };
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}/`,
    port: server.addr.port,
    ends,
    nextEnd: () => new Promise<void>((resolve) => (ended = resolve)),
    close: () => server.shutdown(),
  };
}

Deno.test("wire: handshake with subprotocol and headers, text and binary, logged, clean close", async () => {
  const server = echoServer();
  const c = await WireClient.connect({
    url: server.url,
    protocols: ["p1", "p2"],
    headers: { origin: "http://example.test" },
    label: "A",
  });
  assertEquals(c.protocol, "p1");
  c.sendText("origin");
  c.sendText("hi");
  c.sendBinary(new Uint8Array([1, 2, 3]));
  c.sendText("x".repeat(70_000));
  assertEquals(
    await c.waitFor((m) => m.text === "http://example.test" ? m.text : undefined, 1000),
    "http://example.test",
  );
  assertEquals(await c.waitFor((m) => m.text === "echo:hi" ? 1 : undefined, 1000), 1);
  assertEquals(await c.waitFor((m) => m.kind === "binary" ? [...m.data] : undefined, 1000), [
    1,
    2,
    3,
  ]);
  assertEquals(await c.waitFor((m) => m.text.length === 70_005 ? 1 : undefined, 1000), 1);
  assertEquals(await c.waitFor((m) => m.text === "never" ? 1 : undefined, 30), undefined);
  const end = server.nextEnd();
  const closed = await c.close();
  await end;
  assertEquals([closed.code, closed.by, closed.afterSent?.n], [1000, "client", 4]);
  assertEquals(server.ends, [{ code: 1000, wasClean: true }]);
  assertEquals(c.log.slice(0, 3).map((f) => `${f.dir} ${f.kind} ${f.text} ${f.n ?? ""}`), [
    "sent text origin 1",
    "sent text hi 2",
    "sent binary <binary 3 bytes> 3",
  ]);
  assertEquals(c.log.at(-1)?.text, "<close 1000>");
  c.sendText("late");
  assertEquals(c.log.at(-1), {
    dir: "sent",
    kind: "text",
    text: "late",
    unsent: true,
    at: c.log.at(-1)!.at,
  });
  await server.close();
});

Deno.test("wire: a server close is recorded with code, reason, who and after which frame", async () => {
  const server = echoServer();
  const c = await WireClient.connect({ url: server.url });
  c.sendText("hello");
  c.sendText("close:4004", "offending");
  const closed = await c.waitClose(1000);
  assertEquals(closed?.code, 4004);
  assertEquals(closed?.reason, "bye");
  assertEquals(closed?.by, "server");
  assertEquals(closed?.afterSent?.text, "close:4004");
  assertEquals(c.log.find((f) => f.text === "close:4004")?.tag, "offending");
  await c.close();
  await server.close();
});

Deno.test("wire: a connection lost without a close frame is 1006 by the network; destroy drops TCP", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    const key =
      new TextDecoder().decode(buf.subarray(0, n!)).match(/Sec-WebSocket-Key: (.*)\r\n/)![1];
    const digest = await crypto.subtle.digest(
      "SHA-1",
      new TextEncoder().encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
    );
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    await conn.write(new TextEncoder().encode(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    ));
    // A fragmented text message with a ping in between, then the process "dies".
    const part = (opcode: number, text: string, fin: boolean) =>
      encodeFrame({ opcode, payload: new TextEncoder().encode(text), fin, masked: false });
    await conn.write(part(Opcode.text, "frag", false));
    await conn.write(
      encodeFrame({ opcode: Opcode.ping, payload: new Uint8Array([7]), masked: false }),
    );
    await conn.write(part(Opcode.continuation, "mented", true));
    const pong = new Uint8Array(64);
    await conn.read(pong);
    conn.close();
    return pong[0];
  })();
  const c = await WireClient.connect({ url: `ws://127.0.0.1:${listener.addr.port}/` });
  assertEquals(await c.waitFor((m) => m.text === "fragmented" ? 1 : undefined, 1000), 1);
  const closed = await c.waitClose(1000);
  assertEquals([closed?.code, closed?.by], [1006, "network"]);
  assertEquals(await accepted, 0x80 | Opcode.pong);
  assert(c.frames.some((f) => f.opcode === Opcode.ping && f.payload[0] === 7));
  listener.close();

  const server = echoServer();
  const d = await WireClient.connect({ url: server.url });
  const end = server.nextEnd();
  await d.destroy();
  await end;
  assertEquals([d.closed?.code, d.closed?.by], [1006, "client"]);
  assertEquals(server.ends.map((e) => e.wasClean), [false]);
  await server.close();
});

Deno.test("wire: a refused handshake says why, with the status and body", async () => {
  const server = echoServer();
  const refused = await assertRejects(
    () => WireClient.connect({ url: `ws://127.0.0.1:${server.port}/refuse` }),
    HandshakeError,
  );
  assertEquals(refused.status, 400);
  assertEquals(refused.body, '{"code":0,"message":"Transport unknown"}');
  await server.close();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const url = `ws://127.0.0.1:${listener.addr.port}/`;
  listener.close();
  const down = await assertRejects(() => WireClient.connect({ url }), HandshakeError);
  assert(down.message.startsWith("cannot connect to 127.0.0.1:"), down.message);
  await assertRejects(() => WireClient.connect({ url: "http://x/" }), HandshakeError, "bad URL");
});

Deno.test("wire: decodeFrame reads back what encodeFrame wrote, in every length form", () => {
  for (const n of [0, 125, 126, 65535, 65536]) {
    const payload = new Uint8Array(n).map((_, i) => i);
    for (const masked of [true, false]) {
      const bytes = encodeFrame({ opcode: Opcode.binary, payload, fin: false, rsv: 5, masked });
      assertEquals(decodeFrame(bytes.subarray(0, bytes.length - 1)), undefined, `${n} cut`);
      const { frame, size } = decodeFrame(bytes)!;
      assertEquals([frame.fin, frame.rsv, frame.opcode, frame.masked, size], [
        false,
        5,
        Opcode.binary,
        masked,
        bytes.length,
      ]);
      assertEquals(frame.payload, payload);
    }
  }
  // A given masking key and a string payload give known bytes.
  const mask = new Uint8Array([1, 2, 3, 4]);
  assertEquals(
    [...encodeFrame({ opcode: Opcode.text, payload: "hé", mask })],
    [0x81, 0x83, 1, 2, 3, 4, 0x68 ^ 1, 0xc3 ^ 2, 0xa9 ^ 3],
  );
});

Deno.test("wire: close bodies and response heads", () => {
  assertEquals([...closeBody(4100, "ok")], [0x10, 0x04, 0x6f, 0x6b]);
  assertEquals(parseCloseBody(closeBody(1000, new Uint8Array([0x62, 0x79]))), {
    code: 1000,
    reason: "by",
  });
  assertEquals(parseCloseBody(new Uint8Array(0)), { code: 1005, reason: "" });
  const text = "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nX-A : b \r\n\r\nno";
  const bytes = new TextEncoder().encode(text);
  assertEquals(parseResponseHead(bytes.subarray(0, text.indexOf("\r\n\r\n") + 3)), undefined);
  const head = parseResponseHead(bytes)!;
  assertEquals([head.statusLine, head.status, head.size], [
    "HTTP/1.1 403 Forbidden",
    403,
    text.length - 2,
  ]);
  assertEquals([head.headers.get("content-length"), head.headers.get("x-a")], ["2", "b"]);
});
