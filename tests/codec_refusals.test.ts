import { assertEquals, assertThrows } from "@std/assert";
import { decodeValue, encodeInto, encodeValue, MAX_DEPTH } from "../kernel/codec.ts";

Deno.test("a function is refused with the path to it", () => {
  assertThrows(
    () => encodeValue({ data: { blocks: [1, 2, () => 3] } }),
    TypeError,
    "Cannot encode value.data.blocks[2]: function is not supported",
  );
});

Deno.test("a symbol is refused, at the top level too", () => {
  assertThrows(() => encodeValue(Symbol("s")), TypeError, "Cannot encode value: symbol");
  assertThrows(() => encodeValue({ s: Symbol("s") }), TypeError, "Cannot encode value.s: symbol");
});

Deno.test("class instances other than Uint8Array and plain objects are refused", () => {
  class Widget {
    x = 1;
  }
  const cases: [unknown, string][] = [
    [{ when: new Date(0) }, "value.when: Date is not supported"],
    [[new Map()], "value[0]: Map is not supported"],
    [{ w: new Widget() }, "value.w: Widget is not supported"],
    [{ u16: new Uint16Array(2) }, "value.u16: Uint16Array is not supported"],
    [{ buf: new ArrayBuffer(2) }, "value.buf: ArrayBuffer is not supported"],
    [{ "odd key": [0, { e: new Error("x") }] }, 'value["odd key"][1].e: Error'],
    [new Set([1]), "value: Set is not supported (only plain objects, arrays, Uint8Array, Big"],
  ];
  for (const [value, message] of cases) {
    assertThrows(() => encodeValue(value), TypeError, message);
  }
});

Deno.test("an object whose prototype has no constructor name is still refused", () => {
  const odd = Object.create({});
  assertThrows(
    () => encodeValue({ odd }),
    TypeError,
    "value.odd: an object with a custom prototype",
  );
  const anonymous = Object.create(Object.create(null));
  assertThrows(() => encodeValue([anonymous]), TypeError, "value[0]: an object with a custom");
});

Deno.test("cyclic structures are refused, naming both ends", () => {
  const root: Record<string, unknown> = { a: { b: [] as unknown[] } };
  ((root.a as Record<string, unknown>).b as unknown[]).push(root);
  assertThrows(
    () => encodeValue(root),
    TypeError,
    "Cannot encode value.a.b[0]: cyclic reference to value",
  );
  const list: unknown[] = [1];
  list.push({ self: list });
  assertThrows(() => encodeValue(list), TypeError, "value[1].self: cyclic reference to value");
});

Deno.test("shared, non-cyclic references are fine", () => {
  const shared = { k: 1 };
  assertEquals(decodeValue(encodeValue([shared, shared, { shared }])), [
    { k: 1 },
    { k: 1 },
    { shared: { k: 1 } },
  ]);
});

Deno.test(`nesting deeper than ${MAX_DEPTH} levels is refused`, () => {
  let deep: unknown = 1;
  for (let i = 0; i < MAX_DEPTH + 1; i++) deep = [deep];
  assertThrows(() => encodeValue(deep), TypeError, `nested deeper than ${MAX_DEPTH} levels`);
});

Deno.test("bigints outside -2^64..2^64-1 are refused with RangeError and the path", () => {
  assertThrows(
    () => encodeValue({ addr: 1n << 64n }),
    RangeError,
    "Cannot encode value.addr: bigint is above 2^64-1",
  );
  assertThrows(() => encodeValue([-(1n << 64n) - 1n]), RangeError, "value[0]: bigint is below");
});

Deno.test("a refused value leaves the encoder usable", () => {
  assertThrows(() => encodeValue({ a: [1, () => 0] }), TypeError);
  assertThrows(() => encodeInto({ a: [1, Symbol()] }, new Uint8Array(64)), TypeError);
  assertEquals(decodeValue(encodeValue({ a: [1, 2] })), { a: [1, 2] });
});

Deno.test("encodeInto refuses an offset outside the target", () => {
  assertThrows(() => encodeInto(1, new Uint8Array(4), 5), RangeError);
  assertThrows(() => encodeInto(1, new Uint8Array(4), -1), RangeError);
});
