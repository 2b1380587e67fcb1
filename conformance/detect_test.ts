import { assertEquals, assertMatch } from "@std/assert";
import { recognize } from "./detect.ts";
import { HandshakeError, type ReceivedMessage } from "./wire.ts";

const text = (t: string): ReceivedMessage => ({
  kind: "text",
  text: t,
  data: new TextEncoder().encode(t),
  json: undefined,
  utf8: true,
  at: 0,
});

Deno.test("recognize: other protocols by their first frames, subprotocol or HTTP answer", () => {
  const says = (o: Parameters<typeof recognize>[0]) => recognize(o) ?? "";
  assertMatch(
    says({ received: [text('0{"sid":"x","upgrades":[]}')] }),
    /^the server speaks Engine\.IO/,
  );
  assertMatch(
    says({
      handshake: new HandshakeError("x", 400, new Headers(), '{"code":3,"message":"Bad request"}'),
    }),
    /^the server speaks Engine\.IO .* HTTP 400/,
  );
  assertMatch(says({ received: [text("o")] }), /^the server speaks SockJS/);
  assertMatch(says({ received: [text('a["hi"]')] }), /^the server speaks SockJS/);
  assertMatch(
    says({ handshake: new HandshakeError("x", 200, new Headers(), "Welcome to SockJS!\n") }),
    /^the server speaks SockJS/,
  );
  assertMatch(
    says({ received: [text("CONNECTED\nversion:1.2\n\n\0")] }),
    /^the server speaks STOMP/,
  );
  assertMatch(says({ protocol: "v12.stomp" }), /^the server speaks STOMP: it selected/);
  assertMatch(says({ protocol: "mqtt" }), /^the server speaks MQTT/);
  const bin = { ...text(""), kind: "binary" as const, text: "<binary 3 bytes>" };
  assertMatch(
    says({ received: [bin, bin] }),
    /^the server speaks a binary protocol: it sent 2 binary frames/,
  );
  // A LayIM server's frames, or nothing at all, are not another protocol.
  for (const received of [[], [text('{"type":"friend","content":"0{"}')], [text("1001")]]) {
    assertEquals(recognize({ received }), undefined);
  }
  assertEquals(
    recognize({ handshake: new HandshakeError("x", 404, new Headers(), "not found") }),
    undefined,
  );
});
