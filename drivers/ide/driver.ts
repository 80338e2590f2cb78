// IDE driver: one ATA disk on a PCI IDE controller; IBlock over bus-master DMA, IIde extras.
//
// Entry points (as in xv6): start (init), the IBlock/IIde methods (requests), interrupt.
// Requests queue; the controller runs one ATA command at a time; each completion interrupt
// starts the next command. A request whose blocks are not consecutive becomes several commands.

import {
  BlockStatus,
  type Capability,
  type DriverContext,
  type DriverInstance,
} from "../../driver.ts";
import { AtaRegs, Cmd, Dev, Dir } from "./ata_regs.ts";

const SECTOR = 512;
/** Sectors per command: the 48-bit limit is 65536; keep commands to 1 MiB. */
const MAX_SECTORS = 2048;
/** Bytes of one PRD entry (u64 address, u32 count, u32 flags). */
const PRD_ENTRY = 16;
const PRD_EOT = 0x8000_0000;

interface Run {
  lba: bigint;
  count: number;
  /** Device address of the run's first byte. */
  addr: bigint;
}

interface Request {
  id: number;
  op: "read" | "write";
  notify: Capability;
  runs: Run[];
  buffer: Capability;
  mapped: bigint | undefined;
}

interface BlockSeq {
  blocks: bigint[];
  addr: bigint;
  buffer: Capability;
}

interface Pending {
  kind: "dma" | "flush" | "identify";
  resolve: (status: number) => void;
}

interface Identity {
  model: string;
  serial: string;
  firmware: string;
  sectors: bigint;
  lba48: boolean;
  dma: boolean;
}

/** Decodes an ATA string (words, each high byte first), trimmed. */
function ataString(id: Uint8Array, word: number, words: number): string {
  let s = "";
  for (let i = 0; i < words; i++) {
    s += String.fromCharCode(id[(word + i) * 2 + 1]!, id[(word + i) * 2]!);
  }
  return s.trim();
}

function word(id: Uint8Array, n: number): number {
  return id[n * 2]! | (id[n * 2 + 1]! << 8);
}

