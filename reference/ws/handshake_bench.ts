/**
 * `deno bench reference/ws/handshake_bench.ts`: the `Sec-WebSocket-Accept` hash with
 * `node:crypto`'s synchronous `createHash` against WebCrypto's asynchronous `digest`.
 */
import { createHash } from "node:crypto";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();

Deno.bench("node:crypto createHash sha1 + base64", { group: "accept", baseline: true }, () => {
  createHash("sha1").update(KEY).digest("base64");
});

Deno.bench("crypto.subtle.digest SHA-1 + btoa", { group: "accept" }, async () => {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", encoder.encode(KEY)));
  btoa(String.fromCharCode(...digest));
});
