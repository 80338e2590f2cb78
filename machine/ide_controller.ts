/**
 * IDE (ATA) controller: a PIIX3-style PCI IDE function with one ATA disk (device 0) on its only
 * channel, PIO through the data port and bus-master DMA through the IOMMU, backed by a
 * {@linkcode DiskImage}.
 *
 * Interface: three register windows of 4 KiB each, in BAR order "cmd", "ctl", "bm"; one
 * interrupt line (INTRQ, line index 0).
 *
 * Registers. "Posted" accesses are not kept in shared memory by the driver side: they reach the
 * model (`write()` / `read()`), and the model stores the read-back value the table gives. Every
 * other readable register is kept current in place in the window by the model; a driver reads it
 * straight from shared memory. Multi-byte registers are little-endian.
 *
 * | reg   | width | read (value after reset)          | write                  | posted |
 * | ----- | ----- | --------------------------------- | ---------------------- | ------ |
 * | cmd+0 | 2 (4) | data: next PIO word               | data: next PIO word    | r, w   |
 * | cmd+1 | 1     | error (0x01)                      | features               | w      |
 * | cmd+2 | 1     | sector count (0x01)               | sector count (FIFO)    | w      |
 * | cmd+3 | 1     | LBA low: 7:0; HOB 31:24 (0x01)    | LBA low (FIFO)         | w      |
 * | cmd+4 | 1     | LBA mid: 15:8; HOB 39:32 (0x00)   | LBA mid (FIFO)         | w      |
 * | cmd+5 | 1     | LBA high: 23:16; HOB 47:40 (0x00) | LBA high (FIFO)        | w      |
 * | cmd+6 | 1     | device, as written (0x00)         | device                 | w      |
 * | cmd+7 | 1     | status (0x50)                     | command                | w      |
 * | ctl+0 | 1     | alternate status = status (0x50)  | device control         | w      |
 * | bm+0  | 1     | BM command, as written (0x00)     | BM command             | w      |
 * | bm+2  | 1     | BM status (0x00)                  | BM status (w1c, rw)    | w      |
 * | bm+4  | 4     | PRD table address 31:0 (0)        | same, bits 1:0 ignored | no     |
 * | bm+8  | 4     | PRD table address 63:32 (0)       | same                   | no     |
 *
 * Bits: status BSY 7, DRDY 6, DF 5, DSC 4, DRQ 3, ERR 0. Error UNC 6, IDNF 4, ABRT 2 (0x01
 * after a reset means "diagnostics passed"). Device LBA 6, DEV 4, LBA 27:24 in 3:0 (28-bit).
 * Device control HOB 7, SRST 2, nIEN 1. BM command DIR 3 (1: the device writes memory, a disk
 * read; 0: it reads memory), START 0. BM status DMA1 6 and DMA0 5 (drive DMA capable: stored, for
 * the driver), INT 2 and ERR 1 (write 1 to clear), ACTIVE 0 (read-only).
 *
 * The data port moves one 16-bit word per access; a 32-bit access moves two (low word first).
 * bm+4 and bm+8 are plain: the driver stores them in shared memory and the model reads them
 * when a transfer starts.
 *
 * Semantics, following ATA/ATAPI-6 and the PIIX bus master:
 * - Task-file registers 1-5 are two-deep FIFOs: a write moves the current value to "previous".
 *   28-bit commands use the current values (LBA 27:24 in the device register, bit 6 LBA required:
 *   there is no CHS); 48-bit (EXT) commands use previous:current (count = prev << 8 | cur, LBA =
 *   prev high..low, cur high..low). A count of 0 means 256 (28-bit) or 65536 (48-bit). Device
 *   control bit 7 (HOB) makes registers 2-5 read back the previous values; any write to the
 *   command block clears HOB.
 * - Only device 0 exists. With DEV = 1 selected, status and alternate status read 0 and
 *   commands are ignored; the other task-file registers are shared and still latch writes.
 * - Writing the command register sets BSY at once (inside `write()`); the work runs later (a
 *   microtask, or a timer with `latencyMs`), never re-entrantly. Task-file writes and commands
 *   while BSY are ignored (logged). A command written while DRQ is set abandons the data transfer.
 * - PIO data-in (IDENTIFY DEVICE, READ SECTORS (EXT)): per sector, DRQ and an interrupt, then 256
 *   words from the data port. PIO data-out (WRITE SECTORS (EXT)): DRQ without an interrupt for
 *   the first sector; after each sector is written an interrupt (DRQ again while more remain).
 * - DMA (READ/WRITE DMA (EXT)): the transfer runs when a DMA command is pending and the bus
 *   master is active (start written as 1; the order does not matter). The PRD table address is
 *   64 bits (bm+4 low, bm+8 high) and PRD entries are 16 bytes, little-endian: u64 address, u32
 *   byte count (non-zero, even), u32 flags (bit 31 = end of table); at most 4096 entries. This
 *   extends the PIIX's 32-bit address and 8-byte entries, because memory lives in a 64-bit single
 *   address space; bm+8 is free because this controller has one channel. The whole table is
 *   checked and every segment is mapped before any byte moves: a bad table (no end within 4096
 *   entries, a zero or odd count, a total other than the command's bytes), a direction that does
 *   not match the command, or an IOMMU fault fails the transfer with nothing moved: BM active
 *   cleared, BM error set, status ERR, error ABRT, interrupt. On success: BM active cleared,
 *   status DRDY, interrupt.
 * - The interrupt (env.raise) is asserted on completion unless nIEN; the BM interrupt bit is set
 *   when it is (as on the PIIX, it follows INTRQ, so with nIEN a driver polls BSY or BM active).
 *   Reading status does not acknowledge anything here: the line is an event, not a level.
 * - SRST written 1 sets BSY and abandons any command; written back to 0, the reset completes
 *   (later, like a command) with the signature of a PATA disk: count 1, LBA low 1, mid 0, high 0,
 *   device 0, error 0x01 (diagnostics passed), status DRDY|DSC, and no interrupt. Soft reset
 *   leaves the bus master registers alone; `reset()` (a hardware reset) clears them too.
 * - Bad guest accesses (unknown window or offset, wrong width, data port without DRQ) are logged
 *   with env.log and ignored, never thrown.
 *
 * @module
 */

