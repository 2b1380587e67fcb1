/**
 * The whole reference relay as a fuzz target: `reference/main.ts` in a subprocess (so a crash is
 * seen, not suffered), fuzzed one connection per case while a v1 canary pair chats through it,
 * with these invariants:
 *
 * - the relay process never exits;
 * - every frame it writes validates against the schemas (v1: a server frame; legacy: a
 *   getMessage, nothing else);
 * - the offender gets an error or a close code: on a v1 connection that stays open, every frame
 *   the schemas refuse is answered with an `error`, every frame with a valid `ref` gets exactly
 *   one frame carrying that `ref`, and a final `ping` gets its `pong`; a connection that ends
 *   gets a close frame with a code of the protocol (never 1011, never a silent drop); an
 *   identified legacy connection is still reachable unless it was closed;
 * - the canary's messages are all acknowledged and arrive in order;
 * - at the end, with everyone gone, the gauges of `/metrics` are back to zero.
 *
 * Case `i` of seed `s` is generated from its own seed, so one case can be replayed alone, and a
 * failing case is reported whole, to be kept in `relay_regressions.json`.
 *
 * @module
 */
import fc from "fast-check";
import { type ErrorCode, ErrorCodes, SUBPROTOCOL } from "../schemas/protocol.ts";
import { validateServerFrame, validateWith } from "../schemas/validate.ts";
import { HandshakeError, Opcode, parseCloseBody, WireClient } from "../conformance/wire.ts";
import { TestClient } from "../testing/net.ts";
import { settles, until, Wakeup } from "../testing/wait.ts";
import {
  CASE_USERS,
  type RawFrame,
  type RelayCase,
  type RelayGenerator,
  validFrames,
} from "./json_gen.ts";

const MAIN = new URL("../reference/main.ts", import.meta.url).pathname;

/** A relay process under fuzzing. */
export interface RelayTarget {
  readonly wsUrl: string;
  readonly url: string;
  readonly port: number;
  /** Set once the process has exited. */
  readonly exited: Deno.CommandStatus | undefined;
  /** The end of what it wrote on standard error. */
  readonly tail: string;
  stop(): Promise<void>;
}

/**
 * Starts the reference relay (no page, no directory, default limits but the rate: the canary
 * and the fuzzer's own peer send more than 100 frames a second; no case comes near the burst)
 * with `args` added.
 */
export async function startRelayTarget(args: string[] = []): Promise<RelayTarget> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", "--allow-env", MAIN, "--port", "0", "--no-web"]
      .concat("--no-users", "--log-format", "json", "--rate", "100000", "--burst", "100000")
      .concat(args),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let tail = "";
  let exited: Deno.CommandStatus | undefined;
  const status = child.status.then((s) => exited = s);
  // Only the end of the log is kept: a long run must not grow the fuzzer's memory.
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      tail = (tail + chunk).slice(-4000);
    }
  })();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  let wsUrl: string | undefined;
  while (!(wsUrl = banner.match(/WebSocket: +(ws:\/\/\S+)\s/)?.[1])) {
    const { value, done } = await out.read();
    if (done) {
      await status;
      await drained;
      throw new Error(`the relay did not start:\n${tail}`);
    }
    banner += value;
  }
  (async () => {
    while (!(await out.read()).done);
  })().catch(() => {});
  return {
    wsUrl,
    url: wsUrl.replace(/^ws/, "http").replace(/\/ws$/, ""),
    port: Number(new URL(wsUrl).port),
    get exited() {
      return exited;
    },
    get tail() {
      return tail;
    },
    async stop() {
      if (!exited) child.kill("SIGTERM");
      await status;
      await drained;
    },
  };
}

/** A case that broke an invariant, whole, so it can be kept as a regression case. */
export interface RelayFailure {
  seed: number;
  index: number;
  generator: string;
  invariant: string;
  case?: SavedCase;
}

/** A {@linkcode RelayCase} as JSON: binary messages and raw payloads in hex. */
export interface SavedCase {
  generator: string;
  profile: "v1" | "legacy";
  identified: boolean;
  messages: (string | { binary: string })[];
  raw?: { fin: boolean; rsv: number; opcode: number; payload: string }[];
}

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text: string) =>
  new Uint8Array((text.match(/../g) ?? []).map((b) => parseInt(b, 16)));

