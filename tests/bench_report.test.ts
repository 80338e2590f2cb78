import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import {
  csvField,
  formatGoals,
  formatNumber,
  formatTable,
  type RunInfo,
  toCsv,
  toJson,
} from "../bench/report.ts";
import { analyze } from "../bench/results.ts";
import type { StudyConfig, Trial } from "../bench/study.ts";

const MIB = 1 << 20;

function trials(): Trial[] {
  const out: Trial[] = [];
  for (let round = 0; round < 3; round++) {
    for (const size of [512, MIB]) {
      const t = (series: Trial["series"], ms: number): Trial => ({
        series,
        size,
        round,
        ops: 8 * MIB / size,
        bytes: 8 * MIB,
        wallMs: ms + round,
        cpuUs: ms * 1200,
      });
      out.push(t("kernel", 10), t("worker", 12), t("copy", 1));
    }
  }
  return out;
}

const config: StudyConfig = {
  sizes: [512, MIB],
  trials: 3,
  trialMs: 10,
  minRequests: 3,
  warmupMs: 5,
  depth: 1,
  image: ".mungi/bench/disk.img",
};

const run: RunInfo = {
  started: "2025-01-01T00:00:00.000Z",
  seconds: 1,
  argv: ["--quick"],
  deno: "2.9.6",
  v8: "15.0",
  os: "linux",
  arch: "x86_64",
  cpus: 2,
  loadavg: undefined,
  imageBytes: 64 * MIB,
  interrupts: {
    kernel: { delivered: 10, rateLimited: 0, coalesced: 0 },
    worker: { delivered: 10, rateLimited: 0, coalesced: 0 },
  },
};

Deno.test("toCsv() writes a header and one row per size and series", () => {
  const csv = toCsv(analyze(trials()), 1);
  const lines = csv.trimEnd().split("\n");
  assertEquals(lines.length, 1 + 6);
  const header = lines[0]!.split(",");
  assertEquals(header.slice(0, 5), ["size_bytes", "series", "label", "depth", "trials"]);
  assert(header.includes("mibps_median") && header.includes("cpu_ms_per_mib_q3"));
  assertEquals(header.at(-3), "ratio_mibps");
  assertEquals(header.at(-4), "of_shared");
  const rows = lines.slice(1).map((l) => l.split(","));
  assert(rows.every((r) => r.length === header.length));
  const at = (row: string[], column: string) => row[header.indexOf(column)]!;
  const worker = rows.find((r) => r[0] === "512" && r[1] === "worker")!;
  assertEquals(at(worker, "label"), "user-level");
  assertEquals(Number(at(worker, "ratio_mibps")).toFixed(3), (11 / 13).toFixed(3));
  const copy = rows.find((r) => r[1] === "copy")!;
  assertEquals(at(copy, "cpu_ms_per_mib_median"), "");
  assertEquals(at(copy, "ratio_mibps"), "");
  const kernel = rows.find((r) => r[1] === "kernel")!;
  assertEquals(Number(at(kernel, "mibps_median")), 8 / 0.011);
});

Deno.test("csvField() quotes fields with commas, quotes or newlines, and blanks non-numbers", () => {
  assertEquals(csvField("plain"), "plain");
  assertEquals(csvField('say "hi", then\ngo'), '"say ""hi"", then\ngo"');
  assertEquals(csvField(1.5), "1.5");
  assertEquals(csvField(NaN), "");
  assertEquals(csvField(undefined), "");
});

Deno.test("toJson() round-trips the configuration, results, goals and raw trials", () => {
  const all = trials();
  const doc = JSON.parse(toJson(run, config, analyze(all), all));
  assertEquals(doc.kind, "mungi-bench");
  assertEquals(doc.version, 1);
  assertEquals(doc.config, config);
  assertEquals(doc.run.cpus, 2);
  assertEquals(doc.trials.length, all.length);
  assertEquals(doc.series.length, 6);
  assertEquals(doc.ratios.map((r: { size: number }) => r.size), [512, MIB]);
  assertEquals(doc.goals.length, 3);
  assertEquals(typeof doc.series[0].mibps.median, "number");
  assertEquals(doc.drift.rounds, 3);
  assertEquals(doc.drift.perSize.map((d: { size: number }) => d.size), [512, MIB]);
});

Deno.test("formatTable() shows every size and series with ratios on the user-level line", () => {
  const table = formatTable(analyze(trials()));
  const lines = table.split("\n");
  assertEquals(lines.length, 2 + 6);
  assertStringIncludes(lines[0]!, "U/K MiB/s");
  assertStringIncludes(lines[2]!, "512 B");
  assertStringIncludes(lines[2]!, "in-kernel");
  assertStringIncludes(lines[3]!, "user-level");
  assertStringIncludes(lines[3]!, (11 / 13).toFixed(3));
  assertStringIncludes(lines[5]!, "1 MiB");
  assertStringIncludes(lines[7]!, "memcpy");
});

Deno.test("formatGoals() marks each goal", () => {
  const text = formatGoals(analyze(trials()));
  assertEquals(text.match(/^(MET |MISS|n\/a )/gm)?.length, 3);
  assertStringIncludes(text, "512 B >= 0.90");
});

Deno.test("formatNumber() keeps about three significant digits", () => {
  assertEquals(
    [0.012345, 1.5, 12.34, 123.4, 12345, 2_500_000, undefined].map(formatNumber),
    ["0.012", "1.50", "12.3", "123", "12.3k", "2.50M", "-"],
  );
});
