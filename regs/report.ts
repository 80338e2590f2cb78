/**
 * The text of `mungi regs check FILE`: the register map of a good description, or its errors.
 *
 * @module
 */

import type { CheckRegsResult } from "./parse.ts";
import type { FieldDesc, RegisterDesc, RegsDesc, WindowDesc } from "./types.ts";

/** What {@linkcode formatRegsReport} returns. */
export interface RegsReport {
  /** Lines separated by `\n`, without a final newline. */
  text: string;
  /** Whether the description had no errors. */
  ok: boolean;
}

function hex(value: number, digits: number): string {
  return `0x${value.toString(16).padStart(digits, "0")}`;
}

function bits(f: FieldDesc): string {
  return f.msb === f.lsb ? `[${f.msb}]` : `[${f.msb}:${f.lsb}]`;
}

/** Rows of [text, comment], with the comments lined up after the longest text. */
function aligned(rows: readonly (readonly [string, string | undefined])[]): string[] {
  const width = Math.max(0, ...rows.filter(([, doc]) => doc).map(([text]) => text.length));
  return rows.map(([text, doc]) => doc ? `${text.padEnd(width)}  # ${doc}` : text);
}

function windowLines(window: WindowDesc, registers: readonly RegisterDesc[]): string[] {
  const unit = window.ports ? "I/O ports" : "bytes";
  const rows: [string, string | undefined][] = [
    [`window ${window.name} (${window.size} ${unit})`, window.doc],
  ];
  const digits = Math.max(2, (window.size - 1).toString(16).length);
  const nameWidth = Math.max(0, ...registers.map((r) => r.name.length));
  const resetWidth = Math.max(0, ...registers.map((r) => r.width / 4));
  const order = { ro: 0, rw: 1, w1c: 2, wo: 3 };
  const sorted = [...registers].sort((a, b) =>
    a.offset - b.offset || order[a.access] - order[b.access]
  );
  const indent = " ".repeat(2 + digits + 2 + 2 + 2 + 3 + 2 + 2);
  for (const r of sorted) {
    const head = [
      hex(r.offset, digits),
      String(r.width).padStart(2),
      r.access.padEnd(3),
      r.name.padEnd(nameWidth),
      `reset ${hex(r.reset, r.width / 4).padEnd(resetWidth + 2)}`,
      r.doorbell ? "doorbell" : "",
    ];
    rows.push([`  ${head.join("  ")}`.trimEnd(), r.doc]);
    const fieldWidth = Math.max(0, ...r.fields.map((f) => f.name.length));
    for (const f of r.fields) {
      const parts = [bits(f).padEnd(7), f.name.padEnd(fieldWidth)];
      if (f.access !== r.access) parts.push(f.access);
      if (f.enum !== undefined) parts.push(`enum ${f.enum.name}`);
      rows.push([`${indent}${parts.join("  ")}`.trimEnd(), f.doc]);
      if (f.enum === undefined) continue;
      const valueDigits = Math.ceil((f.msb - f.lsb + 1) / 4);
      for (const v of f.enum.values) {
        rows.push([`${indent}         ${hex(v.value, valueDigits)}  ${v.name}`, v.doc]);
      }
    }
  }
  return aligned(rows);
}

function mapLines(file: string, desc: RegsDesc): string[] {
  const windows = desc.windows.length === 1 ? "1 window" : `${desc.windows.length} windows`;
  const registers = desc.registers.length === 1
    ? "1 register"
    : `${desc.registers.length} registers`;
  const lines = [`${file}: device ${desc.name}, ${windows}, ${registers}`];
  for (const w of desc.windows) {
    lines.push("", ...windowLines(w, desc.registers.filter((r) => r.window === w.name)));
  }
  return lines;
}

/**
 * Formats the result of `checkRegs()` for `mungi regs check FILE`: the register map by window
 * (offset in hex, width, access, name, reset, doorbell; fields with their bit ranges, access
 * overrides and enums), or one `FILE:LINE:COL: message` line per error.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkRegs, formatRegsReport } from "./mod.ts";
 * const bad = formatRegsReport("d.regs", checkRegs("device d\nwindow io 100\n"));
 * assertEquals(bad, {
 *   ok: false,
 *   text: 'd.regs:2:11: Window "io" size 100 is not a positive multiple of 4096',
 * });
 * const good = formatRegsReport("d.regs", checkRegs("device d\nwindow io 4096\nregister id io 0 16 ro\n"));
 * assertEquals(good.text.split("\n"), [
 *   "d.regs: device d, 1 window, 1 register",
 *   "",
 *   "window io (4096 bytes)",
 *   "  0x000  16  ro   id  reset 0x0000",
 * ]);
 * ```
 */
export function formatRegsReport(file: string, result: CheckRegsResult): RegsReport {
  if (result.desc === undefined || result.errors.length > 0) {
    return {
      ok: false,
      text: result.errors.map((e) => `${file}:${e.line}:${e.column}: ${e.reason}`).join("\n"),
    };
  }
  return { ok: true, text: mapLines(file, result.desc).join("\n") };
}
