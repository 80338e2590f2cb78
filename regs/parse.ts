/**
 * Parsing and checking register descriptions.
 *
 * A description is line-oriented text; `#` starts a comment, and a comment at the end of a
 * declaration's line becomes its documentation in generated code.
 *
 * ```text
 * device ata                       # one device per file
 * window cmd 4096 ports            # NAME SIZE [ports]: a page-granular register window
 * window bm 4096
 *
 * #        NAME    WINDOW OFFSET WIDTH ACCESS OPTIONS
 * register status  cmd    0x7    8     ro     reset 0x50 {
 *   BSY  [7]                       # NAME [BIT] or NAME [HIGH:LOW], then optionally
 *   ERR  [0]                       #   an access override and/or an enum
 * }
 * register command cmd    0x7    8     wo     doorbell {
 *   CMD [7:0] { READ_SECTORS = 0x20, WRITE_SECTORS = 0x30 }
 * }
 * register bm_status bm    0x2    8     rw {
 *   INTR [2] w1c                   # a field narrowing its register's access mode
 *   DIR  [3] as Direction {        # an enum, one value per line, renamed
 *     TO_DEVICE = 0
 *     TO_MEMORY = 1
 *   }
 * }
 * ```
 *
 * - Numbers are decimal, `0x` hex or `0b` binary, with `_` allowed between digits.
 * - Names start with a letter and are at most 32 characters; `lba_low`, `LBA_LOW` and `lbaLow`
 *   all become `lbaLow` in TypeScript, so they count as the same name.
 * - Widths are 8, 16 or 32 bits; registers are aligned to their width and lie inside their
 *   window; window sizes are multiples of 4096.
 * - A `ports` window is I/O port space (IA-32 `in`/`out`): a register sits at one port, so the
 *   16-bit ATA data register at 0 leaves port 1 to the error register. In a memory window a
 *   register covers `width / 8` bytes.
 * - Access modes: `rw`, `ro`, `wo` and `w1c` (write 1 to clear). A field may narrow its
 *   register's mode: in a `rw` register a field may be `ro`, `wo` or `w1c`; in a `w1c` register
 *   a field may be `ro`.
 * - Options: `reset VALUE` (default 0) and `doorbell` (writes have side effects on the device).
 * - Registers in one window may not overlap, except a `ro` and a `wo` register of the same width
 *   at the same offset (ATA `status` and `command`).
 * - Field names may not be `bits`, `valueOf` or other names readers and writers define.
 * - A field's enum is named after the field (`CMD` gives `Cmd`) unless renamed with `as Name`:
 *   `MODE [1:0] as Mode { OFF = 0, ON = 1 }`. Items in braces are separated by newlines or
 *   commas.
 *
 * @module
 */

import { parseRaw, type Problem } from "./_parser.ts";
import { validate } from "./_validate.ts";
import { RegsSyntaxError } from "./syntax_error.ts";
import type { RegsDesc } from "./types.ts";

/** Options for {@linkcode parseRegs} and {@linkcode checkRegs}. */
export interface ParseRegsOptions {
  /** The file name to put in errors. */
  file?: string;
}

/** What {@linkcode checkRegs} found: a description if there were no errors. */
export interface CheckRegsResult {
  /** The checked description; present exactly when `errors` is empty. */
  desc?: RegsDesc;
  /** Every error found, in source order. */
  errors: RegsSyntaxError[];
}

/**
 * Checks a register description and collects all errors: every semantic error, and syntax errors
 * line by line (a line that does not parse is skipped). Never throws for any input text.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkRegs } from "./parse.ts";
 * const { errors } = checkRegs("device d\nwindow io 4096\nregister r io 0 8 rx\n", { file: "d.regs" });
 * assertEquals(errors.map((e) => e.message), [
 *   'd.regs:3:19: Unknown access mode "rx": expected rw, ro, wo or w1c',
 * ]);
 * ```
 */
export function checkRegs(source: string, options: ParseRegsOptions = {}): CheckRegsResult {
  const { file, errors: syntax } = parseRaw(source);
  const { desc, errors: semantic } = validate(file);
  const problems: Problem[] = [...syntax, ...semantic];
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  const errors = problems.map((p) =>
    new RegsSyntaxError(p.message, {
      line: p.line,
      column: p.column,
      ...(options.file !== undefined && { file: options.file }),
    })
  );
  return errors.length === 0 ? { desc, errors } : { errors };
}

/**
 * Parses and checks a register description.
 *
 * @throws {RegsSyntaxError} the first error, if there is any.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseRegs } from "./parse.ts";
 * const desc = parseRegs(`
 * device uart
 * window io 4096
 * register lsr io 0x5 8 ro reset 0x60 {
 *   THRE [5]   # transmit holding register empty
 *   DR [0]     # data ready
 * }
 * `);
 * assertEquals(desc.registers[0]?.fields.map((f) => [f.name, f.msb, f.lsb]), [["THRE", 5, 5], ["DR", 0, 0]]);
 * ```
 */
export function parseRegs(source: string, options: ParseRegsOptions = {}): RegsDesc {
  const { desc, errors: [first] } = checkRegs(source, options);
  if (desc !== undefined) return desc;
  throw first; // checkRegs returns a description exactly when there are no errors
}
