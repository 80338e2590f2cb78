/**
 * Reading IDL values from command-line text, for the shell.
 *
 * @module
 */

import type { IdlSchema, IntName, TypeRef } from "./types.ts";
import { formatType } from "./format_type.ts";
import { describeValue, INT_RANGES, isPlainObject, resolve, type Resolved } from "./_resolve.ts";

/** Deeper JSON than this is refused (no real schema nests so deep). */
const MAX_DEPTH = 256;

const INT_TEXT = /^([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)$/;
const HEX_BYTES = /^(?:0[xX])?((?:[0-9a-fA-F]{2})*)$/;
const CAP_TEXT = /^0[xX]([0-9a-fA-F]{1,16}):0[xX]([0-9a-fA-F]{1,16})$/;

/**
 * Turns command-line text into a value of an IDL type, the value `validateArgs` accepts:
 *
 * - ints: decimal or `0x` hex, optionally signed; a bigint for `i64`/`u64`, else a number;
 * - `bool`: `true`, `false`, `1` or `0`;
 * - `string`: the text as it is, or decoded if it is a JSON string literal (`"..."`);
 * - `bytes`: hex digits, an even number of them, optionally after `0x`;
 * - `cap_t`: `0x<hex>:0x<hex>`, address then password (as `toJsonValue` prints them);
 * - enums: a member name or one of the values;
 * - sequences and structs: JSON, where 64-bit ints may be strings (decimal or `0x` hex) to keep
 *   their precision, and bytes, caps and enums are written as above.
 *
 * Throws `TypeError`, prefixed with `where`, saying what was expected.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { parseIdl } from "./parse_idl.ts";
 * import { parseValue } from "./parse_value.ts";
 * const schema = parseIdl("");
 * const data = { kind: "named", name: "block_seq" } as const;
 * const text = '{"blocks": [1, "0x10"], "addr": "0x2000", "buffer": "0x1:0x2"}';
 * assertEquals(parseValue(schema, data, text, "data"), {
 *   blocks: [1n, 16n],
 *   addr: 0x2000n,
 *   buffer: { address: 1n, password: 2n },
 * });
 * assertEquals(parseValue(schema, { kind: "cap" }, "0x1000:0x7", "notify"), {
 *   address: 0x1000n,
 *   password: 7n,
 * });
 * assertThrows(() => parseValue(schema, { kind: "int", name: "u8" }, "256", "n"), TypeError);
 * ```
 */
export function parseValue(schema: IdlSchema, type: TypeRef, text: string, where: string): unknown {
  const r = resolve(schema, type, where);
  const fail = (): never => {
    throw new TypeError(
      `${where}: expected ${expectation(type, r)}, got ${describeValue(String(text))}`,
    );
  };
  if (typeof text !== "string") fail();
  if (r.kind === "sequence" || r.kind === "struct") {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new TypeError(
        `${where}: expected ${expectation(type, r)}, got invalid JSON (${(e as Error).message})`,
        { cause: e },
      );
    }
    return fromJson(schema, type, json, where, "", 0);
  }
  const value = scalar(r, text);
  if (value === undefined) fail();
  return value;
}

/** Parses text as a scalar of a resolved type; `undefined` if it is not one. */
function scalar(r: Resolved, text: string): unknown {
  switch (r.kind) {
    case "int":
      return intValue(r.name, text.trim());
    case "bool":
      switch (text.trim()) {
        case "true":
        case "1":
          return true;
        case "false":
        case "0":
          return false;
      }
      return undefined;
    case "string":
      if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
        try {
          const decoded: unknown = JSON.parse(text);
          if (typeof decoded === "string") return decoded;
        } catch {
          // Not a JSON string literal after all: take the text as it is.
        }
      }
      return text;
    case "bytes": {
      const m = HEX_BYTES.exec(text.trim());
      if (m === null) return undefined;
      const hex = m[1] ?? "";
      const bytes = new Uint8Array(hex.length / 2);
      for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
      return bytes;
    }
    case "cap": {
      const m = CAP_TEXT.exec(text.trim());
      if (m === null) return undefined;
      return { address: BigInt("0x" + m[1]), password: BigInt("0x" + m[2]) };
    }
    case "enum": {
      const t = text.trim();
      const byName = r.values.find((v) => v.name === t);
      if (byName !== undefined) return byName.value;
      const n = intValue("int", t);
      return r.values.some((v) => v.value === n) ? n : undefined;
    }
    default:
      return undefined;
  }
}

