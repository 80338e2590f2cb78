// USB mass storage driver: SCSI commands in Bulk-Only Transport (USB MSC BOT 1.0) framing over
// the device's IUsbDevice; serves IBlock exactly like the IDE driver, so every block client works
// with both. Data moves straight between the device and the client's memory object (dma_in/out).

import {
  BlockStatus,
  type Capability,
  type DriverContext,
  type DriverInstance,
} from "../../driver.ts";

const CBW_SIGNATURE = 0x43425355; // "USBC"
const CSW_SIGNATURE = 0x53425355; // "USBS"
const CBW_LENGTH = 31;
const CSW_LENGTH = 13;
/** Blocks per READ(10)/WRITE(10) command. */
const MAX_BLOCKS = 128;

const TEST_UNIT_READY = 0x00;
const REQUEST_SENSE = 0x03;
const INQUIRY = 0x12;
const READ_CAPACITY_10 = 0x25;
const READ_10 = 0x28;
const WRITE_10 = 0x2a;
const SYNCHRONIZE_CACHE_10 = 0x35;

interface BlockSeq {
  /** A plain list, or a BigUint64Array (what BlockClient sends). */
  blocks: bigint[] | BigUint64Array;
  addr: bigint;
  buffer: Capability;
}

interface Request {
  id: number;
  /** Completed (its notify sent): a late completion after unplug is dropped. */
  done: boolean;
  op: "read" | "write";
  notify: Capability;
  data: BlockSeq;
}

/** A failed SCSI command, with its sense data when the device gave some. */
class ScsiError extends Error {
  override name = "ScsiError";
}

