/**
 * One-line event logs: `text` (`2026-11-25T23:59:00.000Z connect session=s1 ip=127.0.0.1`) or
 * `json` (one object per line: `{"time":…,"event":…,…fields}`).
 *
 * Field values come from clients (ids, reasons), so they are escaped: one event is always exactly
 * one line, whatever the value holds. Fields named `content`, `token`, `password` or `secret` are
 * dropped, a guard against logging message content or credentials by mistake.
 *
 * @module
 */

/** A field value; `undefined` fields are left out. */
export type LogValue = string | number | boolean | undefined;

/** Writes one line per event. */
export interface Logger {
  event(name: string, fields?: Record<string, LogValue>): void;
}

/** A logger that writes nothing (the relay's default in tests). */
export const silentLogger: Logger = { event() {} };

const DENIED = new Set(["content", "token", "password", "secret"]);

// JSON.stringify leaves DEL, C1 controls (NEL included) and U+2028/U+2029 raw; some log
// pipelines break lines on them.
const RAW_BREAKS = /[\u007f-\u009f\u2028\u2029]/g;

function escapeBreaks(json: string): string {
  return json.replace(RAW_BREAKS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const BARE = /^[^\s"\\=\p{Cc}\u2028\u2029]+$/u;

function textValue(value: string | number | boolean): string {
  const s = String(value);
  return BARE.test(s) ? s : escapeBreaks(JSON.stringify(s));
}

function safeKey(key: string): string {
  return key.replace(/[^\w.-]/g, "_");
}

function kept(fields: Record<string, LogValue>): [string, string | number | boolean][] {
  return Object.entries(fields).filter((e): e is [string, string | number | boolean] =>
    e[1] !== undefined && !DENIED.has(e[0].toLowerCase())
  );
}

/**
 * Creates a logger writing one line per event to `write` (default: standard error).
 * Each line starts with the ISO time and the event name.
 */
export function createLogger(
  format: "text" | "json",
  write: (line: string) => void = (line) => console.error(line),
): Logger {
  if (format === "json") {
    return {
      event(name, fields = {}) {
        const record: Record<string, string | number | boolean> = {
          time: new Date().toISOString(),
          event: name,
        };
        for (const [key, value] of kept(fields)) {
          if (key !== "time" && key !== "event") record[key] = value;
        }
        write(escapeBreaks(JSON.stringify(record)));
      },
    };
  }
  return {
    event(name, fields = {}) {
      let line = `${new Date().toISOString()} ${textValue(name)}`;
      for (const [key, value] of kept(fields)) line += ` ${safeKey(key)}=${textValue(value)}`;
      write(line);
    },
  };
}
