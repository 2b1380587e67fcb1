/**
 * The verified clients of the load generator: a {@linkcode Load} holds the connections of one
 * run, each a peer with the {@linkcode Stream}s it sends and receives. Every message carries its
 * sequence number in `content` (`s<seq> xxx…`), so each run counts lost, out-of-order,
 * duplicated and misrouted deliveries instead of trusting the relay. Registration is proven,
 * not assumed: probes (`p xxx…`) are resent until they arrive, since a legacy relay never says
 * when an identify took effect.
 *
 * @module
 */
import type { Profile } from "../schemas/protocol.ts";
import { settles } from "../testing/wait.ts";
import { connectWs, type WsClient } from "./wire.ts";

/** The relay under load. */
export interface Target {
  /** `ws://host:port/path`. */
  url: string;
  /** Another node of the same relay: the second peer of every pair connects there instead. */
  urlB?: string;
  profile: Profile;
  /** Server process, for CPU and memory figures; absent for an external relay. */
  pid?: number;
  /** Further server processes (another node, Redis): in the server's CPU, and reported apart. */
  pids?: Record<string, number>;
}

/** Delivery verification counts; every one of them must be 0. */
export interface Verification {
  /** Messages sent and never delivered (or acks never received) by the end of the run. */
  lost: number;
  /** Deliveries (or acks) that did not come in the sender's order. */
  outOfOrder: number;
  /** Deliveries of a message already delivered. */
  duplicates: number;
  /** Deliveries to the wrong user or with the wrong sender id. */
  misrouted: number;
  /** v1 `error`/`undelivered` frames, frames of unexpected shape, unexpected closes. */
  errors: number;
}

const PAD = "x".repeat(64 * 1024);
const P = 112; // "p": a registration probe
const S = 115; // "s": a sequenced message

/** One client connection and the streams it sends and receives. */
class Peer {
  readonly id: string;
  readonly ws: WsClient;
  readonly load: Load;
  outbound?: Stream;
  inbound?: Stream;
  ready: Promise<void>;
  #resolveReady!: () => void;

  constructor(load: Load, id: string, ws: WsClient) {
    this.load = load;
    this.id = id;
    this.ws = ws;
    this.ready = new Promise((resolve) => this.#resolveReady = resolve);
    ws.onText = (text) => this.#onText(text);
    ws.onClose = () => {
      if (!load.closing) load.errors++;
      this.#resolveReady();
    };
    ws.start();
    if (load.target.profile === "v1") {
      ws.send(JSON.stringify({ type: "identify", id }));
    } else {
      ws.send(id);
      this.#resolveReady();
    }
  }

  #onText(text: string): void {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      this.load.errors++;
      return;
    }
    if (this.load.target.profile === "v1" && frame.type !== "friend") return this.#control(frame);
    const inbound = this.inbound;
    const content = frame.content;
    if (inbound === undefined || typeof content !== "string") {
      this.load.errors++;
      return;
    }
    if (String(frame.fromid ?? frame.id) !== inbound.from.id) {
      inbound.misrouted++;
      return;
    }
    const kind = content.charCodeAt(0);
    if (kind === P) return inbound.registered();
    if (kind !== S) {
      this.load.errors++;
      return;
    }
    let seq = 0;
    for (let i = 1, c = content.charCodeAt(1); c >= 48 && c <= 57; c = content.charCodeAt(++i)) {
      seq = seq * 10 + c - 48;
    }
    inbound.receive(seq);
  }

  #control(frame: { type?: string; ref?: string }): void {
    switch (frame.type) {
      case "ready":
        return this.#resolveReady();
      case "ack":
        return this.outbound?.acknowledge(Number(frame.ref?.slice(1)));
      case "pong":
        return;
      default:
        this.load.errors++;
    }
  }
}

/** Messages from one peer to another, with their verification state. */
export class Stream {
  readonly from: Peer;
  readonly to: Peer;
  readonly load: Load;
  /** Messages this stream sends in the run; 0 before the run starts. */
  total = 0;
  window = 1;
  sent = 0;
  delivered = 0;
  acked = 0;
  misrouted = 0;
  outOfOrder = 0;
  duplicates = 0;
  isRegistered = false;
  /** Called once when the first probe arrives. */
  whenRegistered?: () => void;
  sendTimes?: Float64Array;
  #next = 0;
  #nextAck = 0;
  #seen = new Uint8Array(0);
  readonly #head: string;
  readonly #mid: string;

  constructor(load: Load, from: Peer, to: Peer) {
    this.load = load;
    this.from = from;
    this.to = to;
    from.outbound = this;
    to.inbound = this;
    this.#head = `{"mine":{"username":"${from.id}","avatar":"/a.png","id":"${from.id}",` +
      `"mine":true,"content":"`;
    this.#mid = `"},"to":{"id":"${to.id}","username":"${to.id}","avatar":"/a.png",` +
      `"type":"friend"}`;
  }

  /** Prepares a run of `total` messages with at most `window` undelivered at a time. */
  plan(total: number, window: number, timed: boolean): void {
    this.total = total;
    this.window = window;
    this.#seen = new Uint8Array(total);
    if (timed) this.sendTimes = new Float64Array(total);
  }

  /** Sends the next sequenced message. */
  sendNext(): void {
    const seq = this.sent++;
    const digits = seq < 10 ? 1 : Math.floor(Math.log10(seq)) + 1;
    const pad = PAD.slice(0, Math.max(0, this.load.contentBytes - digits - 2));
    const end = this.load.ack ? `,"ref":"r${seq}"}` : "}";
    if (this.sendTimes) this.sendTimes[seq] = performance.now();
    this.from.ws.send(`${this.#head}s${seq} ${pad}${this.#mid}${end}`);
  }

