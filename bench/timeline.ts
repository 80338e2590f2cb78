/**
 * How long the messages of a request spend crossing between the kernel's thread and the driver's
 * (`deno task bench --timeline`): the worker host's IDE driver reads `size`-byte requests at
 * `depth` while the channel's timeline (`kernel/timeline.ts`) records, for every message, its
 * kind and the time from its publication to its delivery on the other thread. The fastest
 * messages show what a crossing itself costs (publish, notice, decode); the rest is time a
 * message waited behind the receiving thread's other work. The profile's sampler cannot tell
 * the two apart; the clock can.
 *
 * Merged by time, the events also show the stalls ({@link findStalls}): moments nothing crossed
 * for far longer than usual, and which thread a message waited for meanwhile.
 *
 * At depth 1 the messages of one request follow each other, so the two directions merged by
 * time give the request's critical path ({@link criticalPath}): every publish and delivery in
 * order, the time between them, and whose time it was (a crossing, the kernel's thread, the
 * driver's).
 *
 * While recording, both threads read the clock for every message (about 0.2 µs each): the
 * request rate of a timed run is lower than the study's.
 *
 * @module
 */

import {
  rankPercentile,
  summarizeTimeline,
  type TimelineRecord,
  type TimelineRecords,
  type TimelineRow,
} from "../kernel/timeline.ts";
import { formatSize } from "./results.ts";
import { tableLines } from "./table.ts";
import { type DiskBacking, Rig } from "./study.ts";

/** Options of {@link runTimeline}. */
export interface TimelineOptions {
  readonly size: number;
  readonly depth: number;
  /** How long requests are timed, in ms. */
  readonly ms: number;
  /** How long the driver reads before (JIT warm-up), in ms. */
  readonly primeMs: number;
  /** How the disk holds its image (default file; see `StudyConfig.disk`). */
  readonly disk?: DiskBacking;
}

/** What a timed run measured. */
export interface TimelineReport {
  readonly options: TimelineOptions;
  readonly requests: number;
  readonly wallMs: number;
  /** Request latencies (call to completion), µs. */
  readonly latencies: readonly number[];
  readonly records: TimelineRecords;
}

/** Reads through the worker host with the timeline on; returns what it recorded. */
export async function runTimeline(
  image: string,
  options: TimelineOptions,
): Promise<TimelineReport> {
  const rig = await Rig.open("worker", image, options.depth, options.size, {
    timeline: true,
    disk: options.disk ?? "file",
  });
  try {
    await rig.read(options.size, options.primeMs, 100);
    const timeline = rig.kernel.drivers.timeline("ide0");
    const latencies: number[] = [];
    timeline.start();
    const t0 = performance.now();
    const requests = await rig.read(options.size, options.ms, 100, latencies);
    const wallMs = performance.now() - t0;
    const records = timeline.stop();
    return { options, requests, wallMs, latencies, records };
  } finally {
    await rig.close();
  }
}

