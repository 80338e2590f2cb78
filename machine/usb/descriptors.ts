/**
 * USB descriptors as bytes (USB 2.0, chapter 9.6): builders for the device, configuration (with
 * its interface, class-specific and endpoint descriptors), device qualifier and string
 * descriptors, and a walker that splits a configuration back into its descriptors. All multi-byte
 * fields are little-endian.
 *
 * @module
 */

/** Descriptor types (USB 2.0 table 9-5, HID 1.11 7.1). */
export const USB_DESCRIPTOR_TYPE = {
  DEVICE: 0x01,
  CONFIGURATION: 0x02,
  STRING: 0x03,
  INTERFACE: 0x04,
  ENDPOINT: 0x05,
  DEVICE_QUALIFIER: 0x06,
  OTHER_SPEED_CONFIGURATION: 0x07,
  INTERFACE_POWER: 0x08,
  HID: 0x21,
  HID_REPORT: 0x22,
} as const;

/** Transfer types in bits 1:0 of an endpoint's bmAttributes. */
export const USB_ENDPOINT_TYPE = {
  CONTROL: 0,
  ISOCHRONOUS: 1,
  BULK: 2,
  INTERRUPT: 3,
} as const;

/** The direction bit of an endpoint address: set for IN (device to host). */
export const USB_DIR_IN = 0x80;

/** The language id of US English, the one language the models' strings are in. */
export const USB_LANGUAGE_EN_US = 0x0409;

/** Fields of a device descriptor (18 bytes). */
export interface DeviceDescriptorFields {
  /** USB release in BCD; default 0x0200. */
  readonly bcdUSB?: number;
  readonly deviceClass: number;
  readonly deviceSubClass: number;
  readonly deviceProtocol: number;
  /** Max packet size of endpoint 0: 8, 16, 32 or 64. */
  readonly maxPacketSize0: number;
  readonly idVendor: number;
  readonly idProduct: number;
  /** Device release in BCD. */
  readonly bcdDevice: number;
  /** String indexes (0: none). */
  readonly iManufacturer: number;
  readonly iProduct: number;
  readonly iSerialNumber: number;
  /** Default 1. */
  readonly numConfigurations?: number;
}

/** Fields of an endpoint descriptor (7 bytes). */
export interface EndpointDescriptorFields {
  /** The endpoint address: number in bits 3:0, {@linkcode USB_DIR_IN} for IN. */
  readonly address: number;
  /** A {@linkcode USB_ENDPOINT_TYPE}. */
  readonly type: number;
  readonly maxPacketSize: number;
  /** Polling interval (interrupt endpoints) in frames or as 2^(n-1) microframes at high speed. */
  readonly interval: number;
}

/** Fields of an interface descriptor (9 bytes) and what follows it. */
export interface InterfaceDescriptorFields {
  readonly number: number;
  /** Default 0. */
  readonly alternate?: number;
  readonly interfaceClass: number;
  readonly interfaceSubClass: number;
  readonly interfaceProtocol: number;
  /** String index (0: none). */
  readonly iInterface?: number;
  /** Class-specific descriptors, placed between the interface and its endpoints (a HID one). */
  readonly classDescriptors?: readonly Uint8Array[];
  readonly endpoints: readonly EndpointDescriptorFields[];
}

/** Fields of a configuration descriptor (9 bytes) and its interfaces. */
export interface ConfigurationDescriptorFields {
  /** bConfigurationValue: what SET_CONFIGURATION selects it with (1 and up). */
  readonly value: number;
  /** String index (0: none). */
  readonly iConfiguration?: number;
  /** Self-powered (bmAttributes bit 6). */
  readonly selfPowered?: boolean;
  /** Remote wakeup supported (bmAttributes bit 5). */
  readonly remoteWakeup?: boolean;
  /** Maximum current drawn from the bus, in mA (stored in 2 mA units). */
  readonly maxPowerMa: number;
  readonly interfaces: readonly InterfaceDescriptorFields[];
}

/** One descriptor found by {@linkcode splitDescriptors}. */
export interface Descriptor {
  /** bDescriptorType. */
  readonly type: number;
  /** The whole descriptor, bLength bytes. */
  readonly bytes: Uint8Array;
}

