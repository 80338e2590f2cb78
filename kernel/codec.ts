/**
 * A compact binary encoding of structured values, for the message rings between the kernel and
 * driver hosts. It carries exactly: `undefined`, `null`, booleans, numbers, bigints in
 * -2^64..2^64-1, strings, `Uint8Array`, `BigUint64Array`, `BigInt64Array` (block lists travel as
 * one: 8 bytes a block, copied in one go), arrays and plain objects (string keys, in order).
 * Anything else is refused with a `TypeError` that names the place (`value.data.blocks[2]`).
 *
 * Decoding trusts nothing: every length is checked against the bytes that remain, so garbage or
 * truncated input throws `RangeError` or `TypeError` and never allocates more than the input
 * could describe.
 *
 * Wire format (one tag byte, then the tag's body; all numbers little-endian):
 *
 * | tag         | value                                                      |
 * |-------------|------------------------------------------------------------|
 * | `0x00-0x7f` | integer 0..127                                             |
 * | `0x80`      | `undefined`                                                |
 * | `0x81`      | `null`                                                     |
 * | `0x82/0x83` | `false` / `true`                                           |
 * | `0x84`      | int32 (4 bytes)                                            |
 * | `0x85`      | float64 (8 bytes): other numbers, `-0`, `NaN`, infinities  |
 * | `0x86`      | bigint 0..2^64-1 (u64)                                     |
 * | `0x87`      | bigint -2^64..-1 (u64 holding `-value - 1`)                |
 * | `0x88/0x89` | string: u8 / u32 byte length, UTF-8                        |
 * | `0x8a/0x8b` | `Uint8Array`: u8 length, bytes / u32 length, u8 pad (0-7),  |
 * |             | that many bytes, bytes                                     |
 * | `0x8c/0x8d` | array: u8 / u32 count, items                               |
 * | `0x8e`      | object: (key value)* then `0x8f`; keys are string values   |
 * | `0x90/0x91` | `BigUint64Array` / `BigInt64Array`: u32 count, u8 pad (0-7), |
 * |             | that many bytes, 8 bytes each                              |
 * | `0x92`      | `{ address, password }` (a capability): two u64               |
 * | `0xa0-0xbf` | ASCII string of 0..31 bytes                                |
 * | `0xc0-0xff` | integer -64..-1                                            |
 *
 * The pad puts a 64-bit array's values (and a byte array's of 256 bytes or more) on an 8-byte
 * boundary of the encoder's target buffer (its `byteOffset` counted): into and out of a
 * SharedArrayBuffer, such as a ring, V8 copies aligned memory a word at a time and anything else a
 * byte at a time (16 KiB, a 1 MiB read's block list: 0.9-1.1 µs against 6.5-7.2 µs on the 2-vCPU
 * VM). A decoder reading the same memory finds it aligned too; elsewhere it copies bytes.
 *
 * Strings go through UTF-8, so a lone surrogate comes back as U+FFFD (as with `TextEncoder`).
 * Decoded byte arrays and 64-bit integer arrays of up to 32 KiB are views into a slab the decoder
 * shares with others (a new ArrayBuffer costs 0.8-4 µs in Deno 2.9): their `buffer` is not
 * theirs alone, so use `byteOffset` and `byteLength` with it, and never transfer it.
 *
 * @module
 */

/** The deepest nesting of arrays and objects that {@link encodeValue} accepts and decoding allows. */
export const MAX_DEPTH = 64;

const T_UNDEFINED = 0x80;
const T_NULL = 0x81;
const T_FALSE = 0x82;
const T_TRUE = 0x83;
const T_INT32 = 0x84;
const T_FLOAT64 = 0x85;
const T_BIG_POS = 0x86;
const T_BIG_NEG = 0x87;
const T_STR8 = 0x88;
const T_STR32 = 0x89;
const T_BIN8 = 0x8a;
const T_BIN32 = 0x8b;
const T_ARR8 = 0x8c;
const T_ARR32 = 0x8d;
const T_OBJ = 0x8e;
const T_END = 0x8f;
const T_BIGU64S = 0x90;
/** The most bytes before an aligned array's values: tag, u32 count, pad byte, 7 pad bytes. */
const ALIGNED_HEAD = 6 + 7;
const T_BIGI64S = 0x91;
/**
 * A plain object whose own keys are exactly `address` then `password`, both bigints in
 * 0..2^64-1: the shape of a capability, which nearly every call carries. 17 bytes instead of 37,
 * and no keys to write or read.
 */
const T_CAP = 0x92;

