import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  COMPLETION_CODE,
  createKeyboard,
  EP_TYPE,
  HID_CHARS_BY_USAGE,
  HID_MODIFIER,
  HID_REQUEST,
  HID_STROKE_BY_CHAR,
  HID_USAGE,
  hidCharOf,
  type HidKeyboard,
  hidStrokeOf,
  KEYBOARD_REPORT_DESCRIPTOR,
  splitDescriptors,
  USB_DESCRIPTOR_TYPE,
} from "../machine/usb/mod.ts";
import { UsbHarness } from "./_machine_usb_harness.ts";

const CC = COMPLETION_CODE;
const SHIFT = HID_MODIFIER.LEFT_SHIFT;

function configured(): HidKeyboard {
  const kbd = createKeyboard();
  kbd.reset();
  kbd.control({ bmRequestType: 0, bRequest: 5, wValue: 3, wIndex: 0, wLength: 0 });
  kbd.control({ bmRequestType: 0, bRequest: 9, wValue: 1, wIndex: 0, wLength: 0 });
  return kbd;
}

function reports(kbd: HidKeyboard): number[][] {
  const out: number[][] = [];
  for (;;) {
    const r = kbd.interruptIn(1, 8);
    if (r === "nak") return out;
    if (r === "stall") throw new Error("stalled");
    out.push(Array.from(r));
  }
}

Deno.test('type("Hi!\\n") yields key-down and key-up boot reports in order', () => {
  const kbd = configured();
  kbd.type("Hi!\n");
  assertEquals(kbd.pendingReports, 8);
  const up = [0, 0, 0, 0, 0, 0, 0, 0];
  assertEquals(reports(kbd), [
    [SHIFT, 0, 0x0b, 0, 0, 0, 0, 0], // H
    up,
    [0, 0, 0x0c, 0, 0, 0, 0, 0], // i
    up,
    [SHIFT, 0, 0x1e, 0, 0, 0, 0, 0], // ! is shift + 1
    up,
    [0, 0, HID_USAGE.ENTER, 0, 0, 0, 0, 0],
    up,
  ]);
  assertEquals(kbd.interruptIn(1, 8), "nak");
});

Deno.test("typing a character with no key is a RangeError naming it, and queues nothing", () => {
  const kbd = configured();
  assertThrows(() => kbd.type("ok é"), RangeError, '"é"');
  assertThrows(() => hidStrokeOf("€"), RangeError, "US keyboard layout");
  assertEquals(kbd.pendingReports, 0);
});

Deno.test("the usage table maps every character to a key and back", () => {
  for (const [char, stroke] of HID_STROKE_BY_CHAR) {
    assertEquals(hidCharOf(stroke.usage, stroke.shift ? SHIFT : 0), char, JSON.stringify(char));
    assertEquals(hidCharOf(stroke.usage, stroke.shift ? HID_MODIFIER.RIGHT_SHIFT : 0), char);
  }
  assertEquals(HID_CHARS_BY_USAGE.get(0x04), { plain: "a", shifted: "A" });
  assertEquals(HID_CHARS_BY_USAGE.get(0x38), { plain: "/", shifted: "?" });
  assertEquals(hidStrokeOf(" "), { usage: HID_USAGE.SPACE, shift: false });
  assertEquals(hidStrokeOf("~"), { usage: 0x35, shift: true });
  assertEquals(hidCharOf(0xe1, 0), undefined, "a modifier has no character");
  assertEquals(hidCharOf(0, 0), undefined);
  const printable = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"];
  const punctuation = [..." !@#$%^&*()-_=+[]{}\\|;:'\",<.>/?`~\n\t"];
  for (const c of [...printable, ...punctuation]) assert(HID_STROKE_BY_CHAR.has(c), c);
});

Deno.test("the configuration carries a HID descriptor; the report descriptor is the 63-byte boot one", () => {
  const kbd = configured();
  const parts = splitDescriptors(kbd.descriptors.configuration);
  const hid = parts.find((d) => d.type === USB_DESCRIPTOR_TYPE.HID)!.bytes;
  assertEquals(hid.length, 9);
  assertEquals([hid[2], hid[3]], [0x11, 0x01], "bcdHID 1.11");
  assertEquals([hid[6], hid[7]! | (hid[8]! << 8)], [0x22, 63]);
  const endpoint = parts.find((d) => d.type === USB_DESCRIPTOR_TYPE.ENDPOINT)!.bytes;
  assertEquals([endpoint[2], endpoint[3], endpoint[4], endpoint[6]], [0x81, 0x03, 8, 10]);
  const report = kbd.control({
    bmRequestType: 0x81,
    bRequest: 6,
    wValue: 0x2200,
    wIndex: 0,
    wLength: 255,
  });
  assertEquals(report, KEYBOARD_REPORT_DESCRIPTOR);
  assertEquals(
    KEYBOARD_REPORT_DESCRIPTOR.subarray(0, 6),
    Uint8Array.of(0x05, 0x01, 0x09, 0x06, 0xa1, 0x01),
  );
  assertEquals(KEYBOARD_REPORT_DESCRIPTOR[62], 0xc0);
});

