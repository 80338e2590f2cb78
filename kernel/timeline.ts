/**
 * Message timelines: how long each message of a channel spent between its publication by one
 * thread and its delivery to the handler on the other (`deno task bench --timeline`). The V8
 * sampler cannot tell that time apart (it misplaces polling, see `profiler.ts`); this measures it
 * with the clock, per message kind and direction, so a crossing's own cost (publish, detect,
 * decode) shows apart from the time a message waits behind the receiver's other work.
 *
 * A channel made with `createChannel(capacity, { timeline: createTimeline(kinds) })` carries a
 * {@link TimelineChannel}: a SharedArrayBuffer both ends write while recording is on. The writer
 * stamps each frame as it publishes it (by the frame's sequence number on its ring), and the
 * receiving endpoint records, per message it delivers, its kind, its latency and when it delivered
 * it. Off, it costs a field test per publish and per message.
 *
 * The two threads' clocks (`performance.timeOrigin + performance.now()`, on a base both read
 * from the buffer) differ by about a microsecond in Deno 2.9 (each isolate's time origin is its
 * own). {@link Timeline.stop} estimates that offset from the two directions' fastest messages,
 * taken to be equally fast (as NTP does with round trips), and corrects both directions by it;
 * the raw minima are reported too.
 *
 * Trust: the driver's thread can write the whole buffer. The kernel reads counts, kinds and
 * times from it only to report them, clamped to the buffer's bounds; garbage makes a wrong
 * report, never a fault.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createChannel, Endpoint } from "./ring.ts";
 * import { createTimeline, Timeline } from "./timeline.ts";
 * const channel = createChannel(4096, { timeline: createTimeline(["ping"]) });
 * const kernel = new Endpoint(channel, "kernel");
 * const worker = new Endpoint(channel, "worker"); // normally in the worker
 * const timeline = new Timeline(channel.timeline!);
 * timeline.start();
 * let loop: Promise<void> | undefined;
 * const got = new Promise((resolve) => loop = worker.start(resolve));
 * kernel.send({ t: "ping" });
 * await got;
 * const records = timeline.stop();
 * assertEquals(records.toWorker.map((r) => r.kind), ["ping"]);
 * worker.stop();
 * await loop;
 * ```
 *
 * @module
 */

/** Records kept per direction between a start and a stop (later ones are counted, not kept). */
export const TIMELINE_SLOTS = 1 << 17;

// Layout of the buffer (bytes): Int32 words at 0 (on, records per direction, lost per direction),
// the clock base and the start time as Float64 at 64 and 72, then per direction the send stamps
// of frames by sequence, the recorded latencies, the recorded delivery times and the recorded
// kinds.
const W_ON = 0;
const W_COUNT = 1; // + direction
const BASE_AT = 64;
const SINCE_AT = 72;
const STAMPS_AT = 128;
const LATENCY_AT = STAMPS_AT + 2 * 8 * TIMELINE_SLOTS;
const DELIVERED_AT = LATENCY_AT + 2 * 8 * TIMELINE_SLOTS;
const KINDS_AT = DELIVERED_AT + 2 * 8 * TIMELINE_SLOTS;
const BYTES = KINDS_AT + 2 * TIMELINE_SLOTS;

/** Direction 0: kernel to worker; 1: worker to kernel. */
type Direction = 0 | 1;

/** What a channel carries for its timeline (structured-cloneable: it goes to the worker). */
export interface TimelineChannel {
  readonly buffer: SharedArrayBuffer;
  /** Message kinds (the messages' `t`), by the code recorded; others record as "other". */
  readonly kinds: readonly string[];
}

/**
 * A new timeline for a channel whose messages have these kinds (their `t` field).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createTimeline } from "./timeline.ts";
 * assertEquals(createTimeline(["call", "result"]).kinds, ["call", "result"]);
 * ```
 */
