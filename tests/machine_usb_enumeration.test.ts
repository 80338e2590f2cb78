import { assert, assertEquals } from "@std/assert";
import { DiskImage } from "../machine/disk_image.ts";
import { Machine } from "../machine/machine.ts";
import {
  COMPLETION_CODE,
  createKeyboard,
  createMassStorage,
  createXhciController,
  decodeStringDescriptor,
  EP_STATE,
  EP_TYPE,
  PORT_LINK_STATE,
  PORTSC,
  SLOT_STATE,
  splitDescriptors,
  USB_DESCRIPTOR_TYPE,
  USB_REQUEST,
  USBSTS,
  XHCI_PCI_IDENTITY,
  XHCI_REG,
  xhciDoorbell,
  xhciPortsc,
} from "../machine/usb/mod.ts";
import { UsbHarness } from "./_machine_usb_harness.ts";

const CC = COMPLETION_CODE;
const GET_DESCRIPTOR = USB_REQUEST.GET_DESCRIPTOR;

Deno.test("the controller attaches as an xHCI PCI function whose capability registers describe it", async () => {
  const machine = new Machine();
  const usb = createXhciController({ name: "usb0" });
  const fn = await machine.attachPci(XHCI_PCI_IDENTITY, usb);
  assertEquals([fn.config[0], fn.config[1], fn.config[2], fn.config[3]], [0x36, 0x1b, 0x0d, 0x00]);
  assertEquals([fn.config[9], fn.config[10], fn.config[11]], [0x30, 0x03, 0x0c]);
  assertEquals(fn.windows.map((w) => [w.name, w.buffer.byteLength]), [["mmio", 0x3000]]);
  assert(fn.line !== 0);
  const v = new DataView(fn.windows[0]!.buffer);
  assertEquals(v.getUint8(XHCI_REG.CAPLENGTH), 0x20);
  assertEquals(v.getUint16(XHCI_REG.HCIVERSION, true), 0x0110);
  const hcs1 = v.getUint32(XHCI_REG.HCSPARAMS1, true);
  assertEquals([hcs1 & 0xff, (hcs1 >> 8) & 0x7ff, hcs1 >>> 24], [16, 1, 4]);
  const hcc1 = v.getUint32(XHCI_REG.HCCPARAMS1, true);
  assertEquals(hcc1 & 1, 1, "AC64: 64-bit addresses");
  assertEquals(hcc1 & 4, 0, "CSZ 0: 32-byte contexts");
  const xecp = (hcc1 >>> 16) * 4;
  assertEquals(v.getUint32(xecp, true), 0x0200_0002, "Supported Protocol, USB 2.0");
  assertEquals(v.getUint32(xecp + 4, true), 0x2042_5355, '"USB "');
  assertEquals(v.getUint32(xecp + 8, true) & 0xffff, 0x0401, "ports 1-4");
  assertEquals(v.getUint32(XHCI_REG.DBOFF, true), 0x2000);
  assertEquals(v.getUint32(XHCI_REG.RTSOFF, true), 0x1000);
  assertEquals(v.getUint32(XHCI_REG.PAGESIZE, true), 1);
  assertEquals(v.getUint32(XHCI_REG.USBSTS, true), USBSTS.HCH);
  for (let port = 1; port <= 4; port++) {
    assertEquals(
      v.getUint32(xhciPortsc(port), true),
      PORTSC.PP | (PORT_LINK_STATE.RX_DETECT << PORTSC.PLS_SHIFT),
    );
  }
  const posted = new Set(usb.sideEffects.map((r) => r.offset));
  for (
    const offset of [
      XHCI_REG.USBCMD,
      XHCI_REG.USBSTS,
      XHCI_REG.CRCR_LO,
      XHCI_REG.IMAN,
      XHCI_REG.ERDP_LO,
      xhciPortsc(1),
      xhciDoorbell(0),
      xhciDoorbell(16),
    ]
  ) {
    assert(posted.has(offset), `0x${offset.toString(16)} is posted`);
  }
  assert(!posted.has(XHCI_REG.DCBAAP_LO) && !posted.has(XHCI_REG.CONFIG));
  assert(usb.sideEffects.every((r) => r.window === "mmio" && r.write && !r.read));
  await machine.stop();
});

