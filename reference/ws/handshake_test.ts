import { assertEquals } from "@std/assert";
import { acceptKey, checkUpgrade } from "./handshake.ts";
import { parseHead, type RequestHead } from "./http.ts";

function head(lines: string[]): RequestHead {
  const bytes = new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n");
  return parseHead(bytes, bytes.length, 16384) as RequestHead;
}

const GOOD = [
  "GET /ws HTTP/1.1",
  "Host: a",
  "Upgrade: websocket",
  "Connection: keep-alive, Upgrade",
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version: 13",
  "Sec-WebSocket-Protocol: chat, layim-ws.v1",
];

Deno.test("acceptKey gives RFC 6455's example answer", () => {
  assertEquals(acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("checkUpgrade accepts a valid request and lists the offered subprotocols", () => {
  assertEquals(checkUpgrade(head(GOOD)), {
    key: "dGhlIHNhbXBsZSBub25jZQ==",
    protocols: ["chat", "layim-ws.v1"],
  });
});

Deno.test("checkUpgrade refuses what RFC 6455 §4.2.1 does not allow", () => {
  const without = (name: string, ...extra: string[]) =>
    head([...GOOD.filter((l) => !l.startsWith(name)), ...extra]);
  const status = (h: RequestHead) => (checkUpgrade(h) as { status?: number }).status;
  assertEquals(status(without("Upgrade")), 400);
  assertEquals(status(without("Upgrade", "Upgrade: h2c")), 400);
  assertEquals(status(without("Connection", "Connection: keep-alive")), 400);
  assertEquals(status(without("Sec-WebSocket-Key")), 400);
  for (
    const key of [
      "dGhlIHNhbXBsZSBub25jZQ",
      "dGhlIHNhbXBsZSBub25jZR==",
      "AAAAAAAAAAAAAAAAAAAAAAAA",
      "a".repeat(22) + "==",
    ]
  ) {
    assertEquals(status(without("Sec-WebSocket-Key", `Sec-WebSocket-Key: ${key}`)), 400, key);
  }
  assertEquals(
    status(head([...GOOD, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])),
    400,
    "two keys",
  );
  assertEquals(status(without("Sec-WebSocket-Version", "Sec-WebSocket-Version: 8")), 426);
  assertEquals(status(without("Sec-WebSocket-Version")), 426);
  assertEquals(status(head(["GET / HTTP/1.0", ...GOOD.slice(1)])), 400);
});

Deno.test("checkUpgrade answers another version with 426 and the version it speaks", () => {
  const result = checkUpgrade(head([...GOOD.slice(0, 5), "Sec-WebSocket-Version: 12"]));
  assertEquals(result, {
    status: 426,
    reason: "unsupported Sec-WebSocket-Version",
    headers: { "sec-websocket-version": "13" },
  });
});
