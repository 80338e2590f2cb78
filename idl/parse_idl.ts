/**
 * Compiling IDL text to a runtime schema.
 *
 * @module
 */

import type { IdlSchema } from "./types.ts";
import type { IdlOptions } from "./check_idl.ts";
import { compileUnit } from "./_compile_unit.ts";
import { IdlSyntaxError } from "./idl_syntax_error.ts";

/**
 * Parses and checks an IDL unit (the prelude is included implicitly) and returns its schema.
 * Throws the first error, in source order, as an `IdlSyntaxError`; no input makes it throw
 * anything else.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { parseIdl } from "./parse_idl.ts";
 * import { IdlSyntaxError } from "./idl_syntax_error.ts";
 * const schema = parseIdl(`
 *   interface IBlock {
 *       int write (cap_t notify, block_seq data);
 *       int read (cap_t notify, block_seq data);
 *       int get_block_count ();
 *       int get_block_size ();
 *   };
 * `);
 * assertEquals(schema.interfaces.IBlock?.methods.map((m) => m.name), [
 *   "write",
 *   "read",
 *   "get_block_count",
 *   "get_block_size",
 * ]);
 * assertThrows(() => parseIdl("interface I { int f() };"), IdlSyntaxError, '<input>:1:23: Expected ";"');
 * ```
 */
export function parseIdl(source: string, options: IdlOptions = {}): IdlSchema {
  const { schema, problems } = compileUnit(source);
  const first = problems[0];
  if (first !== undefined) {
    throw new IdlSyntaxError(first.reason, { ...first, file: options.file });
  }
  // compileUnit returns a schema exactly when there are no problems.
  return schema!;
}
