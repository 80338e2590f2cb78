/**
 * A USB HID boot keyboard (HID 1.11): interface class 0x03, subclass 0x01 (boot), protocol 0x01
 * (keyboard); one interrupt IN endpoint (0x81, 8 bytes, every 10 ms) that yields 8-byte boot
 * reports: modifiers, a reserved byte, six key usages. Full speed, endpoint 0 packets of 8 bytes.
 *
 * The configuration descriptor carries the HID descriptor (bcdHID 1.11, country 33 = US, one
 * report descriptor) between the interface and the endpoint; the report descriptor is the boot
 * keyboard's of HID 1.11 appendix B.1 (input: 8 modifier bits, a constant byte, 6 key array
 * bytes; output: 5 LED bits and 3 padding bits).
 *
 * Class requests (interface 0): GET_REPORT (input: the last report sent; output: the LEDs),
 * GET_IDLE, GET_PROTOCOL, SET_REPORT (output: the LED byte), SET_IDLE, SET_PROTOCOL (0 boot,
 * 1 report; both give the same reports since the report descriptor is the boot layout); anything
 * else stalls.
 *
 * Simplifications: reports are queued on a change (key down, key up) and never repeated: the
 * idle rate is stored and reported but not timed. A bus reset keeps queued keystrokes (they were
 * typed) but returns to report protocol and clears the LEDs.
 *
 * @module
 */

import { USB_ENDPOINT_TYPE } from "./descriptors.ts";
import { HID_MODIFIER, hidStrokeOf } from "./hid_usage.ts";
import { UsbDeviceBase, type UsbInResult, type UsbSetup } from "./usb_device.ts";

/** HID class request codes (HID 1.11 7.2). */
export const HID_REQUEST = {
  GET_REPORT: 0x01,
  GET_IDLE: 0x02,
  GET_PROTOCOL: 0x03,
  SET_REPORT: 0x09,
  SET_IDLE: 0x0a,
  SET_PROTOCOL: 0x0b,
} as const;

/** Report types in the high byte of wValue of GET_REPORT / SET_REPORT. */
export const HID_REPORT_TYPE = { INPUT: 1, OUTPUT: 2, FEATURE: 3 } as const;

/** The keyboard's interrupt IN endpoint address. */
export const KEYBOARD_ENDPOINT = 0x81;

/** The size of a boot keyboard report. */
export const KEYBOARD_REPORT_SIZE = 8;

/**
 * The boot keyboard report descriptor (HID 1.11 appendix B.1), 63 bytes.
 *
 * @example
 * ```ts
 * import { KEYBOARD_REPORT_DESCRIPTOR } from "./hid_keyboard.ts";
 * KEYBOARD_REPORT_DESCRIPTOR.length; // 63
 * ```
 */
// deno-fmt-ignore
export const KEYBOARD_REPORT_DESCRIPTOR: Uint8Array = Uint8Array.of(
  0x05, 0x01, // Usage Page (Generic Desktop)
  0x09, 0x06, // Usage (Keyboard)
  0xa1, 0x01, // Collection (Application)
  0x05, 0x07, //   Usage Page (Keyboard/Keypad)
  0x19, 0xe0, //   Usage Minimum (Left Control)
  0x29, 0xe7, //   Usage Maximum (Right GUI)
  0x15, 0x00, //   Logical Minimum (0)
  0x25, 0x01, //   Logical Maximum (1)
  0x75, 0x01, //   Report Size (1)
  0x95, 0x08, //   Report Count (8)
  0x81, 0x02, //   Input (Data, Variable, Absolute): modifier byte
  0x95, 0x01, //   Report Count (1)
  0x75, 0x08, //   Report Size (8)
  0x81, 0x01, //   Input (Constant): reserved byte
  0x95, 0x05, //   Report Count (5)
  0x75, 0x01, //   Report Size (1)
  0x05, 0x08, //   Usage Page (LEDs)
  0x19, 0x01, //   Usage Minimum (Num Lock)
  0x29, 0x05, //   Usage Maximum (Kana)
  0x91, 0x02, //   Output (Data, Variable, Absolute): LED report
  0x95, 0x01, //   Report Count (1)
  0x75, 0x03, //   Report Size (3)
  0x91, 0x01, //   Output (Constant): LED padding
  0x95, 0x06, //   Report Count (6)
  0x75, 0x08, //   Report Size (8)
  0x15, 0x00, //   Logical Minimum (0)
  0x25, 0x65, //   Logical Maximum (101)
  0x05, 0x07, //   Usage Page (Keyboard/Keypad)
  0x19, 0x00, //   Usage Minimum (0)
  0x29, 0x65, //   Usage Maximum (101)
  0x81, 0x00, //   Input (Data, Array): key codes
  0xc0, // End Collection
);

