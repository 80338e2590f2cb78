/**
 * Parameter lists of scalar types (integers, `bool`, `cap_t`): every value a method's layout
 * decodes for such a parameter is a value of its type, whatever the bytes were, so arguments
 * decoded that way need no check against a method with the very same parameter types.
 *
 * @module
 */

import type { TypeRef } from "./types.ts";

/** Whether `type` is an integer, `bool` or `cap_t` type written as such. */
export function isScalar(type: TypeRef): boolean {
  return type.kind === "int" || type.kind === "bool" || type.kind === "cap";
}

/**
 * Whether every value of the parameter types `decoded` (a layout's `scalars`, see
 * `kernel/hosts/layout.ts`) is a value of the parameters `params`: the same scalar types, one for
 * one. Then arguments decoded by that layout need no check against `params`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sameScalars } from "./scalars.ts";
 * const int = { kind: "int", name: "int" } as const;
 * assertEquals(sameScalars([int, int], [{ type: int }, { type: int }]), true);
 * assertEquals(sameScalars([int], [{ type: { kind: "int", name: "u8" } }]), false);
 * assertEquals(sameScalars([int], [{ type: { kind: "named", name: "Status" } }]), false);
 * ```
 */
export function sameScalars(
  decoded: readonly TypeRef[],
  params: readonly { readonly type: TypeRef }[],
): boolean {
  if (decoded.length !== params.length) return false;
  for (let i = 0; i < decoded.length; i++) {
    const a = decoded[i]!, b = params[i]!.type;
    if (!isScalar(a) || a.kind !== b.kind) return false;
    if (a.kind === "int" && a.name !== (b as { name: string }).name) return false;
  }
  return true;
}