export function createTimeline(kinds: readonly string[]): TimelineChannel {
  if (!Array.isArray(kinds) || kinds.length > 254 || kinds.some((k) => typeof k !== "string")) {
    throw new TypeError("Cannot create a timeline: kinds must be at most 254 strings");
  }
  const buffer = new SharedArrayBuffer(BYTES);
  new Float64Array(buffer, BASE_AT, 1)[0] = Math.floor(performance.timeOrigin);
  return { buffer, kinds: [...kinds] };
}

function checkChannel(t: TimelineChannel): void {
  if (!(t?.buffer instanceof SharedArrayBuffer) || t.buffer.byteLength !== BYTES) {
    throw new TypeError("Cannot open timeline: not a buffer made by createTimeline()");
  }
  if (!Array.isArray(t.kinds)) throw new TypeError("Cannot open timeline: kinds missing");
}

/** What this thread adds to `performance.now()` to read the channel's clock (ms on its base). */
function clockOffset(t: TimelineChannel): number {
  return performance.timeOrigin - new Float64Array(t.buffer, BASE_AT, 1)[0]!;
}

/**
 * One end's part (an {@link Endpoint} makes it from its channel): stamps the frames its writer
 * publishes, records the messages its loop delivers.
 */
export class TimelineEnd {
  #header: Int32Array;
  #stampsOut: Float64Array;
  #stampsIn: Float64Array;
  #latency: Float64Array;
  #delivered: Float64Array;
  #kinds: Uint8Array;
  #since: Float64Array;
  #kindCodes = new Map<string, number>();
  #other: number;
  #in: Direction;
  #offset: number;
  #stamped = 0;

