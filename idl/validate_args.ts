/**
 * Checking the arguments of an invocation against a method's IDL signature.
 *
 * @module
 */

import type { IdlSchema, MethodSchema } from "./types.ts";
import { formatType } from "./format_type.ts";
import { checkValue, type Subject } from "./_validate.ts";

const ARGUMENT: Subject = { prefix: 'argument "', suffix: '"' };

/**
 * Throws `TypeError` unless `args` are exactly the arguments `method` takes, each a valid value of
 * its IDL type. The message starts with `where` and names the offending argument path and the
 * expected type:
 *
 * - ints of up to 32 bits are integer numbers in range; `i64`/`u64` are bigints in range;
 * - `bool`, `string` are booleans and strings; `bytes` is a `Uint8Array`;
 * - `cap_t` is a plain object with exactly `address` and `password`, bigints in 0..2^64-1;
 * - a `sequence<T>` is an array whose every element is a `T`; a `sequence<u64>` may also be a
 *   `BigUint64Array` and a `sequence<i64>` a `BigInt64Array` (every element is in range by
 *   construction, so a block list of thousands costs nothing to check);
 * - an enum is a number that is one of its values;
 * - a struct is a plain object with exactly its declared fields.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { parseIdl } from "./parse_idl.ts";
 * import { validateArgs } from "./validate_args.ts";
 * const schema = parseIdl("interface IBlock { int read(cap_t notify, block_seq data); };");
 * const read = schema.interfaces.IBlock!.methods[0]!;
 * const notify = { address: 0x1000n, password: 7n };
 * const buffer = { address: 1n, password: 2n };
 * validateArgs(schema, read, [notify, { blocks: [1n, 2n], addr: 0x2000n, buffer }], "IBlock.read");
 * const blocks = new BigUint64Array([1n, 2n]);
 * validateArgs(schema, read, [notify, { blocks, addr: 0x2000n, buffer }], "IBlock.read");
 * assertThrows(
 *   () => validateArgs(schema, read, [notify, { blocks: [1n, 2n, 3], addr: 0n, buffer }], "IBlock.read"),
 *   TypeError,
 *   'IBlock.read: argument "data.blocks[2]" must be u64 (a bigint in 0..18446744073709551615), got number 3',
 * );
 * ```
 */
export function validateArgs(
  schema: IdlSchema,
  method: MethodSchema,
  args: readonly unknown[],
  where: string,
): void {
  const params = method.params;
  if (args.length > params.length) {
    throw new TypeError(
      `${where}: unexpected extra argument #${params.length + 1} (takes ${params.length})`,
    );
  }
  for (let i = 0; i < params.length; i++) {
    const param = params[i]!;
    if (i >= args.length) {
      throw new TypeError(
        `${where}: missing argument "${param.name}" (${formatType(param.type)})`,
      );
    }
    checkValue(schema, param.type, args[i], where, ARGUMENT, param.name);
  }
}