Deno.test("enumeration reads the descriptors a real host would, via Address Device with and without BSR", async () => {
  const h = new UsbHarness();
  h.start();
  const kbd = createKeyboard();
  h.model.connect(2, kbd);
  const connected = await h.portEvent(2);
  assertEquals(connected.code, CC.SUCCESS);
  const sc = h.portsc(2);
  assertEquals(sc & (PORTSC.CCS | PORTSC.CSC | PORTSC.PED), PORTSC.CCS | PORTSC.CSC);
  assertEquals((sc & PORTSC.SPEED_MASK) >> PORTSC.SPEED_SHIFT, 1, "full speed");
  await h.resetPort(2);
  assertEquals(h.portsc(2) & (PORTSC.PED | PORTSC.PR | PORTSC.PRC | PORTSC.CSC), PORTSC.PED);
  assertEquals((h.portsc(2) & PORTSC.PLS_MASK) >> PORTSC.PLS_SHIFT, PORT_LINK_STATE.U0);
  const slot = await h.enableSlot();
  assertEquals(slot, 1);

  // Like Windows and Linux: first the 8 bytes that give bMaxPacketSize0, at address 0 (BSR).
  assertEquals(await h.addressDevice(slot, 2, { bsr: true, maxPacket0: 8 }), CC.SUCCESS);
  assertEquals(h.outputDword(slot, 0, 3) >>> 27, SLOT_STATE.DEFAULT);
  assertEquals(kbd.address, 0);
  const head = await h.controlIn(slot, {
    bRequest: GET_DESCRIPTOR,
    wValue: 0x0100,
    wIndex: 0,
    wLength: 8,
  });
  assertEquals(head.code, CC.SUCCESS);
  assertEquals([head.data[0], head.data[1], head.data[7]], [18, USB_DESCRIPTOR_TYPE.DEVICE, 8]);

  // A second Address Device (BSR 0) on a fresh EP0 ring sends SET_ADDRESS.
  assertEquals(await h.addressDevice(slot, 2), CC.SUCCESS);
  assertEquals(kbd.state, "address");
  assertEquals(kbd.address, slot);
  assertEquals(h.outputDword(slot, 0, 3), (SLOT_STATE.ADDRESSED << 27) | slot);
  assertEquals((h.outputDword(slot, 0, 1) >> 16) & 0xff, 2, "root hub port number");
  assertEquals(h.outputDword(slot, 1, 0) & 7, EP_STATE.RUNNING);

  const device = await h.controlIn(slot, {
    bRequest: GET_DESCRIPTOR,
    wValue: 0x0100,
    wIndex: 0,
    wLength: 18,
  });
  assertEquals(device.data.length, 18);
  const dv = new DataView(device.data.buffer);
  assertEquals(dv.getUint16(2, true), 0x0200, "bcdUSB");
  assertEquals([dv.getUint16(8, true), dv.getUint16(10, true)], [0x1209, 0x0001]);
  assertEquals(device.data[17], 1, "bNumConfigurations");

  // The configuration: 9 bytes for wTotalLength, then all of it.
  const c9 = await h.controlIn(slot, {
    bRequest: GET_DESCRIPTOR,
    wValue: 0x0200,
    wIndex: 0,
    wLength: 9,
  });
  const total = new DataView(c9.data.buffer).getUint16(2, true);
  assertEquals(total, 9 + 9 + 9 + 7);
  const config = await h.controlIn(slot, {
    bRequest: GET_DESCRIPTOR,
    wValue: 0x0200,
    wIndex: 0,
    wLength: 255,
  });
  assertEquals(config.data.length, total, "a short packet reports the real length");
  assertEquals(
    splitDescriptors(config.data).map((d) => d.type),
    [
      USB_DESCRIPTOR_TYPE.CONFIGURATION,
      USB_DESCRIPTOR_TYPE.INTERFACE,
      USB_DESCRIPTOR_TYPE.HID,
      USB_DESCRIPTOR_TYPE.ENDPOINT,
    ],
  );
  const iface = splitDescriptors(config.data)[1]!.bytes;
  assertEquals([iface[5], iface[6], iface[7]], [0x03, 0x01, 0x01]);

  // Strings: language ids, then manufacturer, product and serial in US English.
  const langs = await h.controlIn(slot, {
    bRequest: GET_DESCRIPTOR,
    wValue: 0x0300,
    wIndex: 0,
    wLength: 255,
  });
  assertEquals(Array.from(langs.data), [4, 3, 0x09, 0x04]);
  const strings: string[] = [];
  for (const index of [device.data[14]!, device.data[15]!, device.data[16]!]) {
    const s = await h.controlIn(slot, {
      bRequest: GET_DESCRIPTOR,
      wValue: 0x0300 | index,
      wIndex: 0x0409,
      wLength: 255,
    });
    strings.push(decodeStringDescriptor(s.data));
  }
  assertEquals(strings, ["Mungi", "Mungi USB Keyboard", "KBD-0001"]);
  assertEquals(h.iommu.faults.length, 0);
  assert(h.interrupts > 0);
});