/** Typed arrays are copied as bytes only where the platform's byte order is the wire's. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const T_FIXSTR = 0xa0;
const T_NEGFIX = 0xc0;

const U64_MAX = (1n << 64n) - 1n;

/**
 * Whether `x` has exactly a capability's shape as the codec carries one: the keys `address` and
 * `password`, in that order and no other, each a u64 bigint.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isCapabilityShape } from "./codec.ts";
 * assertEquals(isCapabilityShape({ address: 1n, password: 2n }), true);
 * assertEquals(isCapabilityShape({ password: 2n, address: 1n }), false);
 * assertEquals(isCapabilityShape({ address: 1n, password: -2n }), false);
 * ```
 */
export function isCapabilityShape(x: unknown): x is { address: bigint; password: bigint } {
  if (typeof x !== "object" || x === null) return false;
  const { address, password } = x as { address?: unknown; password?: unknown };
  if (
    typeof address !== "bigint" || typeof password !== "bigint" || address < 0n ||
    password < 0n || address > U64_MAX || password > U64_MAX
  ) return false;
  let i = 0;
  for (const key in x) {
    if (i > 1 || key !== (i === 0 ? "address" : "password")) return false;
    i++;
  }
  return i === 2;
}
const NEG_MIN = -(1n << 64n);
/**
 * Strings up to this many UTF-16 units (or UTF-8 bytes, when decoding) are converted by hand:
 * `TextEncoder` and `TextDecoder` cost about 0.4 us per call in Deno 2.9, more on shared memory.
 */
const HAND_UTF8 = 2048;
const KEY_CACHE_SIZE = 1024;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Thrown (one shared instance) when a fixed-size target runs out of room; never escapes. */
const OVERFLOW: unique symbol = Symbol("overflow");

/**
 * A reusable encoder. It keeps a growable scratch buffer and its recursion state, so encoding a
 * small message allocates nothing. One instance must not be used from two places at once;
 * re-entrant use (a getter that encodes) is detected and served by a fresh instance.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ValueEncoder } from "./codec.ts";
 * const encoder = new ValueEncoder();
 * const bytes = encoder.encode({ t: "call", id: 17 }); // a view of the scratch buffer
 * assertEquals(bytes.length, 13);
 * ```
 */
export class ValueEncoder {
  /** Where the current call writes: the scratch buffer or a caller's target. */
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;
  #end = 0;
  #growable = true;
  #scratch: Uint8Array;
  #scratchView: DataView;
  #target: Uint8Array | undefined;
  #targetView: DataView | undefined;
  #busy = false;
  #maxDepth = 0;
  /** The containers on the current path, for cycle detection; index = depth. */
  #stack: unknown[] = [];
  /** The key or index at each depth, for error messages. */
  #keys: (string | number)[] = [];

  /** Creates an encoder with a scratch buffer of `initialBytes` (it grows as needed). */
  constructor(initialBytes = 4096) {
    this.#scratch = this.#buf = new Uint8Array(initialBytes);
    this.#scratchView = this.#view = new DataView(this.#buf.buffer);
  }