/** A case as JSON. */
export function saveCase(c: RelayCase): SavedCase {
  return {
    generator: c.generator,
    profile: c.profile,
    identified: c.identified,
    messages: c.messages.map((m) => typeof m === "string" ? m : { binary: hex(m) }),
    raw: c.raw?.map((f) => ({ ...f, payload: hex(f.payload) })),
  };
}

/** A case from JSON. */
export function loadCase(c: SavedCase): RelayCase {
  return {
    generator: c.generator,
    profile: c.profile,
    identified: c.identified,
    messages: c.messages.map((m) => typeof m === "string" ? m : unhex(m.binary)),
    raw: c.raw?.map((f) => ({ ...f, payload: unhex(f.payload) })),
  };
}

/** The seed of case `index` of a run with `seed`. */
export function caseSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index, 0xc2b2ae35)) | 0;
}

/** Generates case `index` of `seed` from the weighted `generators`. */
export function generateCase(
  generators: Record<string, RelayGenerator>,
  seed: number,
  index: number,
): RelayCase {
  const arbitrary = fc.oneof(...Object.values(generators));
  return fc.sample(arbitrary, { seed: caseSeed(seed, index), numRuns: 1 })[0];
}

// What the relay may close a fuzzed connection with: RFC 6455's protocol errors and the
// protocol's own codes. 1011 is an internal error: a bug.
const EXPECTED_CLOSES = new Set([1002, 1003, 1007, 1009, 4001, 4002, 4003, 4004, 4005, 4006]);

/** The frame's `ref` if it is a valid one (1 to 128 code points, as the schemas count). */
function refOf(text: string): string | undefined {
  const ref = (parse(text) as { ref?: unknown } | null)?.ref;
  if (typeof ref !== "string") return undefined;
  const length = [...ref].length;
  return length > 0 && length <= 128 ? ref : undefined;
}

/**
 * A v1 session of the fuzzer's own that messages the cases' legacy users to see whether they
 * are still reachable; its outcomes are matched to the waiting probes by `ref`.
 */
class Peer {
  readonly id: string;
  #client: TestClient;
  #seq = 0;
  #waiting = new Map<string, (outcome: string) => void>();
  #reading: Promise<void>;
  problem: string | undefined;

  private constructor(client: TestClient, id: string) {
    this.#client = client;
    this.id = id;
    this.#reading = this.#read();
  }

  static async start(wsUrl: string, id: string): Promise<Peer> {
    const client = await TestClient.connect(wsUrl, SUBPROTOCOL);
    client.send({ type: "identify", id });
    const ready = await client.nextJson();
    if (ready.type !== "ready") throw new Error(`the peer got ${JSON.stringify(ready)}`);
    return new Peer(client, id);
  }

