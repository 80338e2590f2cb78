import { assert, assertEquals, assertThrows } from "@std/assert";
import { DiskImage } from "../machine/disk_image.ts";
import {
  COMPLETION_CODE,
  createKeyboard,
  createMassStorage,
  createXhciController,
  EP_STATE,
  EP_TYPE,
  PORT_LINK_STATE,
  PORTSC,
  TRB_TYPE,
  USBSTS,
  XHCI_REG,
} from "../machine/usb/mod.ts";
import { ctl, UsbHarness } from "./_machine_usb_harness.ts";

const CC = COMPLETION_CODE;
const DISK_ENDPOINTS = [
  { address: 0x81, type: EP_TYPE.BULK_IN, maxPacket: 512 },
  { address: 0x02, type: EP_TYPE.BULK_OUT, maxPacket: 512 },
];

Deno.test("connect and disconnect post Port Status Change events and update PORTSC", async () => {
  const h = new UsbHarness();
  h.start();
  await h.has(() => false);
  const before = h.interrupts;
  const disk = createMassStorage({ image: DiskImage.memory(64 * 512) });
  h.model.connect(3, disk);
  // PORTSC shows the device at once, before any event.
  const sc = h.portsc(3);
  assertEquals(sc & (PORTSC.CCS | PORTSC.CSC | PORTSC.PED), PORTSC.CCS | PORTSC.CSC);
  assertEquals((sc & PORTSC.SPEED_MASK) >> PORTSC.SPEED_SHIFT, 3, "high speed");
  assertEquals((sc & PORTSC.PLS_MASK) >> PORTSC.PLS_SHIFT, PORT_LINK_STATE.POLLING);
  assertEquals(h.read32(XHCI_REG.USBSTS) & USBSTS.PCD, USBSTS.PCD);
  const plugged = await h.portEvent(3);
  assertEquals([plugged.type, plugged.code], [TRB_TYPE.PORT_STATUS_CHANGE_EVENT, CC.SUCCESS]);
  assert(h.interrupts > before, "the event interrupts");
  assertEquals(h.model.device(3), disk);
  h.write32(0x420 + 0x20, PORTSC.CSC); // clear CSC of port 3
  h.write32(XHCI_REG.USBSTS, USBSTS.PCD);
  assertEquals(h.portsc(3) & PORTSC.CSC, 0);
  assertEquals(h.read32(XHCI_REG.USBSTS) & USBSTS.PCD, 0);
  await h.resetPort(3);
  assertEquals(h.portsc(3) & PORTSC.PED, PORTSC.PED);

  assertEquals(h.model.disconnect(3), disk);
  const gone = h.portsc(3);
  assertEquals(gone & (PORTSC.CCS | PORTSC.PED | PORTSC.CSC), PORTSC.CSC);
  assertEquals(gone & PORTSC.SPEED_MASK, 0);
  assertEquals((gone & PORTSC.PLS_MASK) >> PORTSC.PLS_SHIFT, PORT_LINK_STATE.RX_DETECT);
  await h.portEvent(3);
  assertEquals(h.model.device(3), undefined);
  assertEquals(disk.state, "default", "unplugging is a power loss");
  disk.close();
});

Deno.test("bad port numbers, a port in use, an empty port and a device plugged twice are RangeErrors", () => {
  const usb = createXhciController({ name: "usb0" });
  const kbd = createKeyboard();
  assertThrows(() => usb.connect(7, kbd), RangeError, "no port 7; ports are 1-4");
  assertThrows(() => usb.connect(0, kbd), RangeError, "no port 0; ports are 1-4");
  assertThrows(() => usb.connect(1.5, kbd), RangeError, "no port 1.5; ports are 1-4");
  assertThrows(() => usb.disconnect(5), RangeError, "no port 5; ports are 1-4");
  assertThrows(() => usb.device(-1), RangeError, "no port -1");
  usb.connect(1, kbd);
  const other = createKeyboard({ product: "Other" });
  assertThrows(() => usb.connect(1, other), RangeError, 'it holds keyboard "Mungi USB Keyboard"');
  assertThrows(() => usb.connect(2, kbd), RangeError, "it is connected to port 1");
  assertThrows(
    () => usb.disconnect(2),
    RangeError,
    "Cannot disconnect USB port 2: nothing is connected",
  );
  assertEquals(usb.disconnect(1), kbd);
  usb.connect(2, kbd); // free again
});

