/**
 * From trials to results: per size and series the median and spread of throughput, requests per
 * second and CPU cost; per size the user-level/in-kernel ratios; and where the run stands against
 * the study's goals. Pure functions of the trials, so they are tested without timing anything.
 *
 * @module
 */

import { isCopy, SERIES, type Series, type Trial } from "./study.ts";
import { summarize, type Summary } from "./stats.ts";

const MIB = 1 << 20;

/** The results of one series at one request size. */
export interface SeriesResult {
  readonly series: Series;
  readonly size: number;
  readonly trials: number;
  /** Throughput, MiB/s. */
  readonly mibps: Summary;
  /** Requests (copies, for the copy series) per second. */
  readonly opsps: Summary;
  /** Process CPU time per MiB moved, ms. */
  readonly cpuMsPerMib: Summary;
  /** Process CPU time over wall time (1 = one core busy; both threads count). */
  readonly cpuLoad: Summary;
  /** Median throughput as a fraction of the median copy bandwidth at this size. */
  readonly ofCopy: number | undefined;
  /** The same, of the copy into shared memory (the `shared` series), if it was measured. */
  readonly ofShared?: number | undefined;
  /** Per-trial median request latency, µs (undefined for the copy series). */
  readonly p50Us: Summary | undefined;
  /** Per-trial 99th-percentile request latency, µs. */
  readonly p99Us: Summary | undefined;
}

/** User-level over in-kernel at one size: the median of the per-round ratios, and its spread. */
export interface RatioResult {
  readonly size: number;
  /** Throughput ratio (1 = as fast as in-kernel; paired by round). */
  readonly mibps: Summary;
  /** Requests-per-second ratio. */
  readonly opsps: Summary;
  /** CPU-time-per-MiB ratio (above 1 = the user-level driver costs more CPU). */
  readonly cpuMsPerMib: Summary;
}

/** Where a run stands against one goal. */
export interface GoalResult {
  readonly goal: string;
  /** The measured value the goal is about, or undefined when the run did not measure it. */
  readonly value: number | undefined;
  readonly target: number;
  readonly met: boolean | undefined;
  /** What was measured, in words. */
  readonly detail: string;
}

/** Everything {@link analyze} derives from the trials. */
export interface Analysis {
  readonly series: readonly SeriesResult[];
  readonly ratios: readonly RatioResult[];
  readonly goals: readonly GoalResult[];
  /** How the U/K ratio moved over the run (see {@link ratioDrift}); absent under 3 rounds. */
  readonly drift?: Drift;
}

/**
 * How the user-level/in-kernel throughput ratio moved from the first third of a run's rounds to
 * the last: per size, the median per-round ratio of the last third over that of the first. A
 * host still compiling its path (too short a prime) or a phase of the machine that suits one
 * host better shows as a drift away from 1; the interleaving cancels a drift both hosts share.
 */
export interface Drift {
  readonly rounds: number;
  readonly perSize: readonly { readonly size: number; readonly drift: number }[];
  /** The geometric mean over the sizes. */
  readonly overall: number;
}

/**
 * The in-kernel and user-level trials of the same round among `at` (one size's trials), in round
 * order: what the ratios are taken of, since trials of one round ran next to each other.
 */
function roundPairs(
  at: readonly Trial[],
): { k: ReturnType<typeof perTrial>; u: ReturnType<typeof perTrial> }[] {
  const pairs = [];
  const kernel = at.filter((t) => t.series === "kernel").sort((a, b) => a.round - b.round);
  for (const k of kernel) {
    const u = at.find((t) => t.series === "worker" && t.round === k.round);
    if (u) pairs.push({ k: perTrial(k), u: perTrial(u) });
  }
  return pairs;
}

/** A drift this far from 1 (either way) gets a note under the table. */
export const DRIFT_NOTE = 0.05;

/**
 * The {@link Drift} of a run's trials, or undefined when fewer than 3 rounds paired both hosts.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { ratioDrift } from "./results.ts";
 * import type { Trial } from "./study.ts";
 * const trial = (series: "kernel" | "worker", round: number, ops: number): Trial =>
 *   ({ series, size: 512, round, ops, bytes: ops * 512, wallMs: 100, cpuUs: 1 });
 * // U/K 0.5, 0.5, 0.6, 0.6, 0.6, 0.6: the last third over the first is 1.2.
 * const trials = [5, 5, 6, 6, 6, 6].flatMap((u, round) => [trial("kernel", round, 10), trial("worker", round, u)]);
 * assertAlmostEquals(ratioDrift(trials)!.overall, 1.2);
 * ```
 */