  async #read(): Promise<void> {
    for (;;) {
      let text: string;
      try {
        text = await this.#client.next(3_600_000);
      } catch {
        return;
      }
      const frame = JSON.parse(text);
      if (!validateServerFrame(frame).ok) this.problem ??= `the peer got ${text.slice(0, 200)}`;
      if (typeof frame.ref === "string") {
        this.#waiting.get(frame.ref)?.(
          frame.type === "ack" ? "ack" : String(frame.reason ?? frame.code),
        );
      }
    }
  }

  /** Sends `content` to `to`; resolves to "ack", "offline", … or "timeout" after the bound. */
  send(to: string, content: string): Promise<string> {
    const ref = `p${++this.#seq}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = new Promise<string>((resolve) => {
      this.#waiting.set(ref, resolve);
      timer = setTimeout(() => resolve("timeout"), BOUND_MS);
    });
    this.#client.send({ mine: { content }, to: { id: to, type: "friend" }, ref });
    return outcome.finally(() => {
      clearTimeout(timer);
      this.#waiting.delete(ref);
    });
  }

  async close(): Promise<void> {
    await this.#client.close();
    await this.#reading;
  }
}

/** A v1 pair exchanging numbered messages with refs, one each way every `everyMs`. */
class Canary {
  received = 0;
  problem: string | undefined;
  #a: TestClient;
  #b: TestClient;
  #ids: [string, string];
  #sent = [0, 0];
  #acked = [0, 0];
  #next = [1, 1];
  #timer: ReturnType<typeof setInterval>;
  #reading: Promise<void>[];
  #wakeup = new Wakeup();

  private constructor(a: TestClient, b: TestClient, ids: [string, string], everyMs: number) {
    this.#a = a;
    this.#b = b;
    this.#ids = ids;
    this.#reading = [this.#read(a, 0), this.#read(b, 1)];
    this.#timer = setInterval(() => this.#tick(), everyMs);
  }

  static async start(wsUrl: string, tag: string, everyMs = 100): Promise<Canary> {
    const ids: [string, string] = [`canary-a-${tag}`, `canary-b-${tag}`];
    const clients = await Promise.all(ids.map(async (id) => {
      const c = await TestClient.connect(wsUrl, SUBPROTOCOL);
      c.send({ type: "identify", id });
      if ((await c.nextJson()).type !== "ready") throw new Error("the canary was not ready");
      return c;
    }));
    return new Canary(clients[0], clients[1], ids, everyMs);
  }

  #tick(): void {
    for (const side of [0, 1]) {
      const seq = ++this.#sent[side];
      const client = side === 0 ? this.#a : this.#b;
      const to = this.#ids[1 - side];
      client.send({
        mine: { content: `seq-${seq}` },
        to: { id: to, type: "friend" },
        ref: `c${seq}`,
      });
    }
  }

  async #read(client: TestClient, side: number): Promise<void> {
    for (;;) {
      let frame: Record<string, unknown>;
      try {
        frame = await client.nextJson(3_600_000);
      } catch {
        return;
      }
      if (frame.type === "ack" && frame.ref === `c${this.#acked[side] + 1}`) this.#acked[side]++;
      else if (frame.type === "friend") {
        const seq = Number(String(frame.content).slice(4));
        if (seq !== this.#next[side]) {
          this.problem ??= `canary ${side ? "A→B" : "B→A"}: got ${seq}, expected ${
            this.#next[side]
          }`;
        }
        this.#next[side] = seq + 1;
        this.received++;
      } else this.problem ??= `canary: unexpected ${JSON.stringify(frame).slice(0, 200)}`;
      this.#wakeup.wake();
    }
  }

  /** Stops, waits for every last message and ack (3 s), and closes both. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const done = () =>
      this.#acked[0] === this.#sent[0] && this.#acked[1] === this.#sent[1] &&
      this.#next[1] > this.#sent[0] && this.#next[0] > this.#sent[1];
    if (!await until(done, 3000, this.#wakeup)) {
      this.problem ??= `canary: sent ${this.#sent}, acked ${this.#acked}, received up to ${
        this.#next.map((n) => n - 1)
      }`;
    }
    await Promise.all([this.#a.close(), this.#b.close()]);
    await Promise.all(this.#reading);
  }
}

/** How one case ended. */
export interface CaseOutcome {
  broken?: string;
  /** The close code the relay sent ("open": none, the connection was still answering). */
  close: string;
  frames: number;
}

/** Reads text frames until `stop` says so, the connection closes, or `timeoutMs` passes. */
async function readUntil(
  client: TestClient,
  stop: (text: string) => boolean,
  timeoutMs: number,
): Promise<{ frames: string[]; closed?: number; timedOut: boolean }> {
  const frames: string[] = [];
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const text = await client.next(Math.max(1, deadline - performance.now()));
      frames.push(text);
      if (stop(text)) return { frames, timedOut: false };
    } catch {
      const closed = await client.expectClose(0, true).then((c) => c.code, () => undefined);
      return { frames, closed, timedOut: closed === undefined };
    }
  }
}

const BOUND_MS = 3000;