/** The printed report: per direction and kind, how many per request and how long they took. */
export function formatTimeline(report: TimelineReport): string {
  const { options, requests, wallMs, records } = report;
  const sorted = [...report.latencies].sort((a, b) => a - b);
  const p50 = rankPercentile(sorted, 0.5);
  const lines = [
    `Message timeline, worker host, ${formatSize(options.size)} reads at queue depth ` +
    `${options.depth}: ${requests} requests in ${wallMs.toFixed(0)} ms ` +
    `(${(requests / wallMs).toFixed(1)}k/s, ${(wallMs * 1000 / requests).toFixed(2)} µs each, ` +
    `request p50 ${p50.toFixed(2)} µs)`,
    `clock offset (driver's minus kernel's) estimated ${records.clockOffsetUs.toFixed(2)} µs ` +
    `from the fastest message each way (raw ${
      records.rawMinUs.toWorker.toFixed(2)
    } to the driver, ` +
    `${records.rawMinUs.toKernel.toFixed(2)} to the kernel)`,
    "",
  ];
  const kept = { "to driver": records.toWorker.length, "to kernel": records.toKernel.length };
  const rows = reportRows(report);
  const header = [
    "direction",
    "kind",
    "per req",
    "p10 µs",
    "p50 µs",
    "p90 µs",
    "p99 µs",
    "mean µs",
  ];
  const table = rows.map((r) => [
    r.direction,
    r.kind,
    r.perRequest.toFixed(2),
    r.p10.toFixed(2),
    r.p50.toFixed(2),
    r.p90.toFixed(2),
    r.p99.toFixed(2),
    r.mean.toFixed(2),
  ]);
  lines.push(...tableLines(header, table, { left: 2 }));
  if (records.dropped.toWorker + records.dropped.toKernel > 0) {
    lines.push(
      "",
      `kept the first ${kept["to driver"]} and ${kept["to kernel"]} messages; ` +
        `${records.dropped.toWorker} and ${records.dropped.toKernel} more were counted only`,
    );
  }
  lines.push(
    "",
    "Time from the sender's publish to the receiver's handler. Near the minimum: the crossing",
    "itself. Above it: the message waited behind the receiving thread's other work (a result",
    "behind the device's transfer, say). Both threads read the clock per message meanwhile.",
  );
  const stalls = findStalls(records);
  if (stalls) lines.push("", ...formatStalls(stalls));
  if (options.depth === 1) {
    const path = criticalPath(records);
    if (path) lines.push("", ...formatCriticalPath(path));
  } else {
    lines.push(
      "",
      "(requests overlap at this depth: --depth 1 also prints a request's critical path)",
    );
  }
  return lines.join("\n");
}

/**
 * Per direction and kind, as {@link summarizeTimeline} gives them, with the messages per request
 * counted over every message delivered (kinds are counted over the kept records).
 */
function reportRows(report: TimelineReport): TimelineRow[] {
  const { records, requests } = report;
  const kept = { "to driver": records.toWorker.length, "to kernel": records.toKernel.length };
  const all = {
    "to driver": kept["to driver"] + records.dropped.toWorker,
    "to kernel": kept["to kernel"] + records.dropped.toKernel,
  };
  return summarizeTimeline(records, requests).map((r): TimelineRow => ({
    ...r,
    perRequest: kept[r.direction] > 0 ? r.perRequest * all[r.direction] / kept[r.direction] : 0,
  }));
}

/** The name of the JSON file {@link timelineJson} goes to, e.g. `timeline-4096-d1.json`. */
export function timelineFileName(options: TimelineOptions): string {
  return `timeline-${options.size}-d${options.depth}.json`;
}

/**
 * What a timed run measured, as JSON: the run (options, requests, wall time, request latency
 * percentiles), the clock offset, per direction and kind the messages' counts and latencies, and
 * at depth 1 the critical path. Every time in µs. Not the raw records (a run keeps up to 2^17 a
 * direction).
 */
export function timelineJson(report: TimelineReport): Record<string, unknown> {
  const { options, requests, wallMs, records } = report;
  const sorted = [...report.latencies].sort((a, b) => a - b);
  const at = (p: number) => sorted.length > 0 ? rankPercentile(sorted, p) : null;
  return {
    host: "worker",
    options: { ...options, disk: options.disk ?? "file" },
    requests,
    wallMs,
    requestUs: { p50: at(0.5), p90: at(0.9), p99: at(0.99) },
    clockOffsetUs: records.clockOffsetUs,
    rawMinUs: records.rawMinUs,
    dropped: records.dropped,
    messages: reportRows(report),
    criticalPath: options.depth === 1 ? criticalPath(records) ?? null : null,
    stalls: findStalls(records) ?? null,
  };
}

/** One step of a request's {@link CriticalPath}: from one event to the next. */
export interface PathStep {
  /** The event the step ends with, e.g. "driver gets call" (a repeat is numbered: "#2"). */
  readonly event: string;
  /**
   * What the time was: a message `crossing` (its publish to its delivery), one thread's work
   * between two events of its own (`kernel`, `driver`), or `both` (the two events are on
   * different threads and not one message: concurrent work).
   */
  readonly where: "crossing" | "kernel" | "driver" | "both";
  /** Median and mean µs from the previous event (the first step: from the request's start). */
  readonly p50: number;
  readonly mean: number;
}