Deno.test("disconnect in the middle of a queued bulk transfer completes it with USB Transaction Error", async () => {
  const h = new UsbHarness();
  h.start();
  const disk = createMassStorage({ image: DiskImage.memory(64 * 512) });
  const slot = await h.enumerate(2, disk);
  await h.configure(slot, DISK_ENDPOINTS);
  // Two bulk IN TDs wait: the device NAKs because no CBW came.
  const first = h.queueIn(slot, 0x81, 13);
  const second = h.queueIn(slot, 0x81, 13);
  assert(!(await h.has((e) => e.type === TRB_TYPE.TRANSFER_EVENT)));
  h.model.disconnect(2);
  await h.portEvent(2);
  const [failed] = await h.finish(slot, 3, [first.address]);
  assertEquals(failed!.code, CC.USB_TRANSACTION_ERROR);
  assertEquals(failed!.length, 13, "nothing moved");
  assertEquals(h.outputDword(slot, 3, 0) & 7, EP_STATE.HALTED);
  // The TD behind it stays on the ring unexecuted; the OUT endpoint, idle, is untouched.
  assert(!(await h.has((e) => e.pointer === second.address)));
  assertEquals(h.outputDword(slot, 4, 0) & 7, EP_STATE.RUNNING);
  // A new transfer to the gone device fails at once instead of waiting.
  const late = h.queueOut(slot, 0x02, new Uint8Array(31));
  const [lateEvent] = await h.finish(slot, 4, [late]);
  assertEquals(lateEvent!.code, CC.USB_TRANSACTION_ERROR);
  // Restarting the halted endpoint runs the queued TD, which fails the same way.
  assertEquals(await h.resetEndpoint(slot, 3), CC.SUCCESS);
  h.ring(slot, 3);
  const [secondEvent] = await h.finish(slot, 3, [second.address]);
  assertEquals(secondEvent!.code, CC.USB_TRANSACTION_ERROR);
  // The driver tears the slot down.
  const disabled = await h.command({ control: ctl(TRB_TYPE.DISABLE_SLOT) | (slot << 24) });
  assertEquals(disabled.code, CC.SUCCESS);
  const again = await h.command({ control: ctl(TRB_TYPE.DISABLE_SLOT) | (slot << 24) });
  assertEquals(again.code, CC.SLOT_NOT_ENABLED_ERROR);
  h.ring(slot, 3);
  assert(h.logs.some((l) => l.includes(`doorbell ${slot} target 3`)));
  assertEquals(disk.phase, "command");
  disk.close();
});

Deno.test("a keyboard unplugged with an interrupt transfer pending fails it; plugged elsewhere it works again", async () => {
  const h = new UsbHarness();
  h.start();
  const kbd = createKeyboard();
  const slot = await h.enumerate(1, kbd);
  await h.configure(slot, [{ address: 0x81, type: EP_TYPE.INTERRUPT_IN, maxPacket: 8 }]);
  const pending = h.queueIn(slot, 0x81, 8);
  await h.has(() => false);
  h.model.disconnect(1);
  const [e] = await h.finish(slot, 3, [pending.address]);
  assertEquals(e!.code, CC.USB_TRANSACTION_ERROR);
  kbd.type("z"); // typed while unplugged: no controller hears of it, nothing breaks
  await h.portEvent(1);

  // Address Device for the old port now fails: nothing answers there.
  const stale = await h.enableSlot();
  h.write32(0x420, PORTSC.CSC);
  assertEquals(await h.addressDevice(stale, 1), CC.USB_TRANSACTION_ERROR);

  const slot2 = await h.enumerate(4, kbd);
  assert(slot2 !== slot);
  await h.configure(slot2, [{ address: 0x81, type: EP_TYPE.INTERRUPT_IN, maxPacket: 8 }]);
  const down = await h.bulkIn(slot2, 0x81, 8);
  assertEquals(Array.from(down.data), [0, 0, 0x1d, 0, 0, 0, 0, 0], "the z typed while unplugged");
});

Deno.test("a device connected while the controller is halted is announced when it runs", async () => {
  const h = new UsbHarness();
  h.model.connect(2, createKeyboard());
  assertEquals(h.portsc(2) & (PORTSC.CCS | PORTSC.CSC), PORTSC.CCS | PORTSC.CSC);
  h.start(); // HCRST keeps the device: the port still shows it, with CSC
  assertEquals(h.portsc(2) & (PORTSC.CCS | PORTSC.CSC), PORTSC.CCS | PORTSC.CSC);
  const e = await h.portEvent(2);
  assertEquals(e.code, CC.SUCCESS);
  // Halt, plug another one, nothing is posted until RS is set again.
  h.write32(XHCI_REG.USBCMD, 0);
  await h.has(() => false);
  assertEquals(h.read32(XHCI_REG.USBSTS) & USBSTS.HCH, USBSTS.HCH);
  h.model.connect(3, createKeyboard({ product: "Second" }));
  assert(!(await h.has((x) => x.port === 3)));
  h.write32(XHCI_REG.USBCMD, 0x05);
  await h.portEvent(3);
});

Deno.test("resetting an empty port is logged and ignored; PED written 1 disables a port", async () => {
  const h = new UsbHarness();
  h.start();
  h.write32(0x430, PORTSC.PR);
  assertEquals(h.portsc(2) & PORTSC.PR, 0);
  assert(h.logs.some((l) => l.includes("reset of USB port 2 with nothing connected")));
  const slot = await h.enumerate(2, createKeyboard());
  assert(slot > 0);
  h.write32(0x430, PORTSC.PED);
  assertEquals(h.portsc(2) & (PORTSC.PED | PORTSC.CCS), PORTSC.CCS);
  assertEquals((h.portsc(2) & PORTSC.PLS_MASK) >> PORTSC.PLS_SHIFT, PORT_LINK_STATE.POLLING);
});
