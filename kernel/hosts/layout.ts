/**
 * Argument layouts compiled from the IDL: how a call of a driver's own method travels on the
 * worker host's ring without a self-describing encoding. A method's parameters are known from its
 * schema, so a call needs no interface or method names (a u16 index into the table both sides
 * build from the same schema), no struct keys, and no type tags for fixed-size values:
 *
 * | type                                | bytes                                                  |
 * | ----------------------------------- | ------------------------------------------------------ |
 * | `bool`, `i8`, `u8`                  | 1                                                      |
 * | `i16`, `u16`                        | 2                                                      |
 * | `int`, `i32`, `u32`, enums          | 4                                                      |
 * | `i64`, `u64`                        | 8                                                      |
 * | `cap_t`                             | 16: address, password                                  |
 * | `struct`                            | its fields in declaration order                        |
 * | `sequence<T>`                       | u8 form; form 0: u32 count, then the elements; form 1: |
 * |                                     | a `BigUint64Array`/`BigInt64Array` as `codec.ts` value; |
 * |                                     | form 2: such an array of 16 or more values that count  |
 * |                                     | up by one: the first (8 bytes), u32 count              |
 * | `string`, `bytes`                   | a `codec.ts` value                                     |
 *
 * The kernel's encoder checks every value against its IDL type while it writes it, exactly as
 * `validateArgs` would: a call whose arguments do not all fit is not encoded with the layout (it
 * travels as a plain call, and the worker's own check reports the mismatch with the validator's
 * message). The worker's decoder therefore produces only values of the IDL types, and the worker
 * skips its argument check for such calls (`LayoutCall.checked`). It trusts the kernel's ring for
 * types, but not for lengths: every read is bounds-checked and garbage throws `RangeError`.
 *
 * A schema type the layouts do not cover (none today; a recursion deeper than {@link MAX_NESTING})
 * leaves its method without a layout: its calls use the plain encoding.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LayoutTable } from "./layout.ts";
 * import { schema } from "../../interfaces/block.ts";
 * const table = LayoutTable.fromSchema(schema);
 * const layout = table.get("IBlock", "get_block_count")!;
 * assertEquals(table.at(layout.index), layout);
 * ```
 *
 * @module
 */

import type { IdlSchema, TypeRef } from "../../idl/types.ts";
import { INT_RANGES, resolve, U64_MAX } from "../../idl/_resolve.ts";
import { hasExactly as hasExactlyAnyOrder } from "../../idl/_validate.ts";
import {
  COUNTING_RUN_MAX,
  countingRun,
  countsUp,
  type ValueDecoder,
  type ValueEncoder,
} from "../codec.ts";
import { isScalar } from "../../idl/scalars.ts";

/** Structs and sequences nested deeper than this give their method no layout. */
export const MAX_NESTING = 16;

/** Most methods a table holds (the index is a u16 on the wire). */
const MAX_LAYOUTS = 0xffff;

/**
 * A byte range a layout writes or reads, its view, and the value codec for the parts it leaves to
 * `codec.ts`; `pos` is where the arguments end after a write or a read.
 */
class LayoutCursor<V> {
  bytes: Uint8Array = new Uint8Array(0);
  view: DataView = new DataView(new ArrayBuffer(0));
  pos = 0;
  end = 0;
  readonly values: V;

  constructor(values: V) {
    this.values = values;
  }

  /** Points the cursor at `bytes[pos..end)`; `view` is a DataView of all of `bytes`. */
  open(bytes: Uint8Array, view: DataView, pos: number, end: number): void {
    this.bytes = bytes;
    this.view = view;
    this.pos = pos;
    this.end = end;
  }
}

/** Where a layout writes. */
export class LayoutWriter extends LayoutCursor<ValueEncoder> {}

/** Where a layout reads. */
export class LayoutReader extends LayoutCursor<ValueDecoder> {}

/**
 * Writes the arguments from the writer's position: returns the position after them, -1 if the
 * range is too short, -2 if they are not exactly values of the method's parameter types.
 */
type EncodeFn = (args: readonly unknown[], w: LayoutWriter) => number;
/** Reads the arguments; sets `r.pos` past them. Throws `RangeError`/`TypeError` for bad input. */
type DecodeFn = (r: LayoutReader) => unknown[];

