/**
 * Transport cases: the server's WebSocket layer against the RFC 6455 rules of spec section 14,
 * the way Autobahn|Testsuite judges WebSocket implementations — the opening handshake, masking,
 * reserved bits and opcodes, control frames, fragmentation, UTF-8, the close handshake and its
 * status codes, ping. They sit below either profile and run in both: each breaks a rule on a
 * connection of its own, identified when a routed message is the evidence of what the server
 * did with the bad frame.
 *
 * @module
 */
import { BOTH, group } from "../case.ts";
import type { CaseContext } from "../context.ts";
import type { Peer } from "../peer.ts";
import { brief, check, delivered, fail } from "../verify.ts";
import { closeBody, concat, encodeFrame, HandshakeError, Opcode, type RawFrame } from "../wire.ts";

const encoder = new TextEncoder();

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

/** Where `needle` starts in `bytes` (it is there: the cases put it in). */
function indexOf(bytes: Uint8Array, needle: Uint8Array): number {
  for (let i = 0; i + needle.byteLength <= bytes.byteLength; i++) {
    if (same(bytes.subarray(i, i + needle.byteLength), needle)) return i;
  }
  throw new Error("needle not found");
}

/** Identifies the offender O and B (on node "b"), to whom O's bad frames carry messages. */
async function offenderAndRecipient(ctx: CaseContext): Promise<[Peer, Peer]> {
  const [o, b] = await ctx.pair();
  o.closeExpected = true;
  return [o, b];
}

/** The bytes of O's message to B with `content`, as the run's profile writes it. */
function messageBytes(o: Peer, b: Peer, content: string): Uint8Array {
  return encoder.encode(o.messageText(b.user, content));
}

/** "B received it" when a message whose content starts with `marker` reached B. */
function receivedBy(b: Peer, marker: string): () => string | undefined {
  return () => {
    const got = b.messages().find((m) => String(m.content).startsWith(marker));
    return got ? `${b.label} received its message: ${brief(JSON.stringify(got))}` : undefined;
  };
}

/** "answered with a pong" when the server answered a ping. */
function ponged(peer: Peer): () => string | undefined {
  return () =>
    peer.wire.frames.some((f) => f.opcode === Opcode.pong)
      ? "the server answered it with a pong"
      : undefined;
}

/** The close code a failure should carry: 1002, or 1007 for invalid UTF-8. */
type FailCode = 1002 | 1007;

/**
 * Waits for the server to fail `peer`'s connection after `what`: closing it is the MUST of
 * `rule`; a close frame with `code` first is WS-13's SHOULD. `accepted` says what the server did
 * with the bad frame, when it kept the connection open.
 */
async function expectFailed(
  ctx: CaseContext,
  peer: Peer,
  rule: string,
  code: FailCode,
  what: string,
  accepted?: () => string | undefined,
): Promise<void> {
  peer.closeExpected = true;
  const end = await peer.wire.waitClose(ctx.timeoutMs);
  if (end === undefined) {
    const seen = accepted?.();
    fail(
      `the server to fail the connection (${what})`,
      `still open after ${ctx.timeoutMs} ms${seen ? `; ${seen}` : ""}`,
      rule,
    );
  }
  check(
    end.by !== "network",
    `a close frame with ${code} before the TCP connection ends (${what})`,
    "the TCP connection ended without a close frame (1006)",
    "WS-13",
  );
  check(
    end.code === code,
    `a close frame with ${code} (${what})`,
    () => `a close frame with ${end.code}${end.reason ? ` ${JSON.stringify(end.reason)}` : ""}`,
    "WS-13",
  );
}

/** Waits for a pong carrying `payload` on `peer`. */
function pongWith(ctx: CaseContext, peer: Peer, payload: Uint8Array): Promise<boolean> {
  return peer.wire.until(
    () => peer.wire.frames.some((f) => f.opcode === Opcode.pong && same(f.payload, payload)),
    ctx.timeoutMs,
  );
}

/** Fails unless every frame the server sent `peer` is unmasked with its RSV bits clear (WS-8). */
function serverFramesValid(peer: Peer): void {
  const bad = peer.wire.frames.find((f: RawFrame) => f.masked || f.rsv !== 0);
  check(
    !bad,
    `unmasked server frames with RSV bits clear on ${peer.label}`,
    () => `a frame with opcode ${bad!.opcode}${bad!.masked ? ", masked" : ""} and RSV ${bad!.rsv}`,
    "WS-8",
  );
}

