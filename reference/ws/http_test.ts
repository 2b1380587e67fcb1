import { assertEquals } from "@std/assert";
import { parseHead } from "./http.ts";

const encode = (text: string) => new TextEncoder().encode(text);

function parse(text: string, max = 16384) {
  const bytes = encode(text);
  return parseHead(bytes, bytes.length, max);
}

Deno.test("parseHead reads the request line and the header fields", () => {
  assertEquals(parse("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Long:  v  w \t\r\nEmpty:\r\n\r\nrest"), {
    method: "GET",
    target: "/a?b=1",
    version: "1.1",
    fields: ["host", "x", "x-long", "v  w", "empty", ""],
    length: 57,
  });
});

Deno.test("parseHead waits for the end of the head, then limits its size (431)", () => {
  assertEquals(parse("GET / HTTP/1.1\r\nHost: x\r\n"), null);
  assertEquals(parse("GET / HTTP/1.1\r\nX: " + "a".repeat(100), 64), {
    status: 431,
    reason: "request header too large",
  });
});

Deno.test("parseHead finds the end of the head across calls (scanned bytes)", () => {
  const bytes = encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals(parseHead(bytes, 25, 1000), null);
  assertEquals((parseHead(bytes, bytes.length, 1000, 25) as { length: number }).length, 27);
});

Deno.test("parseHead refuses malformed heads with 400 and other versions with 505", () => {
  const status = (text: string) => (parse(text) as { status?: number }).status;
  for (
    const bad of [
      "GET  / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1 \r\n\r\n",
      "GET http://a/ HTTP/1.1\r\n\r\n",
      "GET * HTTP/1.1\r\n\r\n",
      "G(T / HTTP/1.1\r\n\r\n",
      "GET /\x01 HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\nY: z\r\n\r\n",
      "GET / HTTP/1.1\nHost: x\n",
      "GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
      "GET / HTTP/1.1\r\nNo-colon\r\n\r\n",
      "GET / HTTP/x.1\r\n\r\n",
    ]
  ) assertEquals(status(bad), 400, JSON.stringify(bad));
  assertEquals(status("GET / HTTP/2.0\r\n\r\n"), 505);
  assertEquals(status("GET / HTTP/1.2\r\n\r\n"), 505);
});

Deno.test("parseHead accepts HTTP/1.0", () => {
  assertEquals((parse("GET / HTTP/1.0\r\n\r\n") as { version: string }).version, "1.0");
});