/**
 * Encodes a device descriptor.
 *
 * @example
 * ```ts
 * import { encodeDeviceDescriptor } from "./descriptors.ts";
 * const d = encodeDeviceDescriptor({
 *   deviceClass: 0, deviceSubClass: 0, deviceProtocol: 0, maxPacketSize0: 64,
 *   idVendor: 0x1209, idProduct: 0x0001, bcdDevice: 0x0100,
 *   iManufacturer: 1, iProduct: 2, iSerialNumber: 3,
 * });
 * [d.length, d[0], d[1], d[2], d[3]]; // [18, 18, 1, 0x00, 0x02]
 * ```
 */
export function encodeDeviceDescriptor(f: DeviceDescriptorFields): Uint8Array {
  const b = new Uint8Array(18);
  const v = new DataView(b.buffer);
  b[0] = 18;
  b[1] = USB_DESCRIPTOR_TYPE.DEVICE;
  v.setUint16(2, f.bcdUSB ?? 0x0200, true);
  b[4] = f.deviceClass;
  b[5] = f.deviceSubClass;
  b[6] = f.deviceProtocol;
  b[7] = f.maxPacketSize0;
  v.setUint16(8, f.idVendor, true);
  v.setUint16(10, f.idProduct, true);
  v.setUint16(12, f.bcdDevice, true);
  b[14] = f.iManufacturer;
  b[15] = f.iProduct;
  b[16] = f.iSerialNumber;
  b[17] = f.numConfigurations ?? 1;
  return b;
}

/**
 * Encodes a device qualifier descriptor (10 bytes): what a high-speed capable device would be at
 * the other speed. Built from the device descriptor's class, packet size and configurations.
 *
 * @example
 * ```ts
 * import { encodeDeviceQualifier } from "./descriptors.ts";
 * encodeDeviceQualifier({
 *   deviceClass: 0, deviceSubClass: 0, deviceProtocol: 0, maxPacketSize0: 64,
 *   idVendor: 1, idProduct: 2, bcdDevice: 0, iManufacturer: 0, iProduct: 0, iSerialNumber: 0,
 * }).length; // 10
 * ```
 */
export function encodeDeviceQualifier(f: DeviceDescriptorFields): Uint8Array {
  const b = new Uint8Array(10);
  b[0] = 10;
  b[1] = USB_DESCRIPTOR_TYPE.DEVICE_QUALIFIER;
  new DataView(b.buffer).setUint16(2, f.bcdUSB ?? 0x0200, true);
  b[4] = f.deviceClass;
  b[5] = f.deviceSubClass;
  b[6] = f.deviceProtocol;
  b[7] = f.maxPacketSize0;
  b[8] = f.numConfigurations ?? 1;
  return b;
}

/**
 * Encodes a configuration descriptor followed by its interfaces, their class-specific
 * descriptors and endpoints, as GET_DESCRIPTOR(CONFIGURATION) returns them; wTotalLength and
 * bNumInterfaces are computed.
 *
 * @example
 * ```ts
 * import { encodeConfigurationDescriptor } from "./descriptors.ts";
 * const c = encodeConfigurationDescriptor({
 *   value: 1, maxPowerMa: 100,
 *   interfaces: [{ number: 0, interfaceClass: 8, interfaceSubClass: 6, interfaceProtocol: 0x50,
 *     endpoints: [{ address: 0x81, type: 2, maxPacketSize: 512, interval: 0 }] }],
 * });
 * [c.length, c[2], c[4]]; // [25, 25, 1]
 * ```
 */
