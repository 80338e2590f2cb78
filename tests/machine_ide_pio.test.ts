import { assert, assertEquals, assertRejects } from "@std/assert";
import { DiskImage } from "../machine/disk_image.ts";
import {
  ATA_COMMAND,
  ATA_CONTROL,
  ATA_ERROR,
  ATA_STATUS,
  IDE_SIDE_EFFECTS,
} from "../machine/ide_controller.ts";
import { IdeHarness, pattern, tick } from "./_machine_ide_harness.ts";

const { BSY, DRDY, DSC, DRQ, ERR } = ATA_STATUS;

function word(block: Uint8Array, i: number): number {
  return block[2 * i]! | (block[2 * i + 1]! << 8);
}

/** An ATA string: two characters a word, the first in the high byte. */
function ataString(block: Uint8Array, first: number, count: number): string {
  let s = "";
  for (let i = first; i < first + count; i++) {
    s += String.fromCharCode(block[2 * i + 1]!, block[2 * i]!);
  }
  return s.trimEnd();
}

Deno.test("after attach the task file holds the PATA signature and status is DRDY|DSC", () => {
  const h = new IdeHarness();
  assertEquals(h.status, DRDY | DSC);
  assertEquals(h.in8("ctl", 0), DRDY | DSC);
  assertEquals(h.error, 0x01);
  assertEquals([2, 3, 4, 5, 6].map((o) => h.in8("cmd", o)), [1, 1, 0, 0, 0]);
  assertEquals(h.model.sideEffects, IDE_SIDE_EFFECTS);
  assertEquals(
    IDE_SIDE_EFFECTS.map((r) => `${r.window}+${r.offset}${r.read ? "r" : ""}${r.write ? "w" : ""}`),
    [
      "cmd+0rw",
      "cmd+1w",
      "cmd+2w",
      "cmd+3w",
      "cmd+4w",
      "cmd+5w",
      "cmd+6w",
      "cmd+7w",
      "ctl+0w",
      "bm+0w",
      "bm+2w",
    ],
  );
});

Deno.test("IDENTIFY DEVICE returns a valid block: checksum, strings, capabilities, sector counts", async () => {
  const sectors = 2048;
  const h = new IdeHarness(DiskImage.memory(sectors * 512));
  const block = await h.identify();
  assertEquals(h.status, DRDY | DSC);
  assertEquals(word(block, 255) & 0xff, 0xa5);
  assertEquals(block.reduce((a, b) => a + b, 0) % 256, 0);
  assertEquals(ataString(block, 10, 10), "MUNGI-ide0");
  assertEquals(ataString(block, 23, 4), "MG 0.1");
  assertEquals(ataString(block, 27, 20), "MUNGI SIMULATED ATA DISK");
  assertEquals(word(block, 49) & 0x0300, 0x0300); // LBA and DMA
  assertEquals(word(block, 60) | (word(block, 61) << 16), sectors);
  assertEquals(word(block, 83) & 0x7400, 0x7400); // LBA48, FLUSH CACHE (EXT)
  assertEquals(word(block, 86) & 0x3400, 0x3400);
  assertEquals(word(block, 100) + word(block, 101) * 65536, sectors);
  assertEquals(word(block, 102) | word(block, 103), 0);
  assertEquals(word(block, 63) & 0x7, 0x7); // multiword DMA 0-2
  assertEquals(word(block, 88) & 0x3f, 0x3f); // UDMA 0-5
  assertEquals(h.interrupts, 1);
  assertEquals(h.model.stats.commands, 1);
});

Deno.test("PIO WRITE SECTORS then READ SECTORS round-trip data with a 28-bit LBA", async () => {
  const h = new IdeHarness();
  const data = pattern(3 * 512, 1);
  await h.pioWrite(100, data);
  assertEquals(h.status, DRDY | DSC);
  assertEquals(h.interrupts, 3); // one per sector written
  const back = await h.pioRead(100, 3);
  assertEquals(back, data);
  assertEquals(h.status, DRDY | DSC); // no DRQ after the last word
  assertEquals(h.interrupts, 6);
  const stats = h.model.stats;
  assertEquals([stats.sectorsWritten, stats.sectorsRead, stats.errors], [3, 3, 0]);
  const direct = new Uint8Array(512);
  h.model.image.readSectors(101, 1, direct);
  assertEquals(direct, data.subarray(512, 1024));
});

