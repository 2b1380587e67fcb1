/**
 * One-line event logs: `text` (`2026-11-25T23:59:00.000Z connect session=s1 ip=127.0.0.1`) or
 * `json` (one object per line: `{"time":…,"event":…,…fields}`).
 *
 * Field values come from clients (ids, reasons), so they are escaped: one event is always exactly
 * one line, whatever the value holds, and no value can hide or reorder text (format characters
 * such as U+202E are escaped too). Fields named `content`, `token`, `password` or `secret` are
 * dropped, a guard against logging message content or credentials by mistake.
 *
 * Lines go to a {@linkcode LineSink}; the default, {@linkcode WriterSink} on standard error, never
 * blocks the event loop: it writes asynchronously from a bounded buffer and counts the lines it
 * had to drop while its reader was not keeping up.
 *
 * @module
 */

/** A field value; `undefined` fields are left out. */
export type LogValue = string | number | boolean | undefined;

/** Writes one line per event. */
export interface Logger {
  event(name: string, fields?: Record<string, LogValue>): void;
  /** Lines dropped so far because their destination did not keep up (absent: never drops). */
  readonly dropped?: number;
}

/** A logger that writes nothing (the relay's default in tests). */
export const silentLogger: Logger = { event() {} };

/** Where a logger's lines go: `write` must return at once. */
export interface LineSink {
  write(line: string): void;
  /** Lines dropped so far. */
  readonly dropped: number;
}

/** What {@linkcode WriterSink} writes to: `Deno.stderr`, a file, a pipe. */
export interface Writer {
  write(bytes: Uint8Array): Promise<number>;
}

/** The default bound of {@linkcode WriterSink}'s buffer, in UTF-16 code units of pending lines. */
export const LOG_BUFFER_CHARS = 256 * 1024;

/**
 * Lines written asynchronously to a {@linkcode Writer} from a bounded buffer: a reader that
 * stalls (a full pipe) never stalls the caller; lines that do not fit are dropped and counted,
 * and the next write says how many (`log-dropped lines=N`). A writer that fails (a closed pipe)
 * drops every later line.
 *
 * ```ts
 * import { createLogger, WriterSink } from "./log.ts";
 * const sink = new WriterSink(Deno.stderr);
 * createLogger("text", sink).event("listen", { port: 8080 });
 * await sink.flush();
 * ```
 */
export class WriterSink implements LineSink {
  #writer: Writer;
  #max: number;
  #lines: string[] = [];
  #chars = 0;
  #dropped = 0;
  #unreported = 0;
  #writing: Promise<void> | undefined;
  #broken = false;
  #encoder = new TextEncoder();

  /** A sink writing to `writer` (default: standard error), buffering at most `maxChars`. */
  constructor(writer: Writer = Deno.stderr, maxChars: number = LOG_BUFFER_CHARS) {
    this.#writer = writer;
    this.#max = maxChars;
  }

  get dropped(): number {
    return this.#dropped;
  }

  write(line: string): void {
    if (this.#broken || this.#chars + line.length + 1 > this.#max) {
      this.#dropped++;
      this.#unreported++;
      return;
    }
    this.#lines.push(line);
    this.#chars += line.length + 1;
    this.#writing ??= this.#drain();
  }

  /** Resolves once every buffered line is written (or dropped by a failing writer). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async #drain(): Promise<void> {
    let inFlight = 0;
    try {
      while (this.#lines.length > 0) {
        let text = this.#lines.join("\n") + "\n";
        inFlight = this.#lines.length;
        this.#lines = [];
        this.#chars = 0;
        if (this.#unreported > 0) {
          text = `log-dropped lines=${this.#unreported}\n` + text;
          this.#unreported = 0;
        }
        const bytes = this.#encoder.encode(text);
        for (let at = 0; at < bytes.length;) at += await this.#writer.write(bytes.subarray(at));
      }
      inFlight = 0;
    } catch {
      this.#broken = true;
      this.#dropped += inFlight + this.#lines.length;
      this.#lines = [];
      this.#chars = 0;
    } finally {
      this.#writing = undefined;
    }
  }
}

const DENIED = new Set(["content", "token", "password", "secret"]);

// JSON.stringify leaves DEL, C1 controls (NEL included) and U+2028/U+2029 raw; some log
// pipelines break lines on them. Format characters (zero-width, bidi controls) would hide or
// reorder text on a terminal.
const RAW = /[\u007f-\u009f\u2028\u2029\p{Cf}]/gu;

function escapeRaw(json: string): string {
  return json.replace(RAW, (c) => {
    let out = "";
    for (let i = 0; i < c.length; i++) {
      out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
    }
    return out;
  });
}

const BARE = /^[^\s"\\=\p{Cc}\p{Cf}\p{Cs}\u2028\u2029]+$/u;

function textValue(value: string | number | boolean): string {
  const s = String(value);
  return BARE.test(s) ? s : escapeRaw(JSON.stringify(s));
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
 * Creates a logger writing one line per event to `sink` (default: a {@linkcode WriterSink} on
 * standard error). Each line starts with the ISO time and the event name.
 */
export function createLogger(
  format: "text" | "json",
  sink: LineSink = new WriterSink(),
): Logger {
  const write = (line: string) => sink.write(line);
  if (format === "json") {
    return {
      get dropped() {
        return sink.dropped;
      },
      event(name, fields = {}) {
        const record: Record<string, string | number | boolean> = {
          time: new Date().toISOString(),
          event: name,
        };
        for (const [key, value] of kept(fields)) {
          if (key !== "time" && key !== "event") record[key] = value;
        }
        write(escapeRaw(JSON.stringify(record)));
      },
    };
  }
  return {
    get dropped() {
      return sink.dropped;
    },
    event(name, fields = {}) {
      let line = `${new Date().toISOString()} ${textValue(name)}`;
      for (const [key, value] of kept(fields)) line += ` ${safeKey(key)}=${textValue(value)}`;
      write(line);
    },
  };
}
