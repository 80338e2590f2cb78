/**
 * The worker host's wire format: how the messages of `protocol.ts` become bytes on the rings.
 *
 * The messages of every request (a call and its result, the replies to the driver's requests,
 * interrupts, batches of register writes, the driver's requests) have fixed layouts: a kind
 * byte, fixed-size fields, then only the values that vary in shape (call arguments, results) in
 * `codec.ts`'s encoding. Decoding one builds the message object directly, with no keys to read or
 * look up: encoding and decoding the ten messages of a 512 B read costs 3.8 µs against 6.1 µs
 * as self-describing values (`deno run --allow-read bench/ring_bench.ts`, 2-vCPU VM). Every
 * other message, and any message whose fields do not fit its fixed
 * layout (an id past 2^32, say), travels as kind 0 followed by the whole message as one value:
 * the format carries exactly what `codec.ts` carries, and decodes to an equal message.
 *
 * Decoding trusts nothing (the driver writes one of the rings): every length is checked against
 * the bytes that remain, and every field's type against the message's, so garbage throws
 * `RangeError` or `TypeError`, which the endpoint reports as a corrupt ring.
 *
 * | kind | message                    | layout after the kind byte                            |
 * | ---- | -------------------------- | ----------------------------------------------------- |
 * | 0    | any                        | the message as one value                              |
 * | 1    | `call`                     | u32 id, u32 object; values: interface, method, args   |
 * | 2    | `irq`                      | u32 line                                              |
 * | 3, 4 | `reply` ok, failed         | u32 id; value: the result, or the serialized error    |
 * | 5, 6 | `result` ok, failed        | u32 id; value: the result, or the serialized error    |
 * | 7    | `mmio_wb`                  | u32 guards, a u32 map id each; u32 pairs, 2 u32 each  |
 * | 8    | `req`                      | u32 id, u8 operation, u8 flags (1: u32 call follows); |
 * |      |                            | value: args                                           |
 * | 9    | `call` with a layout       | u32 id, u32 object, u16 method; the arguments' layout |
 * | 10   | posted `invoke`s, layouts  | u32 count; each: u64 address, u64 password, u16       |
 * |      |                            | method; the arguments' layout                         |
 *
 * Kind 10 carries the driver's posts (`DriverContext.post`: a `req` with id 0, operation `invoke`)
 * when every post's method has a layout and its arguments fit it; the decoded message says, under
 * {@link POSTED_TYPES}, which parameter types each post's arguments are values of by construction
 * (the kernel then skips checking them, see `Kernel.invokeTyped`).
 *
 * Kind 9 exists only in a codec made with a {@link LayoutTable} (`wireCodec(table)`): a call of a
 * method the table has, whose arguments all fit their IDL types, travels without names, keys or
 * tags (see `layout.ts`); it decodes with `checked: true`, which tells the worker that the
 * arguments were checked against the IDL as they were encoded.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { WIRE_CODEC } from "./wire.ts";
 * const message = { t: "mmio_wb", b: [0x0101_0007, 0x20] };
 * const bytes = WIRE_CODEC.encoder(64).encode(message);
 * assertEquals(bytes.length, 17); // kind, guard count, pair count, one pair
 * assertEquals(WIRE_CODEC.decoder().decode(bytes, 0, bytes.length), message);
 * ```
 *
 * @module
 */

import { isCapabilityShape, ValueDecoder, ValueEncoder } from "../codec.ts";
import { LayoutReader, type LayoutTable, LayoutWriter } from "./layout.ts";
import type { MessageCodec, MessageDecoder, MessageEncoder } from "../ring.ts";
import type { RequestOp } from "./protocol.ts";
import type { TypeRef } from "../../idl/types.ts";

const K_VALUE = 0;
const K_CALL = 1;
const K_IRQ = 2;
const K_REPLY_OK = 3;
const K_REPLY_ERR = 4;
const K_RESULT_OK = 5;
const K_RESULT_ERR = 6;
const K_WB = 7;
const K_REQ = 8;
const K_CALL_LAYOUT = 9;
const K_POSTS = 10;
/** The operation index of `invoke` on the wire. */
const OP_INVOKE = 0;
/** Bytes of a post's fixed part in a kind 10 message: the capability and the layout's index. */
const POST_HEAD = 18;

/**
 * The key under which a decoded kind 10 message (posts in layouts) carries, per post, the
 * parameter types its arguments are values of by construction (`Layout.scalars`, or null). A
 * symbol: no message decoded from a value (kind 0) can have it, so a driver cannot claim it.
 */
