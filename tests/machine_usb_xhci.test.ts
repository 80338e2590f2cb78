import { assert, assertEquals } from "@std/assert";
import { DiskImage } from "../machine/disk_image.ts";
import {
  COMPLETION_CODE,
  CRCR,
  createKeyboard,
  createMassStorage,
  encodeCbw,
  EP_STATE,
  EP_TYPE,
  ERDP,
  IMAN,
  SCSI_OP,
  TRB,
  TRB_TYPE,
  USBCMD,
  USBSTS,
  XHCI_REG,
  XHCI_WINDOW,
} from "../machine/usb/mod.ts";
import { ctl, ProducerRing, UNMAPPED, UsbHarness } from "./_machine_usb_harness.ts";

const CC = COMPLETION_CODE;
const noOp = { control: ctl(TRB_TYPE.NO_OP_COMMAND) };

async function keyboardOn(
  h: UsbHarness,
): Promise<{ slot: number; kbd: ReturnType<typeof createKeyboard> }> {
  const kbd = createKeyboard();
  const slot = await h.enumerate(1, kbd);
  await h.configure(slot, [{ address: 0x81, type: EP_TYPE.INTERRUPT_IN, maxPacket: 8 }]);
  return { slot, kbd };
}

Deno.test("a data buffer outside the IOMMU mappings is a recorded fault and Data Buffer Error; the controller keeps working", async () => {
  const h = new UsbHarness();
  h.start();
  const { slot, kbd } = await keyboardOn(h);
  kbd.type("a");
  const at = h.submit(slot, 3, [{
    parameter: UNMAPPED,
    status: 8,
    control: ctl(TRB_TYPE.NORMAL, TRB.IOC),
  }]);
  const [e] = await h.finish(slot, 3, at);
  assertEquals(e!.code, CC.DATA_BUFFER_ERROR);
  assertEquals(h.iommu.faults.length, 1);
  assertEquals(h.iommu.faults[0]!.address, UNMAPPED);
  assertEquals(h.iommu.faults[0]!.direction, "write");
  assertEquals(kbd.pendingReports, 2, "the device was not asked: nothing was lost");
  assertEquals(h.outputDword(slot, 3, 0) & 7, EP_STATE.HALTED);
  assertEquals(h.model.stats.dmaFaults, 1);
  assertEquals(await h.resetEndpoint(slot, 3), CC.SUCCESS);
  const r = await h.bulkIn(slot, 0x81, 8);
  assertEquals([r.code, r.data[2]], [CC.SUCCESS, 0x04]);
  // An OUT buffer that is gone faults in the other direction.
  const disk = createMassStorage({ image: DiskImage.memory(64 * 512) });
  const s2 = await h.enumerate(2, disk);
  await h.configure(s2, [
    { address: 0x81, type: EP_TYPE.BULK_IN, maxPacket: 512 },
    { address: 0x02, type: EP_TYPE.BULK_OUT, maxPacket: 512 },
  ]);
  const buffer = h.alloc(31);
  buffer.bytes.set(
    encodeCbw({ tag: 1, dataLength: 0, dataIn: false, lun: 0, cdb: Uint8Array.of(0) }),
  );
  h.unmap(buffer.address);
  const out = h.submit(s2, 4, [{
    parameter: buffer.address,
    status: 31,
    control: ctl(TRB_TYPE.NORMAL, TRB.IOC),
  }]);
  assertEquals((await h.finish(s2, 4, out))[0]!.code, CC.DATA_BUFFER_ERROR);
  assertEquals(h.iommu.faults[1]!.direction, "read");
  assertEquals(disk.stats.commands, 0);
  disk.close();
});