/** One method's layout: its place in the table, and its compiled encoder and decoder. */
export class Layout {
  readonly iface: string;
  readonly method: string;
  /** `Interface.method`. */
  readonly qualified: string;
  readonly index: number;
  /** See {@link EncodeFn}. */
  readonly encode: EncodeFn;
  /** See {@link DecodeFn}. */
  readonly decode: DecodeFn;
  /**
   * The parameter types when every one is an integer, `bool` or `cap_t` (written as such, not
   * through a named type): then whatever the decoder reads is a value of them, whatever the bytes
   * were (an enum, say, is not: any 32 bits decode). Undefined otherwise.
   */
  readonly scalars: readonly TypeRef[] | undefined;

  constructor(
    iface: string,
    method: string,
    index: number,
    encode: EncodeFn,
    decode: DecodeFn,
    params: readonly { readonly type: TypeRef }[] = [],
  ) {
    this.iface = iface;
    this.method = method;
    this.qualified = `${iface}.${method}`;
    this.index = index;
    this.encode = encode;
    this.decode = decode;
    const types = params.map((p) => p.type);
    this.scalars = types.every(isScalar) ? types : undefined;
  }
}

/**
 * The layouts of every method of a schema's interfaces, indexed by interface and method and by
 * their position (interfaces in the schema's order, methods in declaration order): the kernel and
 * the worker build the same table from the same schema.
 */
export class LayoutTable {
  #byName = new Map<string, Map<string, Layout>>();
  #byQualified = new Map<string, Layout>();
  #byIndex: (Layout | undefined)[] = [];

  /** Compiles the layouts of `schema` (methods with a type the layouts cannot carry get none). */
  static fromSchema(schema: IdlSchema): LayoutTable {
    const table = new LayoutTable();
    let index = 0;
    for (const iface of Object.values(schema.interfaces)) {
      const methods = new Map<string, Layout>();
      table.#byName.set(iface.name, methods);
      for (const m of iface.methods) {
        if (index >= MAX_LAYOUTS) return table;
        const layout = compileMethod(schema, iface.name, m.name, m.params, index);
        if (layout) {
          methods.set(m.name, layout);
          table.#byQualified.set(layout.qualified, layout);
        }
        table.#byIndex.push(layout);
        index++;
      }
    }
    return table;
  }

  /** The layout of `iface.method`, if it has one. */
  get(iface: string, method: string): Layout | undefined {
    return this.#byName.get(iface)?.get(method);
  }

  /** The layout of a method named `Interface.method`, if it has one. */
  qualified(name: string): Layout | undefined {
    return this.#byQualified.get(name);
  }

  /** The layout at `index`, if any. */
  at(index: number): Layout | undefined {
    return this.#byIndex[index];
  }
}

/**
 * Generates the method's encoder and decoder as straight-line JavaScript: one function each, no
 * call per value (closures per type were 2.6 times slower: 0.22 against 0.084 µs for an
 * `IBlock.read` call). The source is built from the schema's types only; names appear in it as
 * JSON string literals, so no identifier of the IDL becomes code.
 */
function compileMethod(
  schema: IdlSchema,
  iface: string,
  method: string,
  params: readonly { readonly type: TypeRef }[],
  index: number,
): Layout | undefined {
  const g = new Generator(schema, `${iface}.${method}`);
  let enc = "", dec = "";
  const names: string[] = [];
  try {
    for (let i = 0; i < params.length; i++) {
      enc += g.encode(params[i]!.type, `args[${i}]`, 0);
      const v = g.fresh("a");
      names.push(v);
      dec += `let ${v};\n` + g.decode(params[i]!.type, v, 0);
    }
  } catch (error) {
    if (error === UNSUPPORTED) return undefined;
    throw error;
  }
  const encodeSource = `"use strict";
${g.head}return function encode(args, w) {
  if (args.length !== ${params.length}) return -2;
  for (const _ in EMPTY) return -2; // Object.prototype has enumerable keys: the validator decides
  const bytes = w.bytes, view = w.view, values = w.values, end = w.end;
  let p = w.pos;
${enc}  return p;
};`;
  const decodeSource = `"use strict";
${g.head}return function decode(r) {
  const bytes = r.bytes, view = r.view, values = r.values, end = r.end;
  let p = r.pos;
${dec}  r.pos = p;
  return [${names.join(", ")}];
};`;
  const encode = new Function("K", "OP", "EMPTY", "hasExactly", "countsUp", encodeSource)(
    g.constants,
    Object.prototype,
    EMPTY,
    hasExactly,
    countsUp,
  ) as EncodeFn;
  const decode = new Function("K", "short", "mistyped", "countingRun", decodeSource)(
    g.constants,
    short,
    mistyped,
    countingRun,
  ) as DecodeFn;
  return new Layout(iface, method, index, encode, decode, params);
}

