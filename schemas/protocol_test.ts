import { assertEquals } from "@std/assert";
import { isWebSocketUrl } from "./protocol.ts";

Deno.test("isWebSocketUrl accepts ws:// and wss:// URLs with a host, nothing else", () => {
  const urls = {
    "ws://127.0.0.1:8080/ws": true,
    "wss://chat.example.com/": true,
    "WS://127.0.0.1/": true,
    "http://127.0.0.1:8080/ws": false,
    "ws://": false,
    "ws:/ws": false,
    "ws://[::1": false,
    "127.0.0.1:8080": false,
    "": false,
  };
  for (const [url, ok] of Object.entries(urls)) assertEquals(isWebSocketUrl(url), ok, url);
});
