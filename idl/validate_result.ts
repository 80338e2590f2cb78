/**
 * Checking the result of an invocation against a method's IDL signature.
 *
 * @module
 */

import type { IdlSchema, MethodSchema } from "./types.ts";
import { checkValue, type Subject } from "./_validate.ts";

const RESULT: Subject = { prefix: "result", suffix: "" };

/**
 * Throws `TypeError` unless `value` is a valid value of `method`'s return type (`undefined` for
 * `void`), by the same rules as `validateArgs`. The message starts with `where`, e.g.
 * `IBlock.read: result must be int (an integer number in -2147483648..2147483647), got string "x"`.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { parseIdl } from "./parse_idl.ts";
 * import { validateResult } from "./validate_result.ts";
 * const schema = parseIdl("interface IBlock { int get_block_size(); };");
 * const method = schema.interfaces.IBlock!.methods[0]!;
 * validateResult(schema, method, 512, "IBlock.get_block_size");
 * assertThrows(
 *   () => validateResult(schema, method, 512n, "IBlock.get_block_size"),
 *   TypeError,
 *   "IBlock.get_block_size: result must be int",
 * );
 * ```
 */
export function validateResult(
  schema: IdlSchema,
  method: MethodSchema,
  value: unknown,
  where: string,
): void {
  checkValue(schema, method.returns, value, where, RESULT, "");
}