Deno.test("PIO READ/WRITE SECTORS EXT round-trip data above LBA 2^28 through the HOB FIFO", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // 256 GiB, sparse: only the written sectors take space.
    const image = await DiskImage.open(`${dir}/big.img`, { size: 2 ** 38 });
    const h = new IdeHarness(image);
    const lba = 2 ** 28 + 0x123456;
    const data = pattern(2 * 512, 2);
    await h.pioWrite(lba, data, true);
    assertEquals(await h.pioRead(lba, 2, true), data);
    // HOB reads back the previous (high) bytes; any task-file write clears HOB.
    h.taskFile48(lba, 2);
    assertEquals([2, 3, 4, 5].map((o) => h.in8("cmd", o)), [2, 0x56, 0x34, 0x12]);
    h.out("ctl", 0, ATA_CONTROL.HOB);
    assertEquals([2, 3, 4, 5].map((o) => h.in8("cmd", o)), [0, 0x10, 0, 0]);
    h.out("cmd", 2, 2);
    assertEquals(h.in8("cmd", 3), 0x56);
    const direct = new Uint8Array(1024);
    h.model.image.readSectors(lba, 2, direct);
    assertEquals(direct, data);
    h.model.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown command ends with ERR and ABRT and raises the interrupt", async () => {
  const h = new IdeHarness();
  h.out("cmd", 7, 0x77);
  assertEquals(h.status & BSY, BSY); // set synchronously
  assertEquals(h.interrupts, 0); // never inside write()
  await h.waitIrq();
  assertEquals(h.status, DRDY | DSC | ERR);
  assertEquals(h.error, ATA_ERROR.ABRT);
  assertEquals(h.model.stats.errors, 1);
  // The device is usable again.
  await h.identify();
  assertEquals(h.status, DRDY | DSC);
});

Deno.test("an LBA out of range ends with IDNF and no data phase", async () => {
  const h = new IdeHarness(DiskImage.memory(64 * 512));
  h.taskFile28(63, 2); // the last sector plus one beyond
  h.out("cmd", 7, ATA_COMMAND.READ_SECTORS);
  await h.waitIrq();
  assertEquals(h.status, DRDY | DSC | ERR);
  assertEquals(h.error, ATA_ERROR.IDNF);
  h.taskFile48(64, 1);
  h.out("cmd", 7, ATA_COMMAND.WRITE_SECTORS_EXT);
  await h.waitIrq();
  assertEquals(h.error, ATA_ERROR.IDNF);
  assertEquals(h.model.stats.sectorsWritten, 0);
});

Deno.test("a 28-bit command without the LBA bit (CHS) is aborted", async () => {
  const h = new IdeHarness();
  h.taskFile28(1, 1);
  h.out("cmd", 6, 0x00);
  h.out("cmd", 7, ATA_COMMAND.READ_SECTORS);
  await h.waitIrq();
  assertEquals(h.status & (ERR | DRQ), ERR);
  assertEquals(h.error, ATA_ERROR.ABRT);
});

Deno.test("nIEN suppresses the interrupt; completion is seen by polling", async () => {
  const h = new IdeHarness();
  h.out("ctl", 0, ATA_CONTROL.NIEN);
  h.out("cmd", 7, ATA_COMMAND.FLUSH_CACHE);
  await h.settle();
  assertEquals(h.status, DRDY | DSC);
  h.out("cmd", 7, 0x77);
  await h.settle();
  assertEquals(h.status, DRDY | DSC | ERR);
  assertEquals(h.interrupts, 0);
  assertEquals(h.model.stats.interrupts, 0);
  h.out("ctl", 0, 0);
  h.out("cmd", 7, ATA_COMMAND.FLUSH_CACHE);
  await h.waitIrq();
  assertEquals(h.interrupts, 1);
});

Deno.test("device 1 is absent: its status reads 0 and commands to it are ignored", async () => {
  const h = new IdeHarness();
  h.out("cmd", 6, 0x40 | 0x10);
  assertEquals(h.status, 0);
  assertEquals(h.in8("ctl", 0), 0);
  h.out("cmd", 7, ATA_COMMAND.IDENTIFY_DEVICE);
  for (let i = 0; i < 3; i++) await tick();
  assertEquals(h.interrupts, 0);
  assertEquals(h.model.stats.commands, 0);
  h.out("cmd", 6, 0x40);
  assertEquals(h.status, DRDY | DSC);
});

Deno.test("soft reset abandons the command in progress and restores the signature", async () => {
  const h = new IdeHarness();
  h.taskFile28(1000, 5);
  h.out("cmd", 7, ATA_COMMAND.READ_SECTORS);
  await h.waitIrq();
  assertEquals(h.status & DRQ, DRQ);
  h.out("ctl", 0, ATA_CONTROL.SRST);
  assertEquals(h.status, BSY);
  h.out("cmd", 7, ATA_COMMAND.IDENTIFY_DEVICE); // ignored: BSY
  h.out("ctl", 0, 0);
  await h.settle();
  assertEquals(h.status, DRDY | DSC);
  assertEquals(h.error, 0x01);
  assertEquals([2, 3, 4, 5, 6].map((o) => h.in8("cmd", o)), [1, 1, 0, 0, 0]);
  assertEquals(h.interrupts, 1); // reset raises none
  assertEquals(h.model.read("cmd", 0, 2), 0); // no data any more
  // And the device works afterwards.
  await h.pioWrite(7, pattern(512, 9));
  assertEquals(await h.pioRead(7, 1), pattern(512, 9));
});