export function encodeConfigurationDescriptor(f: ConfigurationDescriptorFields): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const i of f.interfaces) {
    parts.push(
      Uint8Array.of(
        9,
        USB_DESCRIPTOR_TYPE.INTERFACE,
        i.number,
        i.alternate ?? 0,
        i.endpoints.length,
        i.interfaceClass,
        i.interfaceSubClass,
        i.interfaceProtocol,
        i.iInterface ?? 0,
      ),
    );
    for (const extra of i.classDescriptors ?? []) parts.push(extra);
    for (const e of i.endpoints) {
      parts.push(
        Uint8Array.of(
          7,
          USB_DESCRIPTOR_TYPE.ENDPOINT,
          e.address,
          e.type & 0x03,
          e.maxPacketSize & 0xff,
          (e.maxPacketSize >> 8) & 0xff,
          e.interval,
        ),
      );
    }
  }
  const total = 9 + parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  out[0] = 9;
  out[1] = USB_DESCRIPTOR_TYPE.CONFIGURATION;
  new DataView(out.buffer).setUint16(2, total, true);
  out[4] = new Set(f.interfaces.map((i) => i.number)).size;
  out[5] = f.value;
  out[6] = f.iConfiguration ?? 0;
  out[7] = 0x80 | (f.selfPowered ? 0x40 : 0) | (f.remoteWakeup ? 0x20 : 0);
  out[8] = Math.min(255, Math.ceil(f.maxPowerMa / 2));
  let at = 9;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Encodes string descriptor 0: the list of supported language ids.
 *
 * @example
 * ```ts
 * import { encodeLanguageDescriptor } from "./descriptors.ts";
 * encodeLanguageDescriptor([0x0409]); // Uint8Array [4, 3, 0x09, 0x04]
 * ```
 */
export function encodeLanguageDescriptor(languages: readonly number[]): Uint8Array {
  const b = new Uint8Array(2 + 2 * languages.length);
  b[0] = b.length;
  b[1] = USB_DESCRIPTOR_TYPE.STRING;
  languages.forEach((id, i) => new DataView(b.buffer).setUint16(2 + 2 * i, id, true));
  return b;
}

/**
 * Encodes a string descriptor: UTF-16LE, at most 126 code units (longer text is cut).
 *
 * @example
 * ```ts
 * import { encodeStringDescriptor } from "./descriptors.ts";
 * encodeStringDescriptor("Hi"); // Uint8Array [6, 3, 0x48, 0, 0x69, 0]
 * ```
 */
export function encodeStringDescriptor(text: string): Uint8Array {
  const units = Math.min(text.length, 126);
  const b = new Uint8Array(2 + 2 * units);
  b[0] = b.length;
  b[1] = USB_DESCRIPTOR_TYPE.STRING;
  for (let i = 0; i < units; i++) {
    new DataView(b.buffer).setUint16(2 + 2 * i, text.charCodeAt(i), true);
  }
  return b;
}

/**
 * Decodes a string descriptor (index 1 and up) back into text. Not a string descriptor, or a
 * bLength that does not fit the bytes, is a TypeError.
 *
 * @example
 * ```ts
 * import { decodeStringDescriptor, encodeStringDescriptor } from "./descriptors.ts";
 * decodeStringDescriptor(encodeStringDescriptor("Mungi")); // "Mungi"
 * ```
 */
export function decodeStringDescriptor(bytes: Uint8Array): string {
  const length = bytes[0] ?? 0;
  if (bytes[1] !== USB_DESCRIPTOR_TYPE.STRING || length < 2 || length > bytes.length) {
    throw new TypeError(
      `Cannot decode a string descriptor from ${bytes.length} bytes: bLength ${length}, type ${
        bytes[1]
      }`,
    );
  }
  let text = "";
  for (let i = 2; i + 1 < length; i += 2) {
    text += String.fromCharCode(bytes[i]! | (bytes[i + 1]! << 8));
  }
  return text;
}

/**
 * Splits concatenated descriptors (a configuration as GET_DESCRIPTOR returns it) into single
 * descriptors. A bLength under 2 or past the end is a TypeError.
 *
 * @example
 * ```ts
 * import { splitDescriptors } from "./descriptors.ts";
 * splitDescriptors(Uint8Array.of(2, 9, 3, 4, 1)).map((d) => d.type); // [9, 4]
 * ```
 */
export function splitDescriptors(bytes: Uint8Array): Descriptor[] {
  const out: Descriptor[] = [];
  let at = 0;
  while (at < bytes.length) {
    const length = bytes[at]!;
    if (length < 2 || at + length > bytes.length) {
      throw new TypeError(
        `Cannot split descriptors: bLength ${length} at byte ${at} of ${bytes.length}`,
      );
    }
    out.push({ type: bytes[at + 1]!, bytes: bytes.subarray(at, at + length) });
    at += length;
  }
  return out;
}