/** Runs one message-level case; the ids replace the case's own (`CASE_USERS`). */
export async function runRelayCase(
  target: RelayTarget,
  c: RelayCase,
  self: string,
  peer: Peer,
): Promise<CaseOutcome> {
  if (c.raw) return await runRawCase(target, c.raw, self, c.identified);
  const subst = (text: string) =>
    text.replaceAll(CASE_USERS.self, self).replaceAll(CASE_USERS.peer, peer.id);
  const frames = c.messages.length + (c.identified ? 1 : 0);
  const client = await TestClient.connect(
    target.wsUrl,
    c.profile === "v1" ? SUBPROTOCOL : undefined,
  );
  try {
    if (c.identified) {
      if (c.profile === "v1") {
        client.send({ type: "identify", id: self });
        const ready = await client.nextJson(BOUND_MS);
        if (ready.type !== "ready") {
          return { broken: `identify answered ${JSON.stringify(ready)}`, close: "open", frames };
        }
      } else client.send(self);
    }
    // What the relay receives: the client encodes text as UTF-8, lone surrogates as U+FFFD.
    const texts: string[] = [];
    for (const m of c.messages) {
      try {
        if (typeof m === "string") {
          client.send(subst(m));
          texts.push(subst(m).toWellFormed());
        } else client.socket.send(m);
      } catch {
        break; // the relay is closing the connection
      }
    }
    return c.profile === "v1"
      ? await checkV1(client, texts, self, frames)
      : await checkLegacy(client, c.identified ? self : undefined, peer, frames);
  } finally {
    await settles(client.close(), BOUND_MS);
  }
}

async function checkV1(
  client: TestClient,
  texts: string[],
  self: string,
  frames: number,
): Promise<CaseOutcome> {
  // A ping before identify is answered not_identified: identify (again: already_identified, or
  // ready) so that the ping's pong tells the connection is still in step.
  const tag = crypto.randomUUID();
  try {
    client.send({ type: "identify", id: self });
    client.send({ type: "ping", data: tag });
  } catch {
    // closing: the close code is read below
  }
  const isPong = (text: string) => text.includes(tag) && JSON.parse(text).type === "pong";
  const got = await readUntil(client, isPong, BOUND_MS);
  for (const text of got.frames) {
    let ok = false;
    try {
      ok = validateServerFrame(JSON.parse(text)).ok;
    } catch {
      // not JSON
    }
    if (!ok) {
      return {
        broken: `wrote a frame no schema allows: ${text.slice(0, 300)}`,
        close: "open",
        frames,
      };
    }
  }
  if (got.timedOut) {
    return { broken: `no pong and no close within ${BOUND_MS} ms`, close: "none", frames };
  }
  if (got.closed !== undefined) return ended(got.closed, frames);
  // Still open: every refused frame was answered, every valid ref exactly once.
  const replies = got.frames.map((t) => JSON.parse(t));
  const errors = replies.filter((f) => f.type === "error").length;
  const refused =
    texts.filter((t) => !validateWith("client-frame.schema.json", parse(t)).ok).length;
  if (errors < refused) {
    return {
      broken: `${refused} frames refused by the schemas, ${errors} errors`,
      close: "open",
      frames,
    };
  }
  const count = (refs: (string | undefined)[]) => {
    const m = new Map<string, number>();
    for (const r of refs) if (r !== undefined) m.set(r, (m.get(r) ?? 0) + 1);
    return JSON.stringify([...m].sort());
  };
  const expected = count(texts.map(refOf));
  const answered = count(replies.map((f) => typeof f.ref === "string" ? f.ref : undefined));
  if (expected !== answered) {
    return { broken: `refs sent ${expected}, answered ${answered}`, close: "open", frames };
  }
  return { close: "open", frames };
}

/**
 * A connection the relay ended: with a close code of the protocol, or without a close frame
 * ("lost": Deno's client reports 0 or 1006). The relay closes with a code; when the client had
 * sent more than the relay read, the server's TCP close becomes a reset that can take the close
 * frame with it (closes enforced below the session are the transport's part).
 */
function ended(code: number, frames: number): CaseOutcome {
  if (EXPECTED_CLOSES.has(code)) return { close: String(code), frames };
  if (code === 0 || code === 1006) return { close: "lost", frames };
  return { broken: `closed with ${code}`, close: String(code), frames };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return Symbol("not JSON");
  }
}