/** What {@link criticalPath} found: the usual order of a request's messages, timed. */
export interface CriticalPath {
  /** Requests seen (calls to the driver, but the last: it has no end). */
  readonly requests: number;
  /** Requests whose events came in the usual order (the steps are theirs). */
  readonly matching: number;
  readonly steps: readonly PathStep[];
  /** Median of the requests' whole cycles (call to next call), µs. */
  readonly cycleP50: number;
}

/** One end of a recorded message: its publish by one thread, or its delivery to the other. */
interface ChannelEvent {
  /** When, µs on the kernel's clock. */
  readonly t: number;
  /** Whose event it is: the sender's (a publish) or the receiver's (a delivery). */
  readonly thread: "kernel" | "driver";
  readonly sends: boolean;
  readonly kind: string;
  /** The message's index in the merged list, shared by its publish and its delivery. */
  readonly message: number;
}

/**
 * Every recorded message as two events, its publish and its delivery, in order of time; at equal
 * times a publish comes first (a message is in flight from its publish on).
 */
function channelEvents(records: TimelineRecords): ChannelEvent[] {
  const events: ChannelEvent[] = [];
  let message = 0;
  const add = (list: readonly TimelineRecord[], from: "kernel" | "driver") => {
    const to = from === "kernel" ? "driver" : "kernel";
    for (const r of list) {
      events.push({ t: r.at - r.us, thread: from, sends: true, kind: r.kind, message });
      events.push({ t: r.at, thread: to, sends: false, kind: r.kind, message });
      message++;
    }
  };
  add(records.toWorker, "kernel");
  add(records.toKernel, "driver");
  events.sort((a, b) => a.t - b.t || (a.sends === b.sends ? 0 : a.sends ? -1 : 1));
  return events;
}

interface PathEvent {
  readonly t: number;
  readonly label: string;
  readonly thread: "kernel" | "driver";
  /** The message's index in the merged list, shared by its send and its delivery. */
  readonly message: number;
}

/**
 * A depth-1 run's messages as one timeline: each message is two events, its publish ("kernel
 * sends call") and its delivery ("driver gets call"), ordered by time (the kernel's clock); a
 * request runs from one call to the driver to the next. Requests in the most common order of
 * events give the steps: per step the median and mean time from the event before. Their sum
 * is about a request's cycle; `where` says whose time a step was. Undefined with fewer than
 * two requests.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { criticalPath } from "./timeline.ts";
 * const call = (at: number) => ({ kind: "call", us: 1, at });
 * const result = (at: number) => ({ kind: "result", us: 2, at });
 * const path = criticalPath({
 *   toWorker: [call(1), call(11), call(21)],
 *   toKernel: [result(6), result(16)],
 *   dropped: { toWorker: 0, toKernel: 0 },
 *   clockOffsetUs: 0,
 *   rawMinUs: { toWorker: 1, toKernel: 2 },
 * })!;
 * assertEquals(path.steps.map((s) => [s.event, s.where, s.p50]), [
 *   ["driver gets call", "crossing", 1],
 *   ["driver sends result", "driver", 3],
 *   ["kernel gets result", "crossing", 2],
 *   ["kernel sends next call", "kernel", 4],
 * ]);
 * assertEquals([path.requests, path.matching, path.cycleP50], [2, 2, 10]);
 * ```
 */