/** How the server answered a close frame O sent with `body`. */
type CloseAnswer = "failed" | "dropped" | "ignored" | `echoed ${number}` | `answered ${number}`;

/** Sends a close frame with `body` on a new connection; how the server answered it. */
async function answerTo(ctx: CaseContext, body: Uint8Array, failWith: FailCode) {
  const o = await ctx.open(ctx.user());
  o.closeExpected = true;
  o.wire.sendFrame({ opcode: Opcode.close, payload: body });
  const end = await o.wire.waitClose(ctx.timeoutMs);
  const sent = body.byteLength >= 2 ? (body[0] << 8) | body[1] : undefined;
  const answer: CloseAnswer = end === undefined
    ? "ignored"
    : end.by === "network"
    ? "dropped"
    : end.code === failWith
    ? "failed"
    : end.code === sent || end.code === 1000
    ? `echoed ${end.code}`
    : `answered ${end.code}`;
  return answer;
}

/**
 * Judges the answers to invalid close frames, each described by `label`: an echo, a normal
 * close or none at all breaks `rule` (the frame was taken as valid or ignored); a close without
 * frame or with another code is WS-13's finding.
 */
function judgeCloses(
  ctx: CaseContext,
  answers: [label: string, answer: CloseAnswer][],
  rule: string,
  code: FailCode,
): void {
  const taken = answers.filter(([, a]) => a.startsWith("echoed") || a === "ignored");
  if (taken.length > 0) {
    fail(
      `the server to fail the connection on each (${answers.map(([l]) => l).join(", ")})`,
      taken.map(([l, a]) =>
        a === "ignored"
          ? `${l}: ignored, still open after ${ctx.timeoutMs} ms`
          : `${l}: ${a}, a valid close`
      ).join("; "),
      rule,
    );
  }
  const other = answers.filter(([, a]) => a !== "failed");
  check(
    other.length === 0,
    `a close frame with ${code} for each`,
    () =>
      other.map(([l, a]) =>
        `${l}: ${a === "dropped" ? "TCP connection ended without a close frame (1006)" : a}`
      ).join("; "),
    "WS-13",
  );
}

/** An upgrade request with some headers replaced or left out must be refused with a 4xx. */
async function expectRefused(
  ctx: CaseContext,
  replaceHeaders: Record<string, string | null>,
  what: string,
  rule: string,
): Promise<HandshakeError> {
  let error: unknown;
  try {
    await ctx.open(ctx.user(), { wire: { replaceHeaders } });
  } catch (e) {
    error = e;
  }
  if (!(error instanceof HandshakeError)) {
    if (error) throw error;
    fail(`an HTTP 4xx answer to ${what}`, "the connection was upgraded (101)", rule);
  }
  const status = error.status;
  check(
    status !== undefined && status >= 400 && status < 500,
    `an HTTP 4xx answer to ${what}`,
    () =>
      status === undefined
        ? `no HTTP answer (${error.message})`
        : status === 101
        ? "the connection was upgraded (101)"
        : `HTTP ${status}${error.body ? `: ${brief(error.body.trim(), 80)}` : ""}`,
    rule,
  );
  return error;
}