async function checkLegacy(
  client: TestClient,
  self: string | undefined,
  peer: Peer,
  frames: number,
): Promise<CaseOutcome> {
  const probe = crypto.randomUUID();
  let reachable = false;
  if (self !== undefined) {
    // Legacy has no acknowledgement: probe until the relay has registered the session (or
    // closed the connection), then the probe must arrive.
    const deadline = performance.now() + BOUND_MS;
    while (performance.now() < deadline && client.socket.readyState === WebSocket.OPEN) {
      const outcome = await peer.send(self, probe);
      if (outcome === "ack") {
        reachable = true;
        break;
      }
      if (outcome === "timeout") {
        return { broken: `no outcome for a message within ${BOUND_MS} ms`, close: "open", frames };
      }
      await new Promise((resolve) => setTimeout(resolve, 20)); // polling the registration
    }
  }
  const got = await readUntil(client, (text) => text.includes(probe), reachable ? BOUND_MS : 200);
  for (const text of got.frames) {
    if (!validateWith("get-message.schema.json", parse(text)).ok) {
      return {
        broken: `wrote a legacy client a non-getMessage: ${text.slice(0, 300)}`,
        close: "open",
        frames,
      };
    }
  }
  if (got.closed !== undefined) return ended(got.closed, frames);
  if (self !== undefined && !reachable) {
    return {
      broken: "an identified legacy session stayed unreachable and open",
      close: "open",
      frames,
    };
  }
  if (reachable && got.timedOut) {
    return { broken: "the probe was acked, never received", close: "open", frames };
  }
  return { close: "open", frames };
}

/** Raw frames over TCP after the upgrade; the relay must close, end, or still answer a ping. */
async function runRawCase(
  target: RelayTarget,
  raw: RawFrame[],
  self: string,
  identified: boolean,
): Promise<CaseOutcome> {
  let client: WireClient;
  try {
    client = await WireClient.connect({ url: target.wsUrl, protocols: [SUBPROTOCOL] });
  } catch (error) {
    if (!(error instanceof HandshakeError) || error.status === undefined) throw error;
    return { broken: `upgrade answered ${error.status}`, close: "none", frames: 0 };
  }
  // Every frame goes out as a frame of its own: written after a close frame of the case too.
  const sendJson = (value: unknown) =>
    client.sendFrame({ opcode: Opcode.text, payload: JSON.stringify(value) });
  try {
    if (identified) sendJson({ type: "identify", id: self });
    for (const f of raw) {
      client.sendFrame({ opcode: f.opcode, payload: f.payload, fin: f.fin, rsv: f.rsv });
    }
    const tag = crypto.randomUUID();
    sendJson({ type: "identify", id: self }); // see checkV1
    sendJson({ type: "ping", data: tag });
    const deadline = performance.now() + BOUND_MS;
    // Set once the relay has said it closes the connection (a fatal error frame).
    let closing = false;
    for (let next = 0;; next++) {
      await client.until(
        () => client.frames.length > next || client.closed !== undefined,
        Math.max(1, deadline - performance.now()),
      );
      const frame = client.frames[next];
      // The connection ended without a close frame: the WebSocket layer may do that to a
      // connection that broke its framing, or the relay ended it while we wrote.
      if (frame === undefined && client.closed) return { close: "none", frames: raw.length };
      if (frame === undefined) {
        // The relay asked its WebSocket to close, or the traffic broke RFC 6455: Deno's
        // WebSocket may then neither answer nor end the connection until its keepalive does.
        // Counted, not failed: enforcing the close is the transport's part (issue 13). Valid
        // traffic the relay did not refuse must be answered.
        if (closing || !validFrames(raw)) return { close: "hung", frames: raw.length };
        return {
          broken: `no pong, no close and no end within ${BOUND_MS} ms`,
          close: "none",
          frames: raw.length,
        };
      }
      if (frame.opcode === Opcode.close) {
        const { code } = parseCloseBody(frame.payload);
        return code === 1011
          ? { broken: "closed with 1011", close: "1011", frames: raw.length }
          : { close: String(code), frames: raw.length };
      }
      if (frame.opcode === Opcode.text) {
        const text = new TextDecoder().decode(frame.payload);
        if (text.includes(tag)) return { close: "open", frames: raw.length };
        const code = (parse(text) as { code?: string } | null)?.code;
        if (code !== undefined && ErrorCodes[code as ErrorCode]?.fatal) closing = true;
      }
    }
  } finally {
    await client.destroy();
  }
}