Deno.test("a transfer ring outside the mappings fails with TRB Error; Set TR Dequeue Pointer recovers", async () => {
  const h = new UsbHarness();
  h.start();
  const { slot, kbd } = await keyboardOn(h);
  // Point the endpoint at unmapped memory: Stop Endpoint, then Set TR Dequeue Pointer.
  assertEquals(
    (await h.command({ control: ctl(TRB_TYPE.STOP_ENDPOINT) | (3 << 16) | (slot << 24) })).code,
    CC.SUCCESS,
  );
  const setDequeue = (pointer: bigint) =>
    h.command({
      parameter: pointer | 1n,
      control: ctl(TRB_TYPE.SET_TR_DEQUEUE_POINTER) | (3 << 16) | (slot << 24),
    });
  assertEquals((await setDequeue(UNMAPPED)).code, CC.SUCCESS);
  h.ring(slot, 3);
  const e = await h.take((x) => x.type === TRB_TYPE.TRANSFER_EVENT, "a TRB error");
  assertEquals([e.code, e.pointer], [CC.TRB_ERROR, UNMAPPED]);
  assertEquals(h.iommu.faults.at(-1)!.address, UNMAPPED);
  assertEquals(h.outputDword(slot, 3, 0) & 7, EP_STATE.HALTED);
  // Recovery: Reset Endpoint, a good ring, doorbell.
  assertEquals(await h.resetEndpoint(slot, 3), CC.SUCCESS);
  const ring = new ProducerRing(h);
  assertEquals((await setDequeue(ring.base)).code, CC.SUCCESS);
  h.setTransferRing(slot, 3, ring);
  kbd.type("b");
  const r = await h.bulkIn(slot, 0x81, 8);
  assertEquals([r.code, r.data[2]], [CC.SUCCESS, 0x05]);
});

Deno.test("a command ring outside the mappings fails with TRB Error and stops; a new CRCR restarts it", async () => {
  const h = new UsbHarness();
  h.start();
  h.write32(XHCI_REG.CRCR_LO, CRCR.CS); // stop the running ring first (it is not running yet: ignored)
  h.write64(XHCI_REG.CRCR_LO, UNMAPPED | 1n);
  h.ring(0);
  const e = await h.take(
    (x) => x.type === TRB_TYPE.COMMAND_COMPLETION_EVENT,
    "a command completion",
  );
  assertEquals([e.code, e.pointer], [CC.TRB_ERROR, UNMAPPED]);
  assertEquals(h.read32(XHCI_REG.CRCR_LO) & CRCR.CRR, 0, "the ring stopped");
  h.cmdRing = new ProducerRing(h);
  h.write64(XHCI_REG.CRCR_LO, h.cmdRing.base | 1n);
  assertEquals((await h.command(noOp)).code, CC.SUCCESS);
  assertEquals(h.read32(XHCI_REG.CRCR_LO) & CRCR.CRR, CRCR.CRR);
});

Deno.test("an event ring that cannot be written is a host system error; HCRST recovers", async () => {
  const h = new UsbHarness();
  h.start();
  h.write32(XHCI_REG.USBCMD, USBCMD.RS | USBCMD.INTE | USBCMD.HSEE);
  const erst = h.read32(XHCI_REG.ERSTBA_LO);
  h.unmap(BigInt(erst) | (BigInt(h.read32(XHCI_REG.ERSTBA_HI)) << 32n));
  const before = h.interrupts;
  h.cmdRing.push(noOp);
  h.ring(0);
  await h.has(() => false);
  const sts = h.read32(XHCI_REG.USBSTS);
  assertEquals(sts & (USBSTS.HSE | USBSTS.HCH), USBSTS.HSE | USBSTS.HCH);
  assertEquals(h.read32(XHCI_REG.USBCMD) & USBCMD.RS, 0);
  assertEquals(h.interrupts, before + 1, "HSEE raises the line");
  assert(h.logs.some((l) => l.includes("host system error")));
  h.start();
  assertEquals(h.read32(XHCI_REG.USBSTS) & USBSTS.HSE, 0);
  assertEquals((await h.command(noOp)).code, CC.SUCCESS);
});

Deno.test("command and event rings wrap through Link TRBs and cycle bits", async () => {
  const h = new UsbHarness();
  h.start({ eventRingSize: 16, commandRingSize: 16 });
  for (let i = 0; i < 40; i++) {
    const e = await h.command(noOp);
    assertEquals(e.code, CC.SUCCESS, `command ${i}`);
  }
  assertEquals(h.model.stats.commands, 40);
  assertEquals(h.model.stats.events, 40);
});

Deno.test("an event ring of several segments fills them in order and wraps to the first", async () => {
  const h = new UsbHarness();
  h.start({ eventRingSize: 16, eventSegments: 3, commandRingSize: 64 });
  const seen = new Set<bigint>();
  for (let i = 0; i < 60; i++) {
    h.cmdRing.push(noOp);
    h.ring(0);
    await h.take((e) => e.type === TRB_TYPE.COMMAND_COMPLETION_EVENT, `completion ${i}`);
    seen.add(
      BigInt(h.read32(XHCI_REG.ERDP_LO) & ~0xf) | (BigInt(h.read32(XHCI_REG.ERDP_HI)) << 32n),
    );
  }
  for (const base of h.eventSegments) {
    assert([...seen].some((a) => a >= base && a < base + 256n), "every segment was used");
  }
  assertEquals(h.model.stats.events, 60);
  assertEquals(h.iommu.faults.length, 0);
});

