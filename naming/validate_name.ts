/**
 * The rules for names in the name service.
 *
 * @module
 */

import {
  codePointLabel,
  describeValue,
  isLowSurrogate,
  NAME_MAX_BYTES,
  quoteName,
} from "./_util.ts";

/**
 * The longest name the name service accepts, in bytes of UTF-8.
 *
 * @example
 * ```ts
 * import { MAX_NAME_BYTES } from "./validate_name.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(MAX_NAME_BYTES, 255);
 * ```
 */
export const MAX_NAME_BYTES: number = NAME_MAX_BYTES;

/**
 * Checks that a value is a valid name and returns it unchanged.
 *
 * A name is a non-empty string of at most {@linkcode MAX_NAME_BYTES} bytes of UTF-8, with no
 * control characters (U+0000-U+001F, U+007F-U+009F) and no lone surrogates. Any other character,
 * "/" included, is allowed; "/" has no special meaning beyond convention (`dev/ide0`).
 *
 * Throws `TypeError` for a non-string, an empty string, a control character or a lone surrogate
 * (naming its UTF-16 index and code point), and `RangeError` for a name that is too long (giving
 * its length in bytes). Messages quote the name in JSON syntax, truncated if it is long.
 *
 * @example
 * ```ts
 * import { validateName } from "./validate_name.ts";
 * import { assertEquals, assertThrows } from "@std/assert";
 *
 * assertEquals(validateName("dev/ide0"), "dev/ide0");
 * assertThrows(
 *   () => validateName("dev\u0007x"),
 *   TypeError,
 *   'Invalid name "dev\\u0007x": control character U+0007 at index 3',
 * );
 * assertThrows(() => validateName("x".repeat(256)), RangeError, "256 bytes");
 * ```
 */
export function validateName(name: unknown): string {
  if (typeof name !== "string") {
    throw new TypeError(`Invalid name: expected a string, got ${describeValue(name)}`);
  }
  if (name.length === 0) {
    throw new TypeError('Invalid name "": must not be empty');
  }
  let bytes = 0;
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f)) {
      throw new TypeError(
        `Invalid name ${quoteName(name)}: control character ${codePointLabel(unit)} at index ${i}`,
      );
    }
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdfff) {
      if (unit > 0xdbff || !isLowSurrogate(name.charCodeAt(i + 1))) {
        throw new TypeError(
          `Invalid name ${quoteName(name)}: lone surrogate ${codePointLabel(unit)} at index ${i}`,
        );
      }
      bytes += 4;
      i += 1;
    } else bytes += 3;
  }
  if (bytes > NAME_MAX_BYTES) {
    throw new RangeError(
      `Invalid name ${quoteName(name)}: ${bytes} bytes of UTF-8, at most ${NAME_MAX_BYTES} allowed`,
    );
  }
  return name;
}