/** Parses decimal or hex integer text in the range of `name`; `undefined` if it is not one. */
function intValue(name: IntName, text: string): number | bigint | undefined {
  const m = INT_TEXT.exec(text);
  if (m === null || text.length > 40) return undefined;
  const magnitude = BigInt(m[2]!);
  const value = m[1] === "-" ? -magnitude : magnitude;
  const range = INT_RANGES[name];
  if (value < range.min || value > range.max) return undefined;
  return range.big ? value : Number(value);
}

function expectation(type: TypeRef, r: Resolved): string {
  const name = formatType(type);
  switch (r.kind) {
    case "int": {
      const range = INT_RANGES[r.name];
      return `${name} (decimal or 0x hex in ${range.min}..${range.max})`;
    }
    case "bool":
      return `${name} (true, false, 1 or 0)`;
    case "bytes":
      return `${name} (hex digits, an even number of them, optionally after 0x)`;
    case "cap":
      return `${name} (0x<address>:0x<password>, each up to 16 hex digits)`;
    case "enum":
      return `${name} (one of ${r.values.map((v) => `${v.name} = ${v.value}`).join(", ")})`;
    case "sequence":
      return `${name} (a JSON array)`;
    case "struct":
      return r.fields.length === 0
        ? `${name} (an empty JSON object)`
        : `${name} (a JSON object with fields ${r.fields.map((f) => f.name).join(", ")})`;
    case "void":
      return "no value (void)";
    default:
      return name;
  }
}

/** Converts parsed JSON to a value of `type`, element by element. */
function fromJson(
  schema: IdlSchema,
  type: TypeRef,
  json: unknown,
  where: string,
  path: string,
  depth: number,
): unknown {
  const r = resolve(schema, type, where);
  const subject = path === "" ? "value" : `"${path.replace(/^\./, "")}"`;
  const fail = (note = ""): never => {
    throw new TypeError(
      `${where}: ${subject} must be ${expectation(type, r)}, got ${describeValue(json)}${note}`,
    );
  };
  if (depth > MAX_DEPTH) fail(" nested too deeply");
  if (r.kind === "string") {
    if (typeof json !== "string") fail();
    return json; // JSON already decoded it
  }
  if (typeof json === "string" && r.kind !== "sequence" && r.kind !== "struct") {
    const value = scalar(r, json);
    if (value === undefined) fail();
    return value;
  }
  switch (r.kind) {
    case "int": {
      if (typeof json !== "number" || !Number.isInteger(json)) return fail();
      const range = INT_RANGES[r.name];
      if (range.big && !Number.isSafeInteger(json)) fail(" (write large 64-bit values as strings)");
      if (BigInt(json) < range.min || BigInt(json) > range.max) fail();
      return range.big ? BigInt(json) : json;
    }
    case "bool":
      if (typeof json !== "boolean") fail();
      return json;
    case "enum":
      if (typeof json !== "number" || !r.values.some((v) => v.value === json)) fail();
      return json;
    case "sequence": {
      if (!Array.isArray(json)) return fail();
      return json.map((item, i) => fromJson(schema, r.of, item, where, `${path}[${i}]`, depth + 1));
    }
    case "struct": {
      if (!isPlainObject(json)) return fail();
      for (const key of Object.keys(json)) {
        if (!r.fields.some((f) => f.name === key)) fail(` (unexpected field "${key}")`);
      }
      const out: Record<string, unknown> = {};
      for (const field of r.fields) {
        if (!Object.hasOwn(json, field.name)) fail(` (missing field "${field.name}")`);
        out[field.name] = fromJson(
          schema,
          field.type,
          json[field.name],
          where,
          `${path}.${field.name}`,
          depth + 1,
        );
      }
      return out;
    }
    default:
      return fail();
  }
}
