/**
 * The command-line values `deno task bench` and `deno task bench:compare` share: integer options
 * and request sizes, checked the same way and refused with the same words.
 *
 * @module
 */

import { parseSize } from "./results.ts";
import { isRequestSize, MAX_REQUEST } from "./study.ts";

/**
 * The integer option `--name` given as `value` (`fallback` if not given): refused unless it is
 * an integer from `min` to `max`.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { intOption } from "./options.ts";
 * assertEquals(intOption("depth", "8", 1), 8);
 * assertEquals(intOption("depth", undefined, 1), 1);
 * assertThrows(() => intOption("depth", "0", 1), RangeError, "--depth 0: it must be a positive integer");
 * assertThrows(() => intOption("rounds", "2.5", 20, 3), RangeError, "an integer >= 3");
 * assertThrows(() => intOption("interval-us", "5", 1000, 10, 100_000), RangeError, "from 10 to 100000");
 * ```
 */
export function intOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min = 1,
  max = Infinity,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < min || n > max) {
    const what = max !== Infinity
      ? `an integer from ${min} to ${max}`
      : min === 1
      ? "a positive integer"
      : `an integer >= ${min}`;
    throw new RangeError(`Cannot use --${name} ${value}: it must be ${what}`);
  }
  return n;
}

/**
 * A request size given to `--name` (`parseSize`: 512, 4k, 1m) that the study can read: a
 * multiple of 512 bytes up to 1 MiB (one ATA command).
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { requestSizeOption } from "./options.ts";
 * assertEquals(requestSizeOption("size", "4k"), 4096);
 * assertThrows(() => requestSizeOption("sizes", "700"), RangeError, "multiple of 512");
 * ```
 */
export function requestSizeOption(name: string, text: string): number {
  const size = parseSize(text);
  if (!isRequestSize(size)) {
    throw new RangeError(
      `Cannot use --${name} ${text}: it must be a multiple of 512 up to ${MAX_REQUEST} bytes ` +
        "(e.g. 512, 4k, 1m)",
    );
  }
  return size;
}
