/**
 * A hex dump in the canonical format of `hexdump -C`: offset, sixteen bytes in two groups of
 * eight, the printable characters between bars; a run of lines equal to the one before is shown
 * as one `*`; the last line is the offset just past the data.
 *
 * @module
 */

/** Options for {@link hexdump}. */
export interface HexdumpOptions {
  /** The offset of the first byte (a disk byte offset, say). Default 0. */
  readonly offset?: number;
  /** Paints the offset column (colour on a terminal). */
  readonly paintOffset?: (text: string) => string;
}

/**
 * Formats bytes like `hexdump -C`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hexdump } from "./hexdump.ts";
 * assertEquals(
 *   hexdump(new TextEncoder().encode("mungi\n")),
 *   "00000000  6d 75 6e 67 69 0a                                 |mungi.|\n00000006",
 * );
 * ```
 */
export function hexdump(bytes: Uint8Array, options: HexdumpOptions = {}): string {
  const base = options.offset ?? 0;
  const paint = options.paintOffset ?? ((t: string) => t);
  const width = Math.max(8, (base + bytes.length).toString(16).length);
  const off = (n: number) => paint(n.toString(16).padStart(width, "0"));
  const lines: string[] = [];
  let previous: string | undefined;
  let starred = false;
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16);
    const key = row.length === 16 ? row.join(",") : undefined;
    if (key !== undefined && key === previous) {
      if (!starred) lines.push("*");
      starred = true;
      continue;
    }
    previous = key;
    starred = false;
    let hex = "";
    for (let j = 0; j < 16; j++) {
      hex += j < row.length ? row[j]!.toString(16).padStart(2, "0") + " " : "   ";
      if (j === 7) hex += " ";
    }
    let text = "";
    for (const b of row) text += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".";
    lines.push(`${off(base + i)}  ${hex} |${text}|`);
  }
  lines.push(off(base + bytes.length));
  return lines.join("\n");
}
