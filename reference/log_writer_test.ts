import { assertEquals } from "@std/assert";
import { batchedLines } from "./log_writer.ts";

Deno.test("log lines of one turn go out in one write, in order, each a whole line", async () => {
  const writes: string[] = [];
  const file = {
    writeSync(bytes: Uint8Array) {
      // A short write: the writer must go on with the rest.
      const n = Math.min(bytes.length, 7);
      writes.push(new TextDecoder().decode(bytes.subarray(0, n)));
      return n;
    },
  };
  const write = batchedLines(file);
  write("connect session=a");
  write("identify session=a user=1001");
  assertEquals(writes, [], "nothing before the end of the turn");
  await Promise.resolve();
  assertEquals(writes.join(""), "connect session=a\nidentify session=a user=1001\n");
  write("close session=a code=1000");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(writes.join("").split("\n").at(-2), "close session=a code=1000");
});
