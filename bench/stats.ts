/**
 * Order statistics of a set of trial results: the median is the reported value, the quartiles
 * and the extremes the reported spread.
 *
 * @module
 */

/** The summary of one measured quantity over the trials of one configuration. */
export interface Summary {
  /** Number of values. */
  readonly n: number;
  readonly median: number;
  /** First quartile (25th percentile). */
  readonly q1: number;
  /** Third quartile (75th percentile). */
  readonly q3: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
}

/**
 * The `p` quantile (0..1) of ascending `sorted` values, interpolating linearly between the two
 * nearest ranks (the "type 7" definition of R and NumPy's default).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { quantile } from "./stats.ts";
 * assertEquals(quantile([1, 2, 3, 4], 0.5), 2.5);
 * assertEquals(quantile([1, 2, 3, 4], 0.25), 1.75);
 * ```
 */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError("Cannot take a quantile of no values");
  if (!(p >= 0 && p <= 1)) throw new RangeError(`Cannot take the ${p} quantile: p must be in 0..1`);
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  const a = sorted[lo]!;
  return lo === hi ? a : a + (sorted[hi]! - a) * (at - lo);
}

/**
 * Median, quartiles, extremes and mean of `values` (in any order). Refuses an empty set and
 * values that are not finite numbers, which would make every statistic meaningless.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { summarize } from "./stats.ts";
 * const s = summarize([5, 1, 3]);
 * assertEquals([s.median, s.min, s.max, s.mean], [3, 1, 5, 3]);
 * ```
 */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError("Cannot summarize no values");
  for (const v of values) {
    if (!Number.isFinite(v)) throw new TypeError(`Cannot summarize ${v}: not a finite number`);
  }
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    min: sorted[0]!,
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}

/**
 * The interquartile range relative to the median (0.05 = the middle half of the trials lies
 * within a band 5 % of the median wide): the spread the terminal table shows.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { relativeIqr, summarize } from "./stats.ts";
 * assertEquals(relativeIqr(summarize([9, 10, 10, 11])), 0.05);
 * ```
 */
export function relativeIqr(s: Summary): number {
  return s.median === 0 ? 0 : (s.q3 - s.q1) / Math.abs(s.median);
}
