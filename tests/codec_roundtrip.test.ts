import { assert, assertEquals, assertStrictEquals } from "@std/assert";
import {
  decodeValue,
  encodeInto,
  encodeValue,
  MAX_DEPTH,
  ValueDecoder,
  ValueEncoder,
} from "../kernel/codec.ts";

function roundTrip(value: unknown): unknown {
  return decodeValue(encodeValue(value));
}

function assertSame(actual: unknown, expected: unknown): void {
  assert(Object.is(actual, expected), `expected ${String(expected)}, got ${String(actual)}`);
}

Deno.test("undefined, null and booleans round-trip", () => {
  for (const v of [undefined, null, true, false]) assertSame(roundTrip(v), v);
});

Deno.test("numbers round-trip exactly, including -0, NaN, infinities and 2^53", () => {
  const values = [
    0,
    -0,
    1,
    -1,
    63,
    -64,
    -65,
    127,
    128,
    255,
    256,
    2 ** 31 - 1,
    -(2 ** 31),
    2 ** 31,
    -(2 ** 31) - 1,
    2 ** 32,
    2 ** 53,
    -(2 ** 53),
    Number.MAX_SAFE_INTEGER,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    Number.EPSILON,
    0.1,
    -1.5,
    NaN,
    Infinity,
    -Infinity,
  ];
  for (const v of values) assertSame(roundTrip(v), v);
});

Deno.test("small integers take one byte, int32 five, other numbers nine", () => {
  assertEquals(encodeValue(0).length, 1);
  assertEquals(encodeValue(127).length, 1);
  assertEquals(encodeValue(-64).length, 1);
  assertEquals(encodeValue(128).length, 5);
  assertEquals(encodeValue(-65).length, 5);
  assertEquals(encodeValue(2 ** 31 - 1).length, 5);
  assertEquals(encodeValue(2 ** 31).length, 9);
  assertEquals(encodeValue(-0).length, 9);
  assertEquals(encodeValue(0.5).length, 9);
});

Deno.test("bigints round-trip across -2^64..2^64-1", () => {
  const values = [
    0n,
    1n,
    -1n,
    0x1000n,
    0x0003_0000_0000_1000n,
    (1n << 63n) - 1n,
    1n << 63n,
    -(1n << 63n),
    (1n << 64n) - 1n,
    -(1n << 64n),
    -(1n << 64n) + 1n,
  ];
  for (const v of values) assertStrictEquals(roundTrip(v), v);
  assertEquals(encodeValue((1n << 64n) - 1n).length, 9);
});

Deno.test("strings round-trip: empty, ASCII, accents, emoji, long, BOM", () => {
  const values = [
    "",
    "a",
    "IBlock",
    "x".repeat(31),
    "x".repeat(32),
    "héllo",
    "日本語",
    "😀",
    "a😀b",
    "\u0000\u007f\u0080\u07ff\u0800\uffff",
    "\ufeffleading BOM",
    "é".repeat(100),
    "😀".repeat(1000),
    "long ".repeat(1000),
    "ü".repeat(5000),
  ];
  for (const v of values) assertStrictEquals(roundTrip(v), v);
});

Deno.test("short ASCII strings take one header byte", () => {
  assertEquals(encodeValue("").length, 1);
  assertEquals(encodeValue("read").length, 5);
  assertEquals(encodeValue("x".repeat(31)).length, 32);
});

Deno.test("lone surrogates become U+FFFD, as with TextEncoder", () => {
  assertStrictEquals(roundTrip("a\ud800b"), "a\ufffdb");
  assertStrictEquals(roundTrip("\udc00"), "\ufffd");
  assertStrictEquals(roundTrip("x\ud83d"), "x\ufffd");
  const long = "\ud800".repeat(3000);
  assertStrictEquals(roundTrip(long), "\ufffd".repeat(3000));
});

Deno.test("Uint8Array round-trips as a copy", () => {
  const source = new Uint8Array([1, 2, 3, 255]);
  const bytes = encodeValue(source);
  source[0] = 99;
  const back = decodeValue(bytes) as Uint8Array;
  assert(back instanceof Uint8Array);
  assertEquals([...back], [1, 2, 3, 255]);
  assertEquals(roundTrip(new Uint8Array(0)), new Uint8Array(0));
  const big = new Uint8Array(1 << 20).map((_, i) => i * 7);
  assertEquals(roundTrip(big), big);
  const view = new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 4);
  assertEquals(roundTrip(view), new Uint8Array([8, 7, 6]));
});

