// Helpers shared by the runtime checks: resolving named types and describing types and values.

import type { IdlSchema, IntName, TypeDef, TypeRef } from "./types.ts";
import { formatType } from "./format_type.ts";

/** A type with every alias followed: a non-named type reference, a struct or an enum. */
export type Resolved =
  | Exclude<TypeRef, { kind: "named" }>
  | Extract<TypeDef, { kind: "struct" }>
  | Extract<TypeDef, { kind: "enum" }>;

/** The range of each integer type, and whether its values are bigints. */
export const INT_RANGES: Readonly<Record<IntName, { min: bigint; max: bigint; big: boolean }>> = {
  int: { min: -(2n ** 31n), max: 2n ** 31n - 1n, big: false },
  i8: { min: -(2n ** 7n), max: 2n ** 7n - 1n, big: false },
  i16: { min: -(2n ** 15n), max: 2n ** 15n - 1n, big: false },
  i32: { min: -(2n ** 31n), max: 2n ** 31n - 1n, big: false },
  i64: { min: -(2n ** 63n), max: 2n ** 63n - 1n, big: true },
  u8: { min: 0n, max: 2n ** 8n - 1n, big: false },
  u16: { min: 0n, max: 2n ** 16n - 1n, big: false },
  u32: { min: 0n, max: 2n ** 32n - 1n, big: false },
  u64: { min: 0n, max: 2n ** 64n - 1n, big: true },
};

/** The largest unsigned 64-bit value, the range of both halves of a capability. */
export const U64_MAX = 2n ** 64n - 1n;

/**
 * Follows aliases until a struct, an enum or an unnamed type. Throws `TypeError` (prefixed with
 * `where`) for a name the schema lacks or an alias cycle, which only a hand-made schema can have.
 */
export function resolve(schema: IdlSchema, t: TypeRef, where: string): Resolved {
  let current = t;
  const types = schema.types;
  for (let steps = 0; current.kind === "named"; steps++) {
    const name = current.name;
    const def = Object.hasOwn(types, name) ? types[name] : undefined;
    if (def === undefined) throw new TypeError(`${where}: the schema has no type "${name}"`);
    if (def.kind !== "alias") return def;
    if (steps > 64 && steps > Object.keys(types).length) {
      throw new TypeError(`${where}: the schema's type "${name}" is an alias of itself`);
    }
    current = def.type;
  }
  return current;
}

/** What a value of type `t` must look like, e.g. `u8 (an integer number in 0..255)`. */
export function describeType(schema: IdlSchema, t: TypeRef, where: string): string {
  const r = resolve(schema, t, where);
  if (r.kind === "sequence") {
    const of = resolve(schema, r.of, where);
    if (of.kind === "int" && (of.name === "u64" || of.name === "i64")) {
      const typed = of.name === "u64" ? "BigUint64Array" : "BigInt64Array";
      return `${formatType(t)} (an array or a ${typed})`;
    }
  }
  return `${formatType(t)} (${hint(r)})`;
}

function hint(r: Resolved): string {
  switch (r.kind) {
    case "void":
      return "undefined";
    case "int": {
      const range = INT_RANGES[r.name];
      return `${range.big ? "a bigint" : "an integer number"} in ${range.min}..${range.max}`;
    }
    case "bool":
      return "a boolean";
    case "string":
      return "a string";
    case "bytes":
      return "a Uint8Array";
    case "cap":
      return `an object { address, password } of bigints in 0..${U64_MAX}`;
    case "sequence":
      return "an array";
    case "struct":
      return r.fields.length === 0
        ? "an empty object"
        : `an object with fields ${r.fields.map((f) => f.name).join(", ")}`;
    case "enum":
      return `one of ${r.values.map((v) => `${v.name} = ${v.value}`).join(", ")}`;
  }
}

/** Describes a value for a message: `number 3`, `string "x"`, `array of length 2`, `null`. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (value instanceof Uint8Array) return `Uint8Array of length ${value.length}`;
  if (value instanceof BigUint64Array) return `BigUint64Array of length ${value.length}`;
  if (value instanceof BigInt64Array) return `BigInt64Array of length ${value.length}`;
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "number":
    case "boolean":
      return `${typeof value} ${value}`;
    case "bigint":
      return `bigint ${value}n`;
    case "string": {
      const quoted = JSON.stringify(value.length > 40 ? value.slice(0, 37) + "..." : value);
      return `string ${quoted}`;
    }
    case "object": {
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        const name = proto?.constructor?.name;
        return typeof name === "string" && name !== "" ? `${name} object` : "object";
      }
      const keys = Object.keys(value);
      if (keys.length === 0) return "empty object";
      const shown = keys.length > 8 ? [...keys.slice(0, 8), "..."] : keys;
      return `object with fields ${shown.join(", ")}`;
    }
    default:
      return typeof value;
  }
}

/** Whether `value` is a plain object (`{...}` or `Object.create(null)`), not an array or class. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
