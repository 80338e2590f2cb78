/**
 * Memory objects: buffers with an address in the single address space, backed by a
 * SharedArrayBuffer so that a driver host in another thread and a device model can see the same
 * bytes without copying.
 *
 * @module
 */

import { sharedMemory } from "../machine/memory_copy.ts";
import { type Address, formatAddress } from "./address.ts";

/** The largest memory object: 1 GiB. */
export const MAX_MEMORY_OBJECT = 1 << 30;

/**
 * A buffer at an address. Its bytes are reached through the kernel, by capability.
 *
 * @example
 * ```ts
 * import { MemoryObject } from "./memory_object.ts";
 * const m = new MemoryObject(0x1000n, 512, "buffer");
 * m.bytes[0] = 1;
 * ```
 */
export class MemoryObject {
  readonly kind = "memory" as const;
  readonly address: Address;
  readonly size: number;
  readonly buffer: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly label: string;

  constructor(address: Address, size: number, label: string) {
    checkMemorySize(size);
    this.address = address;
    this.size = size;
    // From 64 KiB a WebAssembly memory (its buffer rounded up to whole pages; `bytes` is `size`
    // long): device models copy into it at a plain copy's speed (../machine/memory_copy.ts).
    this.bytes = sharedMemory(size);
    this.buffer = this.bytes.buffer as SharedArrayBuffer;
    this.label = label;
  }

  /** Whether [address, address+length) lies inside this object. */
  contains(address: Address, length: number): boolean {
    return address >= this.address && address + BigInt(length) <= this.address + BigInt(this.size);
  }

  /** A short description for listings and errors. */
  toString(): string {
    return `memory ${formatAddress(this.address)} (${this.size} bytes, ${this.label})`;
  }
}

/**
 * Throws `RangeError` unless `size` is a valid memory object size (1 byte to 1 GiB).
 *
 * @example
 * ```ts
 * import { checkMemorySize } from "./memory_object.ts";
 * checkMemorySize(4096); // ok
 * ```
 */
export function checkMemorySize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_MEMORY_OBJECT) {
    throw new RangeError(
      `Cannot allocate a memory object of ${size} bytes: size must be an integer from 1 to ${MAX_MEMORY_OBJECT}`,
    );
  }
}