export function ratioDrift(trials: readonly Trial[]): Drift | undefined {
  const perSize: { size: number; drift: number }[] = [];
  let rounds = 0;
  for (const size of sizesOf(trials)) {
    const ratios = roundPairs(trials.filter((t) => t.size === size)).map((p) =>
      p.u.mibps / p.k.mibps
    );
    if (ratios.length < 3) continue;
    rounds = Math.max(rounds, ratios.length);
    const third = Math.floor(ratios.length / 3);
    const first = summarize(ratios.slice(0, third)).median;
    const last = summarize(ratios.slice(-third)).median;
    perSize.push({ size, drift: last / first });
  }
  if (perSize.length === 0) return undefined;
  const overall = Math.exp(perSize.reduce((sum, d) => sum + Math.log(d.drift), 0) / perSize.length);
  return { rounds, perSize, overall };
}

/** The sizes trials cover, ascending. */
export function sizesOf(trials: readonly Trial[]): number[] {
  return [...new Set(trials.map((t) => t.size))].sort((a, b) => a - b);
}

function perTrial(t: Trial): { mibps: number; opsps: number; cpuMsPerMib: number; load: number } {
  const seconds = t.wallMs / 1000;
  const mib = t.bytes / MIB;
  return {
    mibps: mib / seconds,
    opsps: t.ops / seconds,
    cpuMsPerMib: t.cpuUs / 1000 / mib,
    load: t.cpuUs / 1000 / t.wallMs,
  };
}

/**
 * Summarizes the trials of each (series, size), pairs the two hosts' trials of the same round
 * for the ratios, and evaluates the goals. Trials with no time or no bytes are refused.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { analyze } from "./results.ts";
 * const trial = (series: "kernel" | "worker" | "copy", wallMs: number) =>
 *   ({ series, size: 512, round: 0, ops: 1000, bytes: 512000, wallMs, cpuUs: 1000 });
 * const a = analyze([trial("kernel", 100), trial("worker", 125), trial("copy", 1)]);
 * assertEquals(a.ratios[0]!.mibps.median, 0.8);
 * ```
 */
export function analyze(trials: readonly Trial[]): Analysis {
  for (const t of trials) {
    if (!(t.wallMs > 0) || !(t.bytes > 0) || !(t.ops > 0) || !(t.cpuUs >= 0)) {
      throw new RangeError(
        `Cannot analyze a ${t.series} trial of ${t.size} B: it took ${t.wallMs} ms for ${t.bytes} bytes`,
      );
    }
  }
  const series: SeriesResult[] = [];
  const ratios: RatioResult[] = [];
  for (const size of sizesOf(trials)) {
    const at = trials.filter((t) => t.size === size);
    /** The median throughput of a series at this size, 0 if it was not measured. */
    const medianOf = (series: Series) => {
      const of = at.filter((t) => t.series === series);
      return of.length > 0 ? summarize(of.map((t) => perTrial(t).mibps)).median : 0;
    };
    const copyMedian = medianOf("copy");
    const sharedMedian = medianOf("shared");
    for (const name of SERIES) {
      const raw = at.filter((t) => t.series === name);
      const mine = raw.map(perTrial);
      const p50 = raw.flatMap((t) => t.p50Us === undefined ? [] : [t.p50Us]);
      const p99 = raw.flatMap((t) => t.p99Us === undefined ? [] : [t.p99Us]);
      if (mine.length === 0) continue;
      const mibps = summarize(mine.map((m) => m.mibps));
      series.push({
        series: name,
        size,
        trials: mine.length,
        mibps,
        opsps: summarize(mine.map((m) => m.opsps)),
        cpuMsPerMib: summarize(mine.map((m) => m.cpuMsPerMib)),
        cpuLoad: summarize(mine.map((m) => m.load)),
        ofCopy: copyMedian > 0 ? mibps.median / copyMedian : undefined,
        ...(sharedMedian > 0 ? { ofShared: mibps.median / sharedMedian } : {}),
        p50Us: p50.length > 0 ? summarize(p50) : undefined,
        p99Us: p99.length > 0 ? summarize(p99) : undefined,
      });
    }
    const pairs = roundPairs(at);
    if (pairs.length > 0) {
      ratios.push({
        size,
        mibps: summarize(pairs.map((p) => p.u.mibps / p.k.mibps)),
        opsps: summarize(pairs.map((p) => p.u.opsps / p.k.opsps)),
        cpuMsPerMib: summarize(pairs.map((p) => p.u.cpuMsPerMib / p.k.cpuMsPerMib)),
      });
    }
  }
  const drift = ratioDrift(trials);
  return { series, ratios, goals: evaluateGoals(series, ratios), ...(drift ? { drift } : {}) };
}

