/**
 * The driver API: everything a driver package may import from the framework. A driver sees exactly
 * one object, its {@link DriverContext}; it never imports the kernel (in a worker it would not have
 * it). The same driver module runs unchanged in the kernel host and in the worker host.
 *
 * A driver module exports one function:
 *
 * ```ts ignore
 * import type { DriverContext, DriverInstance } from "../../driver.ts";
 * export function start(ctx: DriverContext): DriverInstance | Promise<DriverInstance> { ... }
 * ```
 *
 * @module
 */

import type { Capability } from "./idl/types.ts";
import type { RegisterWindow } from "./regs/runtime.ts";

export type { Capability, RegisterWindow };

/** What the driver is told about its device. */
export interface DeviceInfo {
  /** The device's name, e.g. `ide0`. */
  readonly name: string;
  /** The bus it sits on (`usbhost`: a USB host controller's root, served by the USB core). */
  readonly bus: "pci" | "usb" | "usbhost";
  /** PCI: vendor/device ids and class code; USB: descriptor fields. */
  readonly ids: Readonly<Record<string, number>>;
  /** PCI configuration space (256 bytes), or USB descriptors, as the bus reported them. */
  readonly config: Uint8Array;
  /** Capabilities handed down with the device (a USB device's `usb`: its IUsbDevice). */
  readonly caps: Readonly<Record<string, Capability>>;
}

/** Interrupts of the driver's own device. */
export interface DriverIrq {
  /** The device's interrupt lines. */
  readonly lines: readonly number[];
  /**
   * Registers the driver's interrupt entry for a line (default: the device's first line). The
   * kernel invokes `handler` for each delivered interrupt; the line stays masked until
   * {@link ack}. Another device's line is refused with `PermissionDeniedError`.
   */
  register(handler: (line: number) => void | Promise<void>, line?: number): Promise<void>;
  /** Acknowledges the interrupt being handled and re-arms the line. */
  ack(line?: number): void;
}

/** How {@link DriverDma.map} maps. */
export interface MapOptions {
  /** The device may write the memory (a disk read); needs a capability granting `write`. */
  writable?: boolean;
  /** The range the device will touch: a range outside the object is refused. */
  address?: bigint;
  length?: number;
  /**
   * A map made while a call of one of the driver's methods runs (in its synchronous part) fails
   * that call if the kernel refuses it: the caller gets the kernel's error, whatever the method
   * returns. So the method need not wait for the map's answer to return: in the worker host its
   * result may already be on its way, and the kernel discards it. The map's promise still
   * rejects, for the driver's own bookkeeping.
   */
  failsCall?: boolean;
}

/** DMA through the IOMMU domain of the driver's device. */
export interface DriverDma {
  /**
   * Maps the memory object a capability names into the device's IOMMU domain. `writable` lets the
   * device write it (a disk read); it needs a capability granting `write`. `address` and `length`
   * (optional) name the range the device will touch: a range outside the object is refused with a
   * `RangeError`. Returns the device address of the object, which in this single address space
   * equals its address. Mappings are counted: each map needs its unmap.
   */
  map(
    memory: Capability,
    options?: MapOptions,
  ): Promise<bigint>;
  /**
   * Maps like {@link map} and lets the device start on the mapping at once: `issue` programs the
   * device (its register writes) for a transfer into the range being mapped. Those register
   * writes reach the device only if the map succeeds. In the kernel host `issue` runs after the
   * map succeeded; in the worker host it runs at once, before the kernel has answered, and its
   * posted writes travel on the ring right behind the map request, so the device starts without
   * a round trip to the worker; if the map fails, the kernel drops them. So when the promise
   * rejects, the device never saw what `issue` wrote (undo the driver's own bookkeeping). If
   * `issue` throws, the promise rejects with that error (a mapping made is removed).
   */
  mapThen(
    memory: Capability,
    options: MapOptions | undefined,
    issue: () => void,
  ): Promise<bigint>;
  /**
   * Programs the device with writes that depend on mappings not confirmed yet: runs `issue` now,
   * and the register writes it posts reach the device only if every map in `maps` (promises that
   * {@link map} returned) succeeds. In the worker host those map requests went ahead of the writes
   * on the ring, and the kernel drops the writes if one of them failed; in the kernel host the
   * maps are settled already, and the writes of a failed one are not made. So a driver may queue,
   * merge and start requests before their maps are answered; when a map's promise rejects, the
   * device never saw a command that depended on it (undo the driver's own bookkeeping). Throws
   * `TypeError` for a promise that `map` did not return (the host marks the ones it returns; a
   * mark copied onto another promise only makes the writes wait for the driver's own map).
   */
  issueAfter(maps: readonly Promise<bigint>[], issue: () => void): void;
  /** Removes a mapping made by {@link map}. */
  unmap(address: bigint): Promise<void>;
  /**
   * Removes a mapping like {@link unmap} without waiting for the kernel's answer (a send-only
   * request, like {@link DriverContext.post}): for a completion, where nothing follows from the
   * outcome. A failure (no such mapping) is logged on the instance.
   */
  release(address: bigint): void;
  /**
   * Allocates memory the driver and its device share (descriptor tables, command blocks), mapped
   * into the device's domain for reading and writing. The bytes are shared memory: what the
   * driver writes, the device sees.
   */
  allocate(size: number): Promise<{ address: bigint; bytes: Uint8Array }>;
}