Deno.test("BigUint64Array and BigInt64Array round-trip as aligned copies, 8 bytes a value", () => {
  const blocks = new BigUint64Array([0n, 1n, 2n ** 64n - 1n, 0x0123_4567_89ab_cdefn]);
  const bytes = encodeValue({ blocks });
  // Object, key "blocks", tag, count, pad byte, 2 bytes of padding (the values start at 16), end.
  assertEquals(bytes.length, 1 + 7 + 6 + 2 + 8 * 4 + 1);
  assertEquals(bytes[13], 2);
  const back = (decodeValue(bytes) as { blocks: BigUint64Array }).blocks;
  assert(back instanceof BigUint64Array);
  assertEquals([...back], [...blocks]);
  assertEquals(back.byteOffset % 8, 0); // aligned (a view into the decoder's slab)
  const signed = new BigInt64Array([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n]);
  const sback = roundTrip(signed) as BigInt64Array;
  assert(sback instanceof BigInt64Array);
  assertEquals([...sback], [...signed]);
  assertEquals([...(roundTrip(new BigUint64Array(0)) as BigUint64Array)], []);
  // A view into a larger buffer, at an offset: only its own elements travel.
  const view = new BigUint64Array([9n, 8n, 7n, 6n]).subarray(1, 3);
  assertEquals([...(roundTrip(view) as BigUint64Array)], [8n, 7n]);
  // Encoded in place into ring memory (a fixed target) too, and refused when it does not fit.
  const target = new Uint8Array(64);
  const n = encodeInto(blocks, target, 3);
  assertEquals(n, 6 + 7 + 32); // at 3: tag, count and pad byte end at 9, the values start at 16
  assertEquals([...(decodeValue(target.subarray(3, 3 + n)) as BigUint64Array)], [...blocks]);
  assertEquals(encodeInto(blocks, new Uint8Array(20)), -1);
});

Deno.test("a 64-bit array's values, and a long byte array's, start on an 8-byte boundary of the target's buffer, wherever the target lies in it", () => {
  const blocks = new BigUint64Array(40).map((_, i) => BigInt(i) * 0x1_0000_0001n);
  const memory = new SharedArrayBuffer(4096);
  for (let offset = 0; offset < 8; offset++) {
    for (let at = 0; at < 8; at++) {
      const target = new Uint8Array(memory, offset, 1024);
      const n = encodeInto(blocks, target, at);
      const pad = target[at + 5]!;
      assert(pad <= 7);
      assertEquals((offset + at + 6 + pad) % 8, 0, `offset ${offset}, at ${at}`);
      assertEquals(n, 6 + pad + 8 * 40);
      // Read back in place (aligned: word copies) and from a copy elsewhere (byte copies).
      assertEquals([...(decodeValue(target.subarray(at, at + n)) as BigUint64Array)], [...blocks]);
      const moved = new Uint8Array(n + 1).subarray(1);
      moved.set(target.subarray(at, at + n));
      assertEquals([...(decodeValue(moved) as BigUint64Array)], [...blocks]);
    }
  }
  // So do a byte array's of 256 bytes or more; shorter ones are not padded.
  const long = new Uint8Array(300).map((_, i) => i * 7);
  for (let offset = 0; offset < 8; offset++) {
    const target = new Uint8Array(memory, offset, 1024);
    const n = encodeInto(long, target, 1);
    assertEquals((offset + 1 + 6 + target[1 + 5]!) % 8, 0, `offset ${offset}`);
    assertEquals(decodeValue(target.subarray(1, 1 + n)), long);
  }
  assertEquals(encodeValue(new Uint8Array(255)).length, 2 + 255);
  const signed = new BigInt64Array([-1n, -(2n ** 63n), 5n]);
  const target = new Uint8Array(memory, 3, 256);
  const n = encodeInto(signed, target, 0);
  assertEquals([...(decodeValue(target.subarray(0, n)) as BigInt64Array)], [...signed]);
});

Deno.test("decoded typed arrays are views of a slab that never share bytes with each other", () => {
  const bytes: Uint8Array[] = [];
  const bigs: BigUint64Array[] = [];
  // Enough to fill more than one slab, and one past the size that gets a view.
  for (let i = 0; i < 300; i++) {
    bytes.push(roundTrip(new Uint8Array(1001)) as Uint8Array);
    bigs.push(roundTrip(new BigUint64Array(100)) as BigUint64Array);
  }
  bytes.push(roundTrip(new Uint8Array(100_000)) as Uint8Array);
  // Each gets its own pattern through its own view: any overlap would clobber a neighbour.
  bytes.forEach((a, i) => a.fill(i & 0xff));
  bigs.forEach((a, i) => a.fill(BigInt(i)));
  bytes.forEach((a, i) => assert(a.every((x) => x === (i & 0xff)), `byte array ${i}`));
  bigs.forEach((a, i) => assert(a.every((x) => x === BigInt(i)), `u64 array ${i}`));
  assertEquals(bytes.map((a) => a.length), [...Array(300).fill(1001), 100_000]);
});

Deno.test("arrays and nested objects round-trip, keeping key order", () => {
  const message = {
    t: "call",
    id: 17,
    iface: "IBlock",
    method: "read",
    args: [{ notify: 0x0001_0000_0000_2000n }, { blocks: [1, 2, 3], addr: 0x4000n }],
    nested: { a: { b: { c: [[], {}, [null, undefined, -0]] } } },
    z: 1,
    a: 2,
  };
  const back = roundTrip(message) as typeof message;
  assertEquals(back, message);
  assertEquals(Object.keys(back), Object.keys(message));
  assertSame((back.nested.a.b.c[2] as unknown[])[2], -0);
  const long = Array.from({ length: 1000 }, (_, i) => (i % 2 ? `s${i}` : i));
  assertEquals(roundTrip(long), long);
  assertEquals(roundTrip([]), []);
  assertEquals(roundTrip({}), {});
});

