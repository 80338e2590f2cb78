/**
 * Checking IDL text and collecting every error found.
 *
 * @module
 */

import type { IdlSchema } from "./types.ts";
import { IdlSyntaxError } from "./idl_syntax_error.ts";
import { compileUnit } from "./_compile_unit.ts";

/** Options for {@linkcode checkIdl} and {@linkcode parseIdl}. */
export interface IdlOptions {
  /** The file name put into errors, e.g. `"interfaces/block.idl"`. */
  readonly file?: string;
}

/** What {@linkcode checkIdl} found: a schema when there are no errors, else the errors. */
export interface IdlCheckResult {
  /** The compiled unit; present exactly when `errors` is empty. */
  readonly schema?: IdlSchema;
  /** Every error found, in source order. */
  readonly errors: readonly IdlSyntaxError[];
}

/**
 * Parses and checks an IDL unit (with the prelude), collecting as many errors as it can: every
 * syntax error (each bad definition or member is skipped to the next `;` or `}`) and every
 * semantic one (unknown or duplicate names, bad enum values, recursive types, inheritance
 * clashes). "Unknown name" errors are left out when there were syntax errors, since the missing
 * definition may simply have failed to parse. Stops after 100 errors. Never throws for any input.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkIdl } from "./check_idl.ts";
 * const ok = checkIdl("interface I { void ping(); };");
 * assertEquals(ok.errors.length, 0);
 * assertEquals(ok.schema?.interfaces.I?.methods[0]?.name, "ping");
 *
 * const bad = checkIdl("struct s { blob b; u8 b; };", { file: "s.idl" });
 * assertEquals(bad.schema, undefined);
 * assertEquals(bad.errors.map((e) => e.message), [
 *   's.idl:1:12: Unknown type "blob"',
 *   's.idl:1:23: Duplicate field "b" in struct "s" (first declared at 1:17)',
 * ]);
 * ```
 */
export function checkIdl(source: string, options: IdlOptions = {}): IdlCheckResult {
  const { schema, problems } = compileUnit(source);
  const errors = problems.map((p) =>
    new IdlSyntaxError(p.reason, { line: p.line, column: p.column, file: options.file })
  );
  return schema === undefined ? { errors } : { schema, errors };
}