  /** Sends as many messages as the window allows. */
  pump(): void {
    while (this.sent < this.total && this.sent - this.delivered < this.window) this.sendNext();
  }

  /** Sends a registration probe (never acknowledged: it carries no ref). */
  probe(): void {
    const pad = PAD.slice(0, Math.max(0, this.load.contentBytes - 2));
    this.from.ws.send(`${this.#head}p ${pad}${this.#mid}}`);
  }

  /** Marks the receiver registered (its first probe arrived). */
  registered(): void {
    if (this.isRegistered) return;
    this.isRegistered = true;
    this.whenRegistered?.();
    this.load.onRegistered();
  }

  /** Counts the delivery of message `seq`: in order, late, or a duplicate. */
  receive(seq: number): void {
    if (seq >= this.total || this.#seen[seq]) {
      this.duplicates++;
      return;
    }
    this.#seen[seq] = 1;
    if (seq !== this.#next) this.outOfOrder++;
    this.#next = seq + 1;
    this.delivered++;
    this.load.onDelivered(this, seq);
  }

  /** Counts the v1 ack of message `seq`. */
  acknowledge(seq: number): void {
    if (seq !== this.#nextAck) this.outOfOrder++;
    this.#nextAck = seq + 1;
    this.acked++;
    this.load.onAcked();
  }
}

/** The connections and streams of one run. */
export class Load {
  readonly target: Target;
  readonly contentBytes: number;
  readonly ack: boolean;
  readonly prefix = `b${crypto.randomUUID().slice(0, 8)}-`;
  readonly peers: Peer[] = [];
  readonly streams: Stream[] = [];
  errors = 0;
  closing = false;
  onDelivered: (stream: Stream, seq: number) => void = () => {};
  onAcked: () => void = () => {};
  onRegistered: () => void = () => {};

  constructor(target: Target, contentBytes: number, ack: boolean) {
    this.target = target;
    this.contentBytes = contentBytes;
    this.ack = ack;
  }

  /**
   * Opens and identifies `count` peers, `concurrency` handshakes at a time; with `urlB`, every
   * odd one on that node (so both streams of a pair of consecutive peers cross nodes).
   */
  async open(count: number, concurrency: number): Promise<Peer[]> {
    const opened: Peer[] = new Array(count);
    const first = this.peers.length;
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const index = next++;
        const url = (first + index) % 2 === 1 ? this.target.urlB : undefined;
        opened[index] = await this.connect(`${this.prefix}${first + index}`, url);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    return opened;
  }

  /** Opens one peer identified as `id` on `url` (v1: resolves after its `ready`). */
  async connect(id: string, url = this.target.url): Promise<Peer> {
    const ws = await connectWs(url, {
      protocol: this.target.profile === "v1" ? "layim-ws.v1" : undefined,
      origin: `http://${new URL(url).host}`,
    });
    const peer = new Peer(this, id, ws);
    this.peers.push(peer);
    await peer.ready;
    return peer;
  }

  /** The streams a → b and b → a. */
  pair(a: Peer, b: Peer): [Stream, Stream] {
    return [this.stream(a, b), this.stream(b, a)];
  }

  /** A stream of messages from one peer to another. */
  stream(from: Peer, to: Peer): Stream {
    const stream = new Stream(this, from, to);
    this.streams.push(stream);
    return stream;
  }

  /**
   * Sends probes on `streams` until each has delivered one (resending every `retryMs`), so
   * that every receiver is known to be identified; returns the number of probes resent.
   */
  async register(streams: Stream[], retryMs: number, timeoutMs: number): Promise<number> {
    let pending = streams.filter((s) => !s.isRegistered);
    let resent = 0;
    const deadline = Date.now() + timeoutMs;
    while (pending.length > 0) {
      const done = new Promise<void>((resolve) => {
        let remaining = pending.length;
        this.onRegistered = () => {
          if (--remaining === 0) resolve();
        };
      });
      for (const stream of pending) stream.probe();
      if (await settles(done, retryMs)) break;
      pending = pending.filter((s) => !s.isRegistered);
      resent += pending.length;
      if (Date.now() > deadline) {
        throw new Error(`${pending.length} of ${streams.length} receivers never registered`);
      }
    }
    this.onRegistered = () => {};
    return resent;
  }

  /** The verification counts over all streams. */
  verification(): Verification {
    const v: Verification = { lost: 0, outOfOrder: 0, duplicates: 0, misrouted: 0, errors: 0 };
    for (const s of this.streams) {
      v.lost += s.sent - s.delivered + (this.ack ? s.sent - s.acked : 0);
      v.outOfOrder += s.outOfOrder;
      v.duplicates += s.duplicates;
      v.misrouted += s.misrouted;
    }
    v.errors = this.errors;
    return v;
  }

  /** Closes every connection (closes are then expected, not errors). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.peers.map((p) => p.ws.close()));
  }
}

/** Registers one stream while other workers register theirs (each waits on its own stream). */
export async function registerAlone(stream: Stream): Promise<number> {
  let resent = 0;
  const deadline = Date.now() + 10_000;
  while (!stream.isRegistered) {
    const registered = new Promise<void>((resolve) => stream.whenRegistered = resolve);
    stream.probe();
    if (await settles(registered, 200)) break;
    resent++;
    if (Date.now() > deadline) throw new Error(`${stream.to.id} never registered`);
  }
  return resent;
}
