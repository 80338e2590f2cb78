/**
 * A PCI bus: slots holding device functions, each with a configuration space (vendor and device
 * id, class code, BARs, interrupt line) so that drivers are matched the way real ones are.
 *
 * @module
 */

import type { DeviceModel } from "./device_model.ts";

/** The identity fields of a PCI function's configuration space. */
export interface PciIdentity {
  readonly vendorId: number;
  readonly deviceId: number;
  readonly classCode: number;
  readonly subclass: number;
  readonly progIf: number;
  readonly revision?: number;
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
}

/** A device on the bus as the kernel sees it. */
export interface PciFunction {
  readonly slot: number;
  readonly identity: PciIdentity;
  readonly model: DeviceModel;
  /** 256 bytes of configuration space (little-endian, type 0 header). */
  readonly config: Uint8Array;
  /** The interrupt line (0 when none). */
  readonly line: number;
  /** One register window per BAR, in order. */
  readonly windows: readonly {
    readonly name: string;
    readonly buffer: SharedArrayBuffer;
    readonly base: bigint;
  }[];
}

/**
 * Writes a type-0 configuration header for a function.
 *
 * @example
 * ```ts
 * import { buildConfigSpace } from "./pci_bus.ts";
 * const c = buildConfigSpace({ vendorId: 0x8086, deviceId: 0x7010, classCode: 1, subclass: 1, progIf: 0x80 }, [0xfebf0000n], 14);
 * c[0]; // 0x86
 * ```
 */
export function buildConfigSpace(
  identity: PciIdentity,
  bars: readonly bigint[],
  line: number,
): Uint8Array {
  const c = new Uint8Array(256);
  const v = new DataView(c.buffer);
  v.setUint16(0x00, identity.vendorId, true);
  v.setUint16(0x02, identity.deviceId, true);
  v.setUint16(0x04, 0x0006, true); // command: memory space + bus master enabled
  v.setUint8(0x08, identity.revision ?? 0);
  v.setUint8(0x09, identity.progIf);
  v.setUint8(0x0a, identity.subclass);
  v.setUint8(0x0b, identity.classCode);
  v.setUint8(0x0e, 0x00); // header type 0
  bars.slice(0, 6).forEach((base, i) =>
    v.setUint32(0x10 + 4 * i, Number(base & 0xfffffff0n), true)
  );
  v.setUint16(0x2c, identity.subsystemVendorId ?? identity.vendorId, true);
  v.setUint16(0x2e, identity.subsystemId ?? 0, true);
  v.setUint8(0x3c, line);
  v.setUint8(0x3d, line === 0 ? 0 : 1); // interrupt pin INTA#
  return c;
}
