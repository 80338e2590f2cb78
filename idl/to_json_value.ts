/**
 * Printing IDL values as JSON, for the shell.
 *
 * @module
 */

import { isPlainObject } from "./_resolve.ts";

/** Data that `JSON.stringify` prints faithfully. */
export type JsonValue = null | boolean | number | string | JsonValue[] | {
  [key: string]: JsonValue;
};

/** Deeper values than this print as `"..."`, so a cyclic value cannot hang the printer. */
const MAX_DEPTH = 64;

function hex64(value: bigint): string {
  return "0x" + value.toString(16).padStart(16, "0");
}

function isCap(value: Record<string, unknown>): boolean {
  const keys = Object.keys(value);
  return keys.length === 2 && typeof value.address === "bigint" &&
    typeof value.password === "bigint";
}

/**
 * Turns an IDL value (an invocation's result, say) into JSON-printable data: a bigint becomes its
 * decimal string (a `BigUint64Array` or `BigInt64Array` an array of them), a `Uint8Array` its hex
 * string, a capability `"0x<address>:0x<password>"` (16 hex digits each), `undefined` becomes
 * `null`; arrays and plain objects are converted element by element. `parseValue` reads every one
 * of these forms back.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { toJsonValue } from "./to_json_value.ts";
 * assertEquals(toJsonValue({ blocks: [1n, 2n], addr: 4096n }), { blocks: ["1", "2"], addr: "4096" });
 * assertEquals(toJsonValue({ address: 0x1000n, password: 7n }), "0x0000000000001000:0x0000000000000007");
 * assertEquals(toJsonValue(new Uint8Array([0xde, 0xad])), "dead");
 * assertEquals(toJsonValue(new BigUint64Array([7n, 8n])), ["7", "8"]);
 * ```
 */
export function toJsonValue(value: unknown): JsonValue {
  return convert(value, 0);
}

function convert(value: unknown, depth: number): JsonValue {
  if (depth > MAX_DEPTH) return "...";
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case "boolean":
    case "number":
    case "string":
      return value;
    case "bigint":
      return value.toString();
  }
  if (value instanceof Uint8Array) {
    return Array.from(value, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  if (Array.isArray(value)) return value.map((item) => convert(item, depth + 1));
  if (value instanceof BigUint64Array || value instanceof BigInt64Array) {
    return Array.from(value, (item) => item.toString());
  }
  if (isPlainObject(value)) {
    if (isCap(value)) return `${hex64(value.address as bigint)}:${hex64(value.password as bigint)}`;
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, convert(item, depth + 1)]),
    );
  }
  return String(value);
}
