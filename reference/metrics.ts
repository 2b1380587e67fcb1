/**
 * Prometheus metrics of one relay, served at `GET /metrics`.
 *
 * The relay's hot path only increments plain number fields; prom-client reads them in `collect()`
 * callbacks at scrape time, so a message costs a number increment and nothing more. Each
 * {@linkcode Metrics} has its own registry (tests run many relays in one process); the process
 * metrics (`process_*`, `nodejs_*`) describe the whole process and are appended from one shared
 * registry created at the first scrape.
 *
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";

let processRegistry: Registry | undefined;

// prom-client reads these from /proc/self/status on Linux, which Deno opens only to a process
// with every permission: without it they read 0. The resident size is asked of Deno instead.
const FROM_PROC = [
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_heap_bytes",
];

function processMetrics(): Registry {
  if (!processRegistry) {
    const registry = processRegistry = new Registry();
    collectDefaultMetrics({ register: registry });
    for (const name of FROM_PROC) registry.removeSingleMetric(name);
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      registers: [registry],
      collect() {
        this.set(Deno.memoryUsage().rss);
      },
    });
  }
  return processRegistry;
}

/** The counters and gauges of one relay, rendered in the Prometheus text exposition format. */
export class Metrics {
  /** Open WebSocket connections, identified or not (gauge, set by the relay). */
  connectionsOpen = 0;
  /** Identified sessions (gauge). */
  sessionsOpen = 0;
  /** Users with at least one session on this relay (gauge). */
  usersOnline = 0;
  /** Text frames received (counter). */
  framesIn = 0;
  /** getMessage frames handed to recipient sessions (counter). */
  messagesDelivered = 0;
  /** Messages dropped because the recipient had no session anywhere (counter). */
  messagesDroppedOffline = 0;
  /** 1 while the broker is up, 0 while it is down (gauge). */
  brokerUp = 1;
  /** Reads the log lines dropped because standard error was not read fast enough (counter). */
  logLinesDropped: () => number = () => 0;
  /** `presence` frames written, answers and changes (counter). */
  presenceFrames = 0;

  #refused = new Map<string, number>();
  #closes = new Map<number, number>();
  #registry = new Registry();

  /** Creates the metrics and their registry. */
  constructor() {
    const registers = [this.#registry];
    // prom-client calls collect() with the metric as `this`: the arrows below capture the relay's.
    const refused = this.#refused;
    const closes = this.#closes;
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    const counter = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    gauge("layimws_connections_open", "Open WebSocket connections.", () => this.connectionsOpen);
    gauge("layimws_sessions_open", "Identified sessions.", () => this.sessionsOpen);
    gauge("layimws_users_online", "Users with at least one session.", () => this.usersOnline);
    gauge("layimws_broker_up", "1 while the broker is up, 0 while down.", () => this.brokerUp);
    counter("layimws_frames_in_total", "Text frames received.", () => this.framesIn);
    counter(
      "layimws_messages_delivered_total",
      "Messages handed to recipient sessions.",
      () => this.messagesDelivered,
    );
    counter(
      "layimws_messages_dropped_offline_total",
      "Messages dropped because the recipient was offline.",
      () => this.messagesDroppedOffline,
    );
    counter(
      "layimws_log_lines_dropped_total",
      "Log lines dropped because the log's reader did not keep up.",
      () => this.logLinesDropped(),
    );
    counter(
      "layimws_presence_frames_total",
      "presence frames written to watchers.",
      () => this.presenceFrames,
    );
    new Counter({
      name: "layimws_frames_refused_total",
      help: "Frames refused, by reason.",
      labelNames: ["reason"],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of refused) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: "layimws_closes_total",
      help: "Connections closed, by close code.",
      labelNames: ["code"],
      registers,
      collect() {
        this.reset();
        for (const [code, n] of closes) this.inc({ code }, n);
      },
    });
  }

  /** Counts a refused frame (`reason`: an error code such as `rate_limited`). */
  refused(reason: string): void {
    this.#refused.set(reason, (this.#refused.get(reason) ?? 0) + 1);
  }

  /** Counts a closed connection by its close code. */
  closed(code: number): void {
    this.#closes.set(code, (this.#closes.get(code) ?? 0) + 1);
  }

  /** The Content-Type of {@linkcode render}'s output. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Renders this relay's metrics followed by the process metrics. */
  async render(): Promise<string> {
    const [own, process] = await Promise.all([
      this.#registry.metrics(),
      processMetrics().metrics(),
    ]);
    return `${own}\n${process}`;
  }
}
