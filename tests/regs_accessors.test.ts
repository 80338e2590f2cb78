import { assert, assertEquals, assertStrictEquals } from "@std/assert";
import { ATA_MAP, AtaRegs, Cmd, Dev, Dir } from "../drivers/ide/ata_regs.ts";
import { Mode, TEST_MAP, TestRegs } from "./fixtures/regs/test_device_regs.ts";
import {
  BufferWindow,
  createBufferWindows,
  doorbellOffsets,
  type RegisterWidth,
  type RegisterWindow,
} from "../regs/mod.ts";

/** ATA registers over fresh buffer windows, recording every write and every doorbell. */
function ata() {
  const writes: string[] = [];
  const doorbells: string[] = [];
  const windows = createBufferWindows(ATA_MAP, {
    onWrite: (window, offset, width, value) =>
      writes.push(`${window}+${offset}/${width}=0x${value.toString(16)}`),
    onDoorbell: (window, offset, width, value) =>
      doorbells.push(`${window}+${offset}/${width}=0x${value.toString(16)}`),
  });
  return { regs: new AtaRegs(windows), windows, writes, doorbells };
}

/** A window that counts accesses of another. */
class CountingWindow implements RegisterWindow {
  reads = 0;
  writes = 0;
  readonly #inner: RegisterWindow;
  constructor(inner: RegisterWindow) {
    this.#inner = inner;
  }
  read8(offset: number): number {
    this.reads++;
    return this.#inner.read8(offset);
  }
  read16(offset: number): number {
    this.reads++;
    return this.#inner.read16(offset);
  }
  read32(offset: number): number {
    this.reads++;
    return this.#inner.read32(offset);
  }
  write8(offset: number, value: number): void {
    this.writes++;
    this.#inner.write8(offset, value);
  }
  write16(offset: number, value: number): void {
    this.writes++;
    this.#inner.write16(offset, value);
  }
  write32(offset: number, value: number): void {
    this.writes++;
    this.#inner.write32(offset, value);
  }
}

/** The test device over fresh buffer windows, recording writes and doorbells. */
function testDevice() {
  const writes: [number, RegisterWidth, number][] = [];
  const doorbells: number[] = [];
  const { io } = createBufferWindows(TEST_MAP, {
    onDoorbell: (_window, offset) => doorbells.push(offset),
    onWrite: (_window, offset, width, value) => writes.push([offset, width, value]),
  });
  return { regs: new TestRegs({ io }), io, writes, doorbells };
}

Deno.test("read() of a read-only register decodes its fields from the reset state", () => {
  const { regs } = ata();
  const status = regs.status.read();
  assertEquals(status.bits(), 0x50);
  assertEquals(
    [status.bsy(), status.drdy(), status.df(), status.dsc(), status.drq(), status.err()],
    [
      false,
      true,
      false,
      true,
      false,
      false,
    ],
  );
  assertEquals(regs.error.readRaw(), 0x01);
  assertEquals(regs.sectorCount.readRaw(), 0x01);
});

Deno.test("write() starts from the reset value", () => {
  const { regs, writes } = ata();
  regs.sectorCount.write((w) => w);
  regs.deviceControl.write((w) => w.nien());
  assertEquals(writes, ["cmd+2/8=0x1", "ctl+0/8=0x2"]);

  const t = testDevice();
  t.regs.go.write((w) => w.arg(1));
  t.regs.ctrl.write((w) => w.div(3));
  // go: reset 0x5a with ARG = 1. ctrl: reset 0xc0000005 without the w1c IRQ bit (30), DIV = 3.
  assertEquals(t.writes, [[0xc, 8, 0x51], [0x0, 32, 0x80000305]]);
});