Deno.test("sparse arrays come back with undefined in the holes", () => {
  // deno-lint-ignore no-sparse-arrays
  const sparse = [1, , 3];
  assertEquals(roundTrip(sparse), [1, undefined, 3]);
});

Deno.test("a __proto__ key stays an own property and does not change the prototype", () => {
  const tricky = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}');
  const back = roundTrip(tricky) as Record<string, unknown>;
  assertEquals(Object.getPrototypeOf(back), Object.prototype);
  assertEquals(Object.keys(back), ["__proto__", "x"]);
  assertEquals(back["__proto__"], { polluted: true });
  assertEquals(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("null-prototype objects encode as plain objects", () => {
  const bare = Object.create(null) as Record<string, unknown>;
  bare.k = "v";
  assertEquals(roundTrip(bare), { k: "v" });
});

Deno.test(`nesting up to ${MAX_DEPTH} levels round-trips`, () => {
  let deep: unknown = "bottom";
  for (let i = 0; i < MAX_DEPTH; i++) deep = i % 2 ? [deep] : { d: deep };
  assertEquals(roundTrip(deep), deep);
});

Deno.test("encodeInto writes at an offset and returns -1 when the target is too small", () => {
  const target = new Uint8Array(32);
  const n = encodeInto({ a: "hello" }, target, 4);
  assertEquals(n, encodeValue({ a: "hello" }).length);
  assertEquals(decodeValue(target.subarray(4, 4 + n)), { a: "hello" });
  assertEquals(encodeInto("x".repeat(40), target, 0), -1);
  assertEquals(encodeInto("x".repeat(3000), new Uint8Array(100), 0), -1);
  assertEquals(encodeInto(new Uint8Array(64), target, 0), -1);
  assertEquals(encodeInto(1, target, 32), -1);
  assertEquals(encodeInto(1, target, 31), 1);
});

Deno.test("encodeInto works on shared memory", () => {
  const target = new Uint8Array(new SharedArrayBuffer(256));
  const value = { s: "日本", n: 1.5, b: 1n << 60n, u: new Uint8Array([1]) };
  const n = encodeInto(value, target, 0);
  assertEquals(new ValueDecoder().decode(target, 0, n), value);
});

Deno.test("one ValueEncoder reused gives the same bytes as a fresh one", () => {
  const encoder = new ValueEncoder(16);
  const values = [{ a: 1 }, "x".repeat(100), [1n, 2n], { a: 1 }];
  for (const v of values) assertEquals(encoder.encode(v).slice(), encodeValue(v));
});

Deno.test("a getter that encodes while encoding does not corrupt the outer message", () => {
  const inner = { x: 1 };
  const outer = {
    get nested() {
      return decodeValue(encodeValue(inner));
    },
    after: "ok",
  };
  assertEquals(roundTrip(outer), { nested: { x: 1 }, after: "ok" });
});

Deno.test("capabilities travel in 17 bytes and come back as plain { address, password }", () => {
  const cap = { address: 0x1234_0000_0000_1000n, password: (1n << 64n) - 1n };
  const bytes = encodeValue(cap);
  assertEquals(bytes.length, 17);
  assertEquals(bytes[0], 0x92);
  const back = decodeValue(bytes) as Record<string, unknown>;
  assertEquals(back, cap);
  assertEquals(Object.keys(back), ["address", "password"]);
  assertEquals(Object.getPrototypeOf(back), Object.prototype);
  // Inside other values too, and twice in one message.
  const call = [cap, { blocks: [1n], addr: 0x5000n, buffer: cap }];
  assertEquals(decodeValue(encodeValue(call)), call);
});

Deno.test("objects that only look like capabilities keep their exact shape", () => {
  const lookalikes: Record<string, unknown>[] = [
    { password: 2n, address: 1n }, // other key order
    { address: 1n, password: 2n, extra: 3 },
    { address: 1n, password: 2 }, // a number, not a bigint
    { address: -1n, password: 2n },
    { address: 1n },
    {},
  ];
  for (const value of lookalikes) {
    const bytes = encodeValue(value);
    assert(bytes[0] !== 0x92, `${Object.keys(value)} must not be encoded as a capability`);
    const back = decodeValue(bytes) as Record<string, unknown>;
    assertEquals(back, value);
    assertEquals(Object.keys(back), Object.keys(value));
  }
});

Deno.test("a truncated capability is a RangeError", () => {
  const bytes = encodeValue({ address: 1n, password: 2n });
  for (let n = 1; n < bytes.length; n++) {
    let error: unknown;
    try {
      decodeValue(bytes.subarray(0, n));
    } catch (e) {
      error = e;
    }
    assert(error instanceof RangeError, `cut at ${n}: ${error}`);
  }
});
