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

/**
 * How a message names the value checked: `argument "data.blocks[2]"` (`prefix` `argument "`,
 * `suffix` `"`), `result[1]` (`result`, no suffix).
 */
export interface Subject {
  readonly prefix: string;
  readonly suffix: string;
}

/**
 * The path from the checked value to the one being checked: `root`, then one key (a field) or
 * index (a sequence element) per level. Kept as parts and joined only for an error message, so
 * that checking a valid value allocates no strings.
 */
interface Path {
  root: string;
  parts: (string | number)[];
}

/** Deeper values than this are refused rather than risking the stack (no real schema nests so). */
const MAX_DEPTH = 256;

const CAP_FIELDS: readonly string[] = ["address", "password"];

/** Struct field names by resolved struct, computed once. */
const FIELD_NAMES = new WeakMap<object, readonly string[]>();

function pathText(path: Path, depth: number): string {
  let s = path.root;
  for (let i = 0; i < depth; i++) {
    const part = path.parts[i]!;
    s += typeof part === "number" ? `[${part}]` : `.${part}`;
  }
  return s;
}

function named(subject: Subject, path: Path, depth: number): string {
  return `${subject.prefix}${pathText(path, depth)}${subject.suffix}`;
}

function mismatch(
  schema: IdlSchema,
  type: TypeRef,
  value: unknown,
  where: string,
  subject: Subject,
  path: Path,
  depth: number,
): TypeError {
  return new TypeError(
    `${where}: ${named(subject, path, depth)} must be ${describeType(schema, type, where)}, got ${
      describeValue(value)
    }`,
  );
}

/**
 * Throws `TypeError` (`WHERE: SUBJECT must be TYPE (HINT), got VALUE`) unless `value` is a valid
 * value of `type`; `root` names it in the message (a parameter's name, or nothing for a result).
 */
export function checkValue(
  schema: IdlSchema,
  type: TypeRef,
  value: unknown,
  where: string,
  subject: Subject,
  root: string,
): void {
  // One path object serves every check; a re-entrant check (a getter that validates) makes its own.
  const path = spare ?? { root, parts: [] };
  spare = undefined;
  path.root = root;
  try {
    check(schema, type, value, where, subject, path, 0);
  } finally {
    spare = path;
  }
}

let spare: Path | undefined;

function check(
  schema: IdlSchema,
  type: TypeRef,
  value: unknown,
  where: string,
  subject: Subject,
  path: Path,
  depth: number,
): void {
  if (depth > MAX_DEPTH) {
    throw new TypeError(
      `${where}: ${named(subject, path, depth)} is nested more than ${MAX_DEPTH} deep`,
    );
  }
  const r = resolve(schema, type, where);
  switch (r.kind) {
    case "void":
      if (value !== undefined) throw mismatch(schema, type, value, where, subject, path, depth);
      return;
    case "int": {
      const range = INT_RANGES[r.name];
      if (range.big) {
        if (typeof value !== "bigint" || value < range.min || value > range.max) {
          throw mismatch(schema, type, value, where, subject, path, depth);
        }
      } else if (
        typeof value !== "number" || !Number.isInteger(value) || value < Number(range.min) ||
        value > Number(range.max)
      ) throw mismatch(schema, type, value, where, subject, path, depth);
      return;
    }
    case "bool":
      if (typeof value !== "boolean") {
        throw mismatch(schema, type, value, where, subject, path, depth);
      }
      return;
    case "string":
      if (typeof value !== "string") {
        throw mismatch(schema, type, value, where, subject, path, depth);
      }
      return;
    case "bytes":
      if (!(value instanceof Uint8Array)) {
        throw mismatch(schema, type, value, where, subject, path, depth);
      }
      return;
    case "enum":
      if (typeof value !== "number" || !r.values.some((v) => v.value === value)) {
        throw mismatch(schema, type, value, where, subject, path, depth);
      }
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
        throw mismatch(schema, type, value, where, subject, path, depth);
      }
      const items = value as unknown[];
      if (of.kind === "int" && INT_RANGES[of.name].big) {
        // sequence<u64> (block lists): one tight loop; the element is named only on failure.
        const { min, max } = INT_RANGES[of.name];
        for (let i = 0; i < items.length; i++) {
          const v = items[i];
          if (typeof v !== "bigint" || v < min || v > max) {
            path.parts[depth] = i;
            check(schema, r.of, v, where, subject, path, depth + 1);
          }
        }
        return;
      }
      for (let i = 0; i < items.length; i++) {
        path.parts[depth] = i;
        check(schema, r.of, items[i], where, subject, path, depth + 1);
      }
      return;
    }
    case "cap": {
      if (!isPlainObject(value)) throw mismatch(schema, type, value, where, subject, path, depth);
      const cap = value as Record<string, unknown>;
      if (!hasExactly(cap, CAP_FIELDS)) {
        checkFields(cap, CAP_FIELDS, where, subject, path, depth, "cap_t", capFieldType);
      }
      for (const key of CAP_FIELDS) {
        const half = cap[key];
        if (typeof half !== "bigint" || half < 0n || half > U64_MAX) {
          path.parts[depth] = key;
          throw new TypeError(
            `${where}: ${named(subject, path, depth + 1)} must be a bigint in 0..${U64_MAX}, got ${
              describeValue(half)
            }`,
          );
        }
      }
      return;
    }
    case "struct": {
      if (!isPlainObject(value)) throw mismatch(schema, type, value, where, subject, path, depth);
      const record = value as Record<string, unknown>;
      let names = FIELD_NAMES.get(r);
      if (names === undefined) {
        names = r.fields.map((f) => f.name);
        FIELD_NAMES.set(r, names);
      }
      if (!hasExactly(record, names)) {
        checkFields(record, names, where, subject, path, depth, r.name, (name) => {
          const field = r.fields.find((f) => f.name === name);
          return field === undefined ? "?" : formatType(field.type);
        });
      }
      const fields = r.fields;
      for (let i = 0; i < fields.length; i++) {
        const field = fields[i]!;
        path.parts[depth] = field.name;
        check(schema, field.type, record[field.name], where, subject, path, depth + 1);
      }
      return;
    }
  }
}

function capFieldType(): string {
  return "u64";
}

/** Whether `record`'s own enumerable keys are exactly `names` (no allocation). */
export function hasExactly(record: Record<string, unknown>, names: readonly string[]): boolean {
  for (let i = 0; i < names.length; i++) {
    if (!Object.hasOwn(record, names[i]!)) return false;
  }
  let count = 0;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    if (!names.includes(key)) return false;
    count++;
  }
  return count === names.length;
}

/**
 * Throws the message for a record whose own enumerable keys are not exactly `names` (callers
 * check {@link hasExactly} first, so a valid value costs no closure for `fieldType`).
 */
function checkFields(
  record: Record<string, unknown>,
  names: readonly string[],
  where: string,
  subject: Subject,
  path: Path,
  depth: number,
  typeName: string,
  fieldType: (name: string) => string,
): void {
  for (const name of names) {
    if (!Object.hasOwn(record, name)) {
      throw new TypeError(
        `${where}: ${named(subject, path, depth)} is missing field "${name}" (${fieldType(name)})`,
      );
    }
  }
  for (const key of Object.keys(record)) {
    if (!names.includes(key)) {
      const has = names.length === 0 ? "has no fields" : `has fields ${names.join(", ")}`;
      throw new TypeError(
        `${where}: ${
          named(subject, path, depth)
        } has unexpected field "${key}" (${typeName} ${has})`,
      );
    }
  }
}
