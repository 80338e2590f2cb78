/**
 * A test harness that plays an IDE driver against the controller model directly: posted
 * registers go through `model.write()` / `model.read()`, plain ones are read from the windows'
 * shared memory, DMA buffers are mapped in a real IOMMU, raised interrupts are counted.
 *
 * @module
 */

import { pattern, tick } from "./_bytes.ts";
export { pattern, tick };
import {
  ATA_COMMAND,
  ATA_STATUS,
  BM_COMMAND,
  createIdeController,
  type IdeController,
  PRD_END_OF_TABLE,
  PRD_ENTRY_SIZE,
} from "../machine/ide_controller.ts";
import { DiskImage } from "../machine/disk_image.ts";
import { Iommu } from "../machine/iommu.ts";

/** One PRD entry to write into memory. */
export interface Prd {
  address: bigint;
  count: number;
  eot?: boolean;
}

/** Plays the driver. */
export class IdeHarness {
  readonly model: IdeController;
  readonly iommu: Iommu = new Iommu();
  readonly logs: string[] = [];
  readonly windows: Record<"cmd" | "ctl" | "bm", SharedArrayBuffer> = {
    cmd: new SharedArrayBuffer(4096),
    ctl: new SharedArrayBuffer(4096),
    bm: new SharedArrayBuffer(4096),
  };
  /** Interrupts raised so far. */
  interrupts = 0;
  #pending = 0;
  #waiter: (() => void) | undefined;
  #memory = new Map<bigint, Uint8Array>();

  constructor(image: DiskImage = DiskImage.memory(1 << 20), latencyMs = 0) {
    this.model = createIdeController({ name: "ide0", image, latencyMs });
    this.model.attach({
      windows: this.windows,
      raise: () => {
        this.interrupts++;
        this.#pending++;
        this.#waiter?.();
      },
      dma: this.iommu.port("ide0"),
      log: (message) => this.logs.push(message),
    });
  }

  /** A posted write. */
  out(window: "cmd" | "ctl" | "bm", offset: number, value: number, width: 1 | 2 | 4 = 1): void {
    this.model.write(window, offset, width, value);
  }

  /** A plain 8-bit read from shared memory. */
  in8(window: "cmd" | "ctl" | "bm", offset: number): number {
    return new Uint8Array(this.windows[window])[offset]!;
  }

  /** A plain 32-bit store into shared memory (the PRD address registers). */
  store32(window: "cmd" | "ctl" | "bm", offset: number, value: number): void {
    new DataView(this.windows[window]).setUint32(offset, value, true);
  }

  get status(): number {
    return this.in8("cmd", 7);
  }

  get error(): number {
    return this.in8("cmd", 1);
  }