import type { DeviceEnv, DeviceModel, SideEffectRegister, WindowSpec } from "./device_model.ts";
import { WINDOW_PAGE } from "./device_model.ts";
import { type DiskImage, SECTOR_SIZE } from "./disk_image.ts";
import { DmaFaultError } from "./iommu.ts";
import type { PciIdentity } from "./pci_bus.ts";

/** The PCI identity of the controller: an Intel PIIX3 IDE function (bus-master capable). */
export const IDE_PCI_IDENTITY: PciIdentity = {
  vendorId: 0x8086,
  deviceId: 0x7010,
  classCode: 0x01,
  subclass: 0x01,
  progIf: 0x80,
  revision: 0,
};

/** ATA status register bits (cmd+7, ctl+0). */
export const ATA_STATUS = {
  BSY: 0x80,
  DRDY: 0x40,
  DF: 0x20,
  DSC: 0x10,
  DRQ: 0x08,
  ERR: 0x01,
} as const;

/** ATA error register bits (cmd+1). */
export const ATA_ERROR = { ABRT: 0x04, IDNF: 0x10, UNC: 0x40 } as const;

/** ATA device register bits (cmd+6). */
export const ATA_DEVICE = { LBA: 0x40, DEV: 0x10 } as const;

/** ATA device control register bits (ctl+0). */
export const ATA_CONTROL = { NIEN: 0x02, SRST: 0x04, HOB: 0x80 } as const;

/** The ATA commands the model implements; anything else ends with ERR and ABRT. */
export const ATA_COMMAND = {
  READ_SECTORS: 0x20,
  READ_SECTORS_EXT: 0x24,
  READ_DMA_EXT: 0x25,
  WRITE_SECTORS: 0x30,
  WRITE_SECTORS_EXT: 0x34,
  WRITE_DMA_EXT: 0x35,
  READ_DMA: 0xc8,
  WRITE_DMA: 0xca,
  FLUSH_CACHE: 0xe7,
  FLUSH_CACHE_EXT: 0xea,
  IDENTIFY_DEVICE: 0xec,
  SET_FEATURES: 0xef,
} as const;

/** SET FEATURES subcommand (features register) that the model accepts: set transfer mode. */
export const SET_FEATURES_TRANSFER_MODE = 0x03;

/** Bus-master command register bits (bm+0). */
export const BM_COMMAND = {
  /** 1 starts (arms) the bus master, 0 stops it. */
  START: 0x01,
  /** Direction: 1 = the device writes memory (a disk read), 0 = the device reads memory. */
  TO_MEMORY: 0x08,
} as const;

/** Bus-master status register bits (bm+2). */
export const BM_STATUS = {
  ACTIVE: 0x01,
  ERROR: 0x02,
  INTERRUPT: 0x04,
  DRIVE0_DMA: 0x20,
  DRIVE1_DMA: 0x40,
} as const;

/** Size of one PRD entry in memory: u64 address, u32 byte count, u32 flags. */
export const PRD_ENTRY_SIZE = 16;

/** PRD flags bit: last entry of the table. */
export const PRD_END_OF_TABLE = 0x8000_0000;

/** The most entries a PRD table may have. */
export const PRD_MAX_ENTRIES = 4096;

/** The register windows of the controller. */
export type IdeWindow = "cmd" | "ctl" | "bm";

/** One register of the controller: a row of the module's table. */
export interface IdeRegister {
  readonly window: IdeWindow;
  readonly offset: number;
  /** Access widths allowed (the data port also takes 32-bit accesses: two words). */
  readonly widths: readonly (1 | 2 | 4)[];
  readonly name: string;
  /** Which accesses go to the model: "rw" reads and writes, "w" writes, "" none (plain memory). */
  readonly posted: "rw" | "w" | "";
  /** The value read after a hardware reset (none for the data port). */
  readonly reset?: number;
}

/**
 * The controller's registers: the module's table as data, for a register description to be
 * checked against and for hosts that need the posted offsets.
 *
 * @example
 * ```ts
 * import { IDE_REGISTERS } from "./ide_controller.ts";
 * const cmd = IDE_REGISTERS.filter((r) => r.window === "cmd" && r.posted !== "");
 * cmd.map((r) => r.offset); // [0, 1, 2, 3, 4, 5, 6, 7]
 * ```
 */