/** The HID descriptor that follows the interface descriptor (HID 1.11 6.2.1). */
const HID_DESCRIPTOR = Uint8Array.of(
  9,
  0x21,
  0x11,
  0x01, // bcdHID 1.11
  33, // country: US
  1, // one class descriptor
  0x22, // report descriptor
  KEYBOARD_REPORT_DESCRIPTOR.length & 0xff,
  KEYBOARD_REPORT_DESCRIPTOR.length >> 8,
);

/** Options of {@linkcode createKeyboard}. */
export interface KeyboardOptions {
  /** idVendor; default 0x1209 (pid.codes). */
  readonly vendorId?: number;
  /** idProduct; default 0x0001 (a pid.codes test id). */
  readonly productId?: number;
  /** Manufacturer string; default "Mungi". */
  readonly manufacturer?: string;
  /** Product string; default "Mungi USB Keyboard". */
  readonly product?: string;
  /** Serial number string; default "KBD-0001". */
  readonly serial?: string;
}

/** Endpoint number of the interrupt IN endpoint. */
const EP_NUMBER = KEYBOARD_ENDPOINT & 0x0f;
const DEFAULT_IDLE = 125; // 500 ms in 4 ms units: HID's recommended keyboard default

/**
 * The keyboard model. Create it with {@linkcode createKeyboard}.
 *
 * @example
 * ```ts
 * import { createKeyboard } from "./hid_keyboard.ts";
 * const kbd = createKeyboard();
 * kbd.type("a");
 * kbd.pendingReports; // 2: key down, key up
 * ```
 */
export class HidKeyboard extends UsbDeviceBase {
  #queue: Uint8Array<ArrayBuffer>[] = [];
  #last: Uint8Array<ArrayBuffer> = new Uint8Array(KEYBOARD_REPORT_SIZE);
  #leds = 0;
  #bootProtocol = false;
  #idle = DEFAULT_IDLE;

  constructor(options: KeyboardOptions = {}) {
    const product = options.product ?? "Mungi USB Keyboard";
    super({
      name: `keyboard "${product}"`,
      speed: "full",
      strings: [options.manufacturer ?? "Mungi", product, options.serial ?? "KBD-0001"],
      device: {
        deviceClass: 0,
        deviceSubClass: 0,
        deviceProtocol: 0,
        maxPacketSize0: 8,
        idVendor: options.vendorId ?? 0x1209,
        idProduct: options.productId ?? 0x0001,
        bcdDevice: 0x0100,
        iManufacturer: 1,
        iProduct: 2,
        iSerialNumber: 3,
      },
      configuration: {
        value: 1,
        remoteWakeup: true,
        maxPowerMa: 100,
        interfaces: [{
          number: 0,
          interfaceClass: 0x03,
          interfaceSubClass: 0x01,
          interfaceProtocol: 0x01,
          classDescriptors: [HID_DESCRIPTOR],
          endpoints: [{
            address: KEYBOARD_ENDPOINT,
            type: USB_ENDPOINT_TYPE.INTERRUPT,
            maxPacketSize: KEYBOARD_REPORT_SIZE,
            interval: 10,
          }],
        }],
      },
    });
  }

  /** Reports queued and not yet read by the host. */
  get pendingReports(): number {
    return this.#queue.length;
  }

  /** The LED byte the host last set (bit 0 Num Lock, 1 Caps Lock, 2 Scroll Lock). */
  get leds(): number {
    return this.#leds;
  }

  /** The protocol SET_PROTOCOL selected: "report" after a reset. */
  get protocol(): "boot" | "report" {
    return this.#bootProtocol ? "boot" : "report";
  }

  /** The idle rate SET_IDLE set, in 4 ms units (0: report only on change). */
  get idleRate(): number {
    return this.#idle;
  }

  /**
   * Queues a key-down and a key-up report for each character (US layout; shift for upper case
   * and shifted symbols; "\n" is Enter). A character with no key is a RangeError naming it, and
   * then nothing of `text` is queued.
   */
  type(text: string): void {
    const strokes = [...text].map(hidStrokeOf);
    const wasEmpty = this.#queue.length === 0;
    for (const s of strokes) {
      const down = new Uint8Array(KEYBOARD_REPORT_SIZE);
      down[0] = s.shift ? HID_MODIFIER.LEFT_SHIFT : 0;
      down[2] = s.usage;
      this.#queue.push(down, new Uint8Array(KEYBOARD_REPORT_SIZE));
    }
    if (wasEmpty && strokes.length > 0) this.wake(KEYBOARD_ENDPOINT);
  }

