import { assert, assertEquals, assertThrows } from "@std/assert";
import { decodeValue, encodeValue, ValueDecoder } from "../kernel/codec.ts";

/** xorshift32: a small seeded PRNG, so every run sees the same inputs. */
function xorshift(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function decodeOrExpectedError(bytes: Uint8Array): void {
  try {
    decodeValue(bytes);
  } catch (e) {
    assert(
      e instanceof RangeError || e instanceof TypeError,
      `unexpected ${e} for bytes [${[...bytes].join(",")}]`,
    );
  }
}

function randomValue(next: () => number, depth: number): unknown {
  const r = next() % (depth > 3 ? 9 : 11);
  switch (r) {
    case 0:
      return [undefined, null, true, false][next() % 4];
    case 1:
      return (next() % 256) - 64;
    case 2:
      return (next() | 0) * (next() % 2 ? 1 : -1);
    case 3:
      return [0.5, -0, NaN, Infinity, 2 ** 53, 1e-300, (next() - 2 ** 31) / 7][next() % 7];
    case 4:
      return (BigInt(next()) << 32n | BigInt(next())) * (next() % 2 ? 1n : -1n);
    case 5:
      return ["", "a", "IBlock", "é", "😀", "x".repeat(next() % 300)][next() % 6];
    case 6:
      return String.fromCharCode(...Array.from({ length: next() % 40 }, () => next() % 0xd800));
    case 7:
      return new Uint8Array(next() % 300).map(() => next());
    case 8:
      return (1n << 64n) - 1n - BigInt(next() % 10);
    case 9:
      return Array.from({ length: next() % 6 }, () => randomValue(next, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      const n = next() % 6;
      for (let i = 0; i < n; i++) out[`k${next() % 20}`] = randomValue(next, depth + 1);
      return out;
    }
  }
}

Deno.test("random bytes decode or throw only RangeError/TypeError", () => {
  const next = xorshift(0x5eed);
  for (let i = 0; i < 20_000; i++) {
    const bytes = new Uint8Array(next() % 48).map(() => next());
    decodeOrExpectedError(bytes);
  }
});

Deno.test("random bytes behind every tag decode or throw only RangeError/TypeError", () => {
  const next = xorshift(42);
  for (let tag = 0; tag < 256; tag++) {
    for (let i = 0; i < 40; i++) {
      const bytes = new Uint8Array(1 + (next() % 24)).map(() => next());
      bytes[0] = tag;
      decodeOrExpectedError(bytes);
    }
  }
});

Deno.test("truncated and bit-flipped encodings throw only RangeError/TypeError", () => {
  const next = xorshift(7);
  for (let i = 0; i < 2_000; i++) {
    const good = encodeValue(randomValue(next, 0));
    for (let cut = 0; cut < Math.min(good.length, 24); cut++) {
      decodeOrExpectedError(good.subarray(0, cut));
    }
    const bad = good.slice();
    for (let k = 0; k < 3; k++) bad[next() % bad.length] = next();
    decodeOrExpectedError(bad);
  }
});

Deno.test("a long byte array or a 64-bit integer array padded by more than 7 bytes is refused", () => {
  for (const tag of [0x8b, 0x90, 0x91]) {
    const bytes = new Uint8Array([tag, 1, 0, 0, 0, 8, ...new Array(16).fill(0)]);
    assertThrows(() => decodeValue(bytes), TypeError, "padded by 8 bytes");
  }
  // Padding that runs past the end is a truncation.
  assertThrows(() => decodeValue(new Uint8Array([0x8b, 1, 0, 0, 0, 5, 0])), RangeError);
});

Deno.test("huge declared lengths are refused without allocating them", () => {
  // str32, bin32, arr32 and the 64-bit integer arrays declaring 4 GiB - 1 with 4 bytes behind.
  for (const tag of [0x89, 0x8b, 0x8d, 0x90, 0x91]) {
    const bytes = new Uint8Array([tag, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
    let error: unknown;
    try {
      decodeValue(bytes);
    } catch (e) {
      error = e;
    }
    assert(error instanceof RangeError, `tag 0x${tag.toString(16)}: ${error}`);
  }
});

Deno.test("deeply nested garbage stops at the depth limit", () => {
  const bytes = new Uint8Array(100_000).fill(0x8e); // object, whose key is... an object
  decodeOrExpectedError(bytes);
  const arrays = new Uint8Array(200_000);
  for (let i = 0; i < arrays.length; i += 2) arrays.set([0x8c, 1], i);
  decodeOrExpectedError(arrays);
});

Deno.test("invalid UTF-8 is a TypeError", () => {
  const cases = [
    [0x88, 2, 0xc0, 0x80], // overlong NUL
    [0x88, 3, 0xed, 0xa0, 0x80], // surrogate
    [0x88, 4, 0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
    [0x88, 1, 0xe2], // truncated
    [0x88, 2, 0x80, 0x80], // lone continuation
    [0xa1, 0xff], // non-ASCII in a short ASCII string
  ];
  for (const c of cases) {
    let error: unknown;
    try {
      decodeValue(new Uint8Array(c));
    } catch (e) {
      error = e;
    }
    assert(error instanceof TypeError, `[${c}]: ${error}`);
  }
});

Deno.test("trailing bytes after the value are refused", () => {
  let error: unknown;
  try {
    decodeValue(new Uint8Array([1, 2]));
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError);
});

Deno.test("random values round-trip (seeded property test)", () => {
  const next = xorshift(1234);
  const decoder = new ValueDecoder();
  for (let i = 0; i < 3_000; i++) {
    const value = randomValue(next, 0);
    const bytes = encodeValue(value);
    assertEquals(decoder.decode(bytes, 0, bytes.length), value);
  }
});
