/**
 * Printing IDL types as IDL source.
 *
 * @module
 */

import type { TypeRef } from "./types.ts";

/**
 * Prints a type as it is written in IDL: `u64`, `cap_t`, `sequence<u64>`, `block_seq`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatType } from "./format_type.ts";
 * assertEquals(formatType({ kind: "sequence", of: { kind: "int", name: "u64" } }), "sequence<u64>");
 * assertEquals(formatType({ kind: "cap" }), "cap_t");
 * ```
 */
export function formatType(t: TypeRef): string {
  switch (t.kind) {
    case "int":
    case "named":
      return t.name;
    case "cap":
      return "cap_t";
    case "sequence":
      return `sequence<${formatType(t.of)}>`;
    default:
      return t.kind;
  }
}
