/**
 * A deliberately broken target for the fuzzer's own test: it upgrades every connection and then
 * never closes one, even after the client's end of stream. The fuzzer must report a hang.
 *
 * @module
 */
import { acceptKey } from "../../reference/ws/handshake.ts";

const port = Number(Deno.args[Deno.args.indexOf("--port") + 1]);
const held: Deno.Conn[] = [];
for await (const conn of Deno.listen({ hostname: "127.0.0.1", port })) {
  held.push(conn);
  (async () => {
    const buffer = new Uint8Array(8192);
    const n = await conn.read(buffer) ?? 0;
    const head = new TextDecoder().decode(buffer.subarray(0, n));
    const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1] ?? "";
    await conn.write(new TextEncoder().encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
    ));
    while (await conn.read(buffer).catch(() => null) !== null) { /* read, never answer */ }
  })();
}