export const IDE_REGISTERS: readonly IdeRegister[] = [
  { window: "cmd", offset: 0, widths: [2, 4], name: "data", posted: "rw" },
  { window: "cmd", offset: 1, widths: [1], name: "error / features", posted: "w", reset: 0x01 },
  { window: "cmd", offset: 2, widths: [1], name: "sector count", posted: "w", reset: 0x01 },
  { window: "cmd", offset: 3, widths: [1], name: "LBA low", posted: "w", reset: 0x01 },
  { window: "cmd", offset: 4, widths: [1], name: "LBA mid", posted: "w", reset: 0x00 },
  { window: "cmd", offset: 5, widths: [1], name: "LBA high", posted: "w", reset: 0x00 },
  { window: "cmd", offset: 6, widths: [1], name: "device", posted: "w", reset: 0x00 },
  { window: "cmd", offset: 7, widths: [1], name: "status / command", posted: "w", reset: 0x50 },
  { window: "ctl", offset: 0, widths: [1], name: "alt status / control", posted: "w", reset: 0x50 },
  { window: "bm", offset: 0, widths: [1], name: "BM command", posted: "w", reset: 0x00 },
  { window: "bm", offset: 2, widths: [1], name: "BM status", posted: "w", reset: 0x00 },
  { window: "bm", offset: 4, widths: [4], name: "PRD table address low", posted: "", reset: 0 },
  { window: "bm", offset: 8, widths: [4], name: "PRD table address high", posted: "", reset: 0 },
];

/**
 * The registers whose accesses have side effects, in the form the machine's contract wants.
 *
 * @example
 * ```ts
 * import { IDE_SIDE_EFFECTS } from "./ide_controller.ts";
 * IDE_SIDE_EFFECTS.filter((r) => r.read).map((r) => `${r.window}+${r.offset}`); // ["cmd+0"]
 * ```
 */
export const IDE_SIDE_EFFECTS: readonly SideEffectRegister[] = IDE_REGISTERS
  .filter((r) => r.posted !== "")
  .map((r) => ({ window: r.window, offset: r.offset, read: r.posted === "rw", write: true }));

/** Registers by window and offset, for the access path. */
const REGISTER_INDEX: ReadonlyMap<string, ReadonlyMap<number, IdeRegister>> = new Map(
  (["cmd", "ctl", "bm"] as const).map((w) => [
    w,
    new Map(IDE_REGISTERS.filter((r) => r.window === w).map((r) => [r.offset, r])),
  ]),
);

/** Options of {@linkcode createIdeController}. */
export interface IdeControllerOptions {
  /** The device's name, e.g. `ide0`. */
  readonly name: string;
  /** The disk behind device 0; the controller owns it from now on and closes it in `close()`. */
  readonly image: DiskImage;
  /** Simulated latency of each step (command start, each PIO sector, a DMA transfer); default 0. */
  readonly latencyMs?: number;
  /** Serial number in IDENTIFY DEVICE (20 characters at most); default derived from `name`. */
  readonly serial?: string;
  /** Model number in IDENTIFY DEVICE (40 characters at most). */
  readonly model?: string;
}

/** Counters for tests and benchmarks. */
export interface IdeStats {
  /** Commands accepted for execution (including unknown ones, which end in ABRT). */
  readonly commands: number;
  /** Commands that ended with ERR. */
  readonly errors: number;
  readonly sectorsRead: number;
  readonly sectorsWritten: number;
  /** DMA transfers completed. */
  readonly dmaTransfers: number;
  /** DMA transfers failed by an IOMMU fault. */
  readonly dmaFaults: number;
  /** Interrupts raised. */
  readonly interrupts: number;
  /** FLUSH CACHE (EXT) commands completed. */
  readonly flushes: number;
  /** Soft and hardware resets completed. */
  readonly resets: number;
  /** Bad guest accesses logged and ignored. */
  readonly badAccesses: number;
}

/** The firmware revision reported in IDENTIFY DEVICE. */
const FIRMWARE = "MG 0.1";
const DEFAULT_MODEL = "MUNGI SIMULATED ATA DISK";
const MAX_LBA28 = 0x0fff_ffff;

const { BSY, DRDY, DSC, DRQ, ERR } = ATA_STATUS;
const { ABRT, IDNF, UNC } = ATA_ERROR;
const READY = DRDY | DSC;
const BUSY = BSY | DRDY | DSC;

/** The selected DMA mode, reported in IDENTIFY words 63 and 88. */
type DmaMode = { readonly kind: "mwdma" | "udma"; readonly mode: number };

type Transfer =
  | {
    readonly kind: "pio-in";
    readonly identify: boolean;
    lba: number;
    remaining: number;
    pos: number;
  }
  | { readonly kind: "pio-out"; lba: number; remaining: number; pos: number }
  | {
    readonly kind: "dma";
    readonly lba: number;
    readonly count: number;
    readonly toMemory: boolean;
    queued: boolean;
  };
type PioIn = Extract<Transfer, { kind: "pio-in" }>;
type DmaTransfer = Extract<Transfer, { kind: "dma" }>;

/**
 * The IDE controller model. Create it with {@linkcode createIdeController}.
 *
 * @example
 * ```ts
 * import { createIdeController, IDE_PCI_IDENTITY } from "./ide_controller.ts";
 * import { DiskImage } from "./disk_image.ts";
 * import { Machine } from "./machine.ts";
 * const machine = new Machine();
 * const ide = createIdeController({ name: "ide0", image: DiskImage.memory(1 << 20) });
 * const fn = await machine.attachPci(IDE_PCI_IDENTITY, ide);
 * fn.windows.map((w) => w.name); // ["cmd", "ctl", "bm"]
 * await machine.stop();
 * ```
 */