  /** Waits for the next unconsumed interrupt. */
  waitIrq(timeoutMs = 2000): Promise<void> {
    if (this.#pending > 0) {
      this.#pending--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      // The waiter is set before the timer exists: under `deno test` the first setTimeout of a
      // process runs queued microtasks, so the interrupt may arrive while the timer is created.
      const state: { timer?: ReturnType<typeof setTimeout>; done: boolean } = { done: false };
      this.#waiter = () => {
        state.done = true;
        clearTimeout(state.timer);
        this.#waiter = undefined;
        this.#pending--;
        resolve();
      };
      state.timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(
          new Error(`no interrupt within ${timeoutMs} ms (status 0x${this.status.toString(16)})`),
        );
      }, timeoutMs);
      if (state.done) clearTimeout(state.timer);
    });
  }

  /** Interrupts raised and not yet waited for. */
  get pendingIrqs(): number {
    return this.#pending;
  }

  /** Yields to the event loop until BSY is clear (polling, as a driver with nIEN would). */
  async settle(maxTicks = 200): Promise<void> {
    for (let i = 0; i < maxTicks; i++) {
      if (!(this.in8("ctl", 0) & ATA_STATUS.BSY)) return;
      await tick();
    }
    throw new Error(`still BSY after ${maxTicks} ticks`);
  }

  /** Programs a 28-bit LBA and sector count (LBA mode, device 0). */
  taskFile28(lba: number, count: number): void {
    this.out("cmd", 6, 0x40 | ((lba >>> 24) & 0x0f));
    this.out("cmd", 2, count & 0xff);
    this.out("cmd", 3, lba & 0xff);
    this.out("cmd", 4, (lba >>> 8) & 0xff);
    this.out("cmd", 5, (lba >>> 16) & 0xff);
  }

  /** Programs a 48-bit LBA and sector count: previous (high) bytes first, then current. */
  taskFile48(lba: number, count: number): void {
    const byte = (n: number, i: number) => Math.floor(n / 2 ** (8 * i)) & 0xff;
    this.out("cmd", 6, 0x40);
    this.out("cmd", 2, byte(count, 1));
    this.out("cmd", 3, byte(lba, 3));
    this.out("cmd", 4, byte(lba, 4));
    this.out("cmd", 5, byte(lba, 5));
    this.out("cmd", 2, byte(count, 0));
    this.out("cmd", 3, byte(lba, 0));
    this.out("cmd", 4, byte(lba, 1));
    this.out("cmd", 5, byte(lba, 2));
  }

  /** IDENTIFY DEVICE: the 512-byte block. */
  async identify(): Promise<Uint8Array> {
    this.out("cmd", 7, ATA_COMMAND.IDENTIFY_DEVICE);
    await this.waitIrq();
    return this.#readBlock();
  }

  /** READ SECTORS (EXT) by PIO; `count` is what is written to the register (0 = 256/65536). */
  async pioRead(lba: number, count: number, ext = false): Promise<Uint8Array> {
    if (ext) this.taskFile48(lba, count);
    else this.taskFile28(lba, count);
    this.out("cmd", 7, ext ? ATA_COMMAND.READ_SECTORS_EXT : ATA_COMMAND.READ_SECTORS);
    const out = new Uint8Array(count * 512);
    for (let s = 0; s < count; s++) {
      await this.waitIrq();
      const status = this.status;
      if (status & ATA_STATUS.ERR) {
        throw new Error(`read failed: error 0x${this.error.toString(16)}`);
      }
      out.set(this.#readBlock(), s * 512);
    }
    return out;
  }

  /** WRITE SECTORS (EXT) by PIO. */
  async pioWrite(lba: number, data: Uint8Array, ext = false): Promise<void> {
    const count = data.length / 512;
    if (ext) this.taskFile48(lba, count);
    else this.taskFile28(lba, count);
    this.out("cmd", 7, ext ? ATA_COMMAND.WRITE_SECTORS_EXT : ATA_COMMAND.WRITE_SECTORS);
    await this.settle(); // no interrupt before the first sector: poll for DRQ
    for (let s = 0; s < count; s++) {
      if (!(this.status & ATA_STATUS.DRQ)) throw new Error(`no DRQ for sector ${s}`);
      for (let i = 0; i < 512; i += 2) {
        this.out("cmd", 0, data[s * 512 + i]! | (data[s * 512 + i + 1]! << 8), 2);
      }
      await this.waitIrq();
    }
  }

  /** Maps `size` bytes of fresh shared memory at `address` for the device. */
  map(address: bigint, size: number, writable = true): Uint8Array {
    const bytes = new Uint8Array(new SharedArrayBuffer(size));
    this.iommu.map("ide0", { address, length: size, bytes, writable, label: `buf@${address}` });
    this.#memory.set(address, bytes);
    return bytes;
  }

  /** Writes a PRD table into mapped memory at `table` and points the bus master at it. */
  prd(table: bigint, entries: readonly Prd[]): void {
    const [base, bytes] = [...this.#memory].find(([a, b]) =>
      table >= a && table + BigInt(entries.length * PRD_ENTRY_SIZE) <= a + BigInt(b.length)
    )!;
    const view = new DataView(bytes.buffer);
    entries.forEach((e, i) => {
      const at = Number(table - base) + i * PRD_ENTRY_SIZE;
      view.setBigUint64(at, e.address, true);
      view.setUint32(at + 8, e.count, true);
      view.setUint32(at + 12, e.eot ? PRD_END_OF_TABLE : 0, true);
    });
    this.store32("bm", 4, Number(table & 0xffff_ffffn));
    this.store32("bm", 8, Number(table >> 32n));
  }

  /** A whole DMA command: task file, command, BM start; waits for the interrupt; stops the BM. */
  async dma(code: number, lba: number, count: number): Promise<void> {
    const ext = code === ATA_COMMAND.READ_DMA_EXT || code === ATA_COMMAND.WRITE_DMA_EXT;
    const toMemory = code === ATA_COMMAND.READ_DMA || code === ATA_COMMAND.READ_DMA_EXT;
    if (ext) this.taskFile48(lba, count);
    else this.taskFile28(lba, count);
    this.out("bm", 2, 0x06); // clear interrupt and error
    this.out("cmd", 7, code);
    this.out("bm", 0, BM_COMMAND.START | (toMemory ? BM_COMMAND.TO_MEMORY : 0));
    await this.waitIrq();
    this.out("bm", 0, 0);
  }

  #readBlock(): Uint8Array {
    const block = new Uint8Array(512);
    for (let i = 0; i < 512; i += 2) {
      const word = this.model.read("cmd", 0, 2);
      block[i] = word & 0xff;
      block[i + 1] = word >> 8;
    }
    return block;
  }
}