/**
 * Shortest typed sequence that travels as a counting run (form 2: its first value and its length)
 * when its values count up (`countsUp` in `codec.ts`): a block list of consecutive blocks. A 64
 * KiB read's list is 1 KiB on the ring as an array and 13 bytes as a run; the writing thread no
 * longer copies it into ring lines the reading thread's CPU held last, and the reading thread
 * fills it from the run.
 */
const RUN_MIN = 16;

/** A type the layouts do not carry (see {@link MAX_NESTING}). */
const UNSUPPORTED: unique symbol = Symbol("layout.unsupported");

function short(what: string, need: number, have: number): RangeError {
  return new RangeError(`Cannot decode call arguments: ${what} needs ${need} bytes, ${have} left`);
}

function mistyped(what: string): TypeError {
  return new TypeError(`Cannot decode call arguments: ${what} is malformed`);
}

const INT_ACCESS: Record<string, { width: number; set: string; get: string }> = {
  i8: { width: 1, set: "setInt8", get: "getInt8" },
  u8: { width: 1, set: "setUint8", get: "getUint8" },
  i16: { width: 2, set: "setInt16", get: "getInt16" },
  u16: { width: 2, set: "setUint16", get: "getUint16" },
  int: { width: 4, set: "setInt32", get: "getInt32" },
  i32: { width: 4, set: "setInt32", get: "getInt32" },
  u32: { width: 4, set: "setUint32", get: "getUint32" },
  i64: { width: 8, set: "setBigInt64", get: "getBigInt64" },
  u64: { width: 8, set: "setBigUint64", get: "getBigUint64" },
};

/** Emits the statements of one method's encoder and decoder. */
class Generator {
  readonly constants: unknown[] = [];
  #schema: IdlSchema;
  #where: string;
  #next = 0;

  constructor(schema: IdlSchema, where: string) {
    this.#schema = schema;
    this.#where = where;
  }

  fresh(prefix: string): string {
    return `${prefix}${this.#next++}`;
  }