export function criticalPath(records: TimelineRecords): CriticalPath | undefined {
  const events: PathEvent[] = channelEvents(records).map((e) => ({
    t: e.t,
    label: `${e.thread} ${e.sends ? "sends" : "gets"} ${e.kind}`,
    thread: e.thread,
    message: e.message,
  }));
  const starts: number[] = [];
  events.forEach((e, i) => {
    if (e.label === "kernel sends call") starts.push(i);
  });
  if (starts.length < 3) return undefined;
  // One request: the events after its call, up to and with the next call.
  const requests: PathEvent[][] = [];
  for (let r = 0; r + 1 < starts.length; r++) {
    requests.push(events.slice(starts[r]!, starts[r + 1]! + 1));
  }
  const signature = (req: PathEvent[]) => req.map((e) => e.label).join("|");
  const counts = new Map<string, number>();
  for (const req of requests) counts.set(signature(req), (counts.get(signature(req)) ?? 0) + 1);
  let usual = "";
  let most = 0;
  for (const [sig, n] of counts) if (n > most) [usual, most] = [sig, n];
  const matching = requests.filter((req) => signature(req) === usual);
  const first = matching[0]!;
  const seen = new Map<string, number>();
  const names = first.map((e, i) => {
    if (i === first.length - 1) return "kernel sends next call";
    const n = (seen.get(e.label) ?? 0) + 1;
    seen.set(e.label, n);
    return n > 1 ? `${e.label} #${n}` : e.label;
  });
  const steps: PathStep[] = [];
  for (let i = 1; i < first.length; i++) {
    const before = first[i - 1]!, event = first[i]!;
    const where = before.message === event.message
      ? "crossing"
      : before.thread === event.thread
      ? event.thread
      : "both";
    const deltas = matching.map((req) => req[i]!.t - req[i - 1]!.t);
    steps.push({
      event: names[i]!,
      where,
      p50: median(deltas),
      mean: deltas.reduce((a, b) => a + b, 0) / deltas.length,
    });
  }
  const cycles = requests.map((req) => req[req.length - 1]!.t - req[0]!.t);
  return { requests: requests.length, matching: matching.length, steps, cycleP50: median(cycles) };
}

function median(values: readonly number[]): number {
  return rankPercentile([...values].sort((a, b) => a - b), 0.5);
}

/** The stalls of a timed run, as {@link findStalls} finds them. */
export interface Stalls {
  /** A gap between two events longer than this is a stall (µs). */
  readonly thresholdUs: number;
  /** From the first event to the last (µs). */
  readonly spanUs: number;
  readonly count: number;
  /** The stalls' time in all (µs). */
  readonly totalUs: number;
  readonly longestUs: number;
  /**
   * The stalls by what waited through them: a message in the driver's ring (the driver's thread
   * was not reading it), in the kernel's, in both, or none (a thread worked, or stopped, with
   * nothing sent).
   */
  readonly waiting: Readonly<Record<"driver" | "kernel" | "both" | "none", StallShare>>;
}

/** Stalls of one kind: how many, and their time (µs). */
export interface StallShare {
  readonly count: number;
  readonly us: number;
}

/** A stall is at least this long (µs), and longer than a few of the run's usual long gaps. */
export const STALL_MIN_US = 100;

/**
 * The moments nothing crossed the channel for long. Every message is two events (its publish,
 * its delivery); between two consecutive events the channel is quiet. A quiet gap longer than
 * {@link STALL_MIN_US} and than three times the 99th percentile of all gaps (the usual long
 * ones: a 1 MiB request's copy, say) is a stall: a thread that did not run (preempted by
 * another thread of the machine, a garbage collection, a turn of its event loop) or an unusually
 * long piece of work. Each stall is put down to where a message waited through it. Undefined
 * with fewer than two events.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { findStalls } from "./timeline.ts";
 * // A call every 10 µs, answered at once; call 50 waits 500 µs for the driver (all later shift).
 * const calls = [], results = [];
 * for (let i = 0; i < 100; i++) {
 *   const sent = i * 10 + (i > 50 ? 500 : 0);
 *   const got = sent + (i === 50 ? 500 : 1);
 *   calls.push({ kind: "call", us: got - sent, at: got });
 *   results.push({ kind: "result", us: 1, at: got + 2 });
 * }
 * const stalls = findStalls({
 *   toWorker: calls,
 *   toKernel: results,
 *   dropped: { toWorker: 0, toKernel: 0 },
 *   clockOffsetUs: 0,
 *   rawMinUs: { toWorker: 1, toKernel: 1 },
 * })!;
 * assertEquals([stalls.count, stalls.totalUs, stalls.waiting.driver.count], [1, 500, 1]);
 * ```
 */
