import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { MAX_NAME_BYTES, validateName } from "../naming/mod.ts";

Deno.test("validateName() returns a valid name unchanged", () => {
  for (const name of ["dev/ide0", "a", "dev/usb1/port 2", "гуд/日本/😀", "/", "x".repeat(255)]) {
    assertEquals(validateName(name), name);
  }
});

Deno.test("validateName() rejects a non-string with TypeError", () => {
  assertThrows(() => validateName(42), TypeError, "Invalid name: expected a string, got number 42");
  assertThrows(() => validateName(undefined), TypeError, "got undefined");
  assertThrows(() => validateName(null), TypeError, "got null");
  assertThrows(() => validateName(new String("dev")), TypeError, "got object");
  assertThrows(() => validateName(1n), TypeError, "got bigint 1n");
});

Deno.test("validateName() rejects the empty name with TypeError", () => {
  assertThrows(() => validateName(""), TypeError, 'Invalid name "": must not be empty');
});

Deno.test("validateName() accepts 255 bytes and rejects 256 with RangeError giving the count", () => {
  assertEquals(MAX_NAME_BYTES, 255);
  assertEquals(validateName("a".repeat(255)).length, 255);
  const error = assertThrows(() => validateName("a".repeat(256)), RangeError);
  assertStringIncludes(error.message, "256 bytes of UTF-8, at most 255 allowed");
});

Deno.test("validateName() counts multi-byte UTF-8 at the 255-byte boundary", () => {
  // "é" is 2 bytes, "€" 3, "😀" 4 (two UTF-16 code units).
  assertEquals(validateName("a" + "é".repeat(127)), "a" + "é".repeat(127)); // 255 bytes
  assertThrows(() => validateName("é".repeat(128)), RangeError, "256 bytes");
  assertEquals(validateName("€".repeat(85)), "€".repeat(85)); // 255 bytes
  assertThrows(() => validateName("a" + "€".repeat(85)), RangeError, "256 bytes");
  assertEquals(validateName("abc" + "😀".repeat(63)), "abc" + "😀".repeat(63)); // 255 bytes
  assertThrows(() => validateName("abcd" + "😀".repeat(63)), RangeError, "256 bytes");
  assertThrows(() => validateName("😀".repeat(100)), RangeError, "400 bytes");
});

Deno.test("validateName() rejects C0 and C1 control characters naming index and code point", () => {
  assertThrows(
    () => validateName("dev\u0007x"),
    TypeError,
    'Invalid name "dev\\u0007x": control character U+0007 at index 3',
  );
  assertThrows(() => validateName("\u0000"), TypeError, "control character U+0000 at index 0");
  assertThrows(() => validateName("a\nb"), TypeError, "control character U+000A at index 1");
  assertThrows(() => validateName("ab\u001f"), TypeError, "U+001F at index 2");
  assertThrows(
    () => validateName("dev\u007f"),
    TypeError,
    'Invalid name "dev\\u007f": control character U+007F at index 3',
  );
  assertThrows(() => validateName("x\u0085"), TypeError, "U+0085 at index 1");
  assertThrows(() => validateName("x\u009f"), TypeError, "U+009F at index 1");
  assertEquals(validateName("x\u00a0y"), "x\u00a0y"); // NBSP is not a control character
});

Deno.test("validateName() rejects lone surrogates with TypeError", () => {
  assertThrows(() => validateName("a\ud800"), TypeError, "lone surrogate U+D800 at index 1");
  assertThrows(() => validateName("a\ud800b"), TypeError, "lone surrogate U+D800 at index 1");
  assertThrows(() => validateName("\udc00a"), TypeError, "lone surrogate U+DC00 at index 0");
  assertThrows(() => validateName("😀\ude00"), TypeError, "lone surrogate U+DE00 at index 2");
});

Deno.test("validateName() truncates a huge name in its message", () => {
  const error = assertThrows(() => validateName("q".repeat(100_000)), RangeError);
  assertStringIncludes(error.message, "100000 bytes");
  assertEquals(error.message.length < 200, true, error.message);
  assertStringIncludes(error.message, '…"');
});
