import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { analyze, formatSize, sizesOf } from "../bench/results.ts";
import type { Series, Trial } from "../bench/study.ts";

const MIB = 1 << 20;

/** A trial moving `mib` MiB in `ms` with `cpuMs` of CPU time. */
function trial(series: Series, size: number, round: number, ms: number, cpuMs = ms): Trial {
  const bytes = 64 * MIB;
  return { series, size, round, ops: bytes / size, bytes, wallMs: ms, cpuUs: cpuMs * 1000 };
}

/** Three rounds at each size; the worker host is `slow` times slower than the kernel host. */
function study(sizes: number[], slow: (size: number) => number, copyMs = 4): Trial[] {
  const trials: Trial[] = [];
  for (let round = 0; round < 3; round++) {
    for (const size of sizes) {
      const base = 100 + round * 10; // machine noise: later rounds slower, for both alike
      trials.push(trial("kernel", size, round, base));
      trials.push(trial("worker", size, round, base * slow(size), base * slow(size) * 1.5));
      trials.push(trial("copy", size, round, copyMs));
    }
  }
  return trials;
}

Deno.test("analyze() summarizes each series at each size", () => {
  const a = analyze(study([512, 4096], () => 2));
  assertEquals(a.series.map((s) => `${s.size} ${s.series}`), [
    "512 kernel",
    "512 worker",
    "512 copy",
    "4096 kernel",
    "4096 worker",
    "4096 copy",
  ]);
  const k = a.series[0]!;
  assertEquals(k.trials, 3);
  assertAlmostEquals(k.mibps.median, 64 / 0.11); // 64 MiB in the median 110 ms
  assertAlmostEquals(k.mibps.max, 64 / 0.1);
  assertAlmostEquals(k.opsps.median, 64 * MIB / 512 / 0.11);
  assertAlmostEquals(k.cpuMsPerMib.median, 110 / 64);
  assertAlmostEquals(k.cpuLoad.median, 1);
  assertAlmostEquals(k.ofCopy!, 4 / 110);
  assertEquals(a.series[2]!.series, "copy");
  assertAlmostEquals(a.series[2]!.ofCopy!, 1);
});

Deno.test("analyze() pairs the hosts by round for the user-level/in-kernel ratios", () => {
  const a = analyze(study([512, 65536], (size) => size === 512 ? 4 : 1.25));
  assertEquals(a.ratios.map((r) => r.size), [512, 65536]);
  // The rounds differ by machine noise, but each pair is 1:4, so the spread is nil.
  assertAlmostEquals(a.ratios[0]!.mibps.median, 0.25);
  assertAlmostEquals(a.ratios[0]!.mibps.min, 0.25);
  assertAlmostEquals(a.ratios[0]!.mibps.max, 0.25);
  assertAlmostEquals(a.ratios[0]!.opsps.median, 0.25);
  assertAlmostEquals(a.ratios[0]!.cpuMsPerMib.median, 6);
  assertAlmostEquals(a.ratios[1]!.mibps.median, 0.8);
});

Deno.test("analyze() reports each goal as met, missed or not measured", () => {
  const good = analyze(study([512, 65536, 1 << 20], (s) => s === 512 ? 1.05 : 1.01, 60));
  assertEquals(good.goals.map((g) => g.met), [true, true, true]);
  assertAlmostEquals(good.goals[0]!.value!, 1 / 1.05);

  const bad = analyze(study([512, 65536, 1 << 20], (s) => s === 1 << 20 ? 1.5 : 2, 4));
  assertEquals(bad.goals.map((g) => g.met), [false, false, false]);
  assert(bad.goals[1]!.detail.includes("worst 0.500 at 64 KiB"), bad.goals[1]!.detail);
  assert(bad.goals[2]!.detail.includes("worker at 1 MiB"), bad.goals[2]!.detail);

  const none = analyze(study([4096], () => 1));
  assertEquals(none.goals.map((g) => g.met), [undefined, undefined, undefined]);
  assertEquals(none.goals[0]!.detail, "512 B not measured");
});

