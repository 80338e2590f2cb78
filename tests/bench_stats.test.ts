import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { quantile, relativeIqr, summarize } from "../bench/stats.ts";

Deno.test("quantile() interpolates between the nearest ranks", () => {
  const sorted = [10, 20, 30, 40, 50];
  assertEquals(quantile(sorted, 0), 10);
  assertEquals(quantile(sorted, 1), 50);
  assertEquals(quantile(sorted, 0.5), 30);
  assertEquals(quantile(sorted, 0.25), 20);
  assertAlmostEquals(quantile(sorted, 0.1), 14);
  assertEquals(quantile([7], 0.75), 7);
});

Deno.test("quantile() refuses no values and p outside 0..1", () => {
  assertThrows(() => quantile([], 0.5), RangeError, "no values");
  assertThrows(() => quantile([1], 1.5), RangeError, "0..1");
  assertThrows(() => quantile([1], NaN), RangeError, "0..1");
});

Deno.test("summarize() gives median, quartiles, extremes and mean of unsorted values", () => {
  const s = summarize([9, 1, 5, 3, 7, 2]);
  assertEquals(s.n, 6);
  assertEquals(s.median, 4);
  assertEquals(s.min, 1);
  assertEquals(s.max, 9);
  assertEquals(s.q1, 2.25);
  assertEquals(s.q3, 6.5);
  assertAlmostEquals(s.mean, 27 / 6);
});

Deno.test("summarize() does not reorder its input", () => {
  const values = [3, 1, 2];
  summarize(values);
  assertEquals(values, [3, 1, 2]);
});

Deno.test("summarize() refuses an empty set and non-finite values", () => {
  assertThrows(() => summarize([]), RangeError, "no values");
  assertThrows(() => summarize([1, Infinity]), TypeError, "Infinity");
  assertThrows(() => summarize([NaN]), TypeError, "NaN");
});

Deno.test("relativeIqr() is the interquartile range over the median, 0 for a zero median", () => {
  assertAlmostEquals(relativeIqr(summarize([90, 95, 100, 105, 110])), 0.1);
  assertEquals(relativeIqr(summarize([0, 0, 0])), 0);
});