  /**
   * Encodes `value` into the scratch buffer and returns a view of it, valid until the next call
   * on this encoder. Throws `TypeError` for a value the format does not carry.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ValueEncoder } from "./codec.ts";
   * assertEquals(new ValueEncoder().encode(5), new Uint8Array([5]));
   * ```
   */
  encode(value: unknown): Uint8Array {
    if (this.#busy) return new ValueEncoder().encode(value);
    this.#busy = true;
    this.#buf = this.#scratch;
    this.#view = this.#scratchView;
    this.#growable = true;
    this.#pos = 0;
    this.#end = this.#buf.length;
    try {
      this.#value(value, 0);
    } finally {
      this.#release();
    }
    return this.#buf.subarray(0, this.#pos);
  }

  /**
   * Encodes `value` into `target[start..end)` and returns the number of bytes written, or -1
   * when it does not fit (the bytes of `target` in that range are then unspecified). Throws
   * `TypeError` for a value the format does not carry.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ValueEncoder } from "./codec.ts";
   * const target = new Uint8Array(16);
   * assertEquals(new ValueEncoder().encodeRange([1, 2], target, 0, 16), 4);
   * ```
   */
  encodeRange(value: unknown, target: Uint8Array, start: number, end: number): number {
    if (this.#busy) return new ValueEncoder(0).encodeRange(value, target, start, end);
    if (!(start >= 0 && start <= end && end <= target.length)) {
      throw new RangeError(
        `Cannot encode into range [${start}, ${end}): target has ${target.length} bytes`,
      );
    }
    if (target !== this.#target || this.#targetView === undefined) {
      this.#target = target;
      this.#targetView = new DataView(target.buffer, target.byteOffset, target.byteLength);
    }
    this.#busy = true;
    this.#buf = target;
    this.#view = this.#targetView;
    this.#growable = false;
    this.#pos = start;
    this.#end = end;
    try {
      this.#value(value, 0);
    } catch (e) {
      if (e === OVERFLOW) return -1;
      throw e;
    } finally {
      this.#release();
    }
    return this.#pos - start;
  }

  #release(): void {
    this.#busy = false;
    const stack = this.#stack;
    for (let i = 0; i <= this.#maxDepth && i < stack.length; i++) stack[i] = undefined;
    this.#maxDepth = 0;
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#end) return;
    if (!this.#growable) throw OVERFLOW;
    let size = Math.max(this.#buf.length * 2, 64);
    while (size < this.#pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#scratch = this.#buf = next;
    this.#scratchView = this.#view = new DataView(next.buffer);
    this.#end = size;
  }

  #value(v: unknown, depth: number): void {
    switch (typeof v) {
      case "object":
        if (v === null) {
          this.#room(1);
          this.#buf[this.#pos++] = T_NULL;
        } else {
          this.#object(v, depth);
        }
        return;
      case "string":
        this.#string(v);
        return;
      case "number":
        this.#number(v);
        return;
      case "boolean":
        this.#room(1);
        this.#buf[this.#pos++] = v ? T_TRUE : T_FALSE;
        return;
      case "undefined":
        this.#room(1);
        this.#buf[this.#pos++] = T_UNDEFINED;
        return;
      case "bigint":
        this.#bigint(v, depth);
        return;
      default:
        throw new TypeError(`Cannot encode ${this.#path(depth)}: ${typeof v} is not supported`);
    }
  }

  #number(v: number): void {
    if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
      if (v >= 0 && v < 128) {
        this.#room(1);
        this.#buf[this.#pos++] = v;
      } else if (v < 0 && v >= -64) {
        this.#room(1);
        this.#buf[this.#pos++] = v + 256;
      } else {
        this.#room(5);
        this.#buf[this.#pos] = T_INT32;
        this.#view.setInt32(this.#pos + 1, v, true);
        this.#pos += 5;
      }
    } else {
      this.#room(9);
      this.#buf[this.#pos] = T_FLOAT64;
      this.#view.setFloat64(this.#pos + 1, v, true);
      this.#pos += 9;
    }
  }

  #bigint(v: bigint, depth: number): void {
    let tag = T_BIG_POS;
    let magnitude = v;
    if (v < 0n) {
      if (v < NEG_MIN) {
        throw new RangeError(`Cannot encode ${this.#path(depth)}: bigint is below -2^64`);
      }
      tag = T_BIG_NEG;
      magnitude = -v - 1n;
    } else if (v > U64_MAX) {
      throw new RangeError(`Cannot encode ${this.#path(depth)}: bigint is above 2^64-1`);
    }
    this.#room(9);
    this.#buf[this.#pos] = tag;
    this.#view.setBigUint64(this.#pos + 1, magnitude, true);
    this.#pos += 9;
  }

  #string(s: string): void {
    const n = s.length;
    if (n < 32) {
      // ASCII fast path: one pass that both checks and copies.
      this.#room(1 + n);
      const buf = this.#buf;
      const p = this.#pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p + i] = c;
      }
      if (i === n) {
        buf[this.#pos] = T_FIXSTR | n;
        this.#pos = p + n;
        return;
      }
    }
    if (n <= HAND_UTF8) {
      // At most 3 bytes per UTF-16 unit.
      const short = 3 * n < 256;
      const header = short ? 2 : 5;
      this.#room(header + 3 * n);
      const start = this.#pos;
      const written = utf8Write(s, this.#buf, start + header);
      if (short) {
        this.#buf[start] = T_STR8;
        this.#buf[start + 1] = written;
      } else {
        this.#buf[start] = T_STR32;
        this.#view.setUint32(start + 1, written, true);
      }
      this.#pos = start + header + written;
      return;
    }
    this.#room(5 + n);
    if (this.#growable) this.#room(5 + 3 * n);
    const start = this.#pos;
    const result = textEncoder.encodeInto(s, this.#buf.subarray(start + 5, this.#end));
    if (result.read !== n) throw OVERFLOW; // only a fixed target can be short
    this.#buf[start] = T_STR32;
    this.#view.setUint32(start + 1, result.written, true);
    this.#pos = start + 5 + result.written;
  }

  #object(v: object, depth: number): void {
    if (Array.isArray(v)) {
      this.#enter(v, depth);
      const n = v.length;
      if (n < 256) {
        this.#room(2);
        this.#buf[this.#pos] = T_ARR8;
        this.#buf[this.#pos + 1] = n;
        this.#pos += 2;
      } else {
        this.#room(5);
        this.#buf[this.#pos] = T_ARR32;
        this.#view.setUint32(this.#pos + 1, n, true);
        this.#pos += 5;
      }
      const keys = this.#keys;
      const inner = depth + 1;
      for (let i = 0; i < n; i++) {
        keys[inner] = i;
        this.#value(v[i], inner);
      }
      this.#stack[depth] = undefined;
      return;
    }
    if (v instanceof Uint8Array) {
      const n = v.length;
      if (n < 256) {
        this.#room(2 + n);
        this.#buf[this.#pos] = T_BIN8;
        this.#buf[this.#pos + 1] = n;
        this.#pos += 2;
      } else {
        // Long ones start on an 8-byte boundary of the buffer, as the 64-bit arrays do.
        this.#room(ALIGNED_HEAD + n);
        this.#alignedHead(T_BIN32, n);
      }
      this.#buf.set(v, this.#pos);
      this.#pos += n;
      return;
    }
    if (v instanceof BigUint64Array || v instanceof BigInt64Array) {
      this.#big64s(v);
      return;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(
        `Cannot encode ${this.#path(depth)}: ${
          describe(v)
        } is not supported (only plain objects, arrays, Uint8Array, BigUint64Array and BigInt64Array)`,
      );
    }
    const record = v as Record<string, unknown>;
    if (this.#capability(record)) return;
    this.#enter(v, depth);
    this.#room(1);
    this.#buf[this.#pos++] = T_OBJ;
    const keys = this.#keys;
    const inner = depth + 1;
    // for-in is faster than Object.keys() here; for a plain object it lists the same keys in the
    // same order (it would add enumerable keys of a polluted Object.prototype).
    for (const key in record) {
      this.#string(key);
      keys[inner] = key;
      this.#value(record[key], inner);
    }
    this.#room(1);
    this.#buf[this.#pos++] = T_END;
    this.#stack[depth] = undefined;
  }

  /** Writes `record` as {@link T_CAP} if it has a capability's shape; returns whether it did. */
  #capability(record: Record<string, unknown>): boolean {
    if (!isCapabilityShape(record)) return false;
    this.#room(17);
    this.#buf[this.#pos] = T_CAP;
    this.#view.setBigUint64(this.#pos + 1, record.address, true);
    this.#view.setBigUint64(this.#pos + 9, record.password, true);
    this.#pos += 17;
    return true;
  }

  /**
   * Writes `tag`, the u32 `n` and the padding that puts what follows on an 8-byte boundary of the
   * buffer (see the module's notes); `#pos` is then there. The caller has made room for
   * {@link ALIGNED_HEAD} bytes and what follows.
   */
  #alignedHead(tag: number, n: number): void {
    const buf = this.#buf;
    buf[this.#pos] = tag;
    this.#view.setUint32(this.#pos + 1, n, true);
    const pad = (8 - ((buf.byteOffset + this.#pos + 6) & 7)) & 7;
    buf[this.#pos + 5] = pad;
    this.#pos += 6;
    for (let i = 0; i < pad; i++) buf[this.#pos++] = 0;
  }

  #big64s(v: BigUint64Array | BigInt64Array): void {
    const n = v.length;
    this.#room(ALIGNED_HEAD + 8 * n);
    const unsigned = v instanceof BigUint64Array;
    this.#alignedHead(unsigned ? T_BIGU64S : T_BIGI64S, n);
    const buf = this.#buf;
    let p = this.#pos;
    if (LITTLE_ENDIAN) {
      const at = buf.byteOffset + p;
      if (unsigned) new BigUint64Array(buf.buffer, at, n).set(v);
      else new BigInt64Array(buf.buffer, at, n).set(v);
    } else {
      const view = this.#view;
      for (let i = 0; i < n; i++, p += 8) view.setBigUint64(p, BigInt.asUintN(64, v[i]!), true);
    }
    this.#pos += 8 * n;
  }

  #enter(v: object, depth: number): void {
    if (depth >= MAX_DEPTH) {
      throw new TypeError(
        `Cannot encode ${this.#path(depth)}: nested deeper than ${MAX_DEPTH} levels`,
      );
    }
    const stack = this.#stack;
    for (let i = 0; i < depth; i++) {
      if (stack[i] === v) {
        throw new TypeError(
          `Cannot encode ${this.#path(depth)}: cyclic reference to ${this.#path(i)}`,
        );
      }
    }
    stack[depth] = v;
    if (depth > this.#maxDepth) this.#maxDepth = depth;
  }

  /** The path to the value at `depth`, e.g. `value.data.blocks[2]`. */
  #path(depth: number): string {
    let path = "value";
    for (let i = 1; i <= depth; i++) {
      const key = this.#keys[i];
      if (typeof key === "number") path += `[${key}]`;
      else if (key !== undefined && /^[A-Za-z_$][\w$]*$/.test(key)) path += `.${key}`;
      else path += `[${JSON.stringify(key)}]`;
    }
    return path;
  }
}

function describe(v: object): string {
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" && name !== "Object"
    ? name
    : "an object with a custom prototype";
}

/** Hand-written UTF-8 for short strings; lone surrogates become U+FFFD like `TextEncoder`. */
function utf8Write(s: string, buf: Uint8Array, start: number): number {
  let p = start;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[p++] = c;
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 63);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          buf[p++] = 0xf0 | (c >> 18);
          buf[p++] = 0x80 | ((c >> 12) & 63);
          buf[p++] = 0x80 | ((c >> 6) & 63);
          buf[p++] = 0x80 | (c & 63);
          continue;
        }
        c = 0xfffd;
      }
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 63);
      buf[p++] = 0x80 | (c & 63);
    }
  }
  return p - start;
}

