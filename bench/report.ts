/**
 * The study's outputs: the terminal table, the goals summary, the CSV (one row per size and
 * series) and the JSON document (configuration, machine, results, goals and every raw trial).
 *
 * @module
 */

import { type Analysis, formatSize, type RatioResult, type SeriesResult } from "./results.ts";
import { relativeIqr, type Summary } from "./stats.ts";
import { tableLines } from "./table.ts";
import {
  type Host,
  type InterruptCounts,
  isCopy,
  STUDY_IRQ_RATE,
  type StudyConfig,
  type Trial,
} from "./study.ts";

/** What the run was on and how it was called: recorded in the JSON file. */
export interface RunInfo {
  readonly started: string;
  readonly seconds: number;
  readonly argv: readonly string[];
  readonly deno: string;
  readonly v8: string;
  readonly os: string;
  readonly arch: string;
  readonly cpus: number;
  /** 1-, 5- and 15-minute load averages at the start, when `--allow-sys=loadavg` was given. */
  readonly loadavg: readonly number[] | undefined;
  readonly imageBytes: number;
  /** Per host, its disk line's interrupts over the run. */
  readonly interrupts: Readonly<Record<Host, InterruptCounts>>;
}

const LABEL: Record<string, string> = {
  kernel: "in-kernel",
  worker: "user-level",
  copy: "memcpy",
  shared: "memcpy to shared",
};

/** The human name of a series, as the table and the plots show it. */
export function seriesLabel(series: string): string {
  return LABEL[series] ?? series;
}

/** A number with about three significant digits, and k/M suffixes for large ones. */
export function formatNumber(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "-";
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(n / 1e3).toPrecision(3)}k`;
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(2);
}

function percent(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "-";
  return n >= 0.1 ? `${(n * 100).toFixed(0)}%` : `${(n * 100).toFixed(1)}%`;
}

function spread(s: Summary): string {
  return `±${(relativeIqr(s) * 50).toFixed(relativeIqr(s) < 0.2 ? 1 : 0)}%`;
}

/**
 * The terminal table: per size one line per series with medians, the half-IQR as a percentage
 * of the median (the spread), CPU per MiB and load, the fraction of copy bandwidth, and on the
 * user-level line its ratios to in-kernel.
 */
export function formatTable(analysis: Analysis): string {
  const head = [
    "size",
    "series",
    "MiB/s",
    "spread",
    "req/s",
    "CPU ms/MiB",
    "CPU load",
    "of copy",
    "of shared",
    "p50 µs",
    "p99 µs",
    "U/K MiB/s",
    "U/K req/s",
    "U/K CPU/MiB",
  ];
  const rows: string[][] = [];
  const ratioAt = new Map<number, RatioResult>(analysis.ratios.map((r) => [r.size, r]));
  let last = -1;
  for (const s of analysis.series) {
    const r = s.series === "worker" ? ratioAt.get(s.size) : undefined;
    rows.push([
      s.size === last ? "" : formatSize(s.size),
      seriesLabel(s.series),
      formatNumber(s.mibps.median),
      spread(s.mibps),
      formatNumber(s.opsps.median),
      isCopy(s.series) ? "" : formatNumber(s.cpuMsPerMib.median),
      isCopy(s.series) ? "" : percent(s.cpuLoad.median),
      s.series === "copy" ? "" : percent(s.ofCopy),
      isCopy(s.series) ? "" : percent(s.ofShared),
      s.p50Us ? formatNumber(s.p50Us.median) : "",
      s.p99Us ? formatNumber(s.p99Us.median) : "",
      r ? r.mibps.median.toFixed(3) : "",
      r ? r.opsps.median.toFixed(3) : "",
      r ? r.cpuMsPerMib.median.toFixed(2) : "",
    ]);
    last = s.size;
  }
  return tableLines(head, rows, { left: 2 }).join("\n");
}

/** The goals, one line each: met, missed or not measured, with the numbers. */
export function formatGoals(analysis: Analysis): string {
  return analysis.goals.map((g) => {
    const mark = g.met === undefined ? "n/a " : g.met ? "MET " : "MISS";
    return `${mark}  ${g.goal}\n      ${g.detail}`;
  }).join("\n");
}

const STATS = ["median", "q1", "q3", "min", "max"] as const;

/** Quotes a CSV field when it needs it (RFC 4180). */
export function csvField(value: string | number | undefined): string {
  if (value === undefined) return "";
  const s = typeof value === "number" ? (Number.isFinite(value) ? String(value) : "") : value;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * The CSV: one row per (size, series); each metric as median, quartiles and extremes; on
 * user-level rows the median per-round ratios to in-kernel. Copy rows leave the CPU columns
 * empty (the copy's CPU cost is its wall time).
 */
export function toCsv(analysis: Analysis, depth: number): string {
  const metrics = ["mibps", "reqps", "cpu_ms_per_mib", "cpu_load", "p50_us", "p99_us"] as const;
  const header = [
    "size_bytes",
    "series",
    "label",
    "depth",
    "trials",
    ...metrics.flatMap((m) => STATS.map((s) => `${m}_${s}`)),
    "of_copy",
    "of_shared",
    "ratio_mibps",
    "ratio_reqps",
    "ratio_cpu_ms_per_mib",
  ];
  const ratioAt = new Map<number, RatioResult>(analysis.ratios.map((r) => [r.size, r]));
  const lines = [header.join(",")];
  for (const s of analysis.series) {
    const r = s.series === "worker" ? ratioAt.get(s.size) : undefined;
    const summaries: (Summary | undefined)[] = [
      s.mibps,
      s.opsps,
      isCopy(s.series) ? undefined : s.cpuMsPerMib,
      isCopy(s.series) ? undefined : s.cpuLoad,
      s.p50Us,
      s.p99Us,
    ];
    const cells: (string | number | undefined)[] = [
      s.size,
      s.series,
      seriesLabel(s.series),
      depth,
      s.trials,
      ...summaries.flatMap((m) => STATS.map((k) => m?.[k])),
      s.series === "copy" ? undefined : s.ofCopy,
      isCopy(s.series) ? undefined : s.ofShared,
      r?.mibps.median,
      r?.opsps.median,
      r?.cpuMsPerMib.median,
    ];
    lines.push(cells.map(csvField).join(","));
  }
  return lines.join("\n") + "\n";
}

/** The JSON document of a run. */
export interface StudyDocument {
  readonly kind: "mungi-bench";
  readonly version: 1;
  readonly run: RunInfo;
  readonly config: StudyConfig;
  /** The interrupt rate limit both kernels ran with (see `STUDY_IRQ_RATE`). */
  readonly irqRate: { readonly perSecond: number; readonly burst: number };
  readonly series: readonly SeriesResult[];
  readonly ratios: readonly RatioResult[];
  readonly goals: Analysis["goals"];
  readonly drift?: Analysis["drift"];
  readonly trials: readonly Trial[];
}

/** The JSON text of a run (numbers as they are; undefined fields left out). */
export function toJson(
  run: RunInfo,
  config: StudyConfig,
  analysis: Analysis,
  trials: readonly Trial[],
): string {
  const doc: StudyDocument = {
    kind: "mungi-bench",
    version: 1,
    run,
    config,
    irqRate: STUDY_IRQ_RATE,
    series: analysis.series,
    ratios: analysis.ratios,
    goals: analysis.goals,
    ...(analysis.drift ? { drift: analysis.drift } : {}),
    trials,
  };
  return JSON.stringify(doc, null, 2) + "\n";
}
