import { assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import { formatStages, sizeCosts, stagesOf } from "../bench/profile.ts";
import { checkConfig, copyFor, seriesOrder } from "../bench/study.ts";
import { parseSize } from "../bench/results.ts";

Deno.test("stagesOf() sums repeated steps per request and orders steps as they occur", () => {
  // Two requests; times in ms. The second has an extra "w -> w" step.
  const labels = [
    "request",
    "out call",
    "in w",
    "in w",
    "done",
    "request",
    "out call",
    "in w",
    "in w",
    "in w",
    "done",
    "request",
  ];
  const times = [0, 0.002, 0.032, 0.033, 0.040, 0.050, 0.052, 0.082, 0.083, 0.084, 0.090, 0.1];
  const p = stagesOf(times, labels, "request");
  assertEquals(p.requests, 2);
  assertAlmostEquals(p.cycleUs, 50, 1e-6);
  assertEquals(p.stages.map((s) => `${s.from}>${s.to}`), [
    "request>out call",
    "out call>in w",
    "in w>in w",
    "in w>done",
  ]);
  const ww = p.stages[2]!;
  assertEquals(ww.perRequest, 1.5);
  assertAlmostEquals(ww.medianUs, 1.5, 1e-6);
  const text = formatStages("worker host", p);
  assertStringIncludes(text, "2 requests, median cycle 50.0 µs");
  assertStringIncludes(text, "x1.5");
  assertStringIncludes(text, "waiting for the worker");
});

Deno.test("stagesOf() of a trace without a complete request is empty", () => {
  assertEquals(stagesOf([0, 1], ["request", "x"], "request").requests, 0);
});

Deno.test("seriesOrder() rotates so that each series runs first in turn", () => {
  assertEquals(seriesOrder(0, 0), ["kernel", "worker", "copy", "shared"]);
  assertEquals(seriesOrder(0, 1), ["worker", "copy", "shared", "kernel"]);
  assertEquals(seriesOrder(1, 1), ["copy", "shared", "kernel", "worker"]);
  assertEquals(seriesOrder(4, 0), ["kernel", "worker", "copy", "shared"]);
});

Deno.test("copyFor() copies whole consecutive slices of the source, wrapping at its end", () => {
  const source = new Uint8Array(3500).map((_, i) => (i * 7) & 0xff); // 3 slices and a stub
  const destination = new Uint8Array(1024);
  const copies = copyFor(source, destination, 1024, 0, 5);
  assertEquals(copies >= 5, true);
  const slices = [0, 1, 2].map((k) => source.subarray(k * 1024, (k + 1) * 1024));
  assertEquals(slices.some((slice) => slice.every((b, i) => destination[i] === b)), true);
});

Deno.test("checkConfig() and parseSize() refuse what the study cannot run", () => {
  const ok = {
    sizes: [512, 1 << 20],
    trials: 1,
    trialMs: 1,
    minRequests: 1,
    warmupMs: 0,
    depth: 1,
    image: "x",
  };
  checkConfig(ok);
  const bad = (patch: Record<string, unknown>) => {
    try {
      checkConfig({ ...ok, ...patch });
      return "accepted";
    } catch (error) {
      return (error as Error).name;
    }
  };
  assertEquals(bad({ sizes: [] }), "RangeError");
  assertEquals(bad({ sizes: [1000] }), "RangeError");
  assertEquals(bad({ sizes: [2 << 20] }), "RangeError");
  assertEquals(bad({ depth: 0 }), "RangeError");
  assertEquals(bad({ trials: 1.5 }), "RangeError");
  assertEquals(bad({ primeMs: -1 }), "RangeError");
  assertEquals(bad({ primeMs: Number.NaN }), "RangeError");
  assertEquals(bad({ primeMs: 5 }), "accepted");
  assertEquals(bad({ disk: "cached" }), "accepted");
  assertEquals(bad({ disk: "tape" }), "RangeError");
  assertEquals([parseSize("512"), parseSize("4k"), parseSize("64KiB"), parseSize("1m")], [
    512,
    4096,
    65536,
    1 << 20,
  ]);
  let refused = false;
  try {
    parseSize("lots");
  } catch (error) {
    refused = error instanceof TypeError;
  }
  assertEquals(refused, true);
});

Deno.test("sizeCosts() measures the call as the worker host sends it: in its layout, consecutive blocks as a run", () => {
  const small = sizeCosts(512, 1);
  const large = sizeCosts(1 << 20, 1);
  // Kind, id, object, layout index; two capabilities, the struct's address, a one-block list.
  assertEquals(small.messageBytes, 11 + 16 + 1 + 4 + 8 + 8 + 16);
  // 2048 consecutive blocks: the first and the count (kernel/hosts/layout.ts, form 2).
  assertEquals(large.messageBytes, 11 + 16 + 1 + 8 + 4 + 8 + 16);
  for (const costs of [small, large]) {
    for (const us of [costs.blockList, costs.validate, costs.encode, costs.decode]) {
      assertEquals(us > 0 && Number.isFinite(us), true);
    }
  }
});
