/**
 * Addresses in the 64-bit single address space. The top 16 bits are the node id, so an address says
 * on which node its object lives; the low 48 bits are the offset within that node's space.
 *
 * @module
 */

/** An address in the single address space: an unsigned 64-bit bigint. */
export type Address = bigint;

/** The size of a page, the granularity of register windows and memory objects. */
export const PAGE_SIZE = 4096;

/** The number of bits below the node id. */
export const NODE_SHIFT = 48n;

const U64_MAX = (1n << 64n) - 1n;
const OFFSET_MASK = (1n << NODE_SHIFT) - 1n;

/**
 * Prints an address the one way this system prints addresses: `0x` and 16 hex digits.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * formatAddress(0x1000n); // "0x0000000000001000"
 * ```
 */
export function formatAddress(address: Address): string {
  if (typeof address !== "bigint" || address < 0n || address > U64_MAX) {
    throw new RangeError(`Cannot format address ${String(address)}: not a 64-bit unsigned bigint`);
  }
  return "0x" + address.toString(16).padStart(16, "0");
}

/**
 * Parses an address written in hex (`0x...`, up to 16 digits) or decimal.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * parseAddress("0x0000000000001000"); // 4096n
 * ```
 */
export function parseAddress(text: string): Address {
  const t = text.trim();
  let value: bigint;
  if (/^0x[0-9a-fA-F]{1,16}$/.test(t)) value = BigInt(t);
  else if (/^[0-9]{1,20}$/.test(t)) value = BigInt(t);
  else {
    throw new SyntaxError(
      `Cannot parse address "${text}": expected 0x followed by 1-16 hex digits, or a decimal number`,
    );
  }
  if (value > U64_MAX) {
    throw new RangeError(`Cannot parse address "${text}": larger than 64 bits`);
  }
  return value;
}

/**
 * The node id of an address (its top 16 bits).
 *
 * @example
 * ```ts
 * import { nodeOf } from "./address.ts";
 * nodeOf(0x0002_0000_0000_1000n); // 2
 * ```
 */
export function nodeOf(address: Address): number {
  return Number(address >> NODE_SHIFT);
}

/**
 * The offset of an address within its node's space (its low 48 bits).
 *
 * @example
 * ```ts
 * import { offsetOf } from "./address.ts";
 * offsetOf(0x0002_0000_0000_1000n); // 4096n
 * ```
 */
export function offsetOf(address: Address): bigint {
  return address & OFFSET_MASK;
}

/**
 * Makes an address from a node id and an offset.
 *
 * @example
 * ```ts
 * import { makeAddress } from "./address.ts";
 * makeAddress(1, 0x1000n); // 0x0001000000001000n
 * ```
 */
export function makeAddress(node: number, offset: bigint): Address {
  if (!Number.isInteger(node) || node < 0 || node > 0xffff) {
    throw new RangeError(`Cannot make address: node id ${node} is outside 0..65535`);
  }
  if (offset < 0n || offset > OFFSET_MASK) {
    throw new RangeError(`Cannot make address: offset ${offset} is outside 0..2^48-1`);
  }
  return (BigInt(node) << NODE_SHIFT) | offset;
}