/** A device a bus driver announces (the USB core announces each enumerated USB device). */
export interface ChildDevice {
  /** Unique device name (`usb1`); its driver instance is named `dev/<name>`. */
  readonly name: string;
  readonly bus: "usb" | "usbhost";
  /** Ids match rules test (USB: vendorId, productId, deviceClass, interfaceClass, ...). */
  readonly ids: Readonly<Record<string, number>>;
  /** Descriptors as the device reported them. */
  readonly config: Uint8Array;
  /** Capabilities its driver gets (`usb`: the device's IUsbDevice object). */
  readonly caps: Readonly<Record<string, Capability>>;
}

/**
 * An implementation of an interface: a function per method. Arguments arrive checked against the
 * IDL schema, so their types are those of the IDL (see the generated interface files).
 */
// deno-lint-ignore no-explicit-any
export type MethodTable = Record<string, (...args: any[]) => unknown>;

/** Objects: further components a driver instance serves (per-client sessions, per-device handles). */
export interface DriverObjects {
  /**
   * Serves `iface` (listed in the manifest's `objects`) from a new object at its own address;
   * returns the object's capability. The object dies with the instance.
   */
  create(iface: string, implementation: MethodTable): Promise<Capability>;
  /** Destroys an object this instance created; calls through its capabilities then fail. */
  destroy(cap: Capability): Promise<void>;
}

/** For bus drivers (manifest `announces`): the devices found on the bus. */
export interface DriverBus {
  /** A device appeared on the bus; the kernel matches, loads and names its driver. */
  add(child: ChildDevice): Promise<void>;
  /** The device went away: its driver's requests fail with DeviceRemovedError. */
  remove(name: string): Promise<void>;
}

/** The one object a driver instance sees. */
export interface DriverContext {
  readonly device: DeviceInfo;
  /** The device's register windows by name, and nothing else's. */
  readonly windows: Readonly<Record<string, RegisterWindow>>;
  readonly irq: DriverIrq;
  readonly dma: DriverDma;
  /**
   * Serves an interface the driver's manifest declares. Each method may return a value or a
   * promise; arguments arrive already checked against the IDL schema.
   */
  export(iface: string, implementation: MethodTable): void;
  readonly objects: DriverObjects;
  readonly bus: DriverBus;
  /** Invokes a method on another component by capability (for instance a client's notify). */
  invoke(cap: Capability, method: string, args?: readonly unknown[]): Promise<unknown>;
  /**
   * Invokes a method without waiting for it (a send-only invocation): no result comes back, and
   * a failure is logged for the instance in the kernel's event log. For notifications nobody
   * awaits, such as a completion to a client: on the worker host it is one message instead of a
   * request and its reply.
   */
  post(cap: Capability, method: string, args?: readonly unknown[]): void;
  /** A line for the kernel's event log. */
  log(message: string): void;
}

/** What a driver's `start` returns. */
export interface DriverInstance {
  /** Called before the instance is torn down (device removed or system stopping). */
  stop?(): void | Promise<void>;
}

/** The shape of a driver module. */
export interface DriverModule {
  start(ctx: DriverContext): DriverInstance | Promise<DriverInstance>;
}

/**
 * Status codes a block driver reports through `INotify.complete(request, status)`: 0 is success,
 * negative values are errors (their magnitudes follow POSIX errno where one fits).
 */
export const BlockStatus = {
  OK: 0,
  IO: -5,
  FAULT: -14,
  REMOVED: -19,
  INVALID: -22,
  RANGE: -34,
} as const;

/**
 * A status code in words.
 *
 * @example
 * ```ts
 * import { describeStatus } from "./driver.ts";
 * describeStatus(-19); // "device removed"
 * ```
 */
export function describeStatus(status: number): string {
  switch (status) {
    case 0:
      return "ok";
    case -5:
      return "I/O error reported by the device";
    case -14:
      return "fault: the device could not reach the buffer (not mapped for it, or the map refused)";
    case -19:
      return "device removed";
    case -22:
      return "invalid request";
    case -34:
      return "block out of range";
    default:
      return `error ${status}`;
  }
}
