/**
 * The error the IDL compiler reports for text it cannot accept.
 *
 * @module
 */

/** Where an {@linkcode IdlSyntaxError} happened and what caused it. */
export interface IdlSyntaxErrorOptions {
  /** 1-based line of the offending token. */
  readonly line: number;
  /** 1-based column (in UTF-16 code units) of the offending token. */
  readonly column: number;
  /** The file the text came from, if known. */
  readonly file?: string | undefined;
  /** The underlying error, if any. */
  readonly cause?: unknown;
}

/**
 * IDL text that does not parse, or that parses but does not make sense (an unknown type, a
 * duplicate name, a recursive struct). The `message` starts with `FILE:LINE:COL: `; `reason` is the
 * message without that prefix.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { IdlSyntaxError } from "./idl_syntax_error.ts";
 * const e = new IdlSyntaxError('Unknown type "blk"', { line: 2, column: 7, file: "a.idl" });
 * assert(e instanceof SyntaxError);
 * assertEquals(e.message, 'a.idl:2:7: Unknown type "blk"');
 * assertEquals(e.reason, 'Unknown type "blk"');
 * ```
 */
export class IdlSyntaxError extends SyntaxError {
  /** Always `"IdlSyntaxError"`. */
  override name = "IdlSyntaxError";
  /** 1-based line of the offending token. */
  readonly line: number;
  /** 1-based column (in UTF-16 code units) of the offending token. */
  readonly column: number;
  /** The file the text came from, if known. */
  readonly file?: string;
  /** What was wrong, without the location prefix. */
  readonly reason: string;

  /** Makes an error for `reason` at the given place. */
  constructor(reason: string, options: IdlSyntaxErrorOptions) {
    const where = `${options.file ?? "<input>"}:${options.line}:${options.column}`;
    super(
      `${where}: ${reason}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.line = options.line;
    this.column = options.column;
    if (options.file !== undefined) this.file = options.file;
    this.reason = reason;
  }
}
