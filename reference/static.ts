/**
 * Static files: the chat page folder at `/` and layui's distribution (npm `layui`) at
 * `/layui/`. Paths are resolved segment by segment under their root, so no request can
 * leave it, and the page folder serves only what a page loads ({@linkcode isPageFile}): its
 * sources, tests, configuration and notes stay private.
 *
 * @module
 */
// Importing the package's manifest puts layui in the module graph, so Deno fetches it and
// resolves the specifier to a file in its npm cache.
import "layui/package.json" with { type: "json" };

/** The folder of layui's built files (`dist/`) in the npm cache. */
export const LAYUI_DIST: string = decodeURIComponent(
  new URL("dist/", import.meta.resolve("layui/package.json")).pathname,
);

/** The repository's `web/` folder, the default page root. */
export const DEFAULT_WEB_ROOT: string = decodeURIComponent(
  new URL("../web/", import.meta.url).pathname,
);

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json; charset=utf-8",
  map: "application/json; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  ico: "image/x-icon",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  eot: "application/vnd.ms-fontobject",
  mp3: "audio/mpeg",
  wav: "audio/wav",
};

// What a browser loads for a page: markup, scripts, styles, images, fonts and sounds.
const PAGE_TYPES = new Set([
  "html",
  "js",
  "mjs",
  "css",
  "svg",
  "png",
  "jpg",
  "jpeg",
  "gif",
  "webp",
  "ico",
  "woff",
  "woff2",
  "ttf",
  "eot",
  "mp3",
  "wav",
]);

/**
 * Whether the page folder serves the file at `path`: a page asset by its extension (so never
 * `deno.json`, `*.ts` or `README.md`), and not a test (`*_test.*`, `*.test.*`).
 *
 * ```ts
 * import { isPageFile } from "./static.ts";
 * isPageFile("/app.js"); // true
 * isPageFile("/app_test.js"); // false
 * isPageFile("/deno.json"); // false
 * ```
 */
export function isPageFile(path: string): boolean {
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase();
  const dot = name.lastIndexOf(".");
  return PAGE_TYPES.has(name.slice(dot + 1)) && !/[_.]test\.[^.]+$/.test(name);
}

/** The content type of a file name, by extension. */
export function contentType(name: string): string {
  const dot = name.lastIndexOf(".");
  return TYPES[name.slice(dot + 1).toLowerCase()] ?? "application/octet-stream";
}

/**
 * The file under `root` that `path` (a URL path relative to the root, e.g. `css/a.css`)
 * names, or null when a segment could escape the root or is hidden.
 */
export function resolveUnder(root: string, path: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return null;
  }
  const segments = decoded.split("/").filter((s) => s !== "");
  for (const s of segments) {
    if (s.startsWith(".") || s.includes("\\") || s.includes("\0")) return null;
  }
  return (root.endsWith("/") ? root : root + "/") + segments.join("/");
}

function notFound(): Response {
  return new Response("not found\n", {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * Serves the file `path` under `root` (a folder's `index.html` for a folder) for GET and
 * HEAD, 404 when there is none or when `serves` says the file is not to be served.
 */
export async function serveFile(
  root: string,
  path: string,
  method: string,
  serves: (file: string) => boolean = () => true,
): Promise<Response> {
  let file = resolveUnder(root, path);
  if (file === null) return notFound();
  try {
    let info = await Deno.stat(file);
    if (info.isDirectory) {
      file = file.replace(/\/?$/, "/index.html");
      info = await Deno.stat(file);
    }
    if (!info.isFile || !serves(file)) return notFound();
    const headers = {
      "content-type": contentType(file),
      "content-length": String(info.size),
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
    };
    if (method === "HEAD") return new Response(null, { headers });
    return new Response(await Deno.readFile(file), { headers });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return notFound();
    }
    throw error;
  }
}
