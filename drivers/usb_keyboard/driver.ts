// USB HID keyboard driver (HID 1.11, boot protocol): polls the interrupt IN endpoint for 8-byte
// boot reports, turns changes into key down/up events, and delivers them, in order, to every
// subscribed IKeyListener.

import type { Capability, DriverContext, DriverInstance } from "../../driver.ts";

const SET_IDLE = 0x0a;
const SET_PROTOCOL = 0x0b;
const CLASS_INTERFACE = 0x21;
const BOOT_PROTOCOL = 0;
const SHIFT = 0x02 | 0x20;

/** HID usage ids 0x04..0x38 on a US layout: unshifted and shifted text. */
const PLAIN = "abcdefghijklmnopqrstuvwxyz1234567890\n\x1b\b\t -=[]\\#;'`,./";
const SHIFTED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()\n\x1b\b\t _+{}|~:"~<>?';

/** The text a key types, or "" when it types nothing. */
export function keyText(usage: number, modifiers: number): string {
  if (usage < 0x04 || usage > 0x38) return "";
  const table = modifiers & SHIFT ? SHIFTED : PLAIN;
  return table[usage - 0x04] ?? "";
}

export async function start(ctx: DriverContext): Promise<DriverInstance> {
  const usb = ctx.device.caps.usb;
  const endpoint = ctx.device.ids.interruptIn;
  if (!usb || endpoint === undefined) {
    throw new TypeError("usb_keyboard: the device has no IUsbDevice or no interrupt IN endpoint");
  }
  const iface = 0;
  await ctx.invoke(usb, "IUsbDevice.control_out", [
    {
      request_type: CLASS_INTERFACE,
      request: SET_PROTOCOL,
      value: BOOT_PROTOCOL,
      index: iface,
      length: 0,
    },
    new Uint8Array(0),
  ]);
  await ctx.invoke(usb, "IUsbDevice.control_out", [
    { request_type: CLASS_INTERFACE, request: SET_IDLE, value: 0, index: iface, length: 0 },
    new Uint8Array(0),
  ]).catch(() => {}); // SET_IDLE is optional for a keyboard (HID 1.11 §7.2.4)

  const listeners = new Map<bigint, Capability>();
  let stopped = false;
  let held: number[] = [];
  /** Events are delivered one after another, in the order they happened. */
  let delivery: Promise<void> = Promise.resolve();

  function emit(usage: number, down: boolean, modifiers: number): void {
    const text = down ? keyText(usage, modifiers) : "";
    const targets = [...listeners.values()];
    delivery = delivery.then(async () => {
      for (const l of targets) {
        try {
          await ctx.invoke(l, "IKeyListener.key", [usage, down, modifiers, text]);
        } catch {
          listeners.delete(l.address); // gone or revoked: stop telling it
        }
      }
    });
  }

  function report(r: Uint8Array): void {
    if (r.length < 8) return;
    const modifiers = r[0]!;
    const keys = [...r.subarray(2, 8)].filter((k) => k > 3); // 0 none, 1-3 error codes
    for (const k of held) if (!keys.includes(k)) emit(k, false, modifiers);
    for (const k of keys) if (!held.includes(k)) emit(k, true, modifiers);
    held = keys;
  }

  (async () => {
    while (!stopped) {
      try {
        report(await ctx.invoke(usb, "IUsbDevice.transfer_in", [endpoint, 8]) as Uint8Array);
      } catch (error) {
        if (!stopped) ctx.log(`polling stopped: ${(error as Error).message}`);
        return;
      }
    }
  })();

  ctx.export("IKeyboard", {
    subscribe: (listener: Capability) => void listeners.set(listener.address, listener),
    unsubscribe: (listener: Capability) => void listeners.delete(listener.address),
  });
  return {
    stop() {
      stopped = true;
    },
  };
}