Deno.test("a full event ring holds events back until ERDP moves on", async () => {
  const h = new UsbHarness();
  h.start({ eventRingSize: 16, commandRingSize: 64 });
  h.ackEvents = false;
  for (let i = 0; i < 20; i++) h.cmdRing.push(noOp);
  h.ring(0);
  await h.has(() => false);
  assertEquals(h.events.length, 15, "16 entries hold 15 events: one is left empty");
  assertEquals(h.model.stats.events, 15);
  h.acknowledge();
  await h.has(() => false);
  assertEquals(h.events.length, 20);
  assert(h.events.every((e) => e.code === CC.SUCCESS));
  assertEquals(h.model.stats.eventsDropped, 0);
});

Deno.test("interrupts: one per batch while EHB is set; none without IE or INTE, but IP still shows", async () => {
  const h = new UsbHarness();
  h.start();
  await h.has(() => false);
  h.ackEvents = false;
  const base = h.interrupts;
  h.cmdRing.push(noOp);
  h.ring(0);
  await h.has(() => false);
  assertEquals(h.interrupts, base + 1);
  assertEquals(h.read32(XHCI_REG.ERDP_LO) & ERDP.EHB, ERDP.EHB);
  assertEquals(h.read32(XHCI_REG.IMAN) & IMAN.IP, IMAN.IP);
  assertEquals(h.read32(XHCI_REG.USBSTS) & USBSTS.EINT, USBSTS.EINT);
  h.cmdRing.push(noOp);
  h.ring(0);
  await h.has(() => false);
  assertEquals(h.interrupts, base + 1, "EHB set: no new interrupt");
  // The handler: clear IP and EINT, consume, write ERDP with EHB.
  h.write32(XHCI_REG.IMAN, IMAN.IP | IMAN.IE);
  h.write32(XHCI_REG.USBSTS, USBSTS.EINT);
  assertEquals(h.events.splice(0).length, 2);
  h.acknowledge();
  await h.has(() => false);
  assertEquals(h.interrupts, base + 1, "nothing left beyond ERDP");
  assertEquals(h.read32(XHCI_REG.ERDP_LO) & ERDP.EHB, 0);

  // IE off: no interrupt, but IP is set; turning IE on delivers the pending one.
  h.write32(XHCI_REG.IMAN, 0);
  h.cmdRing.push(noOp);
  h.ring(0);
  await h.has(() => false);
  assertEquals(h.interrupts, base + 1);
  assertEquals(h.read32(XHCI_REG.IMAN), IMAN.IP);
  h.write32(XHCI_REG.IMAN, IMAN.IE);
  await h.has(() => false);
  assertEquals(h.interrupts, base + 2);
  // INTE off: events are written, no interrupt.
  h.write32(XHCI_REG.IMAN, IMAN.IP | IMAN.IE);
  h.events.splice(0);
  h.acknowledge();
  h.write32(XHCI_REG.USBCMD, USBCMD.RS);
  h.cmdRing.push(noOp);
  h.ring(0);
  await h.has(() => false);
  assertEquals(h.interrupts, base + 2);
  assertEquals(h.events.length, 1);
});