Deno.test("analyze() refuses a trial that took no time or moved nothing", () => {
  assertThrows(() => analyze([trial("kernel", 512, 0, 0)]), RangeError, "0 ms");
  assertThrows(
    () => analyze([{ ...trial("kernel", 512, 0, 5), bytes: 0 }]),
    RangeError,
    "kernel trial of 512 B",
  );
});

Deno.test("sizesOf() and formatSize() list and name request sizes", () => {
  assertEquals(sizesOf(study([4096, 512], () => 1)), [512, 4096]);
  assertEquals(
    [512, 1024, 3072, 65536, MIB, 1536].map(formatSize),
    ["512 B", "1 KiB", "3 KiB", "64 KiB", "1 MiB", "1536 B"],
  );
});

Deno.test("analyze() summarizes request latency percentiles of the trials that have them", () => {
  const trials = study([512], () => 2).map((t, i) =>
    t.series === "copy" ? t : { ...t, p50Us: 10 + i, p99Us: 100 + i }
  );
  const a = analyze(trials);
  const [k, u, c] = a.series;
  // Kernel trials are the 0th, 3rd and 6th: p50 10, 13, 16; worker 11, 14, 17.
  assertEquals(k!.p50Us?.median, 13);
  assertEquals(u!.p99Us?.median, 104);
  assertEquals([u!.p99Us?.min, u!.p99Us?.max], [101, 107]);
  assertEquals(c!.p50Us, undefined);
  assertEquals(analyze(study([512], () => 2)).series[0]!.p50Us, undefined);
});

Deno.test("analyze() relates each host to the copy into shared memory when it was measured", () => {
  const trials = study([512, 262144], () => 2).flatMap((t) =>
    t.series === "copy" ? [t, { ...t, series: "shared" as const, wallMs: 8 }] : [t]
  );
  const a = analyze(trials);
  const at = (series: string, size: number) =>
    a.series.find((s) => s.series === series && s.size === size)!;
  assertAlmostEquals(at("kernel", 262144).ofCopy!, 4 / 110);
  assertAlmostEquals(at("kernel", 262144).ofShared!, 8 / 110);
  assertAlmostEquals(at("shared", 512).ofCopy!, 0.5);
  const copyGoal = a.goals[2]!;
  assert(
    copyGoal.detail.includes("of a copy into shared memory: kernel 256 KiB 0.073"),
    copyGoal.detail,
  );
  // The goal itself stays the plain copy's.
  assertAlmostEquals(copyGoal.value!, 4 / 220);
  // Without the shared series, nothing about it.
  assertEquals(analyze(study([262144], () => 2)).series[0]!.ofShared, undefined);
});

Deno.test("the drift compares U/K in the last third of the rounds with the first, per size", () => {
  // Machine noise both hosts share (study()'s rounds) is no drift.
  const steady = analyze(study([512, 4096], () => 2)).drift!;
  assertEquals(steady.rounds, 3);
  assertEquals(steady.perSize.map((d) => d.size), [512, 4096]);
  assertAlmostEquals(steady.overall, 1);
  // A worker host that speeds up over six rounds (still compiling), at one size of two.
  const trials: Trial[] = [];
  for (let round = 0; round < 6; round++) {
    const base = 100 + 7 * round;
    trials.push(trial("kernel", 512, round, base), trial("kernel", 65536, round, base));
    trials.push(trial("worker", 512, round, base * (round < 2 ? 2 : 1.6)));
    trials.push(trial("worker", 65536, round, base * 1.25));
  }
  const warming = analyze(trials).drift!;
  assertEquals(warming.rounds, 6);
  assertAlmostEquals(warming.perSize[0]!.drift, 2 / 1.6);
  assertAlmostEquals(warming.perSize[1]!.drift, 1);
  assertAlmostEquals(warming.overall, Math.sqrt(2 / 1.6));
  // Fewer than three paired rounds: no drift at all.
  assertEquals(analyze(trials.filter((t) => t.round < 2)).drift, undefined);
});
