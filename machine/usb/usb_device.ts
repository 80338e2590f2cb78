/**
 * USB devices as the host controller sees them: the {@linkcode UsbDevice} interface (descriptors,
 * control transfers on endpoint 0, bulk and interrupt transfers, bus reset, device state), and
 * {@linkcode UsbDeviceBase}, which answers the standard requests of USB 2.0 chapter 9 so that a
 * device model only adds its class.
 *
 * A transfer is one call: the controller hands a device a whole transfer (a TD), not packets, and
 * the device answers with data, "nak" (nothing now: the controller retries when the device calls
 * its wake listener) or "stall" (the endpoint is halted, or the request is not supported).
 *
 * Standard requests (USB 2.0 9.4), answered by {@linkcode UsbDeviceBase}:
 * - GET_DESCRIPTOR: device, configuration 0 (with its interface, class and endpoint descriptors),
 *   string 0 (language ids: 0x0409 only) and strings 1..n in language 0x0409, device qualifier
 *   (high-speed devices only); interface-recipient requests go to the class (HID report).
 *   Answers are cut to wLength.
 * - SET_ADDRESS (1-127; 0 returns to the default state; refused when configured),
 *   SET_CONFIGURATION (0 or the one configuration's value; refused in the default state),
 *   GET_CONFIGURATION, GET_STATUS (device, interface, endpoint: halt bit), CLEAR_FEATURE and
 *   SET_FEATURE (ENDPOINT_HALT, DEVICE_REMOTE_WAKEUP), GET_INTERFACE and SET_INTERFACE
 *   (alternate setting 0 only).
 * - Anything else, a request with the wrong direction, or one naming an interface or endpoint
 *   the device does not have, is a request error: STALL. A test-mode SET_FEATURE stalls too.
 * - Endpoints other than 0 answer only in the configured state; otherwise, or when halted, they
 *   stall (a real unconfigured device would not answer at all, which a host sees as an error).
 *
 * @module
 */

import {
  type ConfigurationDescriptorFields,
  type DeviceDescriptorFields,
  encodeConfigurationDescriptor,
  encodeDeviceDescriptor,
  encodeDeviceQualifier,
  encodeLanguageDescriptor,
  encodeStringDescriptor,
  type EndpointDescriptorFields,
  USB_DESCRIPTOR_TYPE,
  USB_DIR_IN,
  USB_ENDPOINT_TYPE,
  USB_LANGUAGE_EN_US,
} from "./descriptors.ts";

/** Bus speeds of a USB 2.0 device. */
export type UsbSpeed = "low" | "full" | "high";

/** The visible device states of USB 2.0 9.1 (attached and powered are implied by a port). */
export type UsbDeviceState = "default" | "address" | "configured";

/** The 8-byte SETUP packet of a control transfer. */
export interface UsbSetup {
  readonly bmRequestType: number;
  readonly bRequest: number;
  readonly wValue: number;
  readonly wIndex: number;
  readonly wLength: number;
}

/** What an IN transfer yields: data (at most the length asked for), "nak" or "stall". */
export type UsbInResult = Uint8Array | "nak" | "stall";

/** What an OUT transfer yields: accepted, "nak" (retry after a wake) or "stall". */
export type UsbOutResult = "ack" | "nak" | "stall";

/** A device's descriptors, for whoever wants to look without a control transfer. */
export interface UsbDescriptorSet {
  /** The 18-byte device descriptor. */
  readonly device: Uint8Array;
  /** The configuration descriptor with everything that follows it (wTotalLength bytes). */
  readonly configuration: Uint8Array;
  /** String descriptors by index (1 and up), as text. */
  readonly strings: ReadonlyMap<number, string>;
}

/**
 * A USB device as a host controller (or a hub) talks to it. Endpoint numbers in transfers are
 * 1-15; the direction is the method's. The wake listener is told an endpoint address (number,
 * plus 0x80 for IN) when an endpoint that answered "nak" may now have something.
 */
