/**
 * Printing method signatures as IDL source.
 *
 * @module
 */

import type { MethodSchema } from "./types.ts";
import { formatType } from "./format_type.ts";

/**
 * Prints a method's signature as it is written in IDL (without the trailing `;`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatSignature } from "./format_signature.ts";
 * import { parseIdl } from "./parse_idl.ts";
 * const schema = parseIdl("interface IBlock { int read(cap_t notify, block_seq data); };");
 * const read = schema.interfaces.IBlock!.methods[0]!;
 * assertEquals(formatSignature(read), "int read(cap_t notify, block_seq data)");
 * ```
 */
export function formatSignature(method: MethodSchema): string {
  const params = method.params.map((p) => `${formatType(p.type)} ${p.name}`).join(", ");
  return `${formatType(method.returns)} ${method.name}(${params})`;
}