Deno.test("HID class requests: protocol, idle rate, LED output report, GET_REPORT", () => {
  const kbd = configured();
  const get = (bRequest: number, wValue = 0) =>
    kbd.control({ bmRequestType: 0xa1, bRequest, wValue, wIndex: 0, wLength: 8 });
  const set = (bRequest: number, wValue: number, data?: Uint8Array) =>
    kbd.control(
      { bmRequestType: 0x21, bRequest, wValue, wIndex: 0, wLength: data?.length ?? 0 },
      data,
    );
  assertEquals(kbd.protocol, "report");
  assertEquals(get(HID_REQUEST.GET_PROTOCOL), Uint8Array.of(1));
  assertEquals(set(HID_REQUEST.SET_PROTOCOL, 0), new Uint8Array(0));
  assertEquals([kbd.protocol, ...get(HID_REQUEST.GET_PROTOCOL)], ["boot", 0]);
  assertEquals(set(HID_REQUEST.SET_PROTOCOL, 2), "stall");
  set(HID_REQUEST.SET_IDLE, 0);
  assertEquals([kbd.idleRate, ...get(HID_REQUEST.GET_IDLE)], [0, 0]);
  assertEquals(set(HID_REQUEST.SET_REPORT, 0x0200, Uint8Array.of(0x02)), new Uint8Array(0));
  assertEquals(kbd.leds, 0x02, "caps lock");
  assertEquals(get(HID_REQUEST.GET_REPORT, 0x0200), Uint8Array.of(0x02));
  kbd.type("a");
  kbd.interruptIn(1, 8);
  assertEquals(get(HID_REQUEST.GET_REPORT, 0x0100), Uint8Array.of(0, 0, 0x04, 0, 0, 0, 0, 0));
  assertEquals(
    kbd.control({ bmRequestType: 0xa1, bRequest: 0x01, wValue: 0x0100, wIndex: 1, wLength: 8 }),
    "stall",
  );
  kbd.reset();
  assertEquals([kbd.protocol, kbd.leds], ["report", 0]);
});

Deno.test("the interrupt endpoint stalls until the keyboard is configured; sendReport checks its input", () => {
  const kbd = createKeyboard();
  kbd.reset();
  kbd.type("x");
  assertEquals(kbd.interruptIn(1, 8), "stall");
  kbd.control({ bmRequestType: 0, bRequest: 5, wValue: 1, wIndex: 0, wLength: 0 });
  kbd.control({ bmRequestType: 0, bRequest: 9, wValue: 1, wIndex: 0, wLength: 0 });
  assertEquals(Array.from(kbd.interruptIn(1, 8) as Uint8Array), [0, 0, 0x1b, 0, 0, 0, 0, 0]);
  kbd.sendReport(HID_MODIFIER.LEFT_CTRL, [0x06]);
  assertEquals(reports(kbd).slice(-1), [[HID_MODIFIER.LEFT_CTRL, 0, 0x06, 0, 0, 0, 0, 0]]);
  assertThrows(() => kbd.sendReport(0, [1, 2, 3, 4, 5, 6, 7]), RangeError, "at most 6");
  assertThrows(() => kbd.sendReport(256), RangeError, "not a byte");
});

Deno.test("through the controller, a pending interrupt IN transfer completes when text is typed", async () => {
  const h = new UsbHarness();
  h.start();
  const kbd = createKeyboard();
  const slot = await h.enumerate(4, kbd);
  await h.configure(slot, [{ address: 0x81, type: EP_TYPE.INTERRUPT_IN, maxPacket: 8 }]);
  const pending = h.queueIn(slot, 0x81, 8);
  assert(!(await h.has((e) => e.pointer === pending.address)), "no key: the keyboard NAKs");
  kbd.type("Q");
  const [e] = await h.finish(slot, 3, [pending.address]);
  assertEquals(e!.code, CC.SUCCESS);
  assertEquals(Array.from(pending.buffer), [SHIFT, 0, 0x14, 0, 0, 0, 0, 0]);
  const release = await h.bulkIn(slot, 0x81, 8);
  assertEquals(Array.from(release.data), [0, 0, 0, 0, 0, 0, 0, 0]);
  assertEquals(kbd.pendingReports, 0);
});
