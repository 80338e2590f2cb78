import { assert, assertEquals } from "@std/assert";
import { DiskImage } from "../machine/disk_image.ts";
import {
  ATA_COMMAND,
  ATA_CONTROL,
  ATA_ERROR,
  ATA_STATUS,
  BM_COMMAND,
  BM_STATUS,
  createIdeController,
  IDE_PCI_IDENTITY,
} from "../machine/ide_controller.ts";
import { Machine } from "../machine/machine.ts";
import { IdeHarness, pattern, tick } from "./_machine_ide_harness.ts";

const { DRDY, DSC, ERR, BSY } = ATA_STATUS;
const C = ATA_COMMAND;

// Addresses in the 64-bit single address space, above 4 GiB so the high PRD word matters.
const TABLE = 0x0001_0000_0000_1000n;
const BUF = 0x0001_0000_0010_0000n;

Deno.test("DMA write then read round-trips data through a multi-entry PRD table", async () => {
  const h = new IdeHarness();
  h.map(TABLE, 4096);
  const buf = h.map(BUF, 64 * 1024);
  const data = pattern(8 * 512, 3);
  buf.set(data);
  // Segments that split sectors: 1000 + 2000 + 1096 bytes = 8 sectors.
  const entries = [
    { address: BUF, count: 1000 },
    { address: BUF + 1000n, count: 2000 },
    { address: BUF + 3000n, count: 1096, eot: true },
  ];
  h.prd(TABLE, entries);
  await h.dma(C.WRITE_DMA, 40, 8);
  assertEquals(h.status, DRDY | DSC);
  assertEquals(h.in8("bm", 2) & (BM_STATUS.ACTIVE | BM_STATUS.ERROR), 0);
  assertEquals(h.in8("bm", 2) & BM_STATUS.INTERRUPT, BM_STATUS.INTERRUPT);
  const direct = new Uint8Array(8 * 512);
  h.model.image.readSectors(40, 8, direct);
  assertEquals(direct, data);

  // Read it back into the other half of the buffer, with the 48-bit command.
  const back = BUF + 32768n;
  h.prd(TABLE, [
    { address: back, count: 512 },
    { address: back + 512n, count: 3584, eot: true },
  ]);
  await h.dma(C.READ_DMA_EXT, 40, 8);
  assertEquals(h.status, DRDY | DSC);
  assertEquals(buf.subarray(32768, 32768 + 8 * 512), data);
  const stats = h.model.stats;
  assertEquals([stats.sectorsWritten, stats.sectorsRead, stats.dmaTransfers], [8, 8, 2]);
  assertEquals(h.interrupts, 2);
});

