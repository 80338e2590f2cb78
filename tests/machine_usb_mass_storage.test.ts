import { assert, assertEquals, assertThrows } from "@std/assert";
import { DiskImage } from "../machine/disk_image.ts";
import {
  BOT_REQUEST,
  COMPLETION_CODE,
  createMassStorage,
  CSW_SIGNATURE,
  CSW_STATUS,
  decodeCsw,
  encodeCbw,
  EP_TYPE,
  type MassStorage,
  SCSI_OP,
  SENSE_ASC,
  SENSE_KEY,
} from "../machine/usb/mod.ts";
import { pattern, UsbHarness } from "./_machine_usb_harness.ts";

const CC = COMPLETION_CODE;
const ENDPOINTS = [
  { address: 0x81, type: EP_TYPE.BULK_IN, maxPacket: 512 },
  { address: 0x02, type: EP_TYPE.BULK_OUT, maxPacket: 512 },
];

/** A configured mass storage device behind the controller. */
async function plugged(image: DiskImage, port = 1): Promise<
  { h: UsbHarness; slot: number; disk: MassStorage }
> {
  const h = new UsbHarness();
  h.start();
  const disk = createMassStorage({ image, vendor: "ACME", product: "STICK 2000" });
  const slot = await h.enumerate(port, disk);
  await h.configure(slot, ENDPOINTS);
  return { h, slot, disk };
}

function read10(lba: number, blocks: number): number[] {
  return [SCSI_OP.READ_10, 0, ...be32(lba), 0, blocks >> 8, blocks & 0xff, 0];
}

function write10(lba: number, blocks: number): number[] {
  return [SCSI_OP.WRITE_10, 0, ...be32(lba), 0, blocks >> 8, blocks & 0xff, 0];
}