export class IdeController implements DeviceModel {
  /** The device's name. */
  readonly name: string;
  /** Windows in BAR order: "cmd", "ctl", "bm", one page each. */
  readonly windows: readonly WindowSpec[] = [
    { name: "cmd", size: WINDOW_PAGE },
    { name: "ctl", size: WINDOW_PAGE },
    { name: "bm", size: WINDOW_PAGE },
  ];
  /** One interrupt line. */
  readonly lines = 1;
  /** The posted registers of the module's table. */
  readonly sideEffects: readonly SideEffectRegister[] = IDE_SIDE_EFFECTS;
  /** The disk behind device 0. */
  readonly image: DiskImage;
  /** Simulated latency of each step in milliseconds. */
  readonly latencyMs: number;

  #serial: string;
  #model: string;
  #env: DeviceEnv | undefined;
  #cmd: Uint8Array = new Uint8Array(0);
  #ctl: Uint8Array = new Uint8Array(0);
  #bm: Uint8Array = new Uint8Array(0);
  #bmView: DataView = new DataView(new ArrayBuffer(0));

  // Task file: index 0-4 = features, count, LBA low, mid, high (cmd+1..5).
  #cur = new Uint8Array(5);
  #prev = new Uint8Array(5);
  #device = 0;
  #status = READY;
  #error = 0x01;
  #control = 0;
  #bmCommand = 0;
  #bmStatus = 0;
  #dmaMode: DmaMode = { kind: "udma", mode: 5 };

