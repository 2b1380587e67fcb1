/**
 * Where the relay's log lines go: standard error, the lines of one turn of the event loop
 * gathered into one write. `console.error` costs a formatting pass and a `write` per line: in a
 * connect burst (three events per connection) that was a third of the relay's CPU per
 * connection. Lines keep their order, and each is still one whole line.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * A line writer for {@linkcode createLogger}: lines written in one turn go to `file` (default
 * standard error) together, at the end of that turn.
 *
 * ```ts ignore
 * import { createLogger } from "./log.ts";
 * import { batchedLines } from "./log_writer.ts";
 * const logger = createLogger("text", batchedLines());
 * ```
 */
export function batchedLines(
  file: { writeSync(bytes: Uint8Array): number } = Deno.stderr,
): (line: string) => void {
  let pending = "";
  const flush = () => {
    const bytes = encoder.encode(pending);
    pending = "";
    for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
  };
  return (line) => {
    if (pending === "") queueMicrotask(flush);
    pending += line + "\n";
  };
}
