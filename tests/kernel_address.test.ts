import { assertEquals, assertThrows } from "@std/assert";
import { formatAddress, makeAddress, nodeOf, offsetOf, parseAddress } from "../kernel/address.ts";
import { AddressSpace } from "../kernel/address_space.ts";

Deno.test("formatAddress prints 0x and 16 hex digits", () => {
  assertEquals(formatAddress(0n), "0x0000000000000000");
  assertEquals(formatAddress(0x1234n), "0x0000000000001234");
  assertEquals(formatAddress((1n << 64n) - 1n), "0xffffffffffffffff");
  assertThrows(() => formatAddress(1n << 64n), RangeError);
  assertThrows(() => formatAddress(-1n), RangeError);
});

Deno.test("parseAddress reads hex and decimal and refuses junk", () => {
  assertEquals(parseAddress("0x0000000000001000"), 4096n);
  assertEquals(parseAddress("4096"), 4096n);
  assertThrows(() => parseAddress("0x"), SyntaxError);
  assertThrows(() => parseAddress("0x12345678901234567"), SyntaxError);
  assertThrows(() => parseAddress("hello"), SyntaxError);
  assertThrows(() => parseAddress("99999999999999999999"), RangeError);
});

Deno.test("the top 16 bits of an address are its node id", () => {
  const a = makeAddress(3, 0x1000n);
  assertEquals(a, 0x0003_0000_0000_1000n);
  assertEquals(nodeOf(a), 3);
  assertEquals(offsetOf(a), 0x1000n);
  assertThrows(() => makeAddress(65536, 0n), RangeError);
  assertThrows(() => makeAddress(0, 1n << 48n), RangeError);
});

Deno.test("AddressSpace hands out page-aligned ranges and never page 0", () => {
  const space = new AddressSpace({ node: 2, bytes: 1n << 20n });
  const a = space.allocate(1);
  const b = space.allocate(4097);
  assertEquals(offsetOf(a), 0x1000n);
  assertEquals(nodeOf(a), 2);
  assertEquals(offsetOf(b), 0x2000n);
  assertEquals(space.sizeOf(b), 8192n);
  assertEquals(space.count, 2);
});

Deno.test("AddressSpace reuses and coalesces freed ranges", () => {
  const space = new AddressSpace({ bytes: 16n * 4096n });
  const all = [];
  for (let i = 0; i < 15; i++) all.push(space.allocate(4096));
  assertThrows(() => space.allocate(1), RangeError, "exhausted");
  for (const a of all) space.free(a);
  // After freeing everything, one range of all 15 pages must be available again.
  const big = space.allocate(15 * 4096);
  assertEquals(offsetOf(big), 0x1000n);
});

Deno.test("AddressSpace exhaustion is a RangeError with the numbers", () => {
  const space = new AddressSpace({ bytes: 4n * 4096n });
  space.allocate(4096);
  const e = assertThrows(() => space.allocate(3 * 4096), RangeError);
  assertEquals(
    e.message,
    "Cannot allocate 12288 bytes: address space exhausted (8192 of 12288 bytes free, largest free range 8192 bytes)",
  );
});

Deno.test("AddressSpace refuses bad sizes and double frees", () => {
  const space = new AddressSpace({ bytes: 1n << 20n });
  for (const bad of [0, -1, 1.5, NaN, Infinity]) {
    assertThrows(() => space.allocate(bad), RangeError, "size must be a positive integer");
  }
  const a = space.allocate(10);
  space.free(a);
  assertThrows(() => space.free(a), RangeError, "not an allocated range");
  assertThrows(() => new AddressSpace({ bytes: 5000n }), RangeError);
});
