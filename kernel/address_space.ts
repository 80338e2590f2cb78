/**
 * The allocator of one node's part of the single address space: page-granular ranges, first fit,
 * freed ranges coalesced and reused. Address 0 and the first page are never handed out, so 0 can
 * mean "no object".
 *
 * @module
 */

import { type Address, formatAddress, makeAddress, PAGE_SIZE } from "./address.ts";

const PAGE = BigInt(PAGE_SIZE);

/** Options for {@link AddressSpace}. */
export interface AddressSpaceOptions {
  /** The node whose space this is (top 16 bits of every address). Default 0. */
  readonly node?: number;
  /** Bytes of space to manage, a multiple of the page size. Default 2^48 (the whole node). */
  readonly bytes?: bigint;
}

/**
 * Page-granular allocator of address ranges.
 *
 * @example
 * ```ts
 * import { AddressSpace } from "./address_space.ts";
 * const space = new AddressSpace({ bytes: 1n << 20n });
 * const a = space.allocate(100); // one page
 * space.free(a);
 * ```
 */
export class AddressSpace {
  readonly node: number;
  readonly bytes: bigint;
  /** Free ranges [start, end) as offsets, sorted by start, never adjacent. */
  #free: { start: bigint; end: bigint }[];
  #used = new Map<bigint, bigint>();

  constructor(options: AddressSpaceOptions = {}) {
    this.node = options.node ?? 0;
    this.bytes = options.bytes ?? 1n << 48n;
    if (this.bytes < 2n * PAGE || this.bytes % PAGE !== 0n || this.bytes > 1n << 48n) {
      throw new RangeError(
        `Cannot create an address space of ${this.bytes} bytes: it must be a multiple of ${PAGE_SIZE} from ${
          2 * PAGE_SIZE
        } to 2^48`,
      );
    }
    this.#free = [{ start: PAGE, end: this.bytes }];
  }

  /** Bytes currently allocated. */
  get usedBytes(): bigint {
    let n = 0n;
    for (const size of this.#used.values()) n += size;
    return n;
  }

  /** Number of ranges currently allocated. */
  get count(): number {
    return this.#used.size;
  }

  /**
   * Allocates a page-aligned range of at least `size` bytes and returns its address.
   * Throws `RangeError` for a size that is not a positive safe integer, or when no free range is
   * large enough.
   */
  allocate(size: number): Address {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new RangeError(`Cannot allocate ${size} bytes: size must be a positive integer`);
    }
    const want = ((BigInt(size) + PAGE - 1n) / PAGE) * PAGE;
    for (let i = 0; i < this.#free.length; i++) {
      const range = this.#free[i]!;
      if (range.end - range.start < want) continue;
      const start = range.start;
      range.start += want;
      if (range.start === range.end) this.#free.splice(i, 1);
      this.#used.set(start, want);
      return makeAddress(this.node, start);
    }
    const free = this.bytes - PAGE - this.usedBytes;
    throw new RangeError(
      `Cannot allocate ${size} bytes: address space exhausted (${free} of ${
        this.bytes - PAGE
      } bytes free, largest free range ${this.#largestFree()} bytes)`,
    );
  }

  /** Returns a range to the free list. Throws `RangeError` for an address that is not allocated. */
  free(address: Address): void {
    const offset = address & ((1n << 48n) - 1n);
    const size = this.#used.get(offset);
    if (size === undefined || Number(address >> 48n) !== this.node) {
      throw new RangeError(`Cannot free ${formatAddress(address)}: not an allocated range`);
    }
    this.#used.delete(offset);
    const end = offset + size;
    // Insert in order, then merge with neighbours.
    let i = 0;
    while (i < this.#free.length && this.#free[i]!.start < offset) i++;
    this.#free.splice(i, 0, { start: offset, end });
    const next = this.#free[i + 1];
    if (next && next.start === end) {
      this.#free[i]!.end = next.end;
      this.#free.splice(i + 1, 1);
    }
    const prev = this.#free[i - 1];
    if (prev && prev.end === offset) {
      prev.end = this.#free[i]!.end;
      this.#free.splice(i, 1);
    }
  }

  /** The size of the range allocated at `address`, or undefined. */
  sizeOf(address: Address): bigint | undefined {
    if (Number(address >> 48n) !== this.node) return undefined;
    return this.#used.get(address & ((1n << 48n) - 1n));
  }

  #largestFree(): bigint {
    let max = 0n;
    for (const r of this.#free) if (r.end - r.start > max) max = r.end - r.start;
    return max;
  }
}
