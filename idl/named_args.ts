/**
 * Turning named arguments into positional ones.
 *
 * @module
 */

import type { MethodSchema } from "./types.ts";
import { formatType } from "./format_type.ts";
import { isPlainObject } from "./_resolve.ts";

/** Options for {@linkcode namedArgs}. */
export interface NamedArgsOptions {
  /** The prefix of error messages, e.g. `"IBlock.read"`; defaults to the method's name. */
  readonly where?: string;
}

/**
 * Puts the values of `record` (one own property per parameter name) in parameter order. Throws
 * `TypeError` for a name the method does not take and for a parameter with no value. The values
 * themselves are not checked; pass the result to `validateArgs` for that.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { parseIdl } from "./parse_idl.ts";
 * import { namedArgs } from "./named_args.ts";
 * const schema = parseIdl("interface IBlock { int read(cap_t notify, block_seq data); };");
 * const read = schema.interfaces.IBlock!.methods[0]!;
 * assertEquals(namedArgs(read, { data: "D", notify: "N" }), ["N", "D"]);
 * assertThrows(
 *   () => namedArgs(read, { notify: "N" }, { where: "IBlock.read" }),
 *   TypeError,
 *   'IBlock.read: missing argument "data" (block_seq)',
 * );
 * ```
 */
export function namedArgs(
  method: MethodSchema,
  record: Readonly<Record<string, unknown>>,
  options: NamedArgsOptions = {},
): unknown[] {
  const where = options.where ?? method.name;
  if (!isPlainObject(record)) {
    throw new TypeError(`${where}: named arguments must be a plain object`);
  }
  const names = method.params.map((p) => p.name);
  for (const key of Object.keys(record)) {
    if (!names.includes(key)) {
      const takes = names.length === 0 ? "takes none" : `takes ${names.join(", ")}`;
      throw new TypeError(`${where}: unknown argument "${key}" (${takes})`);
    }
  }
  return method.params.map((p) => {
    if (!Object.hasOwn(record, p.name)) {
      throw new TypeError(`${where}: missing argument "${p.name}" (${formatType(p.type)})`);
    }
    return record[p.name];
  });
}
