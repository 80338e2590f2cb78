/**
 * The contract between the machine and a device model. A device model opens with its interface:
 * its register windows and its interrupt lines; it reaches memory only through its DMA port (the
 * IOMMU), and it never trusts what a driver wrote: it reads registers when a doorbell rings and
 * keeps its status registers current in place.
 *
 * @module
 */

import type { DmaPort } from "./iommu.ts";

/** The size of a page: register windows come in whole pages. */
export const WINDOW_PAGE = 4096;

/** A register window a device asks for: a name and a size in bytes (whole pages). */
export interface WindowSpec {
  readonly name: string;
  readonly size: number;
}

/** What the machine hands a device model when it is attached. */
export interface DeviceEnv {
  /** The device's register windows, shared memory, by name. */
  readonly windows: Readonly<Record<string, SharedArrayBuffer>>;
  /** Raises the device's interrupt line `index` (0 for its first line). */
  raise(index?: number): void;
  /** The device's DMA port: every access is checked against its IOMMU domain. */
  readonly dma: DmaPort;
  /** Records something a person debugging the model wants to see (a bad guest access, say). */
  log(message: string): void;
}

/**
 * A register whose accesses the device must see as they happen: a write with side effects (a
 * doorbell, a FIFO push, write-1-to-clear status) or a read with side effects (a FIFO pop). Every
 * other register is plain shared memory.
 */
export interface SideEffectRegister {
  readonly window: string;
  readonly offset: number;
  /** Reads go to {@link DeviceModel.read}. */
  readonly read: boolean;
  /** Writes go to {@link DeviceModel.write} and are not stored by the driver's side. */
  readonly write: boolean;
}

/** A simulated device. */
export interface DeviceModel {
  /** Short name, e.g. `ide0`. */
  readonly name: string;
  /** The register windows it needs, in BAR order. */
  readonly windows: readonly WindowSpec[];
  /** How many interrupt lines it has. */
  readonly lines: number;
  /** Registers whose accesses have side effects (the hardware's truth, not the driver's). */
  readonly sideEffects: readonly SideEffectRegister[];
  /** Called once when the device is attached to a bus. */
  attach(env: DeviceEnv): void | Promise<void>;
  /**
   * A driver wrote a register whose write has side effects (a doorbell). `value` is what it wrote;
   * the window already holds it.
   */
  write(window: string, offset: number, width: 1 | 2 | 4, value: number): void;
  /** A driver read a register whose read has side effects (a FIFO such as ATA's data port). */
  read?(window: string, offset: number, width: 1 | 2 | 4): number;
  /** Restores documented reset values. */
  reset(): void;
  /** Called when the device is detached or the machine stops: flush and release. */
  close(): void | Promise<void>;
}
