// The value checker behind validateArgs and validateResult.

import type { IdlSchema, TypeRef } from "./types.ts";
import { formatType } from "./format_type.ts";
import {
  describeType,
  describeValue,
  INT_RANGES,
  isPlainObject,
  resolve,
  U64_MAX,
} from "./_resolve.ts";

/** How to name the thing at `path` in a message: `argument "data.blocks[2]"`, `result[1]`. */
export type Subject = (path: string) => string;

/** Deeper values than this are refused rather than risking the stack (no real schema nests so). */
const MAX_DEPTH = 256;

/**
 * Throws `TypeError` (`WHERE: SUBJECT must be TYPE (HINT), got VALUE`) unless `value` is a valid
 * value of `type`.
 */
export function checkValue(
  schema: IdlSchema,
  type: TypeRef,
  value: unknown,
  where: string,
  subject: Subject,
  path: string,
  depth = 0,
): void {
  const fail = (): never => {
    throw new TypeError(
      `${where}: ${subject(path)} must be ${describeType(schema, type, where)}, got ${
        describeValue(value)
      }`,
    );
  };
  if (depth > MAX_DEPTH) {
    throw new TypeError(`${where}: ${subject(path)} is nested more than ${MAX_DEPTH} deep`);
  }
  const r = resolve(schema, type, where);
  switch (r.kind) {
    case "void":
      if (value !== undefined) fail();
      return;
    case "int": {
      const range = INT_RANGES[r.name];
      if (range.big) {
        if (typeof value !== "bigint" || value < range.min || value > range.max) fail();
      } else if (
        typeof value !== "number" || !Number.isInteger(value) || value < Number(range.min) ||
        value > Number(range.max)
      ) fail();
      return;
    }
    case "bool":
      if (typeof value !== "boolean") fail();
      return;
    case "string":
      if (typeof value !== "string") fail();
      return;
    case "bytes":
      if (!(value instanceof Uint8Array)) fail();
      return;
    case "enum":
      if (typeof value !== "number" || !r.values.some((v) => v.value === value)) fail();
      return;
    case "sequence": {
      const of = resolve(schema, r.of, where);
      if (!Array.isArray(value)) {
        // A BigUint64Array is a sequence<u64> (a BigInt64Array a sequence<i64>) whose every
        // element is in range by construction: nothing to check per element.
        if (
          of.kind === "int" &&
          (of.name === "u64"
            ? value instanceof BigUint64Array
            : of.name === "i64" && value instanceof BigInt64Array)
        ) return;
        fail();
      }
      const items = value as unknown[];
      if (of.kind === "int" && INT_RANGES[of.name].big) {
        // E5: sequence<u64> (block lists): one tight loop, the message built only on failure.
        const { min, max } = INT_RANGES[of.name];
        for (let i = 0; i < items.length; i++) {
          const v = items[i];
          if (typeof v !== "bigint" || v < min || v > max) {
            checkValue(schema, r.of, v, where, subject, `${path}[${i}]`, depth + 1);
          }
        }
        return;
      }
      for (let i = 0; i < items.length; i++) {
        checkValue(schema, r.of, items[i], where, subject, `${path}[${i}]`, depth + 1);
      }
      return;
    }
    case "cap": {
      if (!isPlainObject(value)) fail();
      const cap = value as Record<string, unknown>;
      checkFields(cap, ["address", "password"], where, subject, path, "cap_t", () => "u64");
      for (const key of ["address", "password"]) {
        const half = cap[key];
        if (typeof half !== "bigint" || half < 0n || half > U64_MAX) {
          throw new TypeError(
            `${where}: ${subject(`${path}.${key}`)} must be a bigint in 0..${U64_MAX}, got ${
              describeValue(half)
            }`,
          );
        }
      }
      return;
    }
    case "struct": {
      if (!isPlainObject(value)) fail();
      const record = value as Record<string, unknown>;
      const names = r.fields.map((f) => f.name);
      checkFields(record, names, where, subject, path, r.name, (name) => {
        const field = r.fields.find((f) => f.name === name);
        return field === undefined ? "?" : formatType(field.type);
      });
      for (const field of r.fields) {
        checkValue(
          schema,
          field.type,
          record[field.name],
          where,
          subject,
          `${path}.${field.name}`,
          depth + 1,
        );
      }
      return;
    }
  }
}

/** Throws unless `record`'s own enumerable keys are exactly `names`. */
function checkFields(
  record: Record<string, unknown>,
  names: readonly string[],
  where: string,
  subject: Subject,
  path: string,
  typeName: string,
  fieldType: (name: string) => string,
): void {
  for (const name of names) {
    if (!Object.hasOwn(record, name)) {
      throw new TypeError(
        `${where}: ${subject(path)} is missing field "${name}" (${fieldType(name)})`,
      );
    }
  }
  for (const key of Object.keys(record)) {
    if (!names.includes(key)) {
      const has = names.length === 0 ? "has no fields" : `has fields ${names.join(", ")}`;
      throw new TypeError(
        `${where}: ${subject(path)} has unexpected field "${key}" (${typeName} ${has})`,
      );
    }
  }
}