/**
 * Strict UTF-8 to a string, for short input: rejects what `TextDecoder` with `fatal` rejects
 * (bad continuation bytes, overlong forms, surrogates, code points above U+10FFFF, truncation).
 */
function utf8Read(buf: Uint8Array, start: number, end: number, units: Uint16Array): string {
  let k = 0;
  let i = start;
  while (i < end) {
    const b0 = buf[i++]!;
    if (b0 < 0x80) {
      units[k++] = b0;
      continue;
    }
    let extra: number;
    let cp: number;
    let min: number;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      extra = 1;
      cp = b0 & 0x1f;
      min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      extra = 2;
      cp = b0 & 0x0f;
      min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      extra = 3;
      cp = b0 & 0x07;
      min = 0x10000;
    } else {
      throw new TypeError(`Cannot decode: invalid UTF-8 lead byte 0x${b0.toString(16)}`);
    }
    if (i + extra > end) throw new TypeError("Cannot decode: truncated UTF-8 sequence");
    for (let j = 0; j < extra; j++) {
      const b = buf[i++]!;
      if ((b & 0xc0) !== 0x80) throw new TypeError("Cannot decode: invalid UTF-8 continuation");
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw new TypeError(`Cannot decode: invalid UTF-8 code point 0x${cp.toString(16)}`);
    }
    if (cp < 0x10000) {
      units[k++] = cp;
    } else {
      cp -= 0x10000;
      units[k++] = 0xd800 + (cp >> 10);
      units[k++] = 0xdc00 + (cp & 0x3ff);
    }
  }
  return String.fromCharCode.apply(null, units.subarray(0, k) as unknown as number[]);
}