export function findStalls(records: TimelineRecords): Stalls | undefined {
  const events = channelEvents(records);
  if (events.length < 2) return undefined;
  const gaps: number[] = [];
  for (let i = 1; i < events.length; i++) gaps.push(events[i]!.t - events[i - 1]!.t);
  const sorted = [...gaps].sort((a, b) => a - b);
  const thresholdUs = Math.max(STALL_MIN_US, 3 * rankPercentile(sorted, 0.99));
  const waiting = {
    driver: { count: 0, us: 0 },
    kernel: { count: 0, us: 0 },
    both: { count: 0, us: 0 },
    none: { count: 0, us: 0 },
  };
  let toDriver = 0, toKernel = 0, count = 0, totalUs = 0, longestUs = 0;
  for (let i = 0; i < gaps.length; i++) {
    // Messages in flight toward each thread: a publish adds one toward the other thread, a
    // delivery takes one from its own.
    const e = events[i]!;
    const toward = e.sends ? (e.thread === "kernel" ? "driver" : "kernel") : e.thread;
    if (toward === "driver") toDriver += e.sends ? 1 : -1;
    else toKernel += e.sends ? 1 : -1;
    const gap = gaps[i]!;
    if (gap <= thresholdUs) continue;
    count++;
    totalUs += gap;
    longestUs = Math.max(longestUs, gap);
    const kind = toDriver > 0
      ? (toKernel > 0 ? "both" : "driver")
      : toKernel > 0
      ? "kernel"
      : "none";
    waiting[kind].count++;
    waiting[kind].us += gap;
  }
  const spanUs = events[events.length - 1]!.t - events[0]!.t;
  return { thresholdUs, spanUs, count, totalUs, longestUs, waiting };
}

/** The stalls as printed lines. */
export function formatStalls(stalls: Stalls): string[] {
  const share = (us: number) => `${(100 * us / stalls.spanUs).toFixed(1)}%`;
  const parts = (["driver", "kernel", "both", "none"] as const)
    .filter((k) => stalls.waiting[k].count > 0)
    .map((k) => {
      const w = stalls.waiting[k];
      const what = k === "driver"
        ? "a message waited for the driver's thread"
        : k === "kernel"
        ? "for the kernel's"
        : k === "both"
        ? "for both"
        : "none waiting";
      return `${what}: ${w.count} (${(w.us / 1000).toFixed(1)} ms)`;
    });
  return [
    `Stalls (nothing crossed for more than ${stalls.thresholdUs.toFixed(0)} µs): ${stalls.count} ` +
    `in ${(stalls.spanUs / 1000).toFixed(0)} ms, ${(stalls.totalUs / 1000).toFixed(1)} ms in all ` +
    `(${share(stalls.totalUs)} of the run), the longest ${
      (stalls.longestUs / 1000).toFixed(2)
    } ms` +
    (parts.length > 0 ? `; ${parts.join(", ")}` : ""),
    "A thread that does not run for that long was preempted, paused for garbage collection (each",
    "isolate scavenges a few hundred times a second here), or in its event loop; the kernel host's",
    "requests stall too (the study: where the mean time per request lies above p50).",
  ];
}

/** The critical path as printed lines: a table of its steps and what they add up to. */
export function formatCriticalPath(path: CriticalPath): string[] {
  const total = path.steps.reduce((a, s) => a + s.p50, 0);
  const byWhere = new Map<string, number>();
  for (const s of path.steps) byWhere.set(s.where, (byWhere.get(s.where) ?? 0) + s.p50);
  const rows = path.steps.map((s) => [
    s.event,
    s.where,
    s.p50.toFixed(2),
    s.mean.toFixed(2),
    `${(100 * s.p50 / total).toFixed(1)}%`,
  ]);
  return [
    `One request, message by message (${path.matching} of ${path.requests} requests in this ` +
    `order; cycle p50 ${path.cycleP50.toFixed(2)} µs, sum of step medians ${total.toFixed(2)}):`,
    ...tableLines(["step: up to", "whose time", "p50 µs", "mean µs", "share"], rows, { left: 2 }),
    "",
    "per kind of time (sum of step medians): " +
    [...byWhere].map(([w, us]) => `${w} ${us.toFixed(2)} µs`).join(", "),
    "The device's transfer runs on the kernel's thread: it is the kernel step that ends in",
    '"kernel sends irq".',
  ];
}
