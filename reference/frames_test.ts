import { assertEquals } from "@std/assert";
import { DEFAULT_LIMITS, type ErrorCode, ErrorCodes } from "../schemas/protocol.ts";
import { parseServerFrame } from "../schemas/validate.ts";
import {
  ackFrame,
  errorFrame,
  FEATURES,
  getMessageFrame,
  pongFrame,
  presenceFrame,
  readyFrame,
  undeliveredFrame,
  watchRefusedFrame,
} from "./frames.ts";
import { DEFAULT_PRESENCE } from "./presence.ts";

/** Parses `text` as a server frame; fails with the schema's complaint when it is not one. */
function valid(text: string): Record<string, unknown> {
  const result = parseServerFrame(text);
  assertEquals(result.ok ? "valid" : result.error, "valid", text);
  return JSON.parse(text);
}

const HOSTILE = `<img src=x onerror="alert(1)"> face[微笑] 😀 "quotes" \\ \n\u2028`;

Deno.test("getMessage: LayIM's fields in a fixed order, content kept exactly", () => {
  const frame = valid(getMessageFrame("1001", "张三", "/a.png", HOSTILE, 1764115140000, "n-1"));
  assertEquals(Object.entries(frame), [
    ["username", "张三"],
    ["avatar", "/a.png"],
    ["id", "1001"],
    ["type", "friend"],
    ["content", HOSTILE],
    ["timestamp", 1764115140000],
    ["fromid", "1001"],
    ["cid", "n-1"],
    ["mine", false],
  ]);
  valid(getMessageFrame("a", "a", "", "", 0, "n-z"));
});

Deno.test("ack: the ref is encoded, whatever it holds", () => {
  const ref = `"quoted" \\ ${HOSTILE}`.slice(0, 128);
  assertEquals(valid(ackFrame(ref, "0a1b2c3d-z9", 17)), {
    type: "ack",
    ref,
    cid: "0a1b2c3d-z9",
    timestamp: 17,
  });
});

Deno.test("undelivered: both reasons", () => {
  for (const reason of ["offline", "unavailable"] as const) {
    assertEquals(valid(undeliveredFrame("r", "bob", reason)), {
      type: "undelivered",
      ref: "r",
      to: "bob",
      reason,
    });
  }
});

Deno.test("error: every error code, with and without a ref", () => {
  for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
    assertEquals(valid(errorFrame(code, "why")), { type: "error", code, message: "why" });
    assertEquals(valid(errorFrame(code, "why", "r")).ref, "r");
  }
});

Deno.test("pong: echoes data, or has none", () => {
  assertEquals(valid(pongFrame("42")), { type: "pong", data: "42" });
  assertEquals(valid(pongFrame()), { type: "pong" });
});

Deno.test("ready: limits, features and the user's display fields when known", () => {
  const ready = valid(readyFrame("1001", "n.1", DEFAULT_LIMITS, undefined));
  assertEquals(ready, {
    type: "ready",
    id: "1001",
    session: "n.1",
    protocol: "layim-ws.v1",
    limits: { ...DEFAULT_LIMITS },
    features: [...FEATURES],
  });
  const user = { username: "张三", avatar: "/a.png", sign: "hi" };
  assertEquals(valid(readyFrame("1001", "n.1", DEFAULT_LIMITS, user)).user, user);
  const unsigned = { username: "", avatar: "/a.png" };
  assertEquals(valid(readyFrame("1001", "n.1", DEFAULT_LIMITS, unsigned)).user, unsigned);
});

Deno.test("ready with presence: the feature and its parameters", () => {
  const { mode: _, ...presence } = DEFAULT_PRESENCE;
  const ready = valid(readyFrame("1001", "n.1", DEFAULT_LIMITS, undefined, presence));
  assertEquals(ready.features, [...FEATURES, "presence"]);
  assertEquals(ready.presence, presence);
});

Deno.test("presence: an answer with its ref, a change without, ids as given", () => {
  assertEquals(valid(presenceFrame(["1002"], ["1003", "张三"], "w-1")), {
    type: "presence",
    online: ["1002"],
    offline: ["1003", "张三"],
    ref: "w-1",
  });
  assertEquals(valid(presenceFrame([], ["1002"])), {
    type: "presence",
    online: [],
    offline: ["1002"],
  });
});

Deno.test("watch_refused: an error naming the refused ids", () => {
  const refused = valid(watchRefusedFrame(["1009", "x"], "w-2"));
  assertEquals([refused.code, refused.ref, refused.ids], ["watch_refused", "w-2", ["1009", "x"]]);
  assertEquals("ref" in valid(watchRefusedFrame(["1009"])), false);
});