/**
 * Decoded byte arrays and 64-bit integer arrays of up to this many bytes are views into a shared
 * slab rather than owners of a buffer: in Deno 2.9 a new ArrayBuffer costs about 0.8 µs even for 8
 * bytes and 4 µs for 16 KiB (a 1 MiB read's block list), a view 20 ns. Such a view's `buffer` is
 * the slab: use `byteOffset` and `byteLength` with it, and never transfer it.
 */
const SLAB_ITEM_MAX = 32 * 1024;
const SLAB_BYTES = 256 * 1024;
let slab = new ArrayBuffer(0);
let slabUsed = 0;

/** Reserves `n` bytes (8-aligned) of the current slab, starting a new one when it is full. */
function carve(n: number): number {
  const size = (n + 7) & ~7;
  if (slabUsed + size > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const at = slabUsed;
  slabUsed += size;
  return at;
}

/** A decoded 64-bit array of `n` values: up to 32 KiB of them a view into the slab. */
function big64Array(n: number, signed: boolean): BigUint64Array | BigInt64Array {
  if (8 * n > SLAB_ITEM_MAX) return signed ? new BigInt64Array(n) : new BigUint64Array(n);
  const at = carve(8 * n);
  return signed ? new BigInt64Array(slab, at, n) : new BigUint64Array(slab, at, n);
}

/** Most items a counting run may stand for (`countingRun`): 1 MiB of values, as much as a ring. */
export const COUNTING_RUN_MAX = 1 << 17;

/**
 * Whether the 64-bit values of `v` count up by one from the first with the high 32 bits of every
 * value the same (block lists do: consecutive blocks below 2^32), so that the first value and the
 * length say it all (`countingRun` makes it back). Reads 32-bit halves, no bigint per item; stops
 * after the chunk of 256 values in which one does not follow. Never on a big-endian machine.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { countsUp } from "./codec.ts";
 * assertEquals(countsUp(new BigUint64Array([7n, 8n, 9n])), true);
 * assertEquals(countsUp(new BigUint64Array([7n, 9n])), false);
 * assertEquals(countsUp(new BigUint64Array([0xffff_ffffn, 0x1_0000_0000n])), false); // carries
 * ```
 */
export function countsUp(v: BigUint64Array | BigInt64Array): boolean {
  const n = v.length;
  if (!LITTLE_ENDIAN || n === 0) return false;
  // As int32s, differences or-ed together and looked at once a chunk: a compare and branch per
  // value, and values past 2^31 as doubles, took 25-40 % longer (2048 values: 4.0-5.3 µs).
  const halves = new Int32Array(v.buffer, v.byteOffset, 2 * n);
  const lo = halves[0]!, hi = halves[1]!;
  if ((lo >>> 0) + n - 1 > 0xffff_ffff) return false;
  for (let at = 1; at < n; at += 256) {
    const stop = Math.min(n, at + 256);
    let off = 0;
    for (let i = at; i < stop; i++) {
      off |= (halves[2 * i]! ^ ((lo + i) | 0)) | (halves[2 * i + 1]! ^ hi);
    }
    if (off !== 0) return false;
  }
  return true;
}

/**
 * The array of `n` values from the one whose halves are `lo` and `hi`, counting up by one (see
 * {@link countsUp}); of up to 32 KiB, a view into the decoders' slab, as the value decoder's.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { countingRun } from "./codec.ts";
 * assertEquals([...countingRun(5, 1, 3, false)], [0x1_0000_0005n, 0x1_0000_0006n, 0x1_0000_0007n]);
 * ```
 */
export function countingRun(
  lo: number,
  hi: number,
  n: number,
  signed: boolean,
): BigUint64Array | BigInt64Array {
  if (
    !LITTLE_ENDIAN || !Number.isInteger(n) || n < 1 || n > COUNTING_RUN_MAX ||
    !(lo >= 0 && lo + n - 1 <= 0xffff_ffff) || !(hi >= 0 && hi <= 0xffff_ffff)
  ) {
    throw new RangeError(`Cannot make a counting run of ${n} from ${hi}:${lo}`);
  }
  return fillCounting(big64Array(n, signed), lo, hi);
}

/**
 * Fills `out` with the values whose high 32 bits are `hi` and whose low ones count up from `lo`
 * (`lo + out.length - 1 <= 0xffff_ffff`, unchecked), on either byte order: one fill for the high
 * halves, then 32-bit adds as int32s (a loop storing both halves settled in V8's top tier at 12
 * µs for 2048 values, uint32s past 2^31 at twice this one's 2.5-3 µs). Returns `out`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fillCounting } from "./codec.ts";
 * assertEquals([...fillCounting(new BigUint64Array(2), 0xffff_fffe, 2)], [0x2_ffff_fffen, 0x2_ffff_ffffn]);
 * ```
 */
export function fillCounting<T extends BigUint64Array | BigInt64Array>(
  out: T,
  lo: number,
  hi: number,
): T {
  const n = out.length;
  const halves = new Int32Array(out.buffer, out.byteOffset, 2 * n);
  const low = LITTLE_ENDIAN ? 0 : 1;
  halves.fill(hi | 0);
  const first = lo | 0;
  for (let i = 0; i < n; i++) halves[2 * i + low] = (first + i) | 0;
  return out;
}

/**
 * A reusable decoder. It caches short ASCII strings (object keys, method names), so decoding the
 * same shapes repeatedly allocates only the result.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ValueDecoder, encodeValue } from "./codec.ts";
 * const bytes = encodeValue({ t: "ok" });
 * assertEquals(new ValueDecoder().decode(bytes, 0, bytes.length), { t: "ok" });
 * ```
 */
export class ValueDecoder {
  #buf: Uint8Array = new Uint8Array(0);
  #view: DataView = new DataView(this.#buf.buffer);
  #pos = 0;
  #start = 0;
  #end = 0;
  #keys: string[] = new Array<string>(KEY_CACHE_SIZE).fill("");
  #units = new Uint16Array(HAND_UTF8);

  /**
   * Decodes the one value that occupies exactly `bytes[start..end)`. Throws `RangeError` for
   * truncated or oversized input and `TypeError` for malformed input.
   *
   * @example
   * ```ts
   * import { ValueDecoder } from "./codec.ts";
   * new ValueDecoder().decode(new Uint8Array([0xc0 + 63]), 0, 1); // -1
   * ```
   */
  decode(bytes: Uint8Array, start: number, end: number): unknown {
    this.begin(bytes, start, end);
    const value = this.#value(0);
    this.finish();
    return value;
  }

  /**
   * Opens `bytes[start..end)` for decoding values one after the other with {@link next}; a
   * protocol with fixed fields around its values reads those itself, at {@link position}.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ValueDecoder, ValueEncoder } from "./codec.ts";
   * const bytes = new Uint8Array(8);
   * const encoder = new ValueEncoder();
   * const n = encoder.encodeRange("a", bytes, 0, 8);
   * const m = encoder.encodeRange(7, bytes, n, 8);
   * const decoder = new ValueDecoder();
   * decoder.begin(bytes, 0, n + m);
   * assertEquals([decoder.next(), decoder.next()], ["a", 7]);
   * decoder.finish(); // throws if bytes were left
   * ```
   */
  begin(bytes: Uint8Array, start: number, end: number): void {
    if (!(start >= 0 && start <= end && end <= bytes.length)) {
      throw new RangeError(
        `Cannot decode range [${start}, ${end}): input has ${bytes.length} bytes`,
      );
    }
    if (bytes !== this.#buf) {
      this.#buf = bytes;
      this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    this.#pos = this.#start = start;
    this.#end = end;
  }

  /** Decodes the next value of the range opened by {@link begin}. */
  next(): unknown {
    return this.#value(0);
  }

  /** Where the next value of the open range starts. */
  get position(): number {
    return this.#pos;
  }

  /** Throws `RangeError` unless the range opened by {@link begin} is consumed exactly. */
  finish(): void {
    if (this.#pos !== this.#end) {
      throw new RangeError(
        `Cannot decode: ${this.#end - this.#pos} unexpected bytes after the value at offset ${
          this.#pos - this.#start
        }`,
      );
    }
  }

  #need(n: number, what: string): void {
    if (n > this.#end - this.#pos) {
      throw new RangeError(
        `Cannot decode ${what} at offset ${this.#pos}: needs ${n} bytes, ${
          this.#end - this.#pos
        } remain`,
      );
    }
  }

  #value(depth: number): unknown {
    this.#need(1, "a value");
    const tag = this.#buf[this.#pos++]!;
    if (tag < 0x80) return tag;
    if (tag >= T_NEGFIX) return tag - 256;
    if (tag >= T_FIXSTR) return this.#ascii(tag & 31);
    switch (tag) {
      case T_UNDEFINED:
        return undefined;
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_INT32: {
        this.#need(4, "an int32");
        const v = this.#view.getInt32(this.#pos, true);
        this.#pos += 4;
        return v;
      }
      case T_FLOAT64: {
        this.#need(8, "a float64");
        const v = this.#view.getFloat64(this.#pos, true);
        this.#pos += 8;
        return v;
      }
      case T_BIG_POS:
      case T_BIG_NEG: {
        this.#need(8, "a bigint");
        const v = this.#view.getBigUint64(this.#pos, true);
        this.#pos += 8;
        return tag === T_BIG_POS ? v : -v - 1n;
      }
      case T_STR8:
        return this.#utf8(this.#length8());
      case T_STR32:
        return this.#utf8(this.#length32());
      case T_BIN8:
        return this.#bytes(this.#length8());
      case T_BIN32: {
        const n = this.#length32();
        this.#pad("a byte array");
        return this.#bytes(n);
      }
      case T_ARR8:
        return this.#array(this.#length8(), depth);
      case T_ARR32:
        return this.#array(this.#length32(), depth);
      case T_OBJ:
        return this.#object(depth);
      case T_BIGU64S:
      case T_BIGI64S:
        return this.#big64s(this.#length32(), tag === T_BIGI64S);
      case T_CAP: {
        this.#need(16, "a capability");
        const view = this.#view, at = this.#pos;
        this.#pos += 16;
        return { address: view.getBigUint64(at, true), password: view.getBigUint64(at + 8, true) };
      }
      default:
        throw new TypeError(
          `Cannot decode: unknown tag 0x${tag.toString(16)} at offset ${this.#pos - 1}`,
        );
    }
  }

  /** Reads a u8 length; the caller validates it against the remaining bytes. */
  #length8(): number {
    this.#need(1, "a length");
    return this.#buf[this.#pos++]!;
  }

  #length32(): number {
    this.#need(4, "a length");
    const n = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return n;
  }

  #ascii(n: number): string {
    this.#need(n, "a string");
    const buf = this.#buf;
    const p = this.#pos;
    let hash = n;
    for (let i = 0; i < n; i++) {
      const b = buf[p + i]!;
      if (b >= 0x80) {
        throw new TypeError(`Cannot decode: non-ASCII byte in a short string at offset ${p + i}`);
      }
      hash = (Math.imul(hash, 31) + b) | 0;
    }
    this.#pos = p + n;
    const slot = hash & (KEY_CACHE_SIZE - 1);
    const cached = this.#keys[slot]!;
    if (cached.length === n) {
      let i = 0;
      while (i < n && cached.charCodeAt(i) === buf[p + i]) i++;
      if (i === n) return cached;
    }
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(buf[p + i]!);
    this.#keys[slot] = s;
    return s;
  }

  #utf8(n: number): string {
    this.#need(n, "a string");
    const buf = this.#buf;
    const p = this.#pos;
    this.#pos = p + n;
    if (n <= 32) {
      let s = "";
      let i = 0;
      for (; i < n; i++) {
        const b = buf[p + i]!;
        if (b >= 0x80) break;
        s += String.fromCharCode(b);
      }
      if (i === n) return s;
    }
    if (n <= HAND_UTF8) return utf8Read(buf, p, p + n, this.#units);
    return textDecoder.decode(buf.slice(p, p + n));
  }

  #bytes(n: number): Uint8Array {
    this.#need(n, "a byte array");
    const p = this.#pos;
    this.#pos = p + n;
    if (n > SLAB_ITEM_MAX) return this.#buf.slice(p, p + n);
    const at = carve(n); // first: it may start a new slab
    const out = new Uint8Array(slab, at, n);
    out.set(this.#buf.subarray(p, p + n));
    return out;
  }

  /** Skips a pad byte and the padding it counts (0-7 bytes). */
  #pad(what: string): void {
    this.#need(1, `${what}'s padding`);
    const pad = this.#buf[this.#pos]!;
    if (pad > 7) throw new TypeError(`Cannot decode: ${what} padded by ${pad} bytes`);
    this.#need(1 + pad, `${what}'s padding`);
    this.#pos += 1 + pad;
  }

  #big64s(n: number, signed: boolean): BigUint64Array | BigInt64Array {
    this.#pad("a 64-bit integer array");
    this.#need(8 * n, "a 64-bit integer array");
    const p = this.#pos;
    this.#pos = p + 8 * n;
    const out = big64Array(n, signed);
    if (LITTLE_ENDIAN) {
      const buf = this.#buf;
      const from = buf.byteOffset + p;
      if ((from & 7) === 0) {
        // Aligned: out of shared memory a word at a time, not a byte (see the module's notes).
        if (signed) (out as BigInt64Array).set(new BigInt64Array(buf.buffer, from, n));
        else (out as BigUint64Array).set(new BigUint64Array(buf.buffer, from, n));
      } else new Uint8Array(out.buffer, out.byteOffset, 8 * n).set(buf.subarray(p, p + 8 * n));
    } else {
      const view = this.#view;
      for (let i = 0; i < n; i++) {
        out[i] = signed ? view.getBigInt64(p + 8 * i, true) : view.getBigUint64(p + 8 * i, true);
      }
    }
    return out;
  }

  #array(n: number, depth: number): unknown[] {
    if (depth >= MAX_DEPTH) throw new RangeError(`Cannot decode: nested deeper than ${MAX_DEPTH}`);
    // Every item takes at least one byte.
    this.#need(n, "an array");
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(this.#value(depth + 1));
    return out;
  }

  #object(depth: number): Record<string, unknown> {
    if (depth >= MAX_DEPTH) throw new RangeError(`Cannot decode: nested deeper than ${MAX_DEPTH}`);
    const out: Record<string, unknown> = {};
    for (;;) {
      this.#need(1, "an object key");
      const tag = this.#buf[this.#pos++]!;
      let key: string;
      if (tag === T_END) return out;
      if (tag >= T_FIXSTR && tag < T_NEGFIX) key = this.#ascii(tag & 31);
      else if (tag === T_STR8) key = this.#utf8(this.#length8());
      else if (tag === T_STR32) key = this.#utf8(this.#length32());
      else {
        throw new TypeError(
          `Cannot decode: object key at offset ${this.#pos - 1} is not a string (tag 0x${
            tag.toString(16)
          })`,
        );
      }
      const value = this.#value(depth + 1);
      if (key === "__proto__") {
        Object.defineProperty(out, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        out[key] = value;
      }
    }
  }
}