  /**
   * Queues one raw report: a modifier byte and up to six key usages (keys held together). More
   * than six keys, or a value outside 0-255, is a RangeError.
   */
  sendReport(modifiers: number, keys: readonly number[] = []): void {
    if (keys.length > 6) {
      throw new RangeError(`Cannot send a boot report with ${keys.length} keys: at most 6`);
    }
    for (const v of [modifiers, ...keys]) {
      if (!Number.isInteger(v) || v < 0 || v > 255) {
        throw new RangeError(`Cannot send a boot report with the value ${v}: not a byte`);
      }
    }
    const report = new Uint8Array(KEYBOARD_REPORT_SIZE);
    report[0] = modifiers;
    report.set(keys, 2);
    const wasEmpty = this.#queue.length === 0;
    this.#queue.push(report);
    if (wasEmpty) this.wake(KEYBOARD_ENDPOINT);
  }

  /** The next queued report, or "nak" when there is none. */
  protected override onInterruptIn(endpoint: number, maxLength: number): UsbInResult {
    if (endpoint !== EP_NUMBER) return "stall";
    const report = this.#queue.shift();
    if (!report) return "nak";
    this.#last = report;
    return report.length > maxLength ? report.slice(0, maxLength) : report;
  }

  /** The report descriptor and the HID descriptor. */
  protected override interfaceDescriptor(setup: UsbSetup): Uint8Array | "stall" {
    if ((setup.wIndex & 0xff) !== 0) return "stall";
    switch (setup.wValue >> 8) {
      case 0x22:
        return KEYBOARD_REPORT_DESCRIPTOR;
      case 0x21:
        return HID_DESCRIPTOR;
      default:
        return "stall";
    }
  }

  /** HID class requests to interface 0. */
  protected override classRequest(setup: UsbSetup, dataOut: Uint8Array): Uint8Array | "stall" {
    const classInterface = (setup.bmRequestType & 0x7f) === 0x21;
    if (!classInterface || setup.wIndex !== 0) return "stall";
    const input = (setup.bmRequestType & 0x80) !== 0;
    const reportType = setup.wValue >> 8;
    switch (setup.bRequest) {
      case HID_REQUEST.GET_REPORT:
        if (!input) return "stall";
        if (reportType === HID_REPORT_TYPE.INPUT) return this.#last.slice();
        return reportType === HID_REPORT_TYPE.OUTPUT ? Uint8Array.of(this.#leds) : "stall";
      case HID_REQUEST.GET_IDLE:
        return input ? Uint8Array.of(this.#idle) : "stall";
      case HID_REQUEST.GET_PROTOCOL:
        return input ? Uint8Array.of(this.#bootProtocol ? 0 : 1) : "stall";
      case HID_REQUEST.SET_REPORT:
        if (input || reportType !== HID_REPORT_TYPE.OUTPUT || dataOut.length < 1) return "stall";
        this.#leds = dataOut[0]! & 0x1f;
        return new Uint8Array(0);
      case HID_REQUEST.SET_IDLE:
        if (input) return "stall";
        this.#idle = setup.wValue >> 8;
        return new Uint8Array(0);
      case HID_REQUEST.SET_PROTOCOL:
        if (input || setup.wValue > 1) return "stall";
        this.#bootProtocol = setup.wValue === 0;
        return new Uint8Array(0);
      default:
        return "stall";
    }
  }

  /** Report protocol, default idle, LEDs off; the queue stays. */
  protected override onReset(): void {
    this.#bootProtocol = false;
    this.#idle = DEFAULT_IDLE;
    this.#leds = 0;
    this.#last = new Uint8Array(KEYBOARD_REPORT_SIZE);
  }
}

/**
 * Creates a USB boot keyboard. Plug it in with `controller.connect(port, keyboard)`.
 *
 * @example
 * ```ts
 * import { createKeyboard } from "./hid_keyboard.ts";
 * const kbd = createKeyboard({ product: "Test Keyboard" });
 * kbd.descriptors.device[4]; // 0: the class is given per interface
 * ```
 */
export function createKeyboard(options: KeyboardOptions = {}): HidKeyboard {
  return new HidKeyboard(options);
}

/** The interface class triple of a boot keyboard, for driver matching. */
export const KEYBOARD_INTERFACE = {
  interfaceClass: 0x03,
  interfaceSubclass: 0x01,
  interfaceProtocol: 0x01,
} as const;
