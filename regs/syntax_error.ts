/**
 * The error a register description compiles to when it is wrong.
 *
 * @module
 */

/** Where a {@linkcode RegsSyntaxError} points. */
export interface RegsSyntaxErrorOptions {
  /** 1-based line. */
  line: number;
  /** 1-based column, in UTF-16 code units. */
  column: number;
  /** The file the text came from, if known. */
  file?: string;
  /** What caused the error, if anything. */
  cause?: unknown;
}

/**
 * A register description that does not parse or does not make sense (overlapping fields, a
 * register outside its window, ...). `message` starts with `FILE:LINE:COL: ` (or `LINE:COL: `
 * without a file); `reason` is the message alone.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { RegsSyntaxError } from "./syntax_error.ts";
 * const error = new RegsSyntaxError("Unknown access mode \"rx\"", { line: 3, column: 20, file: "a.regs" });
 * assertEquals(error.message, "a.regs:3:20: Unknown access mode \"rx\"");
 * assertEquals(error instanceof SyntaxError, true);
 * ```
 */
export class RegsSyntaxError extends SyntaxError {
  /** `"RegsSyntaxError"`. */
  override name = "RegsSyntaxError";
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** The file the text came from, if known. */
  readonly file: string | undefined;
  /** The message without the position. */
  readonly reason: string;

  /** An error saying `reason` about the text at `options.line` and `options.column`. */
  constructor(reason: string, options: RegsSyntaxErrorOptions) {
    const where = `${
      options.file === undefined ? "" : `${options.file}:`
    }${options.line}:${options.column}`;
    super(
      `${where}: ${reason}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.line = options.line;
    this.column = options.column;
    this.file = options.file;
    this.reason = reason;
  }
}
