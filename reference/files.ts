/**
 * Reading the relay's configuration files with one-line errors that name the file.
 *
 * @module
 */

/** Reads `path`; a failure throws `cannot read WHAT PATH: why` (no stack trace needed by the CLI). */
export async function readConfigFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new Error(`cannot read ${what} ${path}: ${why}`);
  }
}