  #constant(value: unknown): string {
    this.constants.push(value);
    return `c${this.constants.length - 1}`;
  }

  /** Declarations of the constants, for the top of a generated function. */
  get head(): string {
    return this.constants.map((_, i) => `const c${i} = K[${i}];\n`).join("");
  }

  /**
   * Statements that return -2 unless the value of `x` is a plain object whose own enumerable
   * keys are exactly `names`: one pass when they come in declaration order (the encoder refuses
   * to run at all while Object.prototype has enumerable keys, so for-in lists own keys only).
   */
  #exactly(x: string, names: readonly string[]): string {
    const list = this.#constant(names);
    const k = this.fresh("k"), key = this.fresh("key"), pr = this.fresh("pr");
    return `  if (typeof ${x} !== "object" || ${x} === null) return -2;
  const ${pr} = Object.getPrototypeOf(${x});
  if (${pr} !== OP && ${pr} !== null) return -2;
  let ${k} = 0;
  for (const ${key} in ${x}) {
    if (${key} !== ${list}[${k}]) { ${k} = -1; break; }
    ${k}++;
  }
  if (${k} !== ${names.length} && !hasExactly(${x}, ${list})) return -2;\n`;
  }

  #resolve(type: TypeRef, depth: number) {
    if (depth > MAX_NESTING) throw UNSUPPORTED;
    try {
      return resolve(this.#schema, type, this.#where);
    } catch {
      throw UNSUPPORTED;
    }
  }

  /** The fewest bytes a value of `type` takes. */
  #min(type: TypeRef, depth: number): number {
    const r = this.#resolve(type, depth);
    switch (r.kind) {
      case "void":
        return 0;
      case "bool":
        return 1;
      case "int":
        return INT_ACCESS[r.name]!.width;
      case "enum":
        return 4;
      case "cap":
        return 16;
      case "string":
      case "bytes":
      case "sequence":
        return 1;
      case "struct":
        return r.fields.reduce((n, f) => n + this.#min(f.type, depth + 1), 0);
    }
  }

  /** Statements that check the value of expression `e` and write it at `p`. */
  encode(type: TypeRef, e: string, depth: number): string {
    const r = this.#resolve(type, depth);
    const x = this.fresh("x");
    switch (r.kind) {
      case "void":
        return `if (${e} !== undefined) return -2;\n`;
      case "bool":
        return `{ const ${x} = ${e};
  if (typeof ${x} !== "boolean") return -2;
  if (p >= end) return -1;
  bytes[p++] = ${x} ? 1 : 0; }\n`;
      case "int": {
        const a = INT_ACCESS[r.name]!;
        const range = INT_RANGES[r.name];
        const check = range.big
          ? `typeof ${x} !== "bigint" || ${x} < ${range.min}n || ${x} > ${range.max}n`
          : `typeof ${x} !== "number" || !Number.isInteger(${x}) || ${x} < ${range.min} || ${x} > ${range.max} || (${x} === 0 && 1 / ${x} < 0)`;
        return `{ const ${x} = ${e};
  if (${check}) return -2;
  if (end - p < ${a.width}) return -1;
  view.${a.set}(p, ${x}${a.width > 1 ? ", true" : ""}); p += ${a.width}; }\n`;
      }
      case "enum": {
        const set = this.#constant(new Set(r.values.map((v) => v.value)));
        return `{ const ${x} = ${e};
  if (typeof ${x} !== "number" || !${set}.has(${x}) || ${x} !== (${x} | 0) || (${x} === 0 && 1 / ${x} < 0)) return -2;
  if (end - p < 4) return -1;
  view.setInt32(p, ${x}, true); p += 4; }\n`;
      }
      case "cap": {
        const a = this.fresh("ad"), pw = this.fresh("pw");
        return `{ const ${x} = ${e};
${this.#exactly(x, CAP_FIELDS)}  const ${a} = ${x}.address, ${pw} = ${x}.password;
  if (typeof ${a} !== "bigint" || typeof ${pw} !== "bigint" || ${a} < 0n || ${a} > ${U64_MAX}n || ${pw} < 0n || ${pw} > ${U64_MAX}n) return -2;
  if (end - p < 16) return -1;
  view.setBigUint64(p, ${a}, true); view.setBigUint64(p + 8, ${pw}, true); p += 16; }\n`;
      }
      case "string":
      case "bytes": {
        const check = r.kind === "string"
          ? `typeof ${x} !== "string"`
          : `!(${x} instanceof Uint8Array)`;
        return `{ const ${x} = ${e};
  if (${check}) return -2;
  const n = values.encodeRange(${x}, bytes, p, end);
  if (n < 0) return -1;
  p += n; }\n`;
      }
      case "struct": {
        let body = `{ const ${x} = ${e};
${this.#exactly(x, r.fields.map((f) => f.name))}`;
        for (const f of r.fields) {
          body += this.encode(f.type, `${x}[${JSON.stringify(f.name)}]`, depth + 1);
        }
        return body + "}\n";
      }
      case "sequence": {
        if (this.#min(r.of, depth + 1) === 0) throw UNSUPPORTED;
        const of = this.#resolve(r.of, depth + 1);
        const typed = of.kind === "int" && (of.name === "u64" || of.name === "i64")
          ? (of.name === "u64" ? "BigUint64Array" : "BigInt64Array")
          : undefined;
        const i = this.fresh("i");
        let body = `{ const ${x} = ${e};
  if (Array.isArray(${x})) {
    if (end - p < 5) return -1;
    bytes[p] = 0; view.setUint32(p + 1, ${x}.length, true); p += 5;
    for (let ${i} = 0; ${i} < ${x}.length; ${i}++) {
${this.encode(r.of, `${x}[${i}]`, depth + 1)}    }
  }`;
        if (typed) {
          const set = typed === "BigUint64Array" ? "setBigUint64" : "setBigInt64";
          body += ` else if (${x} instanceof ${typed}) {
    if (${x}.length >= ${RUN_MIN} && countsUp(${x})) {
      if (end - p < 13) return -1;
      bytes[p] = 2; view.${set}(p + 1, ${x}[0], true); view.setUint32(p + 9, ${x}.length, true);
      p += 13;
    } else {
      if (p >= end) return -1;
      bytes[p++] = 1;
      const n = values.encodeRange(${x}, bytes, p, end);
      if (n < 0) return -1;
      p += n;
    }
  }`;
        }
        return body + ` else return -2; }\n`;
      }
    }
  }

  /** Statements that read a value of `type` at `p` into the variable `v`. */
  decode(type: TypeRef, v: string, depth: number): string {
    const r = this.#resolve(type, depth);
    const what = JSON.stringify(r.kind === "int" ? r.name : r.kind);
    switch (r.kind) {
      case "void":
        return `${v} = undefined;\n`;
      case "bool":
        return `if (p >= end) throw short(${what}, 1, end - p);
${v} = bytes[p++] !== 0;\n`;
      case "int":
      case "enum": {
        const a = r.kind === "enum" ? INT_ACCESS.int! : INT_ACCESS[r.name]!;
        return `if (end - p < ${a.width}) throw short(${what}, ${a.width}, end - p);
${v} = view.${a.get}(p${a.width > 1 ? ", true" : ""}); p += ${a.width};\n`;
      }
      case "cap":
        return `if (end - p < 16) throw short(${what}, 16, end - p);
${v} = { address: view.getBigUint64(p, true), password: view.getBigUint64(p + 8, true) }; p += 16;\n`;
      case "string":
      case "bytes": {
        const check = r.kind === "string"
          ? `typeof ${v} !== "string"`
          : `!(${v} instanceof Uint8Array)`;
        return `values.begin(bytes, p, end); ${v} = values.next(); p = values.position;
if (${check}) throw mistyped(${what});\n`;
      }
      case "struct": {
        let body = "";
        const parts: string[] = [];
        for (const f of r.fields) {
          const fv = this.fresh("f");
          body += `let ${fv};\n` + this.decode(f.type, fv, depth + 1);
          parts.push(`${JSON.stringify(f.name)}: ${fv}`);
        }
        return `{ ${body}${v} = { ${parts.join(", ")} }; }\n`;
      }
      case "sequence": {
        const of = this.#resolve(r.of, depth + 1);
        const typed = of.kind === "int" && (of.name === "u64" || of.name === "i64")
          ? (of.name === "u64" ? "BigUint64Array" : "BigInt64Array")
          : undefined;
        const n = this.fresh("n"), i = this.fresh("i"), item = this.fresh("e");
        let body = `if (p >= end) throw short("a sequence", 1, 0);
if (bytes[p] === 0) {
  if (end - p < 5) throw short("a sequence", 5, end - p);
  const ${n} = view.getUint32(p + 1, true); p += 5;
  if (${n} > end - p) throw short("a sequence of " + ${n}, ${n}, end - p);
  ${v} = [];
  for (let ${i} = 0; ${i} < ${n}; ${i}++) {
    let ${item};
${this.decode(r.of, item, depth + 1)}    ${v}.push(${item});
  }
}`;
        if (typed) {
          body += ` else if (bytes[p] === 1) {
  p++;
  values.begin(bytes, p, end); ${v} = values.next(); p = values.position;
  if (!(${v} instanceof ${typed})) throw mistyped("a typed sequence");
} else if (bytes[p] === 2) {
  if (end - p < 13) throw short("a counting run", 13, end - p);
  const lo = view.getUint32(p + 1, true), hi = view.getUint32(p + 5, true);
  const n = view.getUint32(p + 9, true); p += 13;
  if (n < ${RUN_MIN} || n > ${COUNTING_RUN_MAX} || lo + n - 1 > 0xffffffff) throw mistyped("a counting run");
  ${v} = countingRun(lo, hi, n, ${typed === "BigInt64Array"});
}`;
        }
        return body + ` else throw mistyped("a sequence's form");\n`;
      }
    }
  }
}

/** An object with no keys of its own: for-in over it lists what Object.prototype adds. */
const EMPTY = Object.freeze({});

const CAP_FIELDS: readonly string[] = ["address", "password"];

/**
 * Whether `record`'s own enumerable keys are exactly `names` (as `validateArgs` requires). The
 * common case, keys in declaration order, is one pass; any other order takes a second look.
 */
function hasExactly(record: Record<string, unknown>, names: readonly string[]): boolean {
  let i = 0;
  for (const key in record) {
    if (key !== names[i]) return hasExactlyAnyOrder(record, names);
    i++;
  }
  if (i !== names.length) return false;
  // for-in also lists enumerable keys of the prototype (Object.prototype, if polluted).
  for (let j = 0; j < names.length; j++) if (!Object.hasOwn(record, names[j]!)) return false;
  return true;
}