Deno.test("write() masks field values to the field width", () => {
  const { regs, writes } = ata();
  regs.device.write((w) => w.head(0x1f).lba().dev(Dev.DEVICE1));
  assertEquals(writes, ["cmd+6/8=0x5f"]);

  const t = testDevice();
  t.regs.go.write((w) => w.cmd(0x1f));
  t.regs.ctrl.write((w) => w.div(0x1ff));
  t.regs.wide.write((w) => w.all(2 ** 32 + 0xfeed));
  t.regs.wide.writeRaw(-1);
  assertEquals(t.writes, [
    [0xc, 8, 0xfa],
    [0x0, 32, 0x8000ff05],
    [0x10, 32, 0xfeed],
    [0x10, 32, 0xffffffff],
  ]);
  assertEquals(t.regs.wide.read().all(), 0xffffffff);
});

Deno.test("writeRaw() masks to the register width", () => {
  const { regs, writes } = ata();
  regs.sectorCount.writeRaw(0x1ff);
  regs.data.writeRaw(0x12345);
  assertEquals(writes, ["cmd+2/8=0xff", "cmd+0/16=0x2345"]);
});

Deno.test("modify() reads once, writes once and preserves the other fields", () => {
  const { windows } = ata();
  const counting = new CountingWindow(windows.cmd);
  const regs = new AtaRegs({ ...windows, cmd: counting });
  counting.write8(6, 0xa5);
  counting.writes = 0;
  regs.device.modify((r, w) => {
    assertEquals(r.dev(), Dev.DEVICE0);
    return w.dev(Dev.DEVICE1);
  });
  assertEquals([counting.reads, counting.writes], [1, 1]);
  assertEquals(regs.device.readRaw(), 0xb5);
  regs.device.modify((_r, w) => w.head(0x3));
  assertEquals(regs.device.readRaw(), 0xb3);
});

Deno.test("modify() writes w1c bits as 0 unless asked, and keeps wo fields at their reset", () => {
  const { regs, windows, writes } = ata();
  windows.bm.write8(2, 0x67); // DRV1, DRV0, INTR, ERR, ACTIVE
  writes.length = 0;
  regs.bmStatus.modify((_r, w) => w.drv0Dma(false));
  regs.bmStatus.modify((_r, w) => w.intr());
  // The buffer is plain memory, so what was written is what reads back next.
  assertEquals(writes, ["bm+2/8=0x41", "bm+2/8=0x45"]);

  const t = testDevice();
  t.io.write32(0, 0x4000_12f3); // IRQ, DIV = 0x12, VER = 7, KICK, MODE = 1, ENABLE
  t.writes.length = 0;
  t.regs.ctrl.modify((_r, w) => w.enable(false));
  // Kept: DIV, VER, MODE. Dropped: IRQ (w1c), KICK (wo, from reset: 0). ENABLE cleared.
  assertEquals(t.writes, [[0, 32, 0x000012e2]]);
  t.regs.ctrl.modify((_r, w) => w.irq().top());
  assertEquals(t.writes[1], [0, 32, 0xc00012e2]);
  assertEquals(t.regs.ctrl.read().top(), true);
  assertStrictEquals(t.regs.ctrl.read().bits(), 0xc00012e2);
});

Deno.test("clear() of a w1c register writes ones to the chosen fields only", () => {
  const t = testDevice();
  t.io.write32(4, 0xffffffff);
  t.writes.length = 0;
  t.regs.isr.clear((c) => c.rx().link());
  assertEquals(t.writes, [[4, 32, 0x80000001]]);
  const r = t.regs.isr.read();
  assertEquals([r.rx(), r.tx(), r.state(), r.link()], [true, false, 0, true]);
  assert(!("write" in t.regs.isr) && !("modify" in t.regs.isr));
});

Deno.test("enum fields are set by name and read back with their name", () => {
  const { regs, doorbells } = ata();
  regs.command.write((w) => w.cmd(Cmd.READ_DMA));
  regs.bmCommand.write((w) => w.dir(Dir.TO_MEMORY).start());
  assertEquals(doorbells, ["cmd+7/8=0xc8", "bm+0/8=0x9"]);
  regs.device.write((w) => w.dev(Dev.DEVICE1));
  assertEquals(regs.device.read().devName(), "DEVICE1");
  assertEquals(regs.bmCommand.read().dirName(), "TO_MEMORY");

  const t = testDevice();
  t.regs.ctrl.write((w) => w.mode(Mode.FAST));
  assertEquals(t.regs.ctrl.read().mode(), 7);
  assertEquals(t.regs.ctrl.read().modeName(), "FAST");
  t.io.write32(0, 0b1010); // MODE = 5: no name
  assertEquals(t.regs.ctrl.read().modeName(), undefined);
});