export async function start(ctx: DriverContext): Promise<DriverInstance> {
  const usb = ctx.device.caps.usb;
  const bulkIn = ctx.device.ids.bulkIn;
  const bulkOut = ctx.device.ids.bulkOut;
  if (!usb || bulkIn === undefined || bulkOut === undefined) {
    throw new TypeError("usb_storage: the device has no IUsbDevice or no bulk endpoints");
  }
  let tag = 1;
  let stopped = false;

  /** One BOT command: CBW, optional data stage, CSW. Returns the data read (for small reads). */
  async function command(
    cdb: number[],
    data: { in: number } | { out: Uint8Array } | { dmaIn: BlockSeq; length: number } | {
      dmaOut: BlockSeq;
      length: number;
    } | undefined,
  ): Promise<Uint8Array> {
    const t = tag++ >>> 0;
    const length = data === undefined
      ? 0
      : "in" in data
      ? data.in
      : "out" in data
      ? data.out.length
      : data.length;
    const cbw = new Uint8Array(CBW_LENGTH);
    const v = new DataView(cbw.buffer);
    v.setUint32(0, CBW_SIGNATURE, true);
    v.setUint32(4, t, true);
    v.setUint32(8, length, true);
    cbw[12] = data && ("in" in data || "dmaIn" in data) ? 0x80 : 0x00;
    cbw[13] = 0; // LUN
    cbw[14] = cdb.length;
    cbw.set(cdb, 15);
    await ctx.invoke(usb!, "IUsbDevice.transfer_out", [bulkOut, cbw]);
    let got: Uint8Array = new Uint8Array(0);
    if (data) {
      if ("in" in data) {
        got = await ctx.invoke(usb!, "IUsbDevice.transfer_in", [bulkIn, data.in]) as Uint8Array;
      } else if ("out" in data) {
        await ctx.invoke(usb!, "IUsbDevice.transfer_out", [bulkOut, data.out]);
      } else if ("dmaIn" in data) {
        await ctx.invoke(usb!, "IUsbDevice.dma_in", [
          bulkIn,
          data.dmaIn.buffer,
          data.dmaIn.addr,
          data.length,
        ]);
      } else {await ctx.invoke(usb!, "IUsbDevice.dma_out", [
          bulkOut,
          data.dmaOut.buffer,
          data.dmaOut.addr,
          data.length,
        ]);}
    }
    const csw = await ctx.invoke(usb!, "IUsbDevice.transfer_in", [
      bulkIn,
      CSW_LENGTH,
    ]) as Uint8Array;
    const c = new DataView(csw.buffer, csw.byteOffset, csw.byteLength);
    if (
      csw.length !== CSW_LENGTH || c.getUint32(0, true) !== CSW_SIGNATURE ||
      c.getUint32(4, true) !== t
    ) {
      throw new ScsiError(`bad CSW for SCSI command 0x${cdb[0]!.toString(16)}`);
    }
    if (csw[12] !== 0) {
      const sense = cdb[0] === REQUEST_SENSE
        ? undefined
        : await requestSense().catch(() => undefined);
      throw new ScsiError(
        `SCSI command 0x${cdb[0]!.toString(16)} failed${
          sense
            ? ` (sense key ${sense.key}, ASC 0x${sense.asc.toString(16)}/0x${
              sense.ascq.toString(16)
            })`
            : ""
        }`,
      );
    }
    return got;
  }

  async function requestSense(): Promise<{ key: number; asc: number; ascq: number }> {
    const s = await command([REQUEST_SENSE, 0, 0, 0, 18, 0], { in: 18 });
    return { key: (s[2] ?? 0) & 0x0f, asc: s[12] ?? 0, ascq: s[13] ?? 0 };
  }

  // Probe: INQUIRY, TEST UNIT READY, READ CAPACITY(10).
  const inquiry = await command([INQUIRY, 0, 0, 0, 36, 0], { in: 36 });
  const text = (from: number, to: number) =>
    String.fromCharCode(...inquiry.subarray(from, to)).trim();
  const identity = `${text(8, 16)} ${text(16, 32)} ${text(32, 36)}`.trim();
  await command([TEST_UNIT_READY, 0, 0, 0, 0, 0], undefined).catch(() =>
    command([TEST_UNIT_READY, 0, 0, 0, 0, 0], undefined)
  );
  const cap = await command([READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], { in: 8 });
  const cv = new DataView(cap.buffer, cap.byteOffset, cap.byteLength);
  const blockCount = cv.getUint32(0) + 1;
  const blockSize = cv.getUint32(4);
  ctx.log(`${identity}: ${blockCount} blocks of ${blockSize} bytes`);

  const queue: Request[] = [];
  let active: Request | undefined;
  let busy = false;
  let nextId = 1;

  function cdb10(op: number, lba: bigint, count: number): number[] {
    const l = Number(lba);
    return [
      op,
      0,
      (l >>> 24) & 0xff,
      (l >>> 16) & 0xff,
      (l >>> 8) & 0xff,
      l & 0xff,
      0,
      count >> 8,
      count & 0xff,
      0,
    ];
  }

  async function serve(r: Request): Promise<number> {
    let i = 0;
    while (i < r.data.blocks.length) {
      if (stopped) return BlockStatus.REMOVED;
      const first = r.data.blocks[i]!;
      let n = 1;
      while (
        i + n < r.data.blocks.length && n < MAX_BLOCKS && r.data.blocks[i + n] === first + BigInt(n)
      ) n++;
      const part = { ...r.data, addr: r.data.addr + BigInt(i * blockSize) };
      const length = n * blockSize;
      await command(
        cdb10(r.op === "read" ? READ_10 : WRITE_10, first, n),
        r.op === "read" ? { dmaIn: part, length } : { dmaOut: part, length },
      );
      i += n;
    }
    return BlockStatus.OK;
  }

  async function pump(): Promise<void> {
    if (busy) return;
    busy = true;
    while (queue.length > 0 && !stopped) {
      const r = queue.shift()!;
      active = r;
      let status: number;
      try {
        status = await serve(r);
      } catch (error) {
        // The device pulled out mid-command: the host controller driver or the kernel says
        // DeviceRemovedError, which the client should see, not an I/O error.
        const name = (error as Error)?.name;
        status = stopped || name === "DeviceRemovedError"
          ? BlockStatus.REMOVED
          : error instanceof ScsiError || name === "UsbError"
          ? BlockStatus.IO
          : BlockStatus.FAULT;
        ctx.log(`request ${r.id}: ${(error as Error).message}`);
      }
      active = undefined;
      complete(r, status);
    }
    busy = false;
  }

  function complete(r: Request, status: number): void {
    if (r.done) return;
    r.done = true;
    ctx.post(r.notify, "INotify.complete", [r.id, status]);
  }

  function submit(op: "read" | "write", notify: Capability, data: BlockSeq): number {
    if (stopped) throw new Error("the device is going away");
    if (data.blocks.length === 0) throw new RangeError(`IBlock.${op}: the block list is empty`);
    for (const b of data.blocks) {
      if (b >= BigInt(blockCount)) {
        throw new RangeError(
          `IBlock.${op}: block ${b} is past the end of the disk (${blockCount} blocks)`,
        );
      }
    }
    if (data.addr < data.buffer.address) {
      throw new RangeError(`IBlock.${op}: the address lies below the buffer's memory object`);
    }
    const r: Request = { id: nextId++ & 0x7fff_ffff, done: false, op, notify, data };
    queue.push(r);
    void pump();
    return r.id;
  }

  ctx.export("IBlock", {
    read: (notify: Capability, data: BlockSeq) => submit("read", notify, data),
    write: (notify: Capability, data: BlockSeq) => submit("write", notify, data),
    get_block_count: () => blockCount,
    get_block_size: () => blockSize,
  });
  ctx.export("IUsbStorage", {
    inquiry: () => identity,
    flush: async () => {
      try {
        await command([SYNCHRONIZE_CACHE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], undefined);
        return BlockStatus.OK;
      } catch {
        return BlockStatus.IO;
      }
    },
  });

  return {
    stop() {
      stopped = true;
      if (active) complete(active, BlockStatus.REMOVED);
      for (const r of queue.splice(0)) complete(r, BlockStatus.REMOVED);
    },
  };
}