  #transfer: Transfer | undefined;
  #sector = new Uint8Array(SECTOR_SIZE);
  #prdEntry = new Uint8Array(PRD_ENTRY_SIZE);
  #prdView = new DataView(this.#prdEntry.buffer);
  #epoch = 0;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  #stats = {
    commands: 0,
    errors: 0,
    sectorsRead: 0,
    sectorsWritten: 0,
    dmaTransfers: 0,
    dmaFaults: 0,
    interrupts: 0,
    flushes: 0,
    resets: 0,
    badAccesses: 0,
  };

  constructor(options: IdeControllerOptions) {
    if (typeof options.name !== "string" || options.name === "") {
      throw new TypeError("Cannot create an IDE controller: name must be a non-empty string");
    }
    const latency = options.latencyMs ?? 0;
    if (!Number.isFinite(latency) || latency < 0) {
      throw new RangeError(
        `Cannot create IDE controller ${options.name}: latencyMs ${latency} is not >= 0`,
      );
    }
    this.name = options.name;
    this.image = options.image;
    this.latencyMs = latency;
    this.#serial = options.serial ?? `MUNGI-${options.name}`;
    this.#model = options.model ?? DEFAULT_MODEL;
  }

  /** A snapshot of the counters. */
  get stats(): IdeStats {
    return { ...this.#stats };
  }

  /** Takes the windows and DMA port, then performs a hardware reset. */
  attach(env: DeviceEnv): void {
    const view = (name: IdeWindow): Uint8Array => {
      const buffer = env.windows[name];
      if (!buffer || buffer.byteLength < WINDOW_PAGE) {
        throw new TypeError(`Cannot attach ${this.name}: window "${name}" is missing or too small`);
      }
      return new Uint8Array(buffer);
    };
    this.#cmd = view("cmd");
    this.#ctl = view("ctl");
    this.#bm = view("bm");
    this.#bmView = new DataView(this.#bm.buffer);
    this.#env = env;
    this.#closed = false;
    this.reset();
  }

  /** Hardware reset: task file signature, status DRDY|DSC, bus master cleared, work abandoned. */
  reset(): void {
    this.#cancel();
    this.#signature();
    this.#control = 0;
    this.#bmCommand = 0;
    this.#bmStatus = 0;
    this.#dmaMode = { kind: "udma", mode: 5 };
    if (this.#env) {
      this.#bmView.setUint32(4, 0, true);
      this.#bmView.setUint32(8, 0, true);
    }
    this.#stats.resets++;
    this.#publish();
  }

  /** A driver wrote a register; see the module's table. Bad accesses are logged and ignored. */
  write(window: string, offset: number, width: 1 | 2 | 4, value: number): void {
    if (!this.#env || this.#closed) return;
    const r = this.#register(window, offset, width, "write");
    if (r) {
      switch (r.window) {
        case "cmd":
          this.#writeCmd(offset, width, value);
          break;
        case "ctl":
          this.#writeControl(value & 0xff);
          break;
        case "bm":
          this.#writeBm(offset, value);
          break;
      }
    }
    this.#publish();
  }

  /**
   * A driver read a register through the model: the data port (posted), or any other register
   * for hosts that route every read here (the current window value). Bad accesses read 0.
   */
  read(window: string, offset: number, width: 1 | 2 | 4): number {
    if (!this.#env || this.#closed) return 0;
    const r = this.#register(window, offset, width, "read");
    if (!r) return 0;
    if (r.posted === "rw") {
      const low = this.#dataRead();
      if (width !== 4) return low;
      return (low | (this.#dataRead() << 16)) >>> 0;
    }
    const bytes = r.window === "cmd" ? this.#cmd : r.window === "ctl" ? this.#ctl : this.#bm;
    const v = new DataView(bytes.buffer);
    return width === 1
      ? v.getUint8(offset)
      : width === 2
      ? v.getUint16(offset, true)
      : v.getUint32(offset, true);
  }

  /** Abandons all work and closes (flushes) the disk image. */
  close(): void {
    if (this.#closed) return;
    this.#cancel();
    this.#closed = true;
    this.image.close();
  }

  // --- register access ---------------------------------------------------------------------

  #register(window: string, offset: number, width: number, what: string): IdeRegister | undefined {
    const r = REGISTER_INDEX.get(window)?.get(offset);
    if (r && (r.widths as readonly number[]).includes(width)) return r;
    this.#bad(`${width}-byte ${what} at ${window}+${offset} is not a register access`);
    return undefined;
  }

  #writeCmd(offset: number, width: number, value: number): void {
    this.#control &= ~ATA_CONTROL.HOB;
    if (offset === 0) {
      this.#dataWrite(value & 0xffff);
      if (width === 4) this.#dataWrite(value >>> 16);
      return;
    }
    if (offset === 7) {
      this.#command(value & 0xff);
      return;
    }
    if (this.#status & BSY) {
      this.#bad(`write of 0x${hex(value)} to cmd+${offset} while BSY is ignored`);
      return;
    }
    if (offset === 6) {
      this.#device = value & 0xff;
      return;
    }
    this.#prev[offset - 1] = this.#cur[offset - 1]!;
    this.#cur[offset - 1] = value & 0xff;
  }

  #writeControl(value: number): void {
    const was = this.#control;
    this.#control = value & (ATA_CONTROL.NIEN | ATA_CONTROL.SRST | ATA_CONTROL.HOB);
    if ((value & ATA_CONTROL.SRST) && !(was & ATA_CONTROL.SRST)) {
      this.#cancel();
      this.#status = BSY;
    } else if (!(value & ATA_CONTROL.SRST) && (was & ATA_CONTROL.SRST)) {
      this.#schedule(() => {
        this.#signature();
        this.#stats.resets++;
      });
    }
  }

  #writeBm(offset: number, value: number): void {
    if (offset === 4 || offset === 8) {
      // Plain registers: only a host that routes every write gets here; store as written.
      this.#bmView.setUint32(offset, value >>> 0, true);
      return;
    }
    if (offset === 2) {
      this.#bmStatus &= ~(value & (BM_STATUS.ERROR | BM_STATUS.INTERRUPT));
      this.#bmStatus = (this.#bmStatus & ~0x60) | (value & 0x60);
      return;
    }
    const active = (this.#bmStatus & BM_STATUS.ACTIVE) !== 0;
    let command = value & (BM_COMMAND.START | BM_COMMAND.TO_MEMORY);
    if (active && (command ^ this.#bmCommand) & BM_COMMAND.TO_MEMORY) {
      this.#bad("BM direction changed while the bus master is active: ignored");
      command = (command & ~BM_COMMAND.TO_MEMORY) | (this.#bmCommand & BM_COMMAND.TO_MEMORY);
    }
    this.#bmCommand = command;
    if (command & BM_COMMAND.START) {
      this.#bmStatus |= BM_STATUS.ACTIVE;
      this.#queueDma();
    } else {
      this.#bmStatus &= ~BM_STATUS.ACTIVE;
    }
  }

  /**
   * Writes every read-back value into the windows, status last. Only the two status bytes are
   * atomic stores: they order the plain stores before them for a driver on another thread (it
   * reads registers after an atomic load of its own: the interrupt's ring message, the applied
   * count of its writes), and 13 atomic stores after every register write cost the in-kernel
   * host 16-23 % of a 512 B request.
   */
  #publish(): void {
    if (!this.#env) return;
    const regs = (this.#control & ATA_CONTROL.HOB) !== 0 ? this.#prev : this.#cur;
    const cmd = this.#cmd, bm = this.#bm;
    cmd[0] = 0;
    cmd[1] = this.#error;
    cmd[2] = regs[1]!;
    cmd[3] = regs[2]!;
    cmd[4] = regs[3]!;
    cmd[5] = regs[4]!;
    cmd[6] = this.#device;
    bm[0] = this.#bmCommand;
    bm[1] = 0;
    bm[2] = this.#bmStatus;
    bm[3] = 0;
    const status = this.#device & ATA_DEVICE.DEV ? 0 : this.#status;
    Atomics.store(this.#ctl, 0, status);
    Atomics.store(cmd, 7, status);
  }

  #bad(message: string): void {
    this.#stats.badAccesses++;
    this.#env?.log(message);
  }

  // --- commands ----------------------------------------------------------------------------

  #command(code: number): void {
    if (this.#device & ATA_DEVICE.DEV) return; // no device 1: nobody answers
    if (this.#status & BSY) {
      this.#bad(`command 0x${hex(code)} while BSY is ignored`);
      return;
    }
    if (this.#transfer && (this.#status & DRQ)) {
      this.#bad(`command 0x${hex(code)} abandons the ${this.#transfer.kind} data transfer`);
    }
    this.#transfer = undefined;
    this.#stats.commands++;
    this.#error = 0;
    this.#status = BUSY;
    const C = ATA_COMMAND;
    switch (code) {
      case C.IDENTIFY_DEVICE:
        this.#startPioIn({ kind: "pio-in", identify: true, lba: 0, remaining: 1, pos: 0 });
        return;
      case C.READ_SECTORS:
      case C.READ_SECTORS_EXT: {
        const range = this.#range(code === C.READ_SECTORS_EXT);
        if (typeof range === "number") return this.#failLater(range);
        this.#startPioIn({ kind: "pio-in", identify: false, ...range, pos: 0 });
        return;
      }
      case C.WRITE_SECTORS:
      case C.WRITE_SECTORS_EXT: {
        const range = this.#range(code === C.WRITE_SECTORS_EXT);
        if (typeof range === "number") return this.#failLater(range);
        const t: Transfer = { kind: "pio-out", ...range, pos: 0 };
        this.#transfer = t;
        this.#schedule(() => {
          if (this.#transfer !== t) return;
          this.#status = READY | DRQ; // no interrupt before the first sector
        });
        return;
      }
      case C.READ_DMA:
      case C.READ_DMA_EXT:
      case C.WRITE_DMA:
      case C.WRITE_DMA_EXT: {
        const range = this.#range(code === C.READ_DMA_EXT || code === C.WRITE_DMA_EXT);
        if (typeof range === "number") return this.#failLater(range);
        const toMemory = code === C.READ_DMA || code === C.READ_DMA_EXT;
        this.#transfer = {
          kind: "dma",
          lba: range.lba,
          count: range.remaining,
          toMemory,
          queued: false,
        };
        this.#queueDma();
        return;
      }
      case C.FLUSH_CACHE:
      case C.FLUSH_CACHE_EXT:
        this.#schedule(() => {
          try {
            this.image.flush();
          } catch (error) {
            this.#env?.log(`FLUSH CACHE failed: ${message(error)}`);
            return this.#fail(ABRT);
          }
          this.#stats.flushes++;
          this.#complete();
        });
        return;
      case C.SET_FEATURES:
        this.#schedule(() => this.#setFeatures());
        return;
      default:
        this.#env?.log(`unsupported command 0x${hex(code)}: aborted`);
        this.#failLater(ABRT);
    }
  }

  /** The LBA and count of a read or write command, or the error bits that reject it. */
  #range(ext: boolean): { lba: number; remaining: number } | number {
    const c = this.#cur, p = this.#prev;
    let lba: number, count: number;
    if (ext) {
      lba = p[4]! * 2 ** 40 + p[3]! * 2 ** 32 + p[2]! * 2 ** 24 + c[4]! * 2 ** 16 + c[3]! * 2 ** 8 +
        c[2]!;
      count = p[1]! * 256 + c[1]! || 65536;
    } else {
      if (!(this.#device & ATA_DEVICE.LBA)) {
        this.#env?.log("CHS addressing is not supported: set bit 6 (LBA) of the device register");
        return ABRT;
      }
      lba = (this.#device & 0x0f) * 2 ** 24 + c[4]! * 2 ** 16 + c[3]! * 2 ** 8 + c[2]!;
      count = c[1]! || 256;
    }
    if (lba + count > this.image.sectors) {
      this.#env?.log(
        `LBA ${lba} + ${count} sectors is beyond the disk's ${this.image.sectors} sectors`,
      );
      return IDNF;
    }
    return { lba, remaining: count };
  }

  #setFeatures(): void {
    if (this.#cur[0] !== SET_FEATURES_TRANSFER_MODE) {
      this.#env?.log(`SET FEATURES subcommand 0x${hex(this.#cur[0]!)} is not supported: aborted`);
      return this.#fail(ABRT);
    }
    const value = this.#cur[1]!, type = value >> 3, mode = value & 7;
    // PIO modes (default, or flow control 0-4) are accepted and change nothing observable.
    if ((type === 0 && mode <= 1) || (type === 1 && mode <= 4)) this.#complete();
    else if ((type === 4 && mode <= 2) || (type === 8 && mode <= 5)) {
      this.#dmaMode = { kind: type === 4 ? "mwdma" : "udma", mode };
      this.#complete();
    } else {
      this.#env?.log(`transfer mode 0x${hex(value)} is not supported: aborted`);
      this.#fail(ABRT);
    }
  }

  // --- PIO ---------------------------------------------------------------------------------

  #startPioIn(t: PioIn): void {
    this.#transfer = t;
    this.#schedule(() => this.#loadSector(t));
  }

  /** PIO data-in: fills the sector buffer, sets DRQ and interrupts. */
  #loadSector(t: PioIn): void {
    if (this.#transfer !== t) return;
    if (t.identify) {
      this.#sector.set(this.#identify());
    } else {
      try {
        this.image.readSectors(t.lba, 1, this.#sector);
      } catch (error) {
        this.#env?.log(`read of LBA ${t.lba} failed: ${message(error)}`);
        return this.#fail(UNC);
      }
      this.#stats.sectorsRead++;
    }
    t.pos = 0;
    this.#status = READY | DRQ;
    this.#interrupt();
  }

  #dataRead(): number {
    const t = this.#transfer;
    if (!t || t.kind !== "pio-in" || !(this.#status & DRQ)) {
      this.#bad("data port read with no data ready (DRQ clear)");
      return 0;
    }
    const word = this.#sector[t.pos]! | (this.#sector[t.pos + 1]! << 8);
    t.pos += 2;
    if (t.pos === SECTOR_SIZE) {
      t.remaining--;
      t.lba++;
      if (t.remaining === 0) {
        this.#transfer = undefined;
        this.#status = READY; // PIO data-in: no interrupt after the last sector
      } else {
        this.#status = BUSY;
        this.#schedule(() => this.#loadSector(t));
      }
      this.#publish();
    }
    return word;
  }

  #dataWrite(word: number): void {
    const t = this.#transfer;
    if (!t || t.kind !== "pio-out" || !(this.#status & DRQ)) {
      this.#bad("data port write with no data wanted (DRQ clear)");
      return;
    }
    this.#sector[t.pos] = word & 0xff;
    this.#sector[t.pos + 1] = word >> 8;
    t.pos += 2;
    if (t.pos < SECTOR_SIZE) return;
    this.#status = BUSY;
    this.#schedule(() => {
      if (this.#transfer !== t) return;
      try {
        this.image.writeSectors(t.lba, this.#sector);
      } catch (error) {
        this.#env?.log(`write of LBA ${t.lba} failed: ${message(error)}`);
        return this.#fail(ABRT);
      }
      this.#stats.sectorsWritten++;
      t.remaining--;
      t.lba++;
      t.pos = 0;
      if (t.remaining === 0) {
        this.#transfer = undefined;
        this.#status = READY;
      } else {
        this.#status = READY | DRQ;
      }
      this.#interrupt();
    });
  }

  // --- DMA ---------------------------------------------------------------------------------

  /** Queues the transfer when a DMA command is pending and the bus master is active. */
  #queueDma(): void {
    const t = this.#transfer;
    if (!t || t.kind !== "dma" || t.queued || !(this.#bmStatus & BM_STATUS.ACTIVE)) return;
    t.queued = true;
    this.#schedule(() => this.#runDma(t));
  }

  #runDma(t: DmaTransfer): void {
    if (this.#transfer !== t) return;
    t.queued = false;
    if (!(this.#bmStatus & BM_STATUS.ACTIVE)) return; // stopped before it ran: wait for a start
    if (t.toMemory !== ((this.#bmCommand & BM_COMMAND.TO_MEMORY) !== 0)) {
      this.#env?.log(`BM direction does not match the ${t.toMemory ? "read" : "write"} command`);
      return this.#dmaFail();
    }
    let segments: Uint8Array[];
    try {
      const result = this.#prdSegments(t);
      if (typeof result === "string") {
        this.#env?.log(result);
        return this.#dmaFail();
      }
      segments = result;
    } catch (error) {
      if (error instanceof DmaFaultError) this.#stats.dmaFaults++;
      this.#env?.log(`DMA failed: ${message(error)}`);
      return this.#dmaFail();
    }
    try {
      // One transfer of consecutive sectors, in as many pieces as the PRD table has entries.
      if (t.toMemory) this.image.readvAt(t.lba * SECTOR_SIZE, segments);
      else this.image.writevAt(t.lba * SECTOR_SIZE, segments);
    } catch (error) {
      this.#env?.log(
        `DMA ${t.toMemory ? "read" : "write"} at LBA ${t.lba} failed: ${message(error)}`,
      );
      this.#bmStatus &= ~BM_STATUS.ACTIVE;
      return this.#fail(t.toMemory ? UNC : ABRT);
    }
    if (t.toMemory) this.#stats.sectorsRead += t.count;
    else this.#stats.sectorsWritten += t.count;
    this.#stats.dmaTransfers++;
    this.#bmStatus &= ~BM_STATUS.ACTIVE;
    this.#complete();
  }

  /**
   * Walks the PRD table and maps every segment (through the IOMMU) before any byte moves.
   * Returns the segments, or why the table is bad; throws DmaFaultError on an unmapped access.
   */
  #prdSegments(t: DmaTransfer): Uint8Array[] | string {
    const dma = this.#env!.dma;
    const need = t.count * SECTOR_SIZE;
    const base = (BigInt(this.#bmView.getUint32(8, true)) << 32n) |
      BigInt(this.#bmView.getUint32(4, true) & ~3);
    const segments: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < PRD_MAX_ENTRIES; i++) {
      const at = base + BigInt(i * PRD_ENTRY_SIZE);
      dma.readInto(at, this.#prdEntry);
      const address = this.#prdView.getBigUint64(0, true);
      const count = this.#prdView.getUint32(8, true);
      const flags = this.#prdView.getUint32(12, true);
      if (count === 0 || count % 2 !== 0) {
        return `PRD entry ${i} at ${addr(at)}: byte count ${count} is zero or odd`;
      }
      total += count;
      if (total > need) {
        return `PRD table at ${addr(base)} describes more than the command's ${need} bytes`;
      }
      segments.push(dma.view(address, count, t.toMemory ? "write" : "read"));
      if (flags & PRD_END_OF_TABLE) {
        if (total < need) {
          return `PRD table at ${addr(base)} describes ${total} bytes, the command needs ${need}`;
        }
        return segments;
      }
    }
    return `PRD table at ${addr(base)} has no end-of-table flag within ${PRD_MAX_ENTRIES} entries`;
  }

  #dmaFail(): void {
    this.#bmStatus = (this.#bmStatus & ~BM_STATUS.ACTIVE) | BM_STATUS.ERROR;
    this.#fail(ABRT);
  }

  // --- completion, interrupts, scheduling ----------------------------------------------------

  #complete(): void {
    this.#transfer = undefined;
    this.#error = 0;
    this.#status = READY;
    this.#interrupt();
  }

  #fail(error: number): void {
    this.#transfer = undefined;
    this.#error = error;
    this.#status = READY | ERR;
    this.#stats.errors++;
    this.#interrupt();
  }

  #failLater(error: number): void {
    this.#schedule(() => this.#fail(error));
  }

  /** Publishes the registers, then asserts INTRQ unless nIEN. */
  #interrupt(): void {
    if (!(this.#control & ATA_CONTROL.NIEN)) this.#bmStatus |= BM_STATUS.INTERRUPT;
    this.#publish();
    if (this.#control & ATA_CONTROL.NIEN) return;
    this.#stats.interrupts++;
    this.#env?.raise(0);
  }

  /** Runs a step later (never inside the caller), unless a reset or close intervenes. */
  #schedule(step: () => void): void {
    const epoch = this.#epoch;
    const run = (): void => {
      if (epoch !== this.#epoch || this.#closed) return;
      try {
        step();
      } catch (error) {
        this.#env?.log(`internal error: ${message(error)}`);
        this.#bmStatus &= ~BM_STATUS.ACTIVE;
        this.#fail(ABRT);
      }
      this.#publish();
    };
    if (this.latencyMs === 0) {
      queueMicrotask(run);
      return;
    }
    const id = setTimeout(() => {
      this.#timers.delete(id);
      run();
    }, this.latencyMs);
    this.#timers.add(id);
  }

  /** Abandons the command in progress and every scheduled step. */
  #cancel(): void {
    this.#epoch++;
    for (const id of this.#timers) clearTimeout(id);
    this.#timers.clear();
    this.#transfer = undefined;
  }

  /** The PATA signature and state after a reset. */
  #signature(): void {
    this.#cur.set([0, 1, 1, 0, 0]);
    this.#prev.fill(0);
    this.#device = 0;
    this.#error = 0x01;
    this.#status = READY;
  }

  // --- IDENTIFY DEVICE -----------------------------------------------------------------------

  #identify(): Uint8Array {
    const w = new Uint16Array(256);
    const sectors = this.image.sectors;
    const heads = 16, perTrack = 63;
    const cylinders = Math.min(16383, Math.floor(sectors / (heads * perTrack)));
    const chs = cylinders * heads * perTrack;
    const lba28 = Math.min(sectors, MAX_LBA28);
    w[0] = 0x0040; // ATA device, fixed
    w[1] = cylinders;
    w[3] = heads;
    w[6] = perTrack;
    ataString(w, 10, 10, this.#serial);
    ataString(w, 23, 4, FIRMWARE);
    ataString(w, 27, 20, this.#model);
    w[47] = 0x8000; // READ/WRITE MULTIPLE not supported
    w[49] = 0x0300; // LBA and DMA supported
    w[50] = 0x4000;
    w[51] = 0x0200;
    w[53] = 0x0007; // words 54-58, 64-70 and 88 valid
    w[54] = cylinders;
    w[55] = heads;
    w[56] = perTrack;
    w[57] = chs & 0xffff;
    w[58] = chs >>> 16;
    w[60] = lba28 & 0xffff;
    w[61] = lba28 >>> 16;
    w[63] = 0x0007 | (this.#dmaMode.kind === "mwdma" ? 0x100 << this.#dmaMode.mode : 0);
    w[64] = 0x0003; // PIO modes 3 and 4
    w.fill(120, 65, 69); // words 65-68: minimum cycle times, ns
    w[80] = 0x00f0; // ATA/ATAPI-4 to -7
    w[82] = 0x0020; // write cache
    w[83] = 0x7400; // LBA48, FLUSH CACHE, FLUSH CACHE EXT
    w[84] = 0x4000;
    w[85] = 0x0020;
    w[86] = 0x3400;
    w[87] = 0x4000;
    w[88] = 0x003f | (this.#dmaMode.kind === "udma" ? 0x100 << this.#dmaMode.mode : 0);
    w[93] = 0x400b; // device 0 passed diagnostics, number by jumper
    for (let i = 0; i < 4; i++) w[100 + i] = Math.floor(sectors / 2 ** (16 * i)) & 0xffff;
    w[106] = 0x4000; // one logical sector per physical sector
    const bytes = new Uint8Array(SECTOR_SIZE);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < 255; i++) view.setUint16(2 * i, w[i]!, true);
    bytes[510] = 0xa5;
    let sum = 0;
    for (let i = 0; i < 511; i++) sum += bytes[i]!;
    bytes[511] = -sum & 0xff;
    return bytes;
  }
}

/**
 * Creates an IDE controller with one disk. Attach it with
 * `machine.attachPci(IDE_PCI_IDENTITY, controller)`.
 *
 * @example
 * ```ts
 * import { createIdeController } from "./ide_controller.ts";
 * import { DiskImage } from "./disk_image.ts";
 * const ide = createIdeController({ name: "ide0", image: DiskImage.memory(1 << 20) });
 * ide.windows.length; // 3
 * ```
 */
export function createIdeController(options: IdeControllerOptions): IdeController {
  return new IdeController(options);
}

/** Stores an ATA string: two characters a word, the first in the high byte, padded with spaces. */
function ataString(words: Uint16Array, first: number, count: number, text: string): void {
  const s = text.replace(/[^\x20-\x7e]/g, "?").padEnd(count * 2, " ").slice(0, count * 2);
  for (let i = 0; i < count; i++) {
    words[first + i] = (s.charCodeAt(2 * i) << 8) | s.charCodeAt(2 * i + 1);
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function addr(a: bigint): string {
  return `0x${a.toString(16).padStart(16, "0")}`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