Deno.test("the doorbell hook fires only for writes to doorbell registers", () => {
  const { regs, doorbells } = ata();
  regs.features.write((w) => w.bits(3));
  regs.sectorCount.write((w) => w.bits(8));
  regs.lbaLow.writeRaw(1);
  regs.lbaMid.writeRaw(2);
  regs.lbaHigh.writeRaw(3);
  regs.device.write((w) => w.lba());
  regs.bmPrdTable.write((w) => w.bits(0x1000));
  regs.bmStatus.modify((_r, w) => w.intr());
  regs.status.read();
  regs.altStatus.read();
  assertEquals(doorbells, []);
  regs.command.write((w) => w.cmd(Cmd.WRITE_SECTORS));
  regs.data.writeRaw(0xbeef);
  regs.deviceControl.write((w) => w.srst());
  regs.bmCommand.modify((_r, w) => w.start());
  assertEquals(doorbells, ["cmd+7/8=0x30", "cmd+0/16=0xbeef", "ctl+0/8=0x4", "bm+0/8=0x1"]);
  assertEquals(doorbellOffsets(ATA_MAP, "cmd"), [0, 7]);

  const t = testDevice();
  t.regs.go.write((w) => w);
  t.regs.wide.writeRaw(1);
  t.regs.ctrl.writeRaw(1);
  assertEquals(t.doorbells, [0]);
});

Deno.test("a port window keeps the 16-bit data port apart from the error register beside it", () => {
  const { regs } = ata();
  regs.data.writeRaw(0xffff);
  assertEquals(regs.data.readRaw(), 0xffff);
  assertEquals(regs.error.readRaw(), 0x01); // still its reset value
  assertEquals(regs.sectorCount.readRaw(), 0x01);
});

Deno.test("32-bit registers read and write unsigned values", () => {
  const { regs } = ata();
  regs.bmPrdTable.write((w) => w.bits(0xfffffffc));
  assertStrictEquals(regs.bmPrdTable.readRaw(), 0xfffffffc);
  assertStrictEquals(regs.bmPrdTable.read().bits(), 0xfffffffc);
  const t = testDevice();
  t.regs.wide.write((w) => w.all(0x80000000));
  assertStrictEquals(t.regs.wide.read().all(), 0x80000000);
});

Deno.test("read-only registers have no write methods and write-only ones no read methods", () => {
  const { regs } = ata();
  for (const method of ["write", "writeRaw", "modify", "clear"]) {
    assert(!(method in regs.status), `status.${method}`);
    assert(!(method in regs.error), `error.${method}`);
  }
  for (const method of ["read", "readRaw", "modify", "clear"]) {
    assert(!(method in regs.command), `command.${method}`);
  }
  const t = testDevice();
  assert(!("write" in t.regs.id));
  assertEquals([t.regs.id.read().major(), t.regs.id.read().minor()], [0xbe, 0xef]);
});

Deno.test("BufferWindow rejects accesses outside the window with RangeError", () => {
  const window = new BufferWindow(new ArrayBuffer(4096));
  let error: unknown;
  try {
    window.read32(4094);
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError);
  assertEquals(
    (error as RangeError).message,
    "Cannot access 32-bit register at offset 4094: window is 4096 bytes",
  );
});

Deno.test("createBufferWindows() can share its buffers and holds the ro reset where ro and wo share", () => {
  const windows = createBufferWindows(ATA_MAP, { shared: true });
  assertEquals(windows.cmd.read8(7), 0x50); // status, not command's 0x00
  assertEquals(windows.ctl.read8(0), 0x50);
  assertEquals(windows.cmd.size, 4096);
});