Deno.test("commands: slot limits, unknown slot, unknown type, context state, command ring stop", async () => {
  const h = new UsbHarness();
  h.start();
  h.write32(XHCI_REG.CONFIG, 2); // MaxSlotsEn 2
  assertEquals(await h.enableSlot(), 1);
  assertEquals(await h.enableSlot(), 2);
  const none = await h.command({ control: ctl(TRB_TYPE.ENABLE_SLOT) });
  assertEquals([none.code, none.slot], [CC.NO_SLOTS_AVAILABLE_ERROR, 0]);
  const disable = await h.command({ control: ctl(TRB_TYPE.DISABLE_SLOT) | (1 << 24) });
  assertEquals([disable.code, disable.slot], [CC.SUCCESS, 1]);
  assertEquals(await h.enableSlot(), 1, "a freed slot is reused");
  const unknownSlot = await h.command({ control: ctl(TRB_TYPE.ADDRESS_DEVICE) | (9 << 24) });
  assertEquals(unknownSlot.code, CC.SLOT_NOT_ENABLED_ERROR);
  const notCommand = await h.command({ control: ctl(TRB_TYPE.NORMAL) });
  assertEquals(notCommand.code, CC.TRB_ERROR);
  const configure = await h.command({ control: ctl(TRB_TYPE.CONFIGURE_ENDPOINT) | (1 << 24) });
  assertEquals(configure.code, CC.CONTEXT_STATE_ERROR, "the slot has no address yet");
  const resetEp = await h.command({
    control: ctl(TRB_TYPE.RESET_ENDPOINT) | (1 << 16) | (1 << 24),
  });
  assertEquals(resetEp.code, CC.ENDPOINT_NOT_ENABLED_ERROR);
  // Command Stop: CRR clears and a Command Ring Stopped completion names the dequeue pointer.
  assertEquals(h.read32(XHCI_REG.CRCR_LO) & CRCR.CRR, CRCR.CRR);
  h.write32(XHCI_REG.CRCR_LO, CRCR.CS);
  const stopped = await h.take((e) => e.code === CC.COMMAND_RING_STOPPED, "command ring stopped");
  assertEquals(stopped.pointer, h.cmdRing.enqueue);
  assertEquals(h.read32(XHCI_REG.CRCR_LO) & CRCR.CRR, 0);
  assertEquals((await h.command(noOp)).code, CC.SUCCESS, "a doorbell restarts it where it stopped");
});

Deno.test("Address Device refuses bad input contexts and a port that was not reset", async () => {
  const h = new UsbHarness();
  h.start();
  h.model.connect(1, createKeyboard());
  await h.portEvent(1);
  const slot = await h.enableSlot();
  assertEquals(await h.addressDevice(slot, 1), CC.USB_TRANSACTION_ERROR, "port not enabled");
  assertEquals(await h.addressDevice(slot, 9), CC.PARAMETER_ERROR, "no such root hub port");
  await h.resetPort(1);
  assertEquals(await h.addressDevice(slot, 1), CC.SUCCESS);
  assertEquals(await h.addressDevice(slot, 1), CC.CONTEXT_STATE_ERROR, "already addressed");
  // Configure Endpoint with an isochronous endpoint is refused, nothing changes.
  const code = await h.configureEndpoints(slot, [{
    address: 0x81,
    type: EP_TYPE.ISOCH_IN,
    maxPacket: 8,
  }]);
  assertEquals(code, CC.PARAMETER_ERROR);
  assertEquals(h.outputDword(slot, 3, 0) & 7, EP_STATE.DISABLED);
  // An input context that is not mapped: TRB Error, recorded fault.
  const e = await h.command({
    parameter: UNMAPPED,
    control: ctl(TRB_TYPE.CONFIGURE_ENDPOINT) | (slot << 24),
  });
  assertEquals(e.code, CC.TRB_ERROR);
  assertEquals(h.iommu.faults.at(-1)!.address, UNMAPPED);
});

Deno.test("Stop Endpoint with a NAKed TD in flight reports it Stopped; the doorbell resumes it", async () => {
  const h = new UsbHarness();
  h.start();
  const { slot, kbd } = await keyboardOn(h);
  const pending = h.queueIn(slot, 0x81, 8);
  await h.has(() => false);
  const stop = await h.command({ control: ctl(TRB_TYPE.STOP_ENDPOINT) | (3 << 16) | (slot << 24) });
  assertEquals(stop.code, CC.SUCCESS);
  const stopped = await h.take((e) => e.pointer === pending.address, "stopped event");
  assertEquals([stopped.code, stopped.length], [CC.STOPPED, 8]);
  assertEquals(h.outputDword(slot, 3, 0) & 7, EP_STATE.STOPPED);
  kbd.type("c"); // nobody is waiting: the endpoint is stopped
  await h.has(() => false);
  h.ring(slot, 3);
  const [done] = await h.finish(slot, 3, [pending.address]);
  assertEquals(done!.code, CC.SUCCESS);
  assertEquals(pending.buffer[2], 0x06);
});

