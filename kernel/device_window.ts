/**
 * A driver's view of one register window: plain registers are shared memory, read and written in
 * place; registers with side effects go to the device model (directly in the kernel host, over the
 * ring in the worker host). Used on both sides of the boundary, so it imports nothing of the kernel.
 *
 * @module
 */

import type { RegisterWindow } from "../regs/runtime.ts";

/** How side-effect accesses reach the device model. */
export interface SideEffectPort {
  write(offset: number, width: 1 | 2 | 4, value: number): void;
  read(offset: number, width: 1 | 2 | 4): number;
  /** Called before any plain read: waits until posted writes have reached the device. */
  fence?(): void;
}

/**
 * A register window over shared memory with side-effect routing.
 *
 * @example
 * ```ts
 * import { DeviceWindow } from "./device_window.ts";
 * const w = new DeviceWindow(new SharedArrayBuffer(4096), new Set([7]), new Set(), {
 *   write: (offset, width, value) => console.log("doorbell", offset, value),
 *   read: () => 0,
 * });
 * w.write8(7, 0x20); // reaches the device, not the memory
 * ```
 */
export class DeviceWindow implements RegisterWindow {
  readonly size: number;
  #view: DataView;
  #writes: ReadonlySet<number>;
  #reads: ReadonlySet<number>;
  #port: SideEffectPort;

  constructor(
    buffer: SharedArrayBuffer,
    writes: ReadonlySet<number>,
    reads: ReadonlySet<number>,
    port: SideEffectPort,
  ) {
    this.#view = new DataView(buffer);
    this.size = buffer.byteLength;
    this.#writes = writes;
    this.#reads = reads;
    this.#port = port;
  }

  read8(offset: number): number {
    this.#check(offset, 1);
    if (this.#reads.has(offset)) return this.#port.read(offset, 1) & 0xff;
    this.#port.fence?.();
    return this.#view.getUint8(offset);
  }

  read16(offset: number): number {
    this.#check(offset, 2);
    if (this.#reads.has(offset)) return this.#port.read(offset, 2) & 0xffff;
    this.#port.fence?.();
    return this.#view.getUint16(offset, true);
  }

  read32(offset: number): number {
    this.#check(offset, 4);
    if (this.#reads.has(offset)) return this.#port.read(offset, 4) >>> 0;
    this.#port.fence?.();
    return this.#view.getUint32(offset, true);
  }

  write8(offset: number, value: number): void {
    this.#check(offset, 1);
    if (this.#writes.has(offset)) this.#port.write(offset, 1, value & 0xff);
    else this.#view.setUint8(offset, value);
  }

  write16(offset: number, value: number): void {
    this.#check(offset, 2);
    if (this.#writes.has(offset)) this.#port.write(offset, 2, value & 0xffff);
    else this.#view.setUint16(offset, value, true);
  }

  write32(offset: number, value: number): void {
    this.#check(offset, 4);
    if (this.#writes.has(offset)) this.#port.write(offset, 4, value >>> 0);
    else this.#view.setUint32(offset, value, true);
  }

  #check(offset: number, width: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + width > this.size) {
      throw new RangeError(
        `Register access of ${width} bytes at ${offset} is outside the ${this.size}-byte window`,
      );
    }
  }
}