/** Options of {@linkcode fuzzRelay}. */
export interface RelayFuzzOptions {
  seed: number;
  /** Stop after this many frames… */
  frames: number;
  /** …or this many seconds. */
  seconds: number;
  concurrency: number;
  generators: Record<string, RelayGenerator>;
  /** Only this case (a replay). */
  only?: number;
  /** Saved cases to run first (regressions). */
  saved?: SavedCase[];
  progress?: (line: string) => void;
}

/** What a run did. */
export interface RelayFuzzResult {
  cases: number;
  frames: number;
  seconds: number;
  /** How the fuzzed connections ended, by close code ("open": still answering). */
  closes: Record<string, number>;
  canaryMessages: number;
  failures: RelayFailure[];
}

/** Fuzzes a running relay target. */
export async function fuzzRelay(
  target: RelayTarget,
  o: RelayFuzzOptions,
): Promise<RelayFuzzResult> {
  const started = performance.now();
  const run = crypto.randomUUID().slice(0, 8);
  const result: RelayFuzzResult = {
    cases: 0,
    frames: 0,
    seconds: 0,
    closes: {},
    canaryMessages: 0,
    failures: [],
  };
  const canary = await Canary.start(target.wsUrl, run);
  const peer = await Peer.start(target.wsUrl, `fzpeer${run}`);
  const saved = [...(o.saved ?? [])];
  const deadline = started + o.seconds * 1000;
  let next = o.only ?? 0;
  let lastReport = started;
  const fail = (index: number, c: RelayCase | undefined, invariant: string) =>
    result.failures.push({
      seed: o.seed,
      index,
      generator: c?.generator ?? "-",
      invariant,
      case: c && saveCase(c),
    });
  const worker = async () => {
    for (;;) {
      const fromSaved = saved.shift();
      if (!fromSaved) {
        const more = o.only === undefined
          ? result.frames < o.frames && performance.now() < deadline
          : next === o.only;
        if (!more) return;
      }
      if (result.failures.length > 0 || canary.problem || target.exited) return;
      const index = fromSaved ? -1 : next++;
      const c = fromSaved ? loadCase(fromSaved) : generateCase(o.generators, o.seed, index);
      const self = `fz${run}.${(result.cases++).toString(36)}`;
      let outcome: CaseOutcome;
      try {
        outcome = await runRelayCase(target, c, self, peer);
      } catch (error) {
        outcome = {
          broken: `the case failed to run: ${(error as Error).message}`,
          close: "none",
          frames: 0,
        };
      }
      result.frames += outcome.frames;
      result.closes[outcome.close] = (result.closes[outcome.close] ?? 0) + 1;
      // Read again after the await: the relay may have died meanwhile.
      const exited = target.exited as Deno.CommandStatus | undefined;
      if (exited) fail(index, c, `the relay exited (${exited.code}): ${target.tail}`);
      else if (outcome.broken) fail(index, c, outcome.broken);
      const now = performance.now();
      if (o.progress && now - lastReport > 2000) {
        lastReport = now;
        const s = (now - started) / 1000;
        o.progress(
          `fuzz relay: ${result.frames.toLocaleString("en-US")} frames, ${
            result.cases.toLocaleString("en-US")
          } ` +
            `cases in ${s.toFixed(0)} s (${
              Math.round(result.frames / s).toLocaleString("en-US")
            } frames/s); ` +
            `canary ${canary.received} in order`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: o.only === undefined ? o.concurrency : 1 }, worker));
  await canary.stop();
  if (canary.problem) fail(-1, undefined, canary.problem);
  if (peer.problem) fail(-1, undefined, peer.problem);
  await peer.close();
  result.canaryMessages = canary.received;
  if (target.exited) {
    if (result.failures.length === 0) fail(-1, undefined, `the relay exited: ${target.tail}`);
  } else {
    // Everyone gone: the gauges must say so.
    const gauges = async () => {
      const text = await (await fetch(`${target.url}/metrics`)).text();
      return ["layimws_connections_open", "layimws_sessions_open", "layimws_users_online"]
        .map((name) => `${name} ${text.match(new RegExp(`^${name} (\\d+)$`, "m"))?.[1]}`);
    };
    let last: string[] = [];
    const zero = await until(
      async () => (last = await gauges()).every((g) => g.endsWith(" 0")),
      5000,
    );
    if (!zero) fail(-1, undefined, `gauges not back to zero: ${last.join(", ")}`);
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}