export const POSTED_TYPES: unique symbol = Symbol("mungi.wire.postedTypes");
/** Top bit of a call's object index: the kernel made the map declared for the call. */
const PM_BIT = 0x8000_0000;

/** The operations of `req` messages, by their index on the wire. */
const OPS: readonly RequestOp[] = [
  "invoke",
  "map",
  "unmap",
  "alloc",
  "irq_register",
  "object_create",
  "object_destroy",
  "bus_add",
  "bus_remove",
];
const OP_INDEX: ReadonlyMap<string, number> = new Map(OPS.map((op, i) => [op, i]));

/** Register write pairs a `mmio_wb` may carry on the fast layout (more travel as a value). */
const MAX_PAIRS = 1 << 20;
/** Map ids a `mmio_wb` may depend on, on the fast layout. */
const MAX_GUARDS = 1 << 16;

function isU32(x: unknown): x is number {
  return typeof x === "number" && (x >>> 0) === x;
}

/** A message as the encoder sees it: any of `protocol.ts`'s, or anything else. */
interface Fields {
  t?: unknown;
  id?: unknown;
  o?: unknown;
  i?: unknown;
  m?: unknown;
  a?: unknown;
  line?: unknown;
  ok?: unknown;
  v?: unknown;
  e?: unknown;
  b?: unknown;
  g?: unknown;
  op?: unknown;
  c?: unknown;
  pm?: unknown;
}

class WireEncoder implements MessageEncoder {
  #values = new ValueEncoder(0);
  #scratch: Uint8Array;
  #target: Uint8Array | undefined;
  #view: DataView = new DataView(new ArrayBuffer(0));
  #layouts: LayoutTable | undefined;
  #writer: LayoutWriter;

  constructor(initialBytes: number, layouts?: LayoutTable) {
    this.#scratch = new Uint8Array(Math.max(64, initialBytes));
    this.#layouts = layouts;
    this.#writer = new LayoutWriter(this.#values);
  }

