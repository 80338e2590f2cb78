/**
 * Maps made with a call: a driver's manifest may declare that a method maps, for DMA, a memory
 * object one of its arguments names (`callMaps`). The IDE driver's `IBlock.read` maps the buffer
 * of its `block_seq` the moment it is called; declared, the worker host's kernel makes that map
 * itself as it sends the call, so the map and its answer never cross between the threads. The
 * driver's code does not change: its `ctx.dma.map` of that buffer (with `failsCall`) returns the
 * address at once, and if the method does not ask for the map, the worker releases it when the
 * method returns. A refused map fails the call before the driver sees it, as `failsCall` would.
 * The kernel host needs none of this (the driver's map is a function call there) and ignores it.
 *
 * ```json
 * "callMaps": {
 *   "IBlock.read": { "arg": 1, "memory": "buffer", "address": "addr", "count": "blocks",
 *                    "unit": 512, "writable": true }
 * }
 * ```
 *
 * The range mapped is `count` entries of `unit` bytes from `address` (fields of the argument, which
 * must be a struct): what the driver asks for, and what the kernel checks lies inside the object.
 *
 * @module
 */

import type { Capability, IdlSchema } from "../idl/types.ts";

/** One method's declared map: which argument names the memory, and the range. */
export interface CallMapRule {
  /** Index of the argument (a struct) that holds the fields below. */
  readonly arg: number;
  /** The field holding the memory object's capability. */
  readonly memory: string;
  /** The field holding the range's first address (a u64). */
  readonly address: string;
  /** The field whose length (a list) counts the range's units. */
  readonly count: string;
  /** Bytes per counted entry. */
  readonly unit: number;
  /** Whether the device writes the memory (a read from the disk). */
  readonly writable: boolean;
}

/** What one call maps. */
export interface CallMap {
  readonly memory: Capability;
  readonly writable: boolean;
  readonly address: bigint;
  readonly length: number;
}

const RULE_KEYS = ["arg", "memory", "address", "count", "unit", "writable"];

/**
 * Checks a manifest's `callMaps` against the package's IDL: each key a method `Interface.method`
 * of an interface it provides, each rule complete. Throws `TypeError` naming the rule.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { parseCallMaps } from "./call_maps.ts";
 * const schema = { types: {}, interfaces: {} };
 * assertThrows(() => parseCallMaps({ "IBlock.read": {} }, schema, []), TypeError, "IBlock.read");
 * ```
 */
export function parseCallMaps(
  raw: unknown,
  schema: IdlSchema,
  provides: readonly string[],
): Readonly<Record<string, CallMapRule>> {
  const bad = (what: string): never => {
    throw new TypeError(`"callMaps" ${what}`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return bad('must be an object of rules by method ("IBlock.read": { ... })');
  }
  const out: Record<string, CallMapRule> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const dot = key.indexOf(".");
    const iface = key.slice(0, dot), method = key.slice(dot + 1);
    const m = dot > 0 && provides.includes(iface)
      ? schema.interfaces[iface]?.methods.find((x) => x.name === method)
      : undefined;
    if (!m) bad(`names ${key}: not a method of an interface the driver provides`);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      bad(`${key} must be an object { ${RULE_KEYS.join(", ")} }`);
    }
    const r = value as Record<string, unknown>;
    for (const k of Object.keys(r)) {
      if (!RULE_KEYS.includes(k)) {
        bad(`${key} has an unknown field "${k}" (${RULE_KEYS.join(", ")})`);
      }
    }
    const arg = r.arg;
    if (typeof arg !== "number" || !Number.isInteger(arg) || arg < 0 || arg >= m!.params.length) {
      bad(`${key}.arg must be the index of one of its ${m!.params.length} arguments`);
    }
    for (const f of ["memory", "address", "count"]) {
      if (typeof r[f] !== "string" || r[f] === "") bad(`${key}.${f} must be a field name`);
    }
    const unit = r.unit;
    if (typeof unit !== "number" || !Number.isInteger(unit) || unit < 1 || unit > 1 << 20) {
      bad(`${key}.unit must be a whole number of bytes from 1 to 1048576`);
    }
    if (typeof r.writable !== "boolean") bad(`${key}.writable must be true or false`);
    out[key] = {
      arg: arg as number,
      memory: r.memory as string,
      address: r.address as string,
      count: r.count as string,
      unit: unit as number,
      writable: r.writable as boolean,
    };
  }
  return out;
}

/**
 * Finds a package's rules by interface and method, as a call comes with them (resolved names),
 * without joining them into the manifest's `Interface.method` key for every call.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { callMapRules, type CallMapRule } from "./call_maps.ts";
 * const rule = { arg: 1, memory: "buffer", address: "addr", count: "blocks", unit: 512, writable: true };
 * const rules = callMapRules({ "IBlock.read": rule as CallMapRule });
 * assertEquals(rules("IBlock", "read"), rule);
 * assertEquals(rules("IBlock", "write"), undefined);
 * ```
 */
export function callMapRules(
  rules: Readonly<Record<string, CallMapRule>>,
): (iface: string, method: string) => CallMapRule | undefined {
  const byIface = new Map<string, Map<string, CallMapRule>>();
  for (const [key, rule] of Object.entries(rules)) {
    const dot = key.indexOf(".");
    const iface = key.slice(0, dot);
    let methods = byIface.get(iface);
    if (!methods) byIface.set(iface, methods = new Map());
    methods.set(key.slice(dot + 1), rule);
  }
  return (iface, method) => byIface.get(iface)?.get(method);
}

/**
 * What a call with these (already validated) arguments maps under `rule`, or undefined when the
 * argument does not have the declared shape (then nothing is mapped for it). The kernel and the
 * worker compute it from the same arguments, so they agree on it without a message.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { callMapOf } from "./call_maps.ts";
 * const rule = { arg: 1, memory: "buffer", address: "addr", count: "blocks", unit: 512, writable: true };
 * const buffer = { address: 0x1000n, password: 7n };
 * const map = callMapOf(rule, [buffer, { blocks: [1n, 2n], addr: 0x1200n, buffer }]);
 * assertEquals(map, { memory: buffer, writable: true, address: 0x1200n, length: 1024 });
 * ```
 */
export function callMapOf(rule: CallMapRule, args: readonly unknown[]): CallMap | undefined {
  const a = args[rule.arg];
  if (typeof a !== "object" || a === null) return undefined;
  const o = a as Record<string, unknown>;
  const memory = o[rule.memory] as Capability | undefined;
  const address = o[rule.address];
  const list = o[rule.count] as { length?: unknown } | undefined;
  if (
    typeof memory !== "object" || memory === null || typeof memory.address !== "bigint" ||
    typeof memory.password !== "bigint" || typeof address !== "bigint" ||
    typeof list !== "object" || list === null || typeof list.length !== "number"
  ) return undefined;
  return { memory, writable: rule.writable, address, length: list.length * rule.unit };
}
