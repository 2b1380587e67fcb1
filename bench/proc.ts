/**
 * What the kernel says about a server process: CPU time from `/proc/PID/stat` (utime + stime,
 * all threads), resident memory from `/proc/PID/status` (VmRSS) and open descriptors. Server CPU
 * time stays meaningful while the load generator competes for the same cores; wall-clock
 * throughput does not.
 *
 * @module
 */

let ticksPerSecond: number | undefined;

/** Clock ticks per second of `/proc` times (`getconf CLK_TCK`, 100 when it cannot be run). */
export async function clockTicksPerSecond(): Promise<number> {
  if (ticksPerSecond !== undefined) return ticksPerSecond;
  try {
    const { stdout } = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
    const value = Number(new TextDecoder().decode(stdout).trim());
    ticksPerSecond = Number.isInteger(value) && value > 0 ? value : 100;
  } catch {
    ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** Reads CPU and memory figures of one process. */
export class ProcessProbe {
  readonly pid: number;
  readonly #ticks: number;

  private constructor(pid: number, ticks: number) {
    this.pid = pid;
    this.#ticks = ticks;
  }

  /** A probe for `pid`; throws when `/proc/PID` is not readable. */
  static async open(pid: number): Promise<ProcessProbe> {
    const probe = new ProcessProbe(pid, await clockTicksPerSecond());
    probe.cpuMicros();
    return probe;
  }

  /** User + system CPU time consumed so far, in microseconds (resolution: one clock tick). */
  cpuMicros(): number {
    const stat = Deno.readTextFileSync(`/proc/${this.pid}/stat`);
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 1e6 / this.#ticks;
  }

  /** Resident set size in bytes (VmRSS). */
  rssBytes(): number {
    const status = Deno.readTextFileSync(`/proc/${this.pid}/status`);
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (!match) throw new Error(`no VmRSS for process ${this.pid}`);
    return Number(match[1]) * 1024;
  }

  /** Number of open file descriptors. */
  openFds(): number {
    let count = 0;
    for (const _ of Deno.readDirSync(`/proc/${this.pid}/fd`)) count++;
    return count;
  }
}

/** The soft limit of open files of this process (`/proc/self/limits`), Infinity when unlimited. */
export function openFileLimit(): number {
  const limits = Deno.readTextFileSync("/proc/self/limits");
  const value = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  return value === undefined || value === "unlimited" ? Infinity : Number(value);
}
