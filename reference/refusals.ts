/**
 * Refusals — frames, upgrades and requests the relay turned down — counted in the metrics and
 * logged as summaries: at most one line per reason per interval, with how many there were and
 * the fields of the first one as a sample. An attacker decides how often the relay refuses, so
 * the log volume must not follow: a flood of a million frames costs one line per interval.
 *
 * ```ts
 * import { createLogger } from "./log.ts";
 * import { Metrics } from "./metrics.ts";
 * import { Refusals } from "./refusals.ts";
 * const refusals = new Refusals(new Metrics(), createLogger("text"), 10_000);
 * for (let i = 0; i < 1000; i++) refusals.add("rate_limited", { session: "n.1" });
 * refusals.close(); // logs: refused reason=rate_limited count=1000 session=n.1
 * ```
 *
 * @module
 */
import type { Logger, LogValue } from "./log.ts";
import type { Metrics } from "./metrics.ts";

/** The default summary interval of {@linkcode Refusals}. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

interface Tally {
  count: number;
  sample: Record<string, LogValue>;
}

/** Counts refusals by reason and logs one summary line per reason per interval. */
export class Refusals {
  #metrics: Metrics;
  #logger: Logger;
  #intervalMs: number;
  #tallies = new Map<string, Tally>();
  // Armed by the first refusal of an interval only: an idle relay holds no timer.
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Counts into `metrics` and logs to `logger` every `intervalMs` while refusals happen. */
  constructor(metrics: Metrics, logger: Logger, intervalMs: number = REFUSAL_LOG_INTERVAL_MS) {
    this.#metrics = metrics;
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  /** Counts one refusal; `sample` (session, user, ip…) is logged if it is the interval's first. */
  add(reason: string, sample: Record<string, LogValue> = {}): void {
    this.#metrics.refused(reason);
    const tally = this.#tallies.get(reason);
    if (tally) tally.count++;
    else this.#tallies.set(reason, { count: 1, sample });
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#intervalMs);
  }

  /** Logs the summary of the refusals counted since the last one. */
  flush(): void {
    for (const [reason, { count, sample }] of this.#tallies) {
      this.#logger.event("refused", { ...sample, reason, count });
    }
    this.#tallies.clear();
  }

  /** Logs what is left and stops the timer. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.flush();
  }
}
