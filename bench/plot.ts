/**
 * The study's two figures, after the paper's Figures 2 and 3, drawn by Vega-Lite (compiled to a
 * Vega view and rendered headless to SVG):
 *
 * - throughput: MiB/s against request size for in-kernel, user-level, memcpy and memcpy into
 *   shared memory (log scale, medians with interquartile bars), and below it the
 *   user-level/in-kernel ratio with the goals;
 * - CPU: CPU time per MiB against request size for both hosts, and below it the CPU load.
 *
 * @module
 */

import * as vega from "npm:vega@6.4.0";
import * as vl from "npm:vega-lite@6.5.0";
import { seriesLabel } from "./report.ts";
import { type Analysis, formatSize } from "./results.ts";
import { isCopy } from "./study.ts";
import type { Summary } from "./stats.ts";

interface Point {
  size: number;
  label: string;
  series: string;
  median: number;
  q1: number;
  q3: number;
}

const SERIES_ORDER = ["in-kernel", "user-level", "memcpy", "memcpy to shared"];
const COLORS = ["#1f77b4", "#d62728", "#7f7f7f", "#bcbd22"];
const WIDTH = 560;

/** A piece of a Vega-Lite spec (the package types only the top level). */
type Spec = Record<string, unknown>;

function point(size: number, series: string, s: Summary, scale = 1): Point {
  return {
    size,
    label: formatSize(size),
    series,
    median: s.median * scale,
    q1: s.q1 * scale,
    q3: s.q3 * scale,
  };
}

/** The series of `points`, in legend order. */
function domainOf(points: Point[]): string[] {
  const present = new Set(points.map((p) => p.series));
  return SERIES_ORDER.filter((s) => present.has(s));
}

/** A log-scale panel of medians with interquartile bars, one coloured line per series. */
function panel(
  points: Point[],
  sizes: string[],
  domain: string[],
  title: string,
  yTitle: string,
  log: boolean,
  rules: { y: number; text: string }[] = [],
): Spec {
  const x = {
    field: "label",
    type: "ordinal" as const,
    sort: sizes,
    title: "request size",
    axis: { labelAngle: -45 },
  };
  const color = {
    field: "series",
    type: "nominal" as const,
    title: "series",
    legend: { orient: "right", symbolType: "stroke", symbolStrokeWidth: 2 },
    sort: domain,
    scale: { domain, range: domain.map((s) => COLORS[SERIES_ORDER.indexOf(s)]!) },
  };
  const y = {
    field: "median",
    type: "quantitative" as const,
    title: yTitle,
    scale: log ? { type: "log" as const } : { zero: true },
  };
  const layers: Spec[] = [
    {
      mark: { type: "line", point: true },
      encoding: {
        x,
        y,
        color,
        strokeDash: {
          field: "series",
          type: "nominal",
          title: "series",
          sort: domain,
          legend: { orient: "right", symbolType: "stroke", symbolStrokeWidth: 2 },
          scale: { domain, range: domain.map((s) => s === "memcpy" ? [5, 3] : [1, 0]) },
        },
      },
    },
    {
      mark: { type: "rule" },
      encoding: {
        x,
        y: { field: "q1", type: "quantitative" },
        y2: { field: "q3" },
        color,
      },
    },
  ];
  if (rules.length > 0) {
    layers.push({
      data: { values: rules },
      mark: { type: "rule", strokeDash: [2, 2], color: "#2ca02c" },
      encoding: { y: { field: "y", type: "quantitative" } },
    });
    layers.push({
      data: { values: rules },
      mark: { type: "text", align: "right", dx: -4, dy: -6, color: "#2ca02c", fontSize: 10 },
      encoding: {
        y: { field: "y", type: "quantitative" },
        x: { value: WIDTH },
        text: { field: "text" },
      },
    });
  }
  return {
    title,
    width: WIDTH,
    height: 260,
    data: { values: points },
    layer: layers,
  };
}

/** The Vega-Lite spec of the throughput figure. */
export function throughputSpec(analysis: Analysis, subtitle: string | string[]): vl.TopLevelSpec {
  const sizes = [...new Set(analysis.series.map((s) => s.size))].sort((a, b) => a - b);
  const labels = sizes.map(formatSize);
  const points = analysis.series.map((s) => point(s.size, seriesLabel(s.series), s.mibps));
  const ratios = analysis.ratios.map((r) => point(r.size, "user-level", r.mibps));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Disk read throughput (cf. the paper's Figure 2)", subtitle },
    config: { font: "sans-serif" },
    vconcat: [
      panel(points, labels, domainOf(points), "throughput (median, IQR bars)", "MiB/s", true),
      panel(ratios, labels, domainOf(points), "user-level / in-kernel throughput", "ratio", false, [
        { y: 0.98, text: "goal from 64 KiB: 0.98" },
        { y: 0.9, text: "goal at 512 B: 0.90" },
        { y: 0.78, text: "paper at 512 B: 0.78" },
      ]),
    ],
  } as unknown as vl.TopLevelSpec;
}

/** The Vega-Lite spec of the CPU figure. */
export function cpuSpec(analysis: Analysis, subtitle: string | string[]): vl.TopLevelSpec {
  const hosts = analysis.series.filter((s) => !isCopy(s.series));
  const sizes = [...new Set(hosts.map((s) => s.size))].sort((a, b) => a - b);
  const labels = sizes.map(formatSize);
  const perMib = hosts.map((s) => point(s.size, seriesLabel(s.series), s.cpuMsPerMib));
  const load = hosts.map((s) => point(s.size, seriesLabel(s.series), s.cpuLoad, 100));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Disk read CPU cost (cf. the paper's Figure 3)", subtitle },
    config: { font: "sans-serif" },
    vconcat: [
      panel(
        perMib,
        labels,
        domainOf(perMib),
        "process CPU time per MiB read (median, IQR bars)",
        "ms/MiB",
        true,
      ),
      panel(
        load,
        labels,
        domainOf(perMib),
        "CPU load: process CPU time / wall time",
        "% of one core",
        false,
      ),
    ],
  } as unknown as vl.TopLevelSpec;
}

/**
 * Renders a Vega-Lite spec to SVG text, headless.
 *
 * @example
 * ```ts
 * import { renderSvg } from "./plot.ts";
 * const svg = await renderSvg({
 *   data: { values: [{ x: 1, y: 2 }] },
 *   mark: "point",
 *   encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
 * });
 * svg.startsWith("<svg"); // true
 * ```
 */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