/** Requests at least this large are "large" for the copy-bandwidth goal. */
export const LARGE_REQUEST = 256 * 1024;

/**
 * The study's goals (reported, never asserted): user-level throughput at least 0.90 of in-kernel
 * at 512 B (the paper measured 0.78) and at least 0.98 from 64 KiB up; large requests (256 KiB
 * and up) on both hosts at least half the copy bandwidth of the same size.
 */
export function evaluateGoals(
  series: readonly SeriesResult[],
  ratios: readonly RatioResult[],
): GoalResult[] {
  const goals: GoalResult[] = [];
  const small = ratios.find((r) => r.size === 512);
  goals.push({
    goal: "user-level/in-kernel throughput at 512 B >= 0.90 (paper: 0.78)",
    value: small?.mibps.median,
    target: 0.9,
    met: small === undefined ? undefined : small.mibps.median >= 0.9,
    detail: small === undefined
      ? "512 B not measured"
      : `median ratio ${fixed(small.mibps.median, 3)} (IQR ${fixed(small.mibps.q1, 3)}..${
        fixed(small.mibps.q3, 3)
      })`,
  });
  const big = ratios.filter((r) => r.size >= 64 * 1024);
  const worstBig = minBy(big, (r) => r.mibps.median);
  goals.push({
    goal: "user-level/in-kernel throughput from 64 KiB up >= 0.98",
    value: worstBig?.mibps.median,
    target: 0.98,
    met: worstBig === undefined ? undefined : worstBig.mibps.median >= 0.98,
    detail: worstBig === undefined
      ? "no size of 64 KiB or more measured"
      : `worst ${fixed(worstBig.mibps.median, 3)} at ${formatSize(worstBig.size)}; ` +
        big.map((r) => `${formatSize(r.size)} ${fixed(r.mibps.median, 3)}`).join(", "),
  });
  const large = series.filter((s) => !isCopy(s.series) && s.size >= LARGE_REQUEST);
  const worstLarge = minBy(large.filter((s) => s.ofCopy !== undefined), (s) => s.ofCopy!);
  goals.push({
    goal: "large requests (256 KiB and up), both hosts, >= 0.5 of copy bandwidth",
    value: worstLarge?.ofCopy,
    target: 0.5,
    met: worstLarge === undefined ? undefined : worstLarge.ofCopy! >= 0.5,
    detail: worstLarge === undefined
      ? "no request of 256 KiB or more measured with its copy series"
      : `worst ${fixed(worstLarge.ofCopy!, 3)} (${worstLarge.series} at ${
        formatSize(worstLarge.size)
      }); ` +
        large.map((s) => `${s.series} ${formatSize(s.size)} ${fixed(s.ofCopy ?? NaN, 3)}`)
          .join(", ") +
        (large.some((s) => s.ofShared !== undefined)
          ? `; of a copy into shared memory: ` +
            large.map((s) => `${s.series} ${formatSize(s.size)} ${fixed(s.ofShared ?? NaN, 3)}`)
              .join(", ")
          : ""),
  });
  return goals;
}

function minBy<T>(items: readonly T[], key: (item: T) => number): T | undefined {
  let best: T | undefined;
  for (const item of items) if (best === undefined || key(item) < key(best)) best = item;
  return best;
}

function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

/**
 * A request size in binary units: `512 B`, `4 KiB`, `1 MiB`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatSize } from "./results.ts";
 * assertEquals([formatSize(512), formatSize(65536), formatSize(1 << 20)], ["512 B", "64 KiB", "1 MiB"]);
 * ```
 */
export function formatSize(bytes: number): string {
  if (bytes >= MIB && bytes % MIB === 0) return `${bytes / MIB} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** Parses `512`, `4k`, `1m` (binary units) into bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*([kKmM]?)(?:i?[bB])?$/.exec(text.trim());
  if (!m) throw new TypeError(`Cannot read request size "${text}": write e.g. 512, 4k or 1m`);
  const unit = m[2]!.toLowerCase();
  return Number(m[1]) * (unit === "k" ? 1024 : unit === "m" ? 1 << 20 : 1);
}