Deno.test("reset() restores the documented reset values, bus master included", async () => {
  const h = new IdeHarness();
  h.out("bm", 2, 0x60);
  h.store32("bm", 4, 0x1000);
  h.out("cmd", 7, 0x77);
  h.model.reset();
  await tick();
  assertEquals(h.status, DRDY | DSC);
  assertEquals([h.in8("bm", 0), h.in8("bm", 2), h.in8("bm", 4)], [0, 0, 0]);
  assertEquals(h.interrupts, 0); // the abandoned command never completes
});

Deno.test("SET FEATURES accepts a transfer mode and aborts any other subcommand", async () => {
  const h = new IdeHarness();
  h.out("cmd", 1, 0x03);
  h.out("cmd", 2, 0x40 | 2); // UDMA mode 2
  h.out("cmd", 7, ATA_COMMAND.SET_FEATURES);
  await h.waitIrq();
  assertEquals(h.status, DRDY | DSC);
  assertEquals(word(await h.identify(), 88), 0x003f | 0x0400);
  h.out("cmd", 1, 0x03);
  h.out("cmd", 2, 0x40 | 7); // UDMA mode 7: not supported
  h.out("cmd", 7, ATA_COMMAND.SET_FEATURES);
  await h.waitIrq();
  assertEquals([h.status & ERR, h.error], [ERR, ATA_ERROR.ABRT]);
  h.out("cmd", 1, 0x02); // enable write cache: not supported here
  h.out("cmd", 7, ATA_COMMAND.SET_FEATURES);
  await h.waitIrq();
  assertEquals([h.status & ERR, h.error], [ERR, ATA_ERROR.ABRT]);
});

Deno.test("bad guest accesses are logged and ignored, never thrown", async () => {
  const h = new IdeHarness();
  h.out("cmd", 4, 0xdeadbeef, 4); // wrong width
  h.out("cmd", 9, 1); // no register
  h.out("nope" as "cmd", 0, 1); // no window
  h.out("cmd", 0, 0x1234, 2); // data port with no DRQ
  assertEquals(h.model.read("cmd", 0, 2), 0);
  assertEquals(h.model.read("bm", 2, 4), 0);
  assertEquals(h.model.stats.badAccesses, 6);
  assertEquals(h.logs.length, 6);
  assertEquals(h.status, DRDY | DSC);
  assertEquals(h.in8("cmd", 4), 0); // the window was repaired
  // Task-file writes and commands while BSY are ignored.
  h.out("cmd", 7, ATA_COMMAND.FLUSH_CACHE);
  h.out("cmd", 3, 0x99);
  h.out("cmd", 7, 0x77);
  await h.waitIrq();
  assertEquals(h.status, DRDY | DSC);
  assertEquals(h.in8("cmd", 3), 1);
  assertEquals(h.model.stats.commands, 1);
  await tick();
  assertEquals(h.pendingIrqs, 0);
});

Deno.test("a command written during a PIO data phase abandons the transfer", async () => {
  const h = new IdeHarness();
  h.taskFile28(0, 4);
  h.out("cmd", 7, ATA_COMMAND.READ_SECTORS);
  await h.waitIrq();
  h.model.read("cmd", 0, 2);
  const block = await h.identify();
  assertEquals(word(block, 255) & 0xff, 0xa5);
  assertEquals(h.status, DRDY | DSC);
});

Deno.test("32-bit data port accesses move two words", async () => {
  const h = new IdeHarness();
  const data = pattern(512, 5);
  const view = new DataView(data.buffer);
  h.taskFile28(3, 1);
  h.out("cmd", 7, ATA_COMMAND.WRITE_SECTORS);
  await h.settle();
  for (let i = 0; i < 512; i += 4) h.out("cmd", 0, view.getUint32(i, true), 4);
  await h.waitIrq();
  h.taskFile28(3, 1);
  h.out("cmd", 7, ATA_COMMAND.READ_SECTORS);
  await h.waitIrq();
  const back = new Uint8Array(512);
  const out = new DataView(back.buffer);
  for (let i = 0; i < 512; i += 4) out.setUint32(i, h.model.read("cmd", 0, 4), true);
  assertEquals(back, data);
});

Deno.test("the harness reports a missing interrupt instead of hanging", async () => {
  const h = new IdeHarness();
  await assertRejects(() => h.waitIrq(20), Error, "no interrupt");
  assert(h.status & DRDY);
});