Deno.test("SET_CONFIGURATION and Configure Endpoint configure the device and the slot", async () => {
  const h = new UsbHarness();
  h.start();
  const disk = createMassStorage({ image: DiskImage.memory(1 << 20) });
  const slot = await h.enumerate(1, disk);
  assertEquals(disk.state, "address");
  const get = await h.controlIn(slot, {
    bRequest: USB_REQUEST.GET_CONFIGURATION,
    wValue: 0,
    wIndex: 0,
    wLength: 1,
  });
  assertEquals(Array.from(get.data), [0]);
  await h.configure(slot, [
    { address: 0x81, type: EP_TYPE.BULK_IN, maxPacket: 512 },
    { address: 0x02, type: EP_TYPE.BULK_OUT, maxPacket: 512 },
  ]);
  assertEquals(disk.state, "configured");
  assertEquals(disk.configuration, 1);
  const again = await h.controlIn(slot, {
    bRequest: USB_REQUEST.GET_CONFIGURATION,
    wValue: 0,
    wIndex: 0,
    wLength: 1,
  });
  assertEquals(Array.from(again.data), [1]);
  assertEquals(h.outputDword(slot, 0, 3) >>> 27, SLOT_STATE.CONFIGURED);
  assertEquals(h.outputDword(slot, 0, 0) >>> 27, 4, "context entries: the last DCI, 4 (EP 2 OUT)");
  assertEquals(h.outputDword(slot, 3, 0) & 7, EP_STATE.RUNNING, "DCI 3 = EP 1 IN");
  assertEquals(h.outputDword(slot, 4, 0) & 7, EP_STATE.RUNNING, "DCI 4 = EP 2 OUT");
  assertEquals((h.outputDword(slot, 3, 1) >> 3) & 7, EP_TYPE.BULK_IN);

  // Dropping both endpoints takes the slot back to Addressed.
  assertEquals(await h.configureEndpoints(slot, [], [0x81, 0x02]), CC.SUCCESS);
  assertEquals(h.outputDword(slot, 0, 3) >>> 27, SLOT_STATE.ADDRESSED);
  assertEquals(h.outputDword(slot, 3, 0) & 7, EP_STATE.DISABLED);
  await disk.close();
});

Deno.test("an unsupported request stalls EP0; Reset Endpoint and the doorbell resume it", async () => {
  const h = new UsbHarness();
  h.start();
  const slot = await h.enumerate(3, createKeyboard());
  const stalled = await h.controlIn(slot, {
    bmRequestType: 0xc0,
    bRequest: 0x42,
    wValue: 0,
    wIndex: 0,
    wLength: 4,
  });
  assertEquals(stalled.code, CC.STALL_ERROR);
  assertEquals(h.outputDword(slot, 1, 0) & 7, EP_STATE.HALTED);
  // While halted the doorbell is ignored: nothing happens to the next transfer.
  const pending = h.submit(slot, 1, [], true);
  assertEquals(pending.length, 0);
  assertEquals(await h.resetEndpoint(slot, 1), CC.SUCCESS);
  assertEquals(h.outputDword(slot, 1, 0) & 7, EP_STATE.STOPPED);
  const ok = await h.controlIn(slot, {
    bRequest: GET_DESCRIPTOR,
    wValue: 0x0100,
    wIndex: 0,
    wLength: 18,
  });
  assertEquals(ok.code, CC.SUCCESS);
  assertEquals(ok.data.length, 18);
  assertEquals(h.outputDword(slot, 1, 0) & 7, EP_STATE.RUNNING);
  // Reset Endpoint on a running endpoint is a context state error.
  assertEquals(await h.resetEndpoint(slot, 1), CC.CONTEXT_STATE_ERROR);
});