/** The driver's start entry: probe the disk, then serve IBlock and IIde. */
export async function start(ctx: DriverContext): Promise<DriverInstance> {
  const windows = ctx.windows;
  const regs = new AtaRegs({ cmd: windows.cmd!, ctl: windows.ctl!, bm: windows.bm! });
  const prd = await ctx.dma.allocate(PRD_ENTRY * 2);
  const prdView = new DataView(prd.bytes.buffer, prd.bytes.byteOffset, prd.bytes.byteLength);
  await ctx.irq.register((line) => interrupt(line));

  const queue: Request[] = [];
  let nextId = 1;
  let current: Pending | undefined;
  let active: { request: Request; run: number } | undefined;
  let stopped = false;
  const flushWaiters: ((status: number) => void)[] = [];

  /** Runs one command that ends in an interrupt; resolves with the completion status. */
  function command(kind: Pending["kind"], issue: () => void): Promise<number> {
    return new Promise((resolve) => {
      current = { kind, resolve };
      issue();
    });
  }

  function selectLba(lba: bigint, count: number, ext: boolean): void {
    if (ext) {
      // 48-bit: the "previous" bytes first, then the current ones (two-deep FIFO).
      regs.sectorCount.writeRaw(count >> 8);
      regs.lbaLow.writeRaw(Number((lba >> 24n) & 0xffn));
      regs.lbaMid.writeRaw(Number((lba >> 32n) & 0xffn));
      regs.lbaHigh.writeRaw(Number((lba >> 40n) & 0xffn));
      regs.sectorCount.writeRaw(count & 0xff);
      regs.lbaLow.writeRaw(Number(lba & 0xffn));
      regs.lbaMid.writeRaw(Number((lba >> 8n) & 0xffn));
      regs.lbaHigh.writeRaw(Number((lba >> 16n) & 0xffn));
      regs.device.write((w) => w.lba().dev(Dev.DEVICE0));
    } else {
      regs.sectorCount.writeRaw(count & 0xff);
      regs.lbaLow.writeRaw(Number(lba & 0xffn));
      regs.lbaMid.writeRaw(Number((lba >> 8n) & 0xffn));
      regs.lbaHigh.writeRaw(Number((lba >> 16n) & 0xffn));
      regs.device.write((w) => w.lba().dev(Dev.DEVICE0).head(Number((lba >> 24n) & 0xfn)));
    }
  }

  /** Programs the bus master and the disk for one run, and starts it. */
  function startRun(op: "read" | "write", run: Run): void {
    const bytes = run.count * SECTOR;
    prdView.setBigUint64(0, run.addr, true);
    prdView.setUint32(8, bytes, true);
    prdView.setUint32(12, PRD_EOT, true);
    regs.bmCommand.write((w) => w.start(false));
    regs.bmStatus.write((w) => w.intr().err().drv0Dma());
    regs.bmPrdTable.writeRaw(Number(prd.address & 0xffff_ffffn));
    regs.bmPrdTableHigh.writeRaw(Number(prd.address >> 32n));
    const ext = run.lba + BigInt(run.count) > 0x0fff_ffffn || run.count > 256;
    selectLba(run.lba, run.count, ext);
    const cmd = op === "read"
      ? (ext ? Cmd.READ_DMA_EXT : Cmd.READ_DMA)
      : (ext ? Cmd.WRITE_DMA_EXT : Cmd.WRITE_DMA);
    regs.command.write((w) => w.cmd(cmd));
    regs.bmCommand.write((w) => w.dir(op === "read" ? Dir.TO_MEMORY : Dir.TO_DEVICE).start());
  }

  /** Completes the request in service and starts the next queued one. */
  function finish(request: Request, status: number): void {
    active = undefined;
    // The unmap goes first on the ring; the notify need not wait for its reply.
    if (request.mapped !== undefined) void ctx.dma.unmap(request.mapped).catch(() => {});
    ctx.invoke(request.notify, "INotify.complete", [request.id, status]).catch((e) =>
      ctx.log(`notify of request ${request.id} failed: ${(e as Error).message}`)
    );
    pump();
  }

  /** Starts the next request if the controller is idle. */
  function pump(): void {
    if (active || current || stopped) return;
    const request = queue.shift();
    if (!request) return;
    active = { request, run: 0 };
    issueRun();
  }

  function issueRun(): void {
    const a = active!;
    const run = a.request.runs[a.run]!;
    current = {
      kind: "dma",
      resolve: (status) => {
        if (status !== BlockStatus.OK || a.run + 1 >= a.request.runs.length) {
          void finish(a.request, status);
        } else {
          a.run++;
          issueRun();
        }
      },
    };
    startRun(a.request.op, run);
  }

  // ---- probe: IDENTIFY DEVICE over PIO ----------------------------------------------------
  const identifyRaw = new Uint8Array(SECTOR);
  async function identify(): Promise<Identity> {
    const status = await command("identify", () => {
      regs.device.write((w) => w.dev(Dev.DEVICE0));
      regs.command.write((w) => w.cmd(Cmd.IDENTIFY_DEVICE));
    });
    if (status !== BlockStatus.OK) {
      throw new Error(`IDENTIFY DEVICE failed (error 0x${regs.error.readRaw().toString(16)})`);
    }
    for (let i = 0; i < SECTOR / 2; i++) {
      const w = regs.data.readRaw();
      identifyRaw[i * 2] = w & 0xff;
      identifyRaw[i * 2 + 1] = w >> 8;
    }
    const lba48 = (word(identifyRaw, 83) & (1 << 10)) !== 0;
    const sectors = lba48
      ? BigInt(word(identifyRaw, 100)) | (BigInt(word(identifyRaw, 101)) << 16n) |
        (BigInt(word(identifyRaw, 102)) << 32n) | (BigInt(word(identifyRaw, 103)) << 48n)
      : BigInt(word(identifyRaw, 60) | (word(identifyRaw, 61) << 16)) & 0xffff_ffffn;
    return {
      model: ataString(identifyRaw, 27, 20),
      serial: ataString(identifyRaw, 10, 10),
      firmware: ataString(identifyRaw, 23, 4),
      sectors,
      lba48,
      dma: (word(identifyRaw, 49) & (1 << 8)) !== 0,
    };
  }
  const identity = await identify();
  const blockCount = Number(identity.sectors > 0x7fff_ffffn ? 0x7fff_ffffn : identity.sectors);
  ctx.log(`${identity.model}: ${identity.sectors} sectors${identity.lba48 ? ", LBA48" : ""}`);

  /** Checks and splits a block_seq into runs of consecutive blocks. */
  function plan(op: "read" | "write", notify: Capability, data: BlockSeq): Request {
    if (data.blocks.length === 0) throw new RangeError(`IBlock.${op}: the block list is empty`);
    const runs: Run[] = [];
    let addr = data.addr;
    for (const lba of data.blocks) {
      if (lba >= BigInt(blockCount)) {
        throw new RangeError(
          `IBlock.${op}: block ${lba} is past the end of the disk (${blockCount} blocks)`,
        );
      }
      const last = runs[runs.length - 1];
      if (last && last.lba + BigInt(last.count) === lba && last.count < MAX_SECTORS) last.count++;
      else runs.push({ lba, count: 1, addr });
      addr += BigInt(SECTOR);
    }
    return { id: nextId++ & 0x7fff_ffff, op, notify, runs, buffer: data.buffer, mapped: undefined };
  }

  /** Queues a request once its buffer is mapped; returns its id at once. */
  async function submit(op: "read" | "write", notify: Capability, data: BlockSeq): Promise<number> {
    if (stopped) throw new Error("the device is going away");
    const request = plan(op, notify, data);
    // The kernel checks the capability and that the whole transfer fits in the buffer.
    request.mapped = await ctx.dma.map(data.buffer, {
      writable: op === "read",
      address: data.addr,
      length: data.blocks.length * SECTOR,
    });
    if (stopped) {
      await ctx.dma.unmap(request.mapped).catch(() => {});
      throw new Error("the device is going away");
    }
    queue.push(request);
    pump();
    return request.id;
  }

  ctx.export("IBlock", {
    read: (notify: Capability, data: BlockSeq) => submit("read", notify, data),
    write: (notify: Capability, data: BlockSeq) => submit("write", notify, data),
    get_block_count: () => blockCount,
    get_block_size: () => SECTOR,
  });

  ctx.export("IIde", {
    identify: () => identity,
    identify_raw: () => identifyRaw.slice(),
    flush: () =>
      new Promise<number>((resolve) => {
        flushWaiters.push(resolve);
        runFlush();
      }),
  });

  /** FLUSH CACHE runs between requests, when the controller is idle. */
  function runFlush(): void {
    if (active || current || flushWaiters.length === 0) return;
    const waiters = flushWaiters.splice(0);
    void command("flush", () => {
      regs.device.write((w) => w.lba().dev(Dev.DEVICE0));
      regs.command.write((w) => w.cmd(identity.lba48 ? Cmd.FLUSH_CACHE_EXT : Cmd.FLUSH_CACHE));
    }).then((status) => {
      for (const w of waiters) w(status);
      pump();
    });
  }

  /** The interrupt entry: a command finished (or a PIO sector is ready). */
  function interrupt(line: number): void {
    const bm = regs.bmStatus.read();
    const st = regs.status.read();
    regs.bmStatus.write((w) => w.intr().err().drv0Dma());
    if (current?.kind === "dma") regs.bmCommand.write((w) => w.start(false));
    ctx.irq.ack(line);
    const pending = current;
    if (!pending || st.bsy()) return; // spurious, or not done yet
    current = undefined;
    const status = bm.err() ? BlockStatus.FAULT : st.err() ? BlockStatus.IO : BlockStatus.OK;
    pending.resolve(status);
    if (!active) runFlush();
  }

  return {
    stop() {
      stopped = true;
      const fail = (r: Request) =>
        ctx.invoke(r.notify, "INotify.complete", [r.id, BlockStatus.REMOVED]).catch(() => {});
      if (active) void fail(active.request);
      for (const r of queue.splice(0)) void fail(r);
      for (const w of flushWaiters.splice(0)) w(BlockStatus.REMOVED);
      current = undefined;
      active = undefined;
    },
  };
}