  constructor(t: TimelineChannel, side: "kernel" | "worker") {
    checkChannel(t);
    const out: Direction = side === "kernel" ? 0 : 1;
    this.#in = out === 0 ? 1 : 0;
    this.#header = new Int32Array(t.buffer, 0, 16);
    this.#stampsOut = new Float64Array(
      t.buffer,
      STAMPS_AT + out * 8 * TIMELINE_SLOTS,
      TIMELINE_SLOTS,
    );
    this.#stampsIn = new Float64Array(
      t.buffer,
      STAMPS_AT + this.#in * 8 * TIMELINE_SLOTS,
      TIMELINE_SLOTS,
    );
    this.#latency = new Float64Array(
      t.buffer,
      LATENCY_AT + this.#in * 8 * TIMELINE_SLOTS,
      TIMELINE_SLOTS,
    );
    this.#delivered = new Float64Array(
      t.buffer,
      DELIVERED_AT + this.#in * 8 * TIMELINE_SLOTS,
      TIMELINE_SLOTS,
    );
    this.#kinds = new Uint8Array(t.buffer, KINDS_AT + this.#in * TIMELINE_SLOTS, TIMELINE_SLOTS);
    this.#since = new Float64Array(t.buffer, SINCE_AT, 1);
    t.kinds.forEach((k, i) => this.#kindCodes.set(k, i));
    this.#other = t.kinds.length;
    this.#offset = clockOffset(t);
  }

  /** Whether recording is on (read once per publish or message). */
  get on(): boolean {
    return Atomics.load(this.#header, W_ON) === 1;
  }

  /** Now on the channel's clock, in ms. */
  now(): number {
    return this.#offset + performance.now();
  }

  /** The writer has published every frame before sequence number `frames`. */
  published(frames: number): void {
    if (Atomics.load(this.#header, W_ON) !== 1) {
      this.#stamped = frames;
      return;
    }
    const now = this.now();
    const stamps = this.#stampsOut;
    let seq = this.#stamped;
    if (frames - seq > TIMELINE_SLOTS) seq = frames - TIMELINE_SLOTS;
    for (; seq < frames; seq++) stamps[seq & (TIMELINE_SLOTS - 1)] = now;
    this.#stamped = frames;
  }

  /** The loop delivers `message`, the frame with sequence number `frame` of the other ring. */
  delivered(frame: number, message: unknown): void {
    if (Atomics.load(this.#header, W_ON) !== 1) return;
    const now = this.now();
    const sent = this.#stampsIn[frame & (TIMELINE_SLOTS - 1)]!;
    // A frame published before recording started carries an older stamp (or none).
    if (!(sent >= this.#since[0]!)) return;
    const k = Atomics.add(this.#header, W_COUNT + this.#in, 1);
    if (k < 0 || k >= TIMELINE_SLOTS) return;
    this.#latency[k] = now - sent;
    this.#delivered[k] = now;
    const t = (message as { t?: unknown } | null)?.t;
    this.#kinds[k] = typeof t === "string" ? this.#kindCodes.get(t) ?? this.#other : this.#other;
  }
}

/** One recorded message. */
export interface TimelineRecord {
  readonly kind: string;
  /** From its publication to its delivery, in µs, corrected by the clock offset estimate. */
  readonly us: number;
  /**
   * When it was delivered, in µs since recording started, on the kernel's clock (the driver's
   * corrected by the offset estimate); it was published `us` before.
   */
  readonly at: number;
}

/** What {@link Timeline.stop} returns. */
export interface TimelineRecords {
  readonly toWorker: readonly TimelineRecord[];
  readonly toKernel: readonly TimelineRecord[];
  /** Messages delivered but not kept (past {@link TIMELINE_SLOTS}), per direction. */
  readonly dropped: { readonly toWorker: number; readonly toKernel: number };
  /** The worker's clock minus the kernel's, as estimated (µs); 0 with no message both ways. */
  readonly clockOffsetUs: number;
  /** The fastest message each way before the correction (µs). */
  readonly rawMinUs: { readonly toWorker: number; readonly toKernel: number };
}

/**
 * The kernel's control of a channel's timeline: {@link start} clears and starts recording,
 * {@link stop} stops and returns what was recorded.
 */
export class Timeline {
  #channel: TimelineChannel;
  #header: Int32Array;
  /** This thread's offset onto the channel's clock (see {@link clockOffset}). */
  #offset: number;

  constructor(t: TimelineChannel) {
    checkChannel(t);
    this.#channel = t;
    this.#header = new Int32Array(t.buffer, 0, 16);
    this.#offset = clockOffset(t);
  }

  /** Clears the records and starts recording. */
  start(): void {
    Atomics.store(this.#header, W_ON, 0);
    Atomics.store(this.#header, W_COUNT, 0);
    Atomics.store(this.#header, W_COUNT + 1, 0);
    new Float64Array(this.#channel.buffer, SINCE_AT, 1)[0] = this.#offset + performance.now();
    Atomics.store(this.#header, W_ON, 1);
  }

  /** Stops recording; returns the records, the clock offset corrected. */
  stop(): TimelineRecords {
    Atomics.store(this.#header, W_ON, 0);
    const kinds = this.#channel.kinds;
    const since = new Float64Array(this.#channel.buffer, SINCE_AT, 1)[0]!;
    const read = (dir: Direction) => {
      const delivered = Atomics.load(this.#header, W_COUNT + dir);
      const n = Math.max(0, Math.min(delivered, TIMELINE_SLOTS));
      const latency = new Float64Array(
        this.#channel.buffer,
        LATENCY_AT + dir * 8 * TIMELINE_SLOTS,
        TIMELINE_SLOTS,
      );
      const deliveredAt = new Float64Array(
        this.#channel.buffer,
        DELIVERED_AT + dir * 8 * TIMELINE_SLOTS,
        TIMELINE_SLOTS,
      );
      const codes = new Uint8Array(
        this.#channel.buffer,
        KINDS_AT + dir * TIMELINE_SLOTS,
        TIMELINE_SLOTS,
      );
      const out: TimelineRecord[] = [];
      let min = Infinity;
      for (let i = 0; i < n; i++) {
        const us = latency[i]! * 1000;
        const at = (deliveredAt[i]! - since) * 1000;
        if (!Number.isFinite(us) || !Number.isFinite(at)) continue;
        out.push({ kind: kinds[codes[i]!] ?? "other", us, at });
        if (us < min) min = us;
      }
      return { out, min, dropped: Math.max(0, delivered - n) };
    };
    const k2w = read(0), w2k = read(1);
    // The worker's clock runs ahead by δ: kernel->worker times read δ too long, the others δ
    // too short; equal fastest messages both ways give δ.
    const offset = Number.isFinite(k2w.min) && Number.isFinite(w2k.min)
      ? (k2w.min - w2k.min) / 2
      : 0;
    return {
      // Delivered on the driver's clock: to the kernel's by the offset.
      toWorker: k2w.out.map((r) => ({ kind: r.kind, us: r.us - offset, at: r.at - offset })),
      toKernel: w2k.out.map((r) => ({ kind: r.kind, us: r.us + offset, at: r.at })),
      dropped: { toWorker: k2w.dropped, toKernel: w2k.dropped },
      clockOffsetUs: offset,
      rawMinUs: { toWorker: k2w.min, toKernel: w2k.min },
    };
  }
}

/**
 * The `p` percentile (0..1) of ascending `sorted` values by rank, the value at index
 * `floor(n p)` (no interpolation: every figure of a timeline is a time some message took), or
 * NaN for none. The timeline's rule for every percentile it reports, here and in
 * `bench/timeline.ts` (the kernel cannot use the bench's statistics).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { rankPercentile } from "./timeline.ts";
 * assertEquals(rankPercentile([1, 2, 3, 4], 0.5), 3);
 * assertEquals(rankPercentile([1, 2, 3, 4], 0.99), 4);
 * assertEquals(rankPercentile([], 0.5), NaN);
 * ```
 */
export function rankPercentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** One line of {@link summarizeTimeline}: a direction and kind. */
export interface TimelineRow {
  readonly direction: "to driver" | "to kernel";
  readonly kind: string;
  readonly count: number;
  /** Messages of this kind per request (`requests` as given). */
  readonly perRequest: number;
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
}

/**
 * Per direction and kind: how many, per request, and the latency percentiles (µs), busiest kinds
 * first.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { summarizeTimeline } from "./timeline.ts";
 * const rows = summarizeTimeline({
 *   toWorker: [{ kind: "call", us: 1, at: 1 }, { kind: "call", us: 3, at: 9 }],
 *   toKernel: [{ kind: "result", us: 2, at: 5 }],
 *   dropped: { toWorker: 0, toKernel: 0 },
 *   clockOffsetUs: 0,
 *   rawMinUs: { toWorker: 1, toKernel: 2 },
 * }, 2);
 * assertEquals(rows.map((r) => [r.direction, r.kind, r.perRequest, r.p50]), [
 *   ["to driver", "call", 1, 3],
 *   ["to kernel", "result", 0.5, 2],
 * ]);
 * ```
 */
export function summarizeTimeline(records: TimelineRecords, requests: number): TimelineRow[] {
  const rows: TimelineRow[] = [];
  const per = (direction: TimelineRow["direction"], list: readonly TimelineRecord[]) => {
    const byKind = new Map<string, number[]>();
    for (const r of list) {
      let l = byKind.get(r.kind);
      if (!l) byKind.set(r.kind, l = []);
      l.push(r.us);
    }
    const out: TimelineRow[] = [];
    for (const [kind, l] of byKind) {
      l.sort((a, b) => a - b);
      const q = (p: number) => rankPercentile(l, p);
      out.push({
        direction,
        kind,
        count: l.length,
        perRequest: requests > 0 ? l.length / requests : 0,
        p10: q(0.1),
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        mean: l.reduce((a, b) => a + b, 0) / l.length,
      });
    }
    out.sort((a, b) => b.count - a.count);
    rows.push(...out);
  };
  per("to driver", records.toWorker);
  per("to kernel", records.toKernel);
  return rows;
}
