// Type-level tests of the generated accessors. Each `@ts-expect-error` below must be an error:
// `deno test` and `deno check` type-check this file, and an unused `@ts-expect-error` is itself
// an error, so a wrong access that started to compile would fail the run.

import { assert, assertEquals } from "@std/assert";
import { ATA_MAP, AtaRegs, Cmd, Dev } from "../drivers/ide/ata_regs.ts";
import { TEST_MAP, TestRegs } from "./fixtures/regs/test_device_regs.ts";
import { createBufferWindows } from "../regs/mod.ts";

/** Never called: only type-checked. */
function wrongAccesses(regs: AtaRegs, test: TestRegs): void {
  // @ts-expect-error status is read-only: it has no write()
  regs.status.write((w) => w);
  // @ts-expect-error status is read-only: it has no writeRaw()
  regs.status.writeRaw(0);
  // @ts-expect-error status is read-only: it has no modify()
  regs.status.modify(() => {});
  // @ts-expect-error command is write-only: it has no read()
  regs.command.read();
  // @ts-expect-error command is write-only: it has no readRaw()
  regs.command.readRaw();
  // @ts-expect-error command is write-only: it has no modify()
  regs.command.modify(() => {});
  // @ts-expect-error an enum field takes only its enum's values
  regs.command.write((w) => w.cmd(0x99));
  // @ts-expect-error an enum field takes only its own enum's values
  regs.device.write((w) => w.dev(Cmd.READ_DMA));
  // @ts-expect-error SIMPLEX is a read-only field of bm_status: its writer cannot set it
  regs.bmStatus.modify((_r, w) => w.simplex());
  // @ts-expect-error INTR is write-1-to-clear: its setter takes no value
  regs.bmStatus.modify((_r, w) => w.intr(false));
  // @ts-expect-error bm_status is rw, not w1c: it has no clear()
  regs.bmStatus.clear((w) => w);
  // @ts-expect-error a one-bit field reads as a boolean
  const busy: number = regs.status.read().bsy();
  // @ts-expect-error KICK is a write-only field: the reader has no kick()
  test.ctrl.read().kick();
  // @ts-expect-error isr is w1c: it has no write(), only clear()
  test.isr.write((w) => w);
  // @ts-expect-error isr is w1c: it has no modify()
  test.isr.modify(() => {});
  // @ts-expect-error STATE is a read-only field of a w1c register: it cannot be cleared
  test.isr.clear((c) => c.state());
  // @ts-expect-error the device needs every one of its windows
  new AtaRegs({ cmd: createBufferWindows(ATA_MAP).cmd });
  void busy;
}

Deno.test("the right accesses compile and the wrong ones do not", () => {
  const regs = new AtaRegs(createBufferWindows(ATA_MAP));
  const test = new TestRegs(createBufferWindows(TEST_MAP));
  // The right accesses, typed: these lines would not compile if the API lost them.
  const busy: boolean = regs.status.read().bsy();
  const raw: number = regs.status.readRaw();
  regs.command.write((w) => w.cmd(Cmd.IDENTIFY_DEVICE));
  regs.device.modify((r, w) => w.dev(r.dev() === Dev.DEVICE0 ? Dev.DEVICE1 : Dev.DEVICE0));
  regs.bmStatus.modify((_r, w) => w.intr().err().drv0Dma(true));
  test.isr.clear((c) => c.rx());
  const name: "NOP" | "READ_DMA" | undefined = regs.device.read().devName() === "DEVICE1"
    ? "READ_DMA"
    : undefined;
  assertEquals([busy, raw, name], [false, 0x50, "READ_DMA"]);
  assert(typeof wrongAccesses === "function");
});