  encode(message: unknown): Uint8Array {
    for (;;) {
      const n = this.encodeRange(message, this.#scratch, 0, this.#scratch.length);
      if (n >= 0) return this.#scratch.subarray(0, n);
      this.#scratch = new Uint8Array(this.#scratch.length * 2);
    }
  }

  encodeRange(message: unknown, target: Uint8Array, start: number, end: number): number {
    if (!(start >= 0 && start <= end && end <= target.length)) {
      throw new RangeError(
        `Cannot encode into range [${start}, ${end}): target has ${target.length} bytes`,
      );
    }
    if (end - start < 1) return -1;
    if (target !== this.#target) {
      this.#target = target;
      this.#view = new DataView(target.buffer, target.byteOffset, target.byteLength);
    }
    const n = typeof message === "object" && message !== null
      ? this.#fixed(message as Fields, target, start, end)
      : -2;
    if (n !== -2) return n;
    target[start] = K_VALUE;
    const v = this.#values.encodeRange(message, target, start + 1, end);
    return v < 0 ? -1 : v + 1;
  }

  /** Encodes a message with a fixed layout; -2 if it has none (or does not fit it). */
  #fixed(m: Fields, target: Uint8Array, start: number, end: number): number {
    const view = this.#view;
    switch (m.t) {
      case "call": {
        if (
          !isU32(m.id) || !isU32(m.o) || m.o >= PM_BIT ||
          (m.pm !== undefined && typeof m.pm !== "function")
        ) return -2;
        const layout = this.#layouts !== undefined && typeof m.i === "string" &&
            typeof m.m === "string" && Array.isArray(m.a)
          ? this.#layouts.get(m.i, m.m)
          : undefined;
        if (layout !== undefined) {
          if (end - start < 11) return -1;
          const w = this.#writer;
          w.open(target, view, start + 11, end);
          const at = layout.encode(m.a as unknown[], w);
          if (at === -1) return -1;
          if (at >= 0) {
            // A call in its layout has arguments of its types: `pm` may now make the call's
            // declared map (see the call message's `pm`); the object index's top bit says so.
            const made = m.pm !== undefined && (m.pm as () => boolean)();
            target[start] = K_CALL_LAYOUT;
            view.setUint32(start + 1, m.id, true);
            view.setUint32(start + 5, made ? (m.o | PM_BIT) >>> 0 : m.o, true);
            view.setUint16(start + 9, layout.index, true);
            return at - start;
          }
          // Arguments that are not values of the method's types: a plain call, which the
          // worker's argument check refuses with the validator's message.
        }
        if (end - start < 9) return -1;
        target[start] = K_CALL;
        view.setUint32(start + 1, m.id, true);
        view.setUint32(start + 5, m.o, true);
        return this.#values3(m.i, m.m, m.a, target, start, start + 9, end);
      }
      case "irq":
        if (!isU32(m.line)) return -2;
        if (end - start < 5) return -1;
        target[start] = K_IRQ;
        view.setUint32(start + 1, m.line, true);
        return 5;
      case "reply":
      case "result": {
        if (!isU32(m.id) || (m.ok !== true && m.ok !== false)) return -2;
        if (end - start < 5) return -1;
        const reply = m.t === "reply";
        target[start] = m.ok
          ? (reply ? K_REPLY_OK : K_RESULT_OK)
          : (reply ? K_REPLY_ERR : K_RESULT_ERR);
        view.setUint32(start + 1, m.id, true);
        const n = this.#values.encodeRange(m.ok ? m.v : m.e, target, start + 5, end);
        return n < 0 ? -1 : n + 5;
      }
      case "mmio_wb": {
        const b = m.b, g = m.g;
        if (!Array.isArray(b) || (b.length & 1) !== 0 || b.length > 2 * MAX_PAIRS) return -2;
        const guards = g === undefined ? 0 : Array.isArray(g) ? g.length : -1;
        if (guards < 0 || guards > MAX_GUARDS || (g !== undefined && guards === 0)) return -2;
        const bytes = 9 + 4 * guards + 4 * b.length;
        if (end - start < bytes) {
          for (const x of b) if (!isU32(x)) return -2;
          for (let i = 0; i < guards; i++) if (!isU32((g as unknown[])[i])) return -2;
          return -1;
        }
        let p = start + 5;
        for (let i = 0; i < guards; i++, p += 4) {
          const x = (g as unknown[])[i];
          if (!isU32(x)) return -2;
          view.setUint32(p, x, true);
        }
        const pairsAt = p;
        p += 4;
        for (let i = 0; i < b.length; i++, p += 4) {
          const x = b[i];
          if (!isU32(x)) return -2;
          view.setUint32(p, x, true);
        }
        target[start] = K_WB;
        view.setUint32(start + 1, guards, true);
        view.setUint32(pairsAt, b.length >> 1, true);
        return bytes;
      }
      case "req": {
        const op = typeof m.op === "string" ? OP_INDEX.get(m.op) : undefined;
        if (!isU32(m.id) || op === undefined || m.g !== undefined) return -2;
        const call = m.c;
        if (call !== undefined && (!isU32(call) || call === 0)) return -2;
        if (op === OP_INVOKE && m.id === 0 && call === undefined && Array.isArray(m.a)) {
          const n = this.#posts(m.a, target, start, end);
          if (n !== -2) return n;
        }
        const head = call === undefined ? 7 : 11;
        if (end - start < head) return -1;
        target[start] = K_REQ;
        view.setUint32(start + 1, m.id, true);
        target[start + 5] = op;
        target[start + 6] = call === undefined ? 0 : 1;
        if (call !== undefined) view.setUint32(start + 7, call, true);
        const n = this.#values.encodeRange(m.a, target, start + head, end);
        return n < 0 ? -1 : n + head;
      }
      default:
        return -2;
    }
  }

  /**
   * Posts (capability, `Interface.method`, arguments each) as kind 10: a u32 count, then per post
   * the capability (u64 address, u64 password), the u16 index of the method's layout and the
   * arguments in it. -2 unless every post's method has a layout and its arguments fit it.
   */
  #posts(a: unknown[], target: Uint8Array, start: number, end: number): number {
    const layouts = this.#layouts;
    const count = a.length / 3;
    if (layouts === undefined || count < 1 || !Number.isInteger(count)) return -2;
    const view = this.#view;
    const w = this.#writer;
    let p = start + 5;
    for (let i = 0; i < a.length; i += 3) {
      const cap = a[i], name = a[i + 1];
      const args = a[i + 2];
      if (!isCapabilityShape(cap) || typeof name !== "string" || !Array.isArray(args)) return -2;
      const layout = layouts.qualified(name);
      if (layout === undefined) return -2;
      if (end - p < POST_HEAD) return -1;
      w.open(target, view, p + POST_HEAD, end);
      const at = layout.encode(args, w);
      if (at === -1) return -1;
      if (at < 0) return -2;
      view.setBigUint64(p, cap.address, true);
      view.setBigUint64(p + 8, cap.password, true);
      view.setUint16(p + 16, layout.index, true);
      p = at;
    }
    target[start] = K_POSTS;
    view.setUint32(start + 1, count, true);
    return p - start;
  }

  /** Encodes three values one after the other from `at`; the frame's total length, or -1. */
  #values3(
    a: unknown,
    b: unknown,
    c: unknown,
    target: Uint8Array,
    start: number,
    at: number,
    end: number,
  ): number {
    const values = this.#values;
    let n = values.encodeRange(a, target, at, end);
    if (n < 0) return -1;
    at += n;
    n = values.encodeRange(b, target, at, end);
    if (n < 0) return -1;
    at += n;
    n = values.encodeRange(c, target, at, end);
    if (n < 0) return -1;
    return at + n - start;
  }
}

