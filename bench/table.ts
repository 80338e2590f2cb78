/**
 * Plain-text tables for the bench's reports: columns as wide as their widest cell, the first
 * `left` columns left-aligned and the rest right-aligned, two spaces apart.
 *
 * @module
 */

/**
 * The lines of a table: the header, a rule of dashes under it (unless `rule` is false), then the
 * rows; trailing blanks are trimmed.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tableLines } from "./table.ts";
 * assertEquals(tableLines(["name", "n"], [["a", "10"], ["bb", "2"]]), [
 *   "name   n",
 *   "----  --",
 *   "a     10",
 *   "bb     2",
 * ]);
 * ```
 */
export function tableLines(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  options: { left?: number; rule?: boolean } = {},
): string[] {
  const left = options.left ?? 1;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join("  ")
      .trimEnd();
  return [
    line(head),
    ...(options.rule === false ? [] : [widths.map((w) => "-".repeat(w)).join("  ")]),
    ...rows.map(line),
  ];
}