function be32(n: number): number[] {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

Deno.test("READ(10) of a disk made from an image file returns exactly the file's bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/stick.img`;
    const content = pattern(256 * 1024, 5);
    await Deno.writeFile(path, content);
    const { h, slot, disk } = await plugged(await DiskImage.open(path));

    const inquiry = await h.bot(slot, { cdb: [SCSI_OP.INQUIRY, 0, 0, 0, 36, 0], dataIn: 36 });
    assertEquals(inquiry.csw.status, CSW_STATUS.PASSED);
    assertEquals(inquiry.data[0], 0x00, "direct-access block device");
    assertEquals(inquiry.data[1], 0x80, "removable");
    assertEquals(new TextDecoder().decode(inquiry.data.subarray(8, 16)), "ACME    ");
    assertEquals(new TextDecoder().decode(inquiry.data.subarray(16, 32)), "STICK 2000      ");
    assertEquals((await h.bot(slot, { cdb: [0, 0, 0, 0, 0, 0] })).csw.status, CSW_STATUS.PASSED);

    for (const [lba, blocks] of [[0, 1], [7, 3], [100, 128], [511, 1]] as const) {
      const r = await h.bot(slot, { cdb: read10(lba, blocks), dataIn: blocks * 512 });
      assertEquals(r.csw.signature, CSW_SIGNATURE);
      assertEquals([r.csw.status, r.csw.residue], [CSW_STATUS.PASSED, 0]);
      assertEquals(r.data, content.subarray(lba * 512, (lba + blocks) * 512), `LBA ${lba}`);
    }
    assertEquals(disk.stats.bytesRead, (1 + 3 + 128 + 1) * 512);
    assertEquals(h.iommu.faults.length, 0);
    h.model.close(); // closes the connected device and its image
    assert(disk.image.closed);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WRITE(10) lands in the image file, and SYNCHRONIZE CACHE makes it durable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/stick.img`;
    const { h, slot, disk } = await plugged(await DiskImage.open(path, { size: 1 << 20 }));
    const data = pattern(8 * 512, 9);
    const w = await h.bot(slot, { cdb: write10(300, 8), dataOut: data });
    assertEquals([w.csw.status, w.csw.residue, w.dataCode], [CSW_STATUS.PASSED, 0, CC.SUCCESS]);
    const sync = await h.bot(slot, {
      cdb: [SCSI_OP.SYNCHRONIZE_CACHE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    });
    assertEquals(sync.csw.status, CSW_STATUS.PASSED);
    const raw = await Deno.readFile(path);
    assertEquals(raw.length, 1 << 20);
    assertEquals(raw.subarray(300 * 512, 308 * 512), data);
    // And back through the device.
    const r = await h.bot(slot, { cdb: read10(300, 8), dataIn: 8 * 512 });
    assertEquals(r.data, data);
    assertEquals(disk.stats.bytesWritten, 8 * 512);
    disk.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("READ CAPACITY(10) and (16) report the last LBA and 512-byte blocks", async () => {
  const { h, slot } = await plugged(DiskImage.memory(3 * 1024 * 1024));
  const r10 = await h.bot(slot, {
    cdb: [SCSI_OP.READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    dataIn: 8,
  });
  const v = new DataView(r10.data.buffer);
  assertEquals([v.getUint32(0), v.getUint32(4)], [6143, 512]);
  const cdb16 = [SCSI_OP.SERVICE_ACTION_IN_16, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0];
  const r16 = await h.bot(slot, { cdb: cdb16, dataIn: 32 });
  const v16 = new DataView(r16.data.buffer);
  assertEquals([v16.getBigUint64(0), v16.getUint32(8)], [6143n, 512]);
});

Deno.test("REQUEST SENSE after an out-of-range READ(10) reports ILLEGAL REQUEST, LBA OUT OF RANGE", async () => {
  const { h, slot, disk } = await plugged(DiskImage.memory(64 * 512));
  // 2 blocks from LBA 63 pass the end (64 blocks): the device stalls the data phase.
  const bad = await h.bot(slot, { cdb: read10(63, 2), dataIn: 1024 });
  assertEquals(bad.dataCode, CC.STALL_ERROR);
  assertEquals([bad.csw.status, bad.csw.residue], [CSW_STATUS.FAILED, 1024]);
  const sense = await h.bot(slot, { cdb: [SCSI_OP.REQUEST_SENSE, 0, 0, 0, 18, 0], dataIn: 18 });
  assertEquals(sense.csw.status, CSW_STATUS.PASSED);
  assertEquals(sense.data.length, 18);
  assertEquals(sense.data[0], 0x70, "current error, fixed format");
  assertEquals(sense.data[2]! & 0x0f, SENSE_KEY.ILLEGAL_REQUEST);
  assertEquals(sense.data[7], 10, "additional sense length");
  assertEquals([sense.data[12], sense.data[13]], [SENSE_ASC.LBA_OUT_OF_RANGE, 0x00]);
  // Reported once: the next REQUEST SENSE says NO SENSE.
  const again = await h.bot(slot, { cdb: [SCSI_OP.REQUEST_SENSE, 0, 0, 0, 18, 0], dataIn: 18 });
  assertEquals([again.data[2], again.data[12]], [SENSE_KEY.NO_SENSE, 0]);
  // The last block itself is readable.
  assertEquals(
    (await h.bot(slot, { cdb: read10(63, 1), dataIn: 512 })).csw.status,
    CSW_STATUS.PASSED,
  );
  assertEquals(disk.stats.failed, 1);
});

Deno.test("an unknown opcode fails with INVALID COMMAND OPERATION CODE", async () => {
  const { h, slot } = await plugged(DiskImage.memory(64 * 512));
  const r = await h.bot(slot, { cdb: [0xc7, 0, 0, 0, 0, 0] });
  assertEquals(r.csw.status, CSW_STATUS.FAILED);
  const sense = await h.bot(slot, { cdb: [SCSI_OP.REQUEST_SENSE, 0, 0, 0, 18, 0], dataIn: 18 });
  assertEquals(
    [sense.data[2], sense.data[12], sense.data[13]],
    [SENSE_KEY.ILLEGAL_REQUEST, SENSE_ASC.INVALID_COMMAND_OPERATION_CODE, 0],
  );
});

Deno.test("MODE SENSE(6) gives a header without write protect and the caching page", async () => {
  const { h, slot } = await plugged(DiskImage.memory(64 * 512));
  const r = await h.bot(slot, { cdb: [SCSI_OP.MODE_SENSE_6, 0, 0x3f, 0, 192, 0], dataIn: 192 });
  assertEquals(r.csw.status, CSW_STATUS.PASSED);
  assertEquals(r.csw.residue, 192 - 24, "less data than asked: residue, short transfer");
  assertEquals(r.data.length, 24);
  assertEquals([r.data[0], r.data[2]! & 0x80, r.data[3]], [23, 0, 0]);
  assertEquals([r.data[4], r.data[5]], [0x08, 0x12]);
  const header = await h.bot(slot, { cdb: [SCSI_OP.MODE_SENSE_6, 0, 0x08, 0, 4, 0], dataIn: 4 });
  assertEquals(header.data.length, 4);
  const bad = await h.bot(slot, { cdb: [SCSI_OP.MODE_SENSE_6, 0, 0x1c, 0, 4, 0], dataIn: 4 });
  assertEquals(bad.csw.status, CSW_STATUS.FAILED);
});

Deno.test("an invalid CBW stalls both pipes until Reset Recovery; then commands work again", async () => {
  const { h, slot, disk } = await plugged(DiskImage.memory(64 * 512));
  const cbw = encodeCbw({ tag: 1, dataLength: 0, dataIn: false, lun: 0, cdb: Uint8Array.of(0) });
  assertEquals(await h.bulkOut(slot, 0x02, cbw.subarray(0, 30)), CC.SUCCESS);
  assertEquals(disk.phase, "reset-needed");
  assertEquals((await h.bulkIn(slot, 0x81, 13)).code, CC.STALL_ERROR);
  // Clearing the halt is not enough: the device stalls again.
  await h.clearHalt(slot, 0x81);
  assertEquals((await h.bulkIn(slot, 0x81, 13)).code, CC.STALL_ERROR);
  // Reset Recovery: Bulk-Only Mass Storage Reset, then clear both halts.
  const reset = await h.controlOut(slot, {
    bmRequestType: 0x21,
    bRequest: BOT_REQUEST.RESET,
    wValue: 0,
    wIndex: 0,
    wLength: 0,
  });
  assertEquals(reset, CC.SUCCESS);
  await h.clearHalt(slot, 0x81);
  await h.controlOut(slot, {
    bmRequestType: 0x02,
    bRequest: 1,
    wValue: 0,
    wIndex: 0x02,
    wLength: 0,
  });
  assertEquals((await h.bot(slot, { cdb: [0, 0, 0, 0, 0, 0] })).csw.status, CSW_STATUS.PASSED);
  assertEquals([disk.stats.invalidCbws, disk.stats.resets], [1, 1]);
});

Deno.test("Get Max LUN answers 0 and a CBW for LUN 1 fails with LOGICAL UNIT NOT SUPPORTED", async () => {
  const { h, slot } = await plugged(DiskImage.memory(64 * 512));
  const luns = await h.controlIn(slot, {
    bmRequestType: 0xa1,
    bRequest: BOT_REQUEST.GET_MAX_LUN,
    wValue: 0,
    wIndex: 0,
    wLength: 1,
  });
  assertEquals(Array.from(luns.data), [0]);
  const r = await h.bot(slot, { cdb: [0, 0, 0, 0, 0, 0], lun: 1 });
  assertEquals(r.csw.status, CSW_STATUS.FAILED);
  const sense = await h.bot(slot, { cdb: [SCSI_OP.REQUEST_SENSE, 0, 0, 0, 18, 0], dataIn: 18 });
  assertEquals(sense.data[12], SENSE_ASC.LOGICAL_UNIT_NOT_SUPPORTED);
});

Deno.test("a bulk IN queued before the CBW waits (NAK) and receives the CSW once the command ran", async () => {
  const { h, slot } = await plugged(DiskImage.memory(64 * 512));
  const pending = h.queueIn(slot, 0x81, 13);
  assert(!(await h.has((e) => e.pointer === pending.address)), "the device NAKs: no event yet");
  const cbw = encodeCbw({ tag: 77, dataLength: 0, dataIn: false, lun: 0, cdb: Uint8Array.of(0) });
  assertEquals(await h.bulkOut(slot, 0x02, cbw), CC.SUCCESS);
  const [done] = await h.finish(slot, 3, [pending.address]);
  assertEquals([done!.code, done!.length], [CC.SUCCESS, 0]);
  const csw = decodeCsw(pending.buffer);
  assertEquals([csw.tag, csw.status], [77, CSW_STATUS.PASSED]);
});

// --- the thirteen cases of BOT 6.7, on the device alone ------------------------------------------

function configured(): MassStorage {
  const disk = createMassStorage({ image: DiskImage.memory(64 * 512) });
  disk.reset();
  disk.control({ bmRequestType: 0, bRequest: 5, wValue: 1, wIndex: 0, wLength: 0 });
  disk.control({ bmRequestType: 0, bRequest: 9, wValue: 1, wIndex: 0, wLength: 0 });
  return disk;
}

function cbw(tag: number, length: number, dataIn: boolean, cdb: number[]): Uint8Array {
  return encodeCbw({ tag, dataLength: length, dataIn, lun: 0, cdb: Uint8Array.from(cdb) });
}

function csw(disk: MassStorage): ReturnType<typeof decodeCsw> {
  const r = disk.bulkIn(1, 13);
  if (!(r instanceof Uint8Array)) throw new Error(`CSW read gave ${r}`);
  return decodeCsw(r);
}

Deno.test("BOT: Hi < Di sends Hi bytes then a phase error; Hi > Di a short transfer and a residue", () => {
  const disk = configured();
  assertEquals(disk.bulkOut(2, cbw(1, 100, true, read10(0, 1))), "ack");
  const part = disk.bulkIn(1, 512);
  assert(part instanceof Uint8Array);
  assertEquals(part.length, 100);
  assertEquals(csw(disk).status, CSW_STATUS.PHASE_ERROR);
  disk.bulkOut(2, cbw(2, 600, true, [SCSI_OP.INQUIRY, 0, 0, 0, 36, 0]));
  const all = disk.bulkIn(1, 600);
  assert(all instanceof Uint8Array);
  assertEquals(all.length, 36);
  assertEquals(csw(disk), { signature: CSW_SIGNATURE, tag: 2, residue: 564, status: 0 });
});

Deno.test("BOT: a data direction opposite to the command stalls that pipe and gives a phase error", () => {
  const disk = configured();
  // Ho <> Di: the host sends data to a command that reads.
  disk.bulkOut(2, cbw(1, 512, false, read10(0, 1)));
  assertEquals(disk.bulkOut(2, new Uint8Array(512)), "stall");
  disk.control({ bmRequestType: 2, bRequest: 1, wValue: 0, wIndex: 0x02, wLength: 0 });
  assertEquals(csw(disk).status, CSW_STATUS.PHASE_ERROR);
  // Hi <> Do: the host reads from a command that writes.
  disk.bulkOut(2, cbw(2, 512, true, write10(0, 1)));
  assertEquals(disk.bulkIn(1, 512), "stall");
  disk.control({ bmRequestType: 2, bRequest: 1, wValue: 0, wIndex: 0x81, wLength: 0 });
  assertEquals(csw(disk).status, CSW_STATUS.PHASE_ERROR);
});

Deno.test("BOT: Hn < Di and Ho < Do are phase errors; Ho > Do takes the data with a residue", () => {
  const disk = configured();
  disk.bulkOut(2, cbw(1, 0, false, read10(0, 1)));
  assertEquals(csw(disk).status, CSW_STATUS.PHASE_ERROR);
  disk.bulkOut(2, cbw(2, 100, false, write10(0, 1)));
  assertEquals(disk.bulkOut(2, new Uint8Array(100)), "stall");
  disk.control({ bmRequestType: 2, bRequest: 1, wValue: 0, wIndex: 0x02, wLength: 0 });
  assertEquals(csw(disk).status, CSW_STATUS.PHASE_ERROR);
  disk.bulkOut(2, cbw(3, 1024, false, write10(5, 1)));
  assertEquals(disk.bulkOut(2, pattern(1024, 1)), "ack");
  assertEquals(csw(disk), { signature: CSW_SIGNATURE, tag: 3, residue: 512, status: 0 });
  const back = new Uint8Array(512);
  disk.image.readSectors(5, 1, back);
  assertEquals(back, pattern(1024, 1).subarray(0, 512));
});

Deno.test("BOT: bulk OUT NAKs until the CSW is read; bulk IN NAKs while a command is awaited", () => {
  const disk = configured();
  assertEquals(disk.bulkIn(1, 13), "nak");
  disk.bulkOut(2, cbw(1, 0, false, [0, 0, 0, 0, 0, 0]));
  assertEquals(disk.bulkOut(2, cbw(2, 0, false, [0, 0, 0, 0, 0, 0])), "nak");
  const woken: number[] = [];
  disk.setWakeListener((ep) => woken.push(ep));
  assertEquals(csw(disk).tag, 1);
  assertEquals(woken, [0x02]);
  assertEquals(disk.bulkOut(2, cbw(2, 0, false, [0, 0, 0, 0, 0, 0])), "ack");
  assertEquals(woken, [0x02, 0x81]);
});

Deno.test("a mass storage device refuses bad identification strings", () => {
  const image = DiskImage.memory(512);
  assertThrows(() => createMassStorage({ image, serial: "123" }), TypeError, "12 or more digits");
  assertThrows(
    () => createMassStorage({ image, vendor: "TOO LONG VENDOR" }),
    RangeError,
    "at most 8",
  );
  const disk = createMassStorage({ image, serial: "0123456789ABCDEF" });
  assertEquals(disk.descriptors.strings.get(3), "0123456789ABCDEF");
  const iface = disk.descriptors.configuration.subarray(9, 18);
  assertEquals([iface[5], iface[6], iface[7]], [0x08, 0x06, 0x50]);
});