const sharedEncoder = new ValueEncoder();
const sharedDecoder = new ValueDecoder();

/**
 * Encodes `value` into a new `Uint8Array`. Throws `TypeError` naming the place of anything the
 * format does not carry, `RangeError` for a bigint outside -2^64..2^64-1.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeValue } from "./codec.ts";
 * assertEquals(encodeValue({ t: "call", id: 17 }).length, 13);
 * ```
 */
export function encodeValue(value: unknown): Uint8Array {
  return sharedEncoder.encode(value).slice();
}

/**
 * Encodes `value` into `target` at `offset` and returns the number of bytes written, or -1 when
 * `target` is too small (its bytes after `offset` are then unspecified).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { encodeInto } from "./codec.ts";
 * const target = new Uint8Array(64);
 * assertEquals(encodeInto("hello", target, 8), 6);
 * ```
 */
export function encodeInto(value: unknown, target: Uint8Array, offset = 0): number {
  return sharedEncoder.encodeRange(value, target, offset, target.length);
}

/**
 * Decodes the one value that occupies all of `bytes`. Throws `RangeError` or `TypeError` for
 * truncated or malformed input.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeValue, encodeValue } from "./codec.ts";
 * const value = [1n, "x", new Uint8Array([7])];
 * assertEquals(decodeValue(encodeValue(value)), value);
 * ```
 */
export function decodeValue(bytes: Uint8Array): unknown {
  return sharedDecoder.decode(bytes, 0, bytes.length);
}