class WireDecoder implements MessageDecoder {
  #values = new ValueDecoder();
  #bytes: Uint8Array | undefined;
  #view: DataView = new DataView(new ArrayBuffer(0));
  #layouts: LayoutTable | undefined;
  #reader: LayoutReader;

  constructor(layouts?: LayoutTable) {
    this.#layouts = layouts;
    this.#reader = new LayoutReader(this.#values);
  }

  decode(bytes: Uint8Array, start: number, end: number): unknown {
    if (!(start >= 0 && start < end && end <= bytes.length)) {
      throw new RangeError(`Cannot decode message in [${start}, ${end}): no kind byte`);
    }
    if (bytes !== this.#bytes) {
      this.#bytes = bytes;
      this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    const view = this.#view;
    const values = this.#values;
    const kind = bytes[start]!;
    switch (kind) {
      case K_VALUE:
        return values.decode(bytes, start + 1, end);
      case K_CALL: {
        need(end - start, 9, "call");
        const id = view.getUint32(start + 1, true);
        const o = view.getUint32(start + 5, true);
        values.begin(bytes, start + 9, end);
        const i = values.next(), m = values.next(), a = values.next();
        values.finish();
        if (typeof i !== "string" || typeof m !== "string" || !Array.isArray(a)) {
          throw new TypeError("Cannot decode call: interface, method or arguments malformed");
        }
        return { t: "call", id, o, i, m, a };
      }
      case K_CALL_LAYOUT: {
        need(end - start, 11, "call");
        const id = view.getUint32(start + 1, true);
        const ow = view.getUint32(start + 5, true);
        const o = ow & ~PM_BIT;
        const index = view.getUint16(start + 9, true);
        const layout = this.#layouts?.at(index);
        if (layout === undefined) {
          throw new TypeError(`Cannot decode call: no method with layout ${index}`);
        }
        const r = this.#reader;
        r.open(bytes, view, start + 11, end);
        const a = layout.decode(r);
        if (r.pos !== end) {
          throw new RangeError(`Cannot decode call: ${end - r.pos} bytes after the arguments`);
        }
        const call = { t: "call", id, o, i: layout.iface, m: layout.method, a, checked: true };
        return ow >= PM_BIT ? { ...call, pm: true } : call;
      }
      case K_IRQ:
        exact(end - start, 5, "irq");
        return { t: "irq", line: view.getUint32(start + 1, true) };
      case K_REPLY_OK:
      case K_RESULT_OK: {
        need(end - start, 5, "reply");
        const id = view.getUint32(start + 1, true);
        const v = values.decode(bytes, start + 5, end);
        return kind === K_REPLY_OK
          ? { t: "reply", id, ok: true, v }
          : { t: "result", id, ok: true, v };
      }
      case K_REPLY_ERR:
      case K_RESULT_ERR: {
        need(end - start, 5, "reply");
        const id = view.getUint32(start + 1, true);
        const e = values.decode(bytes, start + 5, end);
        if (typeof e !== "object" || e === null || Array.isArray(e)) {
          throw new TypeError("Cannot decode failed reply: the error is not an object");
        }
        return kind === K_REPLY_ERR
          ? { t: "reply", id, ok: false, e }
          : { t: "result", id, ok: false, e };
      }
      case K_WB: {
        need(end - start, 9, "mmio_wb");
        const guards = view.getUint32(start + 1, true);
        if (guards > MAX_GUARDS || 9 + 4 * guards > end - start) {
          throw new RangeError(`Cannot decode mmio_wb: ${guards} guards`);
        }
        let p = start + 5;
        const g: number[] = [];
        for (let i = 0; i < guards; i++, p += 4) g.push(view.getUint32(p, true));
        const pairs = view.getUint32(p, true);
        p += 4;
        if (pairs > MAX_PAIRS) throw new RangeError(`Cannot decode mmio_wb: ${pairs} pairs`);
        exact(end - start, 9 + 4 * guards + 8 * pairs, "mmio_wb");
        const b: number[] = [];
        for (; p < end; p += 4) b.push(view.getUint32(p, true));
        return guards === 0 ? { t: "mmio_wb", b } : { t: "mmio_wb", b, g };
      }
      case K_REQ: {
        need(end - start, 7, "req");
        const id = view.getUint32(start + 1, true);
        const op = OPS[bytes[start + 5]!];
        const flags = bytes[start + 6]!;
        if (op === undefined || flags > 1) {
          throw new TypeError(`Cannot decode req: operation ${bytes[start + 5]}, flags ${flags}`);
        }
        if (flags === 0) {
          const a = values.decode(bytes, start + 7, end);
          if (!Array.isArray(a)) throw new TypeError("Cannot decode req: arguments not a list");
          return { t: "req", id, op, a };
        }
        need(end - start, 11, "req");
        const c = view.getUint32(start + 7, true);
        if (c === 0) throw new TypeError("Cannot decode req: call 0");
        const a = values.decode(bytes, start + 11, end);
        if (!Array.isArray(a)) throw new TypeError("Cannot decode req: arguments not a list");
        return { t: "req", id, op, a, c };
      }
      case K_POSTS: {
        need(end - start, 5, "posts");
        const count = view.getUint32(start + 1, true);
        if (count === 0 || count > (end - start - 5) / POST_HEAD) {
          throw new RangeError(`Cannot decode posts: ${count} in ${end - start} bytes`);
        }
        const a: unknown[] = [];
        const types: (readonly TypeRef[] | null)[] = [];
        const r = this.#reader;
        let p = start + 5;
        for (let i = 0; i < count; i++) {
          need(end - p, POST_HEAD, "posts");
          const index = view.getUint16(p + 16, true);
          const layout = this.#layouts?.at(index);
          if (layout === undefined) {
            throw new TypeError(`Cannot decode posts: no method with layout ${index}`);
          }
          const cap = {
            address: view.getBigUint64(p, true),
            password: view.getBigUint64(p + 8, true),
          };
          r.open(bytes, view, p + POST_HEAD, end);
          a.push(cap, layout.qualified, layout.decode(r));
          types.push(layout.scalars ?? null);
          p = r.pos;
        }
        if (p !== end) throw new RangeError(`Cannot decode posts: ${end - p} bytes after them`);
        return { t: "req", id: 0, op: "invoke", a, [POSTED_TYPES]: types };
      }
      default:
        throw new TypeError(`Cannot decode message: unknown kind ${kind}`);
    }
  }
}

function need(have: number, want: number, what: string): void {
  if (have < want) {
    throw new RangeError(`Cannot decode ${what}: needs ${want} bytes, ${have} present`);
  }
}

function exact(have: number, want: number, what: string): void {
  if (have !== want) {
    throw new RangeError(`Cannot decode ${what}: ${have} bytes, expected ${want}`);
  }
}

/** The worker host's {@link MessageCodec}: fixed layouts for the per-request messages. */
export const WIRE_CODEC: MessageCodec = wireCodec();

/**
 * The wire codec, with calls of the methods in `layouts` in their compiled layouts (kind 9).
 * Both ends of a ring must use tables built from the same schema.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { wireCodec } from "./wire.ts";
 * import { LayoutTable } from "./layout.ts";
 * import { schema } from "../../interfaces/block.ts";
 * const codec = wireCodec(LayoutTable.fromSchema(schema));
 * const call = { t: "call", id: 1, o: 0, i: "IBlock", m: "get_block_size", a: [] };
 * const bytes = codec.encoder(64).encode(call);
 * assertEquals(bytes.length, 11);
 * assertEquals(codec.decoder().decode(bytes, 0, bytes.length), { ...call, checked: true });
 * ```
 */
export function wireCodec(layouts?: LayoutTable): MessageCodec {
  return {
    encoder: (initialBytes) => new WireEncoder(initialBytes, layouts),
    decoder: () => new WireDecoder(layouts),
  };
}