/** The transport cases. */
export const transport = group(
  "transport",
  "the WebSocket layer (RFC 6455): handshake, framing, fragmentation, UTF-8, close, ping",
  [
    {
      name: "handshake-key",
      title: "an upgrade without a valid Sec-WebSocket-Key is refused with a 4xx",
      requirements: ["WS-1"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        await expectRefused(ctx, { "Sec-WebSocket-Key": null }, "an upgrade without a key", "WS-1");
        // Base64 of 8 bytes, not 16.
        await expectRefused(
          ctx,
          { "Sec-WebSocket-Key": "AAAAAAAAAAA=" },
          "an upgrade with an 8-byte key",
          "WS-1",
        );
      },
    },
    {
      name: "handshake-version",
      title: "an upgrade without Sec-WebSocket-Version 13 is refused, naming version 13",
      requirements: ["WS-1", "WS-2"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        await expectRefused(
          ctx,
          { "Sec-WebSocket-Version": null },
          "an upgrade without a version",
          "WS-1",
        );
        const error = await expectRefused(
          ctx,
          { "Sec-WebSocket-Version": "8" },
          "an upgrade for version 8",
          "WS-2",
        );
        const versions = error.headers?.get("sec-websocket-version");
        check(
          versions?.split(",").some((v) => v.trim() === "13"),
          "a Sec-WebSocket-Version header naming 13 with the refusal",
          versions === null || versions === undefined
            ? `HTTP ${error.status} without one`
            : `Sec-WebSocket-Version: ${versions}`,
          "WS-2",
        );
      },
    },
    {
      name: "early-frames",
      title: "a ping sent with the upgrade request, before the 101, is answered (or refused)",
      requirements: ["WS-3"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const tag = crypto.getRandomValues(new Uint8Array(8));
        let o: Peer;
        try {
          o = await ctx.open(ctx.user(), {
            wire: { early: encodeFrame({ opcode: Opcode.ping, payload: tag }) },
          });
        } catch (error) {
          if (!(error instanceof HandshakeError)) throw error;
          fail(
            "a 101 answer, the ping that followed the request read as a frame",
            error.status === undefined ? error.message : `HTTP ${error.status}`,
          );
        }
        if (await pongWith(ctx, o, tag)) return;
        if (o.wire.closed) {
          ctx.note(`the server failed the connection instead (${o.wire.closed.code})`);
          return;
        }
        fail(
          "a pong to the ping sent right after the request (or the connection failed)",
          `nothing within ${ctx.timeoutMs} ms: the bytes after the request head were lost`,
        );
      },
    },
    {
      name: "unmasked",
      title: "an unmasked client frame fails the connection (1002)",
      requirements: ["WS-4", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const [o, b] = await offenderAndRecipient(ctx);
        const c = ctx.content("unmasked");
        o.wire.sendFrame({ opcode: Opcode.text, payload: messageBytes(o, b, c), masked: false });
        await expectFailed(ctx, o, "WS-4", 1002, "an unmasked text frame", receivedBy(b, c));
      },
    },
    {
      name: "reserved-bits",
      title: "a frame with RSV1 or RSV2+RSV3 set, no extension negotiated, fails (1002)",
      requirements: ["WS-5", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        for (const [rsv, bits] of [[4, "RSV1"], [3, "RSV2 and RSV3"]] as const) {
          const [o, b] = await offenderAndRecipient(ctx);
          const c = ctx.content("rsv");
          o.wire.sendFrame({ opcode: Opcode.text, payload: messageBytes(o, b, c), rsv });
          await expectFailed(ctx, o, "WS-5", 1002, `a text frame with ${bits}`, receivedBy(b, c));
        }
      },
    },
    {
      name: "reserved-opcodes",
      title: "a frame with a reserved opcode (0x3, 0xB) fails the connection (1002)",
      requirements: ["WS-6", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        for (const opcode of [0x3, 0xb]) {
          const [o, b] = await offenderAndRecipient(ctx);
          const c = ctx.content("opcode");
          o.wire.sendFrame({ opcode, payload: messageBytes(o, b, c).subarray(0, 120) });
          const hex = `0x${opcode.toString(16).toUpperCase()}`;
          await expectFailed(ctx, o, "WS-6", 1002, `a frame with opcode ${hex}`, receivedBy(b, c));
        }
      },
    },
    {
      name: "control-long",
      title: "a ping with a 126-byte payload fails the connection (1002)",
      requirements: ["WS-7", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const o = await ctx.connect(ctx.user());
        o.wire.sendFrame({ opcode: Opcode.ping, payload: new Uint8Array(126).fill(0x70) });
        await expectFailed(ctx, o, "WS-7", 1002, "a ping of 126 bytes", ponged(o));
      },
    },
    {
      name: "control-fragmented",
      title: "a ping with FIN clear fails the connection (1002)",
      requirements: ["WS-7", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const o = await ctx.connect(ctx.user());
        o.wire.sendFrame({ opcode: Opcode.ping, payload: encoder.encode("frag"), fin: false });
        await expectFailed(ctx, o, "WS-7", 1002, "a fragmented ping", ponged(o));
      },
    },
    {
      name: "ping",
      title: "pings of 0 and 125 bytes are answered with pongs carrying their payload",
      requirements: ["WS-12", "WS-8"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const o = await ctx.connect(ctx.user());
        for (const size of [0, 125]) {
          const payload = crypto.getRandomValues(new Uint8Array(size));
          o.wire.ping(payload);
          check(
            await pongWith(ctx, o, payload),
            `a pong carrying the ${size}-byte payload of the ping`,
            () => {
              const pongs = o.wire.frames.filter((f) => f.opcode === Opcode.pong);
              if (pongs.length > 0) return `pongs of ${pongs.map((p) => p.payload.length)} bytes`;
              return o.wire.closed ? `closed with ${o.wire.closed.code}` : "no pong";
            },
          );
        }
        serverFramesValid(o);
      },
    },
    {
      name: "fragments-ping",
      title: "a ping between the fragments of a message is answered; the message is delivered",
      requirements: ["WS-9", "WS-8"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const [o, b] = await ctx.pair();
        const c = ctx.content("fragmented");
        const bytes = messageBytes(o, b, c);
        const cut = bytes.byteLength >> 1;
        o.wire.sendFrame({ opcode: Opcode.text, fin: false, payload: bytes.subarray(0, cut) });
        const tag = crypto.getRandomValues(new Uint8Array(8));
        o.wire.ping(tag);
        check(
          await pongWith(ctx, o, tag),
          "a pong to the ping sent between the fragments, before the last one",
          () => o.wire.closed ? `closed with ${o.wire.closed.code}` : "no pong",
        );
        o.wire.sendFrame({ opcode: Opcode.continuation, payload: bytes.subarray(cut) });
        await delivered(ctx, b, c, o);
        serverFramesValid(o);
      },
    },
    {
      name: "fragments-split",
      title: "a message in four fragments, one empty, UTF-8 split inside characters, arrives whole",
      requirements: ["WS-9"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const [o, b] = await ctx.pair();
        const c = `${ctx.content("分片")} é🙂`;
        const bytes = messageBytes(o, b, c);
        // Cuts inside "é" (2 bytes) and inside "🙂" (4 bytes).
        const e = indexOf(bytes, encoder.encode("é")) + 1;
        const smile = indexOf(bytes, encoder.encode("🙂")) + 2;
        const parts = [bytes.subarray(0, e), new Uint8Array(0), bytes.subarray(e, smile)];
        o.wire.sendFrame({ opcode: Opcode.text, fin: false, payload: parts[0] });
        o.wire.sendFrame({ opcode: Opcode.continuation, fin: false, payload: parts[1] });
        o.wire.sendFrame({ opcode: Opcode.continuation, fin: false, payload: parts[2] });
        o.wire.sendFrame({ opcode: Opcode.continuation, payload: bytes.subarray(smile) });
        await delivered(ctx, b, c, o);
      },
    },
    {
      name: "continuation-first",
      title: "a continuation frame with no message in progress fails the connection (1002)",
      requirements: ["WS-10", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const [o, b] = await offenderAndRecipient(ctx);
        const c = ctx.content("continuation");
        o.wire.sendFrame({ opcode: Opcode.continuation, payload: messageBytes(o, b, c) });
        await expectFailed(
          ctx,
          o,
          "WS-10",
          1002,
          "a continuation frame starting no message",
          receivedBy(b, c),
        );
      },
    },
    {
      name: "data-inside-message",
      title: "a text frame inside a fragmented message fails the connection (1002)",
      requirements: ["WS-10", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const [o, b] = await offenderAndRecipient(ctx);
        const first = ctx.content("first");
        const second = ctx.content("second");
        const start = messageBytes(o, b, first);
        o.wire.sendFrame({ opcode: Opcode.text, fin: false, payload: start.subarray(0, 20) });
        o.wire.sendFrame({ opcode: Opcode.text, payload: messageBytes(o, b, second) });
        await expectFailed(
          ctx,
          o,
          "WS-10",
          1002,
          "a new text frame before the fragmented one ended",
          receivedBy(b, second),
        );
      },
    },
    {
      name: "utf8-invalid",
      title: "a text frame that is not UTF-8 fails the connection (1007)",
      requirements: ["WS-11", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const [o, b] = await offenderAndRecipient(ctx);
        const c = ctx.content("utf8");
        const bytes = messageBytes(o, b, c);
        const at = indexOf(bytes, encoder.encode(c)) + c.length;
        // 0xC0 0xAF: an overlong "/", never valid UTF-8.
        const bad = concat([
          bytes.subarray(0, at),
          new Uint8Array([0xc0, 0xaf]),
          bytes.subarray(at),
        ]);
        o.wire.sendFrame({ opcode: Opcode.text, payload: bad });
        await expectFailed(ctx, o, "WS-11", 1007, "a text frame with 0xC0 0xAF", receivedBy(b, c));
      },
    },
    {
      name: "utf8-across-fragments",
      title: "invalid UTF-8 across two fragments fails the connection (1007)",
      requirements: ["WS-11", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const [o, b] = await offenderAndRecipient(ctx);
        const c = ctx.content("utf8split");
        const bytes = messageBytes(o, b, c);
        const at = indexOf(bytes, encoder.encode(c)) + c.length;
        // 0xF0 0x9F starts a 4-byte character; the next fragment goes on with ASCII.
        o.wire.sendFrame({
          opcode: Opcode.text,
          fin: false,
          payload: concat([bytes.subarray(0, at), new Uint8Array([0xf0, 0x9f])]),
        });
        o.wire.sendFrame({ opcode: Opcode.continuation, payload: bytes.subarray(at) });
        await expectFailed(
          ctx,
          o,
          "WS-11",
          1007,
          "0xF0 0x9F at the end of a fragment, ASCII after it",
          receivedBy(b, c),
        );
      },
    },
    {
      name: "utf8-incomplete-end",
      title: "a fragmented text message ending inside a character fails the connection (1007)",
      requirements: ["WS-11", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const [o, b] = await offenderAndRecipient(ctx);
        const c = ctx.content("truncated");
        o.wire.sendFrame({ opcode: Opcode.text, fin: false, payload: messageBytes(o, b, c) });
        // The first two bytes of "中" (0xE4 0xB8 0xAD), and the message ends.
        o.wire.sendFrame({ opcode: Opcode.continuation, payload: new Uint8Array([0xe4, 0xb8]) });
        await expectFailed(ctx, o, "WS-11", 1007, "a message ending with 0xE4 0xB8");
      },
    },
    {
      name: "close-echo",
      title: "a close frame is answered with a close frame, then the server closes TCP",
      requirements: ["WS-14"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const o = await ctx.connect(ctx.user());
        o.closeExpected = true;
        o.wire.sendFrame({ opcode: Opcode.close, payload: closeBody(1000, "bye") });
        const end = await o.wire.waitClose(ctx.timeoutMs);
        check(
          end?.by === "server",
          "a close frame answering the client's (1000)",
          end === undefined
            ? `nothing within ${ctx.timeoutMs} ms`
            : "the TCP connection ended without a close frame (1006)",
        );
        if (end.code !== 1000) ctx.note(`the answer carries ${end.code}, not the client's 1000`);
        check(
          await o.wire.until(() => o.wire.peerEnded, ctx.timeoutMs),
          "the server to close the TCP connection after the close handshake",
          `still open ${ctx.timeoutMs} ms after its close frame`,
        );
      },
    },
    {
      name: "close-codes",
      title: "close frames with a 1-byte body or a code RFC 6455 forbids fail (1002)",
      requirements: ["WS-15", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const answers: [string, CloseAnswer][] = [
          ["a 1-byte body", await answerTo(ctx, new Uint8Array([0x03]), 1002)],
        ];
        for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
          answers.push([`code ${code}`, await answerTo(ctx, closeBody(code), 1002)]);
        }
        judgeCloses(ctx, answers, "WS-15", 1002);
      },
    },
    {
      name: "close-reason-utf8",
      title: "a close frame whose reason is not UTF-8 fails the connection (1007)",
      requirements: ["WS-11", "WS-13"],
      level: "MUST",
      profiles: BOTH,
      async run(ctx) {
        const body = closeBody(1000, new Uint8Array([0x62, 0x79, 0xff, 0x65]));
        judgeCloses(
          ctx,
          [["reason 0x62 0x79 0xFF 0x65", await answerTo(ctx, body, 1007)]],
          "WS-11",
          1007,
        );
      },
    },
  ],
);