export interface UsbDevice {
  /** Short description for messages, e.g. `mass storage "MUNGI DISK"`. */
  readonly name: string;
  readonly speed: UsbSpeed;
  readonly descriptors: UsbDescriptorSet;
  readonly state: UsbDeviceState;
  /** The address SET_ADDRESS gave it (0 in the default state). */
  readonly address: number;
  /** The selected configuration value (0: not configured). */
  readonly configuration: number;
  /** A bus reset (or power-up): default state, address 0, not configured, no halts. */
  reset(): void;
  /** A control transfer on endpoint 0: the data stage's IN bytes (empty for OUT), or "stall". */
  control(setup: UsbSetup, dataOut?: Uint8Array): Uint8Array | "stall";
  /** A bulk (or interrupt) OUT transfer to endpoint `endpoint`. */
  bulkOut(endpoint: number, data: Uint8Array): UsbOutResult;
  /** A bulk IN transfer from endpoint `endpoint` of at most `maxLength` bytes. */
  bulkIn(endpoint: number, maxLength: number): UsbInResult;
  /** An interrupt IN transfer from endpoint `endpoint` of at most `maxLength` bytes. */
  interruptIn(endpoint: number, maxLength: number): UsbInResult;
  /** Sets (or clears) who hears that a NAKing endpoint may have data now. */
  setWakeListener(listener: ((endpointAddress: number) => void) | undefined): void;
  /** Releases what the device holds (a disk image). */
  close?(): void;
}

/** Standard request codes (USB 2.0 table 9-4). */
export const USB_REQUEST = {
  GET_STATUS: 0x00,
  CLEAR_FEATURE: 0x01,
  SET_FEATURE: 0x03,
  SET_ADDRESS: 0x05,
  GET_DESCRIPTOR: 0x06,
  SET_DESCRIPTOR: 0x07,
  GET_CONFIGURATION: 0x08,
  SET_CONFIGURATION: 0x09,
  GET_INTERFACE: 0x0a,
  SET_INTERFACE: 0x0b,
  SYNCH_FRAME: 0x0c,
} as const;

/** Feature selectors (USB 2.0 table 9-6). */
export const USB_FEATURE = {
  ENDPOINT_HALT: 0,
  DEVICE_REMOTE_WAKEUP: 1,
  TEST_MODE: 2,
} as const;

/** Fields of bmRequestType (USB 2.0 table 9-2). */
export const USB_REQUEST_TYPE = {
  /** Direction: device to host. */
  IN: 0x80,
  TYPE_MASK: 0x60,
  STANDARD: 0x00,
  CLASS: 0x20,
  VENDOR: 0x40,
  RECIPIENT_MASK: 0x1f,
  DEVICE: 0x00,
  INTERFACE: 0x01,
  ENDPOINT: 0x02,
} as const;

/** Options of {@linkcode UsbDeviceBase}. */
export interface UsbDeviceBaseOptions {
  readonly name: string;
  readonly speed: UsbSpeed;
  readonly device: DeviceDescriptorFields;
  /** The one configuration. */
  readonly configuration: ConfigurationDescriptorFields;
  /** String descriptors 1..n (index i+1 is `strings[i]`). */
  readonly strings: readonly string[];
}

const T = USB_REQUEST_TYPE;
const R = USB_REQUEST;
const STALL = "stall";
const EMPTY = new Uint8Array(0);

/**
 * A device that answers the standard requests; a class adds what it does by overriding the
 * protected hooks (class requests, interface descriptors, transfers on its endpoints).
 *
 * @example
 * ```ts
 * import { UsbDeviceBase } from "./usb_device.ts";
 * class Blinker extends UsbDeviceBase {}
 * const d = new Blinker({
 *   name: "blinker", speed: "full", strings: ["Mungi"],
 *   device: { deviceClass: 0xff, deviceSubClass: 0, deviceProtocol: 0, maxPacketSize0: 8,
 *     idVendor: 0x1209, idProduct: 0x0009, bcdDevice: 0x0100,
 *     iManufacturer: 1, iProduct: 0, iSerialNumber: 0 },
 *   configuration: { value: 1, maxPowerMa: 20, interfaces: [] },
 * });
 * d.reset();
 * d.control({ bmRequestType: 0, bRequest: 5, wValue: 7, wIndex: 0, wLength: 0 });
 * d.address; // 7
 * ```
 */