Deno.test("DMA between a file image and many small PRD segments moves every byte to its place", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/disk.img`;
    const image = await DiskImage.open(path, { size: 1 << 20 });
    const h = new IdeHarness(image);
    h.map(TABLE, 4096);
    const buf = h.map(BUF, 64 * 1024);
    // Sixteen segments of one sector each, scattered in reverse order over the buffer: a merged
    // command's layout (one PRD entry per request), which the image moves in one file access.
    const sectors = 16;
    const entries = Array.from({ length: sectors }, (_, i) => ({
      address: BUF + BigInt((sectors - 1 - i) * 2048 + 100),
      count: 512,
      eot: i === sectors - 1,
    }));
    const data = pattern(sectors * 512, 8);
    entries.forEach((e, i) => {
      const at = Number(e.address - BUF);
      buf.set(data.subarray(i * 512, (i + 1) * 512), at);
    });
    h.prd(TABLE, entries);
    await h.dma(C.WRITE_DMA, 77, sectors);
    assertEquals(h.status, DRDY | DSC);
    image.flush();
    const file = await Deno.readFile(path);
    assertEquals(file.subarray(77 * 512, (77 + sectors) * 512), data);

    buf.fill(0);
    await h.dma(C.READ_DMA, 77, sectors);
    assertEquals(h.status, DRDY | DSC);
    entries.forEach((e, i) => {
      const at = Number(e.address - BUF);
      assertEquals(
        buf.subarray(at, at + 512),
        data.subarray(i * 512, (i + 1) * 512),
        `segment ${i}`,
      );
      assertEquals(buf[at - 1], 0, `before segment ${i}`);
      assertEquals(buf[at + 512], 0, `after segment ${i}`);
    });
    image.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("READ DMA with a sector count of 0 transfers 256 sectors", async () => {
  const h = new IdeHarness();
  h.map(TABLE, 4096);
  const buf = h.map(BUF, 256 * 512);
  const data = pattern(256 * 512, 4);
  h.model.image.writeSectors(0, data);
  h.prd(TABLE, [{ address: BUF, count: 256 * 512, eot: true }]);
  await h.dma(C.READ_DMA, 0, 0);
  assertEquals(h.status, DRDY | DSC);
  assertEquals(buf, data);
});

Deno.test("a DMA transfer starts only when both the command and BM start are set, in either order", async () => {
  const h = new IdeHarness();
  h.map(TABLE, 4096);
  h.map(BUF, 4096);
  h.prd(TABLE, [{ address: BUF, count: 512, eot: true }]);
  // Command first: nothing moves until start.
  h.taskFile28(1, 1);
  h.out("cmd", 7, C.READ_DMA);
  await tick();
  assertEquals(h.status & BSY, BSY);
  assertEquals(h.interrupts, 0);
  h.out("bm", 0, BM_COMMAND.START | BM_COMMAND.TO_MEMORY);
  assertEquals(h.in8("bm", 2) & BM_STATUS.ACTIVE, BM_STATUS.ACTIVE);
  await h.waitIrq();
  assertEquals(h.in8("bm", 2) & BM_STATUS.ACTIVE, 0);
  h.out("bm", 0, 0);
  h.out("bm", 2, BM_STATUS.INTERRUPT);
  assertEquals(h.in8("bm", 2), 0);
  // Start first: the command runs it.
  h.out("bm", 0, BM_COMMAND.START | BM_COMMAND.TO_MEMORY);
  await tick();
  assertEquals(h.interrupts, 1);
  h.taskFile28(2, 1);
  h.out("cmd", 7, C.READ_DMA);
  await h.waitIrq();
  assertEquals(h.status, DRDY | DSC);
  assertEquals(h.model.stats.dmaTransfers, 2);
});

Deno.test("DMA to an unmapped address records an IOMMU fault, sets BM error and ERR, interrupts; the next command works", async () => {
  const h = new IdeHarness();
  h.map(TABLE, 4096);
  const buf = h.map(BUF, 4096);
  const data = pattern(1024, 6);
  h.model.image.writeSectors(10, data);
  // The second segment lies outside every mapping: nothing may move, not even the first.
  const unmapped = 0x0002_0000_0000_0000n;
  h.prd(TABLE, [{ address: BUF, count: 512 }, { address: unmapped, count: 512, eot: true }]);
  await h.dma(C.READ_DMA, 10, 2);
  assertEquals(h.status, DRDY | DSC | ERR);
  assertEquals(h.error, ATA_ERROR.ABRT);
  assertEquals(h.in8("bm", 2) & (BM_STATUS.ERROR | BM_STATUS.ACTIVE), BM_STATUS.ERROR);
  assertEquals(h.iommu.faults.length, 1);
  assertEquals(h.iommu.faults[0]!.address, unmapped);
  assertEquals(h.iommu.faults[0]!.direction, "write");
  assertEquals(h.model.stats.dmaFaults, 1);
  assertEquals(buf.subarray(0, 512), new Uint8Array(512));
  // The model stays usable for the next command.
  h.prd(TABLE, [{ address: BUF, count: 1024, eot: true }]);
  await h.dma(C.READ_DMA, 10, 2);
  assertEquals(h.status, DRDY | DSC);
  assertEquals(h.in8("bm", 2) & BM_STATUS.ERROR, 0);
  assertEquals(buf.subarray(0, 1024), data);
});

Deno.test("DMA into a read-only mapping faults; DMA out of it works", async () => {
  const h = new IdeHarness();
  h.map(TABLE, 4096);
  const ro = h.map(BUF, 4096, false);
  ro.set(pattern(512, 8));
  h.prd(TABLE, [{ address: BUF, count: 512, eot: true }]);
  await h.dma(C.READ_DMA, 0, 1);
  assertEquals(h.status & ERR, ERR);
  assertEquals(h.iommu.faults.length, 1);
  await h.dma(C.WRITE_DMA, 0, 1);
  assertEquals(h.status, DRDY | DSC);
  const sector = new Uint8Array(512);
  h.model.image.readSectors(0, 1, sector);
  assertEquals(sector, pattern(512, 8));
});

Deno.test("a PRD table that is bad fails the transfer without hanging or moving data", async () => {
  const cases: [string, { address: bigint; count: number; eot?: boolean }[]][] = [
    ["odd count", [{ address: BUF, count: 511 }, { address: BUF + 511n, count: 1, eot: true }]],
    ["zero count", [{ address: BUF, count: 0, eot: true }]],
    ["shorter than the command", [{ address: BUF, count: 510, eot: true }]],
    ["longer than the command", [{ address: BUF, count: 1024, eot: true }]],
    ["longer, without end", [{ address: BUF, count: 512 }, { address: BUF, count: 512 }]],
  ];
  for (const [what, entries] of cases) {
    const h = new IdeHarness();
    h.map(TABLE, 4096);
    h.map(BUF, 4096);
    h.prd(TABLE, entries);
    await h.dma(C.WRITE_DMA, 0, 1);
    assertEquals(h.status, DRDY | DSC | ERR, what);
    assertEquals(h.error, ATA_ERROR.ABRT, what);
    assertEquals(h.in8("bm", 2) & 0x07, BM_STATUS.ERROR | BM_STATUS.INTERRUPT, what);
    assertEquals(h.model.stats.sectorsWritten, 0, what);
    assertEquals(h.iommu.faults.length, 0, what);
  }
});

Deno.test("a PRD table with no end-of-table within 4096 entries fails the transfer", async () => {
  const h = new IdeHarness(DiskImage.memory(8192 * 512));
  // 4096 two-byte entries cover 16 sectors and then some: count 17 sectors so that the total is
  // never exceeded and only the missing end flag can stop the walk.
  const table = h.map(TABLE, 4097 * 16);
  h.map(BUF, 4096 * 2);
  const view = new DataView(table.buffer);
  for (let i = 0; i < 4097; i++) {
    view.setBigUint64(i * 16, BUF + BigInt(i * 2), true);
    view.setUint32(i * 16 + 8, 2, true);
  }
  h.store32("bm", 4, Number(TABLE & 0xffff_ffffn));
  h.store32("bm", 8, Number(TABLE >> 32n));
  await h.dma(C.READ_DMA, 0, 17);
  assertEquals(h.status, DRDY | DSC | ERR);
  assertEquals(h.in8("bm", 2) & BM_STATUS.ERROR, BM_STATUS.ERROR);
  assert(h.logs.some((m) => m.includes("no end-of-table")));
});

Deno.test("a BM direction that does not match the command fails the transfer", async () => {
  const h = new IdeHarness();
  h.map(TABLE, 4096);
  h.map(BUF, 4096);
  h.prd(TABLE, [{ address: BUF, count: 512, eot: true }]);
  h.taskFile28(0, 1);
  h.out("cmd", 7, C.READ_DMA);
  h.out("bm", 0, BM_COMMAND.START); // direction: device reads memory
  await h.waitIrq();
  assertEquals(h.status & ERR, ERR);
  assertEquals(h.in8("bm", 2) & BM_STATUS.ERROR, BM_STATUS.ERROR);
});

Deno.test("nIEN suppresses the DMA interrupt and the BM interrupt bit; BM active shows completion", async () => {
  const h = new IdeHarness();
  h.map(TABLE, 4096);
  h.map(BUF, 4096);
  h.prd(TABLE, [{ address: BUF, count: 512, eot: true }]);
  h.out("ctl", 0, ATA_CONTROL.NIEN);
  h.taskFile28(0, 1);
  h.out("cmd", 7, C.READ_DMA);
  h.out("bm", 0, BM_COMMAND.START | BM_COMMAND.TO_MEMORY);
  await h.settle();
  assertEquals(h.status, DRDY | DSC);
  assertEquals(h.in8("bm", 2), 0);
  assertEquals(h.interrupts, 0);
});

Deno.test("FLUSH CACHE makes written data durable: close, reopen the file, read it back", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/disk.img`;
  try {
    const h = new IdeHarness(await DiskImage.open(path, { size: 4 << 20 }));
    h.map(TABLE, 4096);
    const buf = h.map(BUF, 4096);
    const data = pattern(4096, 7);
    buf.set(data);
    h.prd(TABLE, [{ address: BUF, count: 4096, eot: true }]);
    await h.dma(C.WRITE_DMA_EXT, 1234, 8);
    h.out("cmd", 7, C.FLUSH_CACHE_EXT);
    await h.waitIrq();
    assertEquals(h.status, DRDY | DSC);
    h.out("cmd", 7, C.FLUSH_CACHE);
    await h.waitIrq();
    assertEquals(h.model.stats.flushes, 2);
    // The file holds the data before the image is closed...
    const raw = await Deno.readFile(path);
    assertEquals(raw.subarray(1234 * 512, 1234 * 512 + 4096), data);
    h.model.close();
    // ...and after a reopen.
    const again = await DiskImage.open(path);
    const back = new Uint8Array(4096);
    again.readSectors(1234, 8, back);
    assertEquals(back, data);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the controller attaches to a Machine as a PIIX3 IDE function and raises its line", async () => {
  const machine = new Machine();
  const logs: string[] = [];
  machine.onEvent((e) => {
    if (e.kind === "log") logs.push(e.message);
  });
  const ide = createIdeController({ name: "ide0", image: DiskImage.memory(1 << 20) });
  const fn = await machine.attachPci(IDE_PCI_IDENTITY, ide);
  assertEquals([fn.config[0], fn.config[1], fn.config[2], fn.config[3]], [0x86, 0x80, 0x10, 0x70]);
  assertEquals([fn.config[9], fn.config[10], fn.config[11]], [0x80, 0x01, 0x01]);
  assertEquals(fn.windows.map((w) => w.name), ["cmd", "ctl", "bm"]);
  const cmd = new Uint8Array(fn.windows[0]!.buffer);
  assertEquals(cmd[7], DRDY | DSC);
  ide.write("cmd", 7, 1, 0x77);
  await tick();
  assertEquals(machine.irq.raisedCount(fn.line), 1);
  assertEquals(logs, ["unsupported command 0x77: aborted"]);
  await machine.stop();
  assert(ide.image.closed);
});

Deno.test("latencyMs delays each step; close() abandons pending work", async () => {
  const h = new IdeHarness(DiskImage.memory(1 << 20), 20);
  const start = performance.now();
  h.out("cmd", 7, C.FLUSH_CACHE);
  await tick();
  assertEquals(h.status & BSY, BSY);
  await h.waitIrq();
  assert(performance.now() - start >= 15);
  h.out("cmd", 7, C.FLUSH_CACHE);
  h.model.close(); // clears the timer: the test's leak check would fail otherwise
  await tick();
  assertEquals(h.interrupts, 1);
});
