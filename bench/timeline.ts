/**
 * How long the messages of a request spend crossing between the kernel's thread and the driver's
 * (`deno task bench --timeline`): the worker host's IDE driver reads `size`-byte requests at
 * `depth` while the channel's timeline (`kernel/timeline.ts`) records, for every message, its
 * kind and the time from its publication to its delivery on the other thread. The fastest
 * messages show what a crossing itself costs (publish, notice, decode); the rest is time a
 * message waited behind the receiving thread's other work. The profile's sampler cannot tell
 * the two apart; the clock can.
 *
 * While recording, both threads read the clock for every message (about 0.2 µs each): the
 * request rate of a timed run is lower than the study's.
 *
 * @module
 */

import { summarizeTimeline, type TimelineRecords, type TimelineRow } from "../kernel/timeline.ts";
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
  const p50 = sorted.length > 0 ? sorted[sorted.length >> 1]! : NaN;
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
  // Kinds are counted over the kept records: scale to every message delivered.
  const kept = { "to driver": records.toWorker.length, "to kernel": records.toKernel.length };
  const all = {
    "to driver": kept["to driver"] + records.dropped.toWorker,
    "to kernel": kept["to kernel"] + records.dropped.toKernel,
  };
  const rows = summarizeTimeline(records, requests).map((r): TimelineRow => ({
    ...r,
    perRequest: kept[r.direction] > 0 ? r.perRequest * all[r.direction] / kept[r.direction] : 0,
  }));
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
  return lines.join("\n");
}