export class UsbDeviceBase implements UsbDevice {
  /** Short description for messages. */
  readonly name: string;
  /** The device's bus speed. */
  readonly speed: UsbSpeed;
  /** The descriptors as bytes. */
  readonly descriptors: UsbDescriptorSet;
  #deviceFields: DeviceDescriptorFields;
  #configValue: number;
  #selfPowered: boolean;
  #strings: readonly string[];
  #interfaces: ReadonlySet<number>;
  #endpoints: ReadonlyMap<number, EndpointDescriptorFields>;
  #state: UsbDeviceState = "default";
  #address = 0;
  #configuration = 0;
  #remoteWakeup = false;
  #halted = new Set<number>();
  #wake: ((endpointAddress: number) => void) | undefined;

  constructor(options: UsbDeviceBaseOptions) {
    this.name = options.name;
    this.speed = options.speed;
    this.#deviceFields = options.device;
    this.#configValue = options.configuration.value;
    this.#selfPowered = options.configuration.selfPowered ?? false;
    this.#strings = options.strings;
    this.#interfaces = new Set(options.configuration.interfaces.map((i) => i.number));
    this.#endpoints = new Map(
      options.configuration.interfaces.flatMap((i) => i.endpoints).map((e) => [e.address, e]),
    );
    this.descriptors = {
      device: encodeDeviceDescriptor(options.device),
      configuration: encodeConfigurationDescriptor(options.configuration),
      strings: new Map(options.strings.map((s, i) => [i + 1, s])),
    };
  }

  /** The device state. */
  get state(): UsbDeviceState {
    return this.#state;
  }

  /** The address SET_ADDRESS assigned (0 in the default state). */
  get address(): number {
    return this.#address;
  }

  /** The selected configuration (0: none). */
  get configuration(): number {
    return this.#configuration;
  }

  /** A bus reset: default state, address 0, unconfigured, no halted endpoint. */
  reset(): void {
    this.#state = "default";
    this.#address = 0;
    this.#configuration = 0;
    this.#remoteWakeup = false;
    this.#halted.clear();
    this.onReset();
  }

  /** Sets who hears of endpoints that may have data after answering "nak". */
  setWakeListener(listener: ((endpointAddress: number) => void) | undefined): void {
    this.#wake = listener;
  }

  /** A control transfer: standard requests here, class and vendor ones to {@linkcode classRequest}. */
  control(setup: UsbSetup, dataOut?: Uint8Array): Uint8Array | "stall" {
    const result = (setup.bmRequestType & T.TYPE_MASK) === T.STANDARD
      ? this.#standard(setup)
      : this.classRequest(setup, dataOut ?? EMPTY);
    if (result === STALL) return STALL;
    if (!(setup.bmRequestType & T.IN)) return EMPTY;
    return result.length > setup.wLength ? result.subarray(0, setup.wLength) : result;
  }

  /** A bulk or interrupt OUT transfer: checked, then handed to {@linkcode onBulkOut}. */
  bulkOut(endpoint: number, data: Uint8Array): UsbOutResult {
    if (!this.#ready(endpoint, false, [USB_ENDPOINT_TYPE.BULK, USB_ENDPOINT_TYPE.INTERRUPT])) {
      return STALL;
    }
    return this.onBulkOut(endpoint, data);
  }

  /** A bulk IN transfer: checked, then handed to {@linkcode onBulkIn}. */
  bulkIn(endpoint: number, maxLength: number): UsbInResult {
    if (!this.#ready(endpoint, true, [USB_ENDPOINT_TYPE.BULK])) return STALL;
    return this.onBulkIn(endpoint, maxLength);
  }

  /** An interrupt IN transfer: checked, then handed to {@linkcode onInterruptIn}. */
  interruptIn(endpoint: number, maxLength: number): UsbInResult {
    if (!this.#ready(endpoint, true, [USB_ENDPOINT_TYPE.INTERRUPT])) return STALL;
    return this.onInterruptIn(endpoint, maxLength);
  }

  /** Releases what the device holds; nothing here. */
  close(): void {}

  // --- hooks for a device class ---------------------------------------------------------------

  /** A class or vendor request; the default stalls. IN answers are cut to wLength afterwards. */
  protected classRequest(_setup: UsbSetup, _dataOut: Uint8Array): Uint8Array | "stall" {
    return STALL;
  }

  /** GET_DESCRIPTOR to an interface (a HID report descriptor); the default stalls. */
  protected interfaceDescriptor(_setup: UsbSetup): Uint8Array | "stall" {
    return STALL;
  }

  /** Called after CLEAR_FEATURE(ENDPOINT_HALT) cleared an endpoint's halt (a class may re-halt it). */
  protected clearHalt(_endpointAddress: number): void {}

  /** Called after a bus reset. */
  protected onReset(): void {}

  /** Called when SET_CONFIGURATION selects a configuration (0: deconfigured). */
  protected onConfigured(_value: number): void {}

  /** An OUT transfer to a configured, not halted endpoint; the default stalls. */
  protected onBulkOut(_endpoint: number, _data: Uint8Array): UsbOutResult {
    return STALL;
  }

  /** A bulk IN transfer from a configured, not halted endpoint; the default stalls. */
  protected onBulkIn(_endpoint: number, _maxLength: number): UsbInResult {
    return STALL;
  }

  /** An interrupt IN transfer from a configured, not halted endpoint; the default stalls. */
  protected onInterruptIn(_endpoint: number, _maxLength: number): UsbInResult {
    return STALL;
  }

  /** Halts an endpoint (by address): it stalls until CLEAR_FEATURE(ENDPOINT_HALT). */
  protected halt(endpointAddress: number): void {
    this.#halted.add(endpointAddress);
  }

  /** Whether an endpoint (by address) is halted. */
  protected isHalted(endpointAddress: number): boolean {
    return this.#halted.has(endpointAddress);
  }

  /** Tells the host that an endpoint (by address) that answered "nak" may have data now. */
  protected wake(endpointAddress: number): void {
    this.#wake?.(endpointAddress);
  }

  // --- standard requests -----------------------------------------------------------------------

  #ready(endpoint: number, input: boolean, types: readonly number[]): boolean {
    const address = endpoint | (input ? USB_DIR_IN : 0);
    const ep = this.#endpoints.get(address);
    return this.#state === "configured" && ep !== undefined && types.includes(ep.type) &&
      !this.#halted.has(address);
  }

  #standard(s: UsbSetup): Uint8Array | "stall" {
    const input = (s.bmRequestType & T.IN) !== 0;
    const recipient = s.bmRequestType & T.RECIPIENT_MASK;
    const expect = (dir: boolean, ...recipients: number[]) =>
      input === dir && recipients.includes(recipient);
    switch (s.bRequest) {
      case R.GET_STATUS:
        return expect(true, T.DEVICE, T.INTERFACE, T.ENDPOINT) ? this.#getStatus(s) : STALL;
      case R.CLEAR_FEATURE:
      case R.SET_FEATURE:
        return expect(false, T.DEVICE, T.INTERFACE, T.ENDPOINT)
          ? this.#feature(s, s.bRequest === R.SET_FEATURE)
          : STALL;
      case R.SET_ADDRESS:
        return expect(false, T.DEVICE) ? this.#setAddress(s) : STALL;
      case R.GET_DESCRIPTOR:
        if (expect(true, T.INTERFACE)) {
          return this.#interfaceExists(s.wIndex & 0xff, true) ? this.interfaceDescriptor(s) : STALL;
        }
        return expect(true, T.DEVICE) ? this.#descriptor(s) : STALL;
      case R.GET_CONFIGURATION:
        return expect(true, T.DEVICE) ? Uint8Array.of(this.#configuration) : STALL;
      case R.SET_CONFIGURATION:
        return expect(false, T.DEVICE) ? this.#setConfiguration(s.wValue & 0xff) : STALL;
      case R.GET_INTERFACE:
        return expect(true, T.INTERFACE) && this.#interfaceExists(s.wIndex, false)
          ? Uint8Array.of(0)
          : STALL;
      case R.SET_INTERFACE:
        if (!expect(false, T.INTERFACE) || !this.#interfaceExists(s.wIndex, false)) return STALL;
        return s.wValue === 0 ? EMPTY : STALL;
      default:
        return STALL;
    }
  }

  #getStatus(s: UsbSetup): Uint8Array | "stall" {
    switch (s.bmRequestType & T.RECIPIENT_MASK) {
      case T.DEVICE:
        return Uint8Array.of((this.#selfPowered ? 1 : 0) | (this.#remoteWakeup ? 2 : 0), 0);
      case T.INTERFACE:
        return this.#interfaceExists(s.wIndex, false) ? Uint8Array.of(0, 0) : STALL;
      default: {
        const address = s.wIndex & 0xff;
        if (!this.#endpointExists(address)) return STALL;
        return Uint8Array.of(this.#halted.has(address) ? 1 : 0, 0);
      }
    }
  }

  #feature(s: UsbSetup, set: boolean): Uint8Array | "stall" {
    const recipient = s.bmRequestType & T.RECIPIENT_MASK;
    if (recipient === T.DEVICE && s.wValue === USB_FEATURE.DEVICE_REMOTE_WAKEUP) {
      this.#remoteWakeup = set;
      return EMPTY;
    }
    if (recipient === T.ENDPOINT && s.wValue === USB_FEATURE.ENDPOINT_HALT) {
      const address = s.wIndex & 0xff;
      if (!this.#endpointExists(address)) return STALL;
      if ((address & 0x0f) === 0) return EMPTY; // endpoint 0 is never halted by a feature
      if (set) {
        this.#halted.add(address);
      } else {
        this.#halted.delete(address);
        this.clearHalt(address);
      }
      return EMPTY;
    }
    return STALL;
  }

  #setAddress(s: UsbSetup): Uint8Array | "stall" {
    const address = s.wValue;
    if (address > 127 || s.wIndex !== 0 || s.wLength !== 0 || this.#state === "configured") {
      return STALL;
    }
    this.#address = address;
    this.#state = address === 0 ? "default" : "address";
    return EMPTY;
  }

  #descriptor(s: UsbSetup): Uint8Array | "stall" {
    const type = s.wValue >> 8;
    const index = s.wValue & 0xff;
    switch (type) {
      case USB_DESCRIPTOR_TYPE.DEVICE:
        return this.descriptors.device;
      case USB_DESCRIPTOR_TYPE.CONFIGURATION:
        return index === 0 ? this.descriptors.configuration : STALL;
      case USB_DESCRIPTOR_TYPE.STRING: {
        if (index === 0) return encodeLanguageDescriptor([USB_LANGUAGE_EN_US]);
        const text = this.#strings[index - 1];
        return text !== undefined && s.wIndex === USB_LANGUAGE_EN_US
          ? encodeStringDescriptor(text)
          : STALL;
      }
      case USB_DESCRIPTOR_TYPE.DEVICE_QUALIFIER:
        return this.speed === "high" ? encodeDeviceQualifier(this.#deviceFields) : STALL;
      default:
        return STALL;
    }
  }

  #setConfiguration(value: number): Uint8Array | "stall" {
    if (this.#state === "default" || (value !== 0 && value !== this.#configValue)) return STALL;
    this.#configuration = value;
    this.#state = value === 0 ? "address" : "configured";
    this.#halted.clear();
    this.onConfigured(value);
    return EMPTY;
  }

  #interfaceExists(number: number, anyState: boolean): boolean {
    return (anyState || this.#state === "configured") && this.#interfaces.has(number);
  }

  #endpointExists(address: number): boolean {
    if ((address & 0x0f) === 0) return (address & 0x70) === 0;
    return this.#state === "configured" && this.#endpoints.has(address);
  }
}
