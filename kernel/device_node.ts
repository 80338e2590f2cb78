/**
 * A device as the driver manager sees it, whatever bus it sits on: a PCI function the machine
 * reported, or a device a bus driver (the USB core) announced. It carries what a driver instance
 * may reach: its register windows, its interrupt line, its IOMMU domain, and capabilities the
 * announcing driver handed down (a USB device's IUsbDevice, say).
 *
 * @module
 */

import type { Capability } from "../idl/types.ts";
import type { DeviceModel } from "../machine/device_model.ts";
import type { PciFunction } from "../machine/pci_bus.ts";

/** Buses a device can sit on. `usbhost` is a host controller's root, served by the USB core. */
export type BusKind = "pci" | "usb" | "usbhost";

/** A device to drive. */
export interface DeviceNode {
  /** Unique device name, e.g. `ide0`, `usb1`; the instance is named `dev/<name>`. */
  readonly name: string;
  readonly bus: BusKind;
  /** Numeric identity used by match rules (PCI ids and class; USB class codes and ids). */
  readonly ids: Readonly<Record<string, number>>;
  /** PCI configuration space, or USB descriptors, as the bus reported them. */
  readonly config: Uint8Array;
  /** Register windows (shared memory). */
  readonly windows: readonly { readonly name: string; readonly buffer: SharedArrayBuffer }[];
  /** The interrupt line (0: none). */
  readonly line: number;
  /** The hardware behind the windows (its side-effect registers), when there is some. */
  readonly model?: DeviceModel;
  /** The IOMMU domain DMA mappings go to; absent: the device does no DMA of its own. */
  readonly dmaDomain?: string;
  /** Capabilities handed to the driver with the device. */
  readonly caps: Readonly<Record<string, Capability>>;
  /** The label of the driver instance that announced it (bus children), if any. */
  readonly parent?: string;
}

/**
 * The node of a PCI function.
 *
 * @example
 * ```ts ignore
 * const node = pciNode(fn);
 * node.ids.classCode; // 1 for a mass storage controller
 * ```
 */
export function pciNode(fn: PciFunction): DeviceNode {
  return {
    name: fn.model.name,
    bus: "pci",
    ids: {
      vendorId: fn.identity.vendorId,
      deviceId: fn.identity.deviceId,
      classCode: fn.identity.classCode,
      subclass: fn.identity.subclass,
      progIf: fn.identity.progIf,
    },
    config: fn.config,
    windows: fn.windows,
    line: fn.line,
    model: fn.model,
    dmaDomain: fn.model.name,
    caps: {},
  };
}