Deno.test("a chained TD that ends short reports ISP and IOC events; Event Data carries the length", async () => {
  const h = new UsbHarness();
  h.start();
  const disk = createMassStorage({ image: DiskImage.memory(64 * 512) });
  const slot = await h.enumerate(1, disk);
  await h.configure(slot, [
    { address: 0x81, type: EP_TYPE.BULK_IN, maxPacket: 512 },
    { address: 0x02, type: EP_TYPE.BULK_OUT, maxPacket: 512 },
  ]);
  const cdb = Uint8Array.of(SCSI_OP.INQUIRY, 0, 0, 0, 36, 0);
  assertEquals(
    await h.bulkOut(slot, 0x02, encodeCbw({ tag: 5, dataLength: 64, dataIn: true, lun: 0, cdb })),
    CC.SUCCESS,
  );
  // 64 bytes in three buffers (20 + 20 + 24), an Event Data TRB, all chained: INQUIRY gives 36.
  const a = h.alloc(20), b = h.alloc(20), c = h.alloc(24);
  const at = h.submit(slot, 3, [
    { parameter: a.address, status: 20, control: ctl(TRB_TYPE.NORMAL, TRB.CHAIN | TRB.ISP) },
    { parameter: b.address, status: 20, control: ctl(TRB_TYPE.NORMAL, TRB.CHAIN | TRB.ISP) },
    { parameter: c.address, status: 24, control: ctl(TRB_TYPE.NORMAL, TRB.CHAIN | TRB.ISP) },
    { parameter: 0xfeedn, control: ctl(TRB_TYPE.EVENT_DATA, TRB.IOC) },
  ]);
  const short = await h.take((e) => e.pointer === at[1], "short packet event");
  assertEquals(
    [short.code, short.length],
    [CC.SHORT_PACKET, 4],
    "16 of 20 bytes in the second buffer",
  );
  const last = await h.take((e) => e.pointer === 0xfeedn, "event data event");
  assertEquals([last.code, last.ed, last.length], [CC.SHORT_PACKET, true, 36]);
  assert(!(await h.has((e) => e.pointer === at[0] || e.pointer === at[2])));
  assertEquals(new TextDecoder().decode(a.bytes.subarray(8, 13)), "MUNGI", "vendor, bytes 8-15");
  assertEquals(
    new TextDecoder().decode(Uint8Array.of(...a.bytes.subarray(16, 20), ...b.bytes.subarray(0, 4))),
    "USB DISK",
    "the product spans the first two buffers",
  );
  assertEquals(c.bytes.subarray(0, 24), new Uint8Array(24), "nothing reached the third buffer");
  const csw = await h.bulkIn(slot, 0x81, 13);
  assertEquals(new DataView(csw.data.buffer).getUint32(8, true), 64 - 36, "residue");
  disk.close();
});

Deno.test("bad guest accesses are logged and ignored, never thrown", async () => {
  const h = new UsbHarness();
  h.model.write(XHCI_WINDOW, XHCI_REG.USBCMD, 1, 1);
  h.model.write(XHCI_WINDOW, XHCI_REG.HCSPARAMS1, 4, 0);
  h.model.write(XHCI_WINDOW, 0x0ffc, 4, 1);
  h.model.write("bar1", 0, 4, 1);
  h.model.write(XHCI_WINDOW, 0x2000, 4, 0); // doorbell 0 while halted
  assertEquals(h.model.stats.badAccesses, 5);
  assertEquals(h.read32(XHCI_REG.USBCMD), 0);
  assertEquals(h.read32(XHCI_REG.HCSPARAMS1), 0x0400_0110);
  assertEquals(h.model.read(XHCI_WINDOW, XHCI_REG.CAPLENGTH, 1), 0x20);
  assertEquals(h.model.read(XHCI_WINDOW, 0x3001, 1), 0);
  assertEquals(h.logs.length, 6);
  h.start();
  h.ring(7, 1); // no such slot
  h.ring(0, 3); // doorbell 0 with a target other than 0
  assertEquals(h.model.stats.badAccesses, 8, "5 writes, 1 read, 2 doorbells");
  assertEquals((await h.command(noOp)).code, CC.SUCCESS);
});

Deno.test("HCRST disables every slot and keeps connected devices visible", async () => {
  const h = new UsbHarness();
  h.start();
  const { slot } = await keyboardOn(h);
  h.write32(XHCI_REG.USBCMD, 0);
  h.write32(XHCI_REG.USBCMD, USBCMD.HCRST);
  assertEquals(h.read32(XHCI_REG.USBCMD), 0, "HCRST reads back 0");
  assertEquals(h.read32(XHCI_REG.USBSTS) & USBSTS.HCH, USBSTS.HCH);
  assertEquals(h.portsc(1) & 0x20001, 0x20001, "CCS and CSC");
  h.start();
  const e = await h.command({ control: ctl(TRB_TYPE.DISABLE_SLOT) | (slot << 24) });
  assertEquals(e.code, CC.SLOT_NOT_ENABLED_ERROR);
  await h.portEvent(1);
  assertEquals(h.model.stats.resets, 4, "attach, two HCRSTs by start(), one by hand");
});
