import { assertEquals } from "@std/assert";
import { isWebSocketUrl } from "./protocol.ts";

Deno.test("isWebSocketUrl accepts ws:// and wss:// URLs with a host, nothing else", () => {
  for (const url of ["ws://127.0.0.1:8080/ws", "wss://chat.example.com/", "WS://127.0.0.1/"]) {
    assertEquals(isWebSocketUrl(url), true, url);
  }
  for (const url of ["http://127.0.0.1:8080/ws", "ws://", "ws:/ws", "ws://[::1", "127.0.0.1", ""]) {
    assertEquals(isWebSocketUrl(url), false, url);
  }
});
