/**
 * What generated register accessors run on: the {@linkcode RegisterWindow} they read and write, the
 * register map they export as data, and {@linkcode BufferWindow}, a window over plain memory.
 *
 * Doorbells. A write to some registers makes the device act (ATA `command`, a DMA start bit). The
 * generated accessors do not signal this themselves: every access, including `writeRaw()`, goes
 * through the window, so the window decides. Whoever builds a window passes it the doorbell
 * offsets from the register map ({@linkcode doorbellOffsets}); {@linkcode BufferWindow} then calls
 * `onDoorbell` after each write to one of them. The kernel's shared-memory window does the same
 * to wake the device model. Reads never ring a doorbell.
 *
 * @module
 */

/** Access mode of a register or a bit field. `w1c`: writing 1 to a bit clears it, 0 leaves it. */
export type RegisterAccess = "rw" | "ro" | "wo" | "w1c";

/** Register width in bits. */
export type RegisterWidth = 8 | 16 | 32;

/** One named value of an enumerated field. */
export interface EnumValueMap {
  /** The value's name, as written (`READ_DMA`). */
  readonly name: string;
  /** The field value it names. */
  readonly value: number;
}

/** The named values of a field; `name` is the generated constant (`Cmd`). */
export interface EnumMap {
  /** Name of the generated constant and type. */
  readonly name: string;
  /** The named values, in source order. */
  readonly values: readonly EnumValueMap[];
}

/** A bit field: bits `msb` down to `lsb` (inclusive) of its register. */
export interface FieldMap {
  /** The field's name, as written (`BSY`). */
  readonly name: string;
  /** Highest bit of the field. */
  readonly msb: number;
  /** Lowest bit of the field; equal to `msb` for a one-bit field. */
  readonly lsb: number;
  /** The register's access mode, or the field's narrower one. */
  readonly access: RegisterAccess;
  /** Named values of the field, if it has any. */
  readonly enum?: EnumMap;
}

/** A register: where it is, how wide, how it may be accessed and what reset leaves in it. */
export interface RegisterMap {
  /** The register's name, as written (`sector_count`). */
  readonly name: string;
  /** Name of the window it is in. */
  readonly window: string;
  /** Byte offset in the window (port number in a port window), aligned to the width. */
  readonly offset: number;
  /** Width in bits. */
  readonly width: RegisterWidth;
  /** Access mode. */
  readonly access: RegisterAccess;
  /** Value after a device reset. */
  readonly reset: number;
  /** Writes have side effects on the device: the window must tell the device model. */
  readonly doorbell: boolean;
  /** Bit fields, in source order. */
  readonly fields: readonly FieldMap[];
}

/** A page-granular register window of a device. */
export interface WindowMap {
  /** The window's name (`cmd`), the key for it in the device class's windows. */
  readonly name: string;
  /** Size in bytes, a multiple of 4096. */
  readonly size: number;
  /**
   * I/O port space (IA-32 `in`/`out`): each offset is its own register, so a 16-bit register at
   * 0 does not cover offset 1 (the ATA data port sits beside the error register). Otherwise the
   * window is memory-mapped and a register covers `width / 8` bytes.
   */
  readonly ports: boolean;
}

/**
 * A device's register map, as exported by generated files (`ATA_MAP`): for tooling, and for
 * device models, which take reset values and doorbell offsets from it.
 *
 * @example
 * ```ts
 * import type { DeviceMap } from "./runtime.ts";
 * const map: DeviceMap = {
 *   name: "uart",
 *   windows: [{ name: "io", size: 4096, ports: true }],
 *   registers: [{
 *     name: "lsr",
 *     window: "io",
 *     offset: 5,
 *     width: 8,
 *     access: "ro",
 *     reset: 0x60,
 *     doorbell: false,
 *     fields: [{ name: "DR", msb: 0, lsb: 0, access: "ro" }],
 *   }],
 * };
 * ```
 */
export interface DeviceMap {
  /** The device's name (`ata`). */
  readonly name: string;
  /** Its register windows, in source order. */
  readonly windows: readonly WindowMap[];
  /** Its registers, in source order. */
  readonly registers: readonly RegisterMap[];
}

/**
 * A device register window as a driver sees it. Offsets are bytes from the window's start and
 * values are unsigned; multi-byte registers are little-endian. Implementations decide what a
 * write to a doorbell register does (see the module documentation).
 *
 * @example
 * ```ts
 * import type { RegisterWindow } from "./runtime.ts";
 * function identify(window: RegisterWindow): void {
 *   window.write8(7, 0xec);
 * }
 * ```
 */
export interface RegisterWindow {
  /** Reads the 8-bit register at `offset`. */
  read8(offset: number): number;
  /** Reads the 16-bit register at `offset`. */
  read16(offset: number): number;
  /** Reads the 32-bit register at `offset`. */
  read32(offset: number): number;
  /** Writes the 8-bit register at `offset`. */
  write8(offset: number, value: number): void;
  /** Writes the 16-bit register at `offset`. */
  write16(offset: number, value: number): void;
  /** Writes the 32-bit register at `offset`. */
  write32(offset: number, value: number): void;
}

/** Options for {@linkcode BufferWindow}. */
export interface BufferWindowOptions {
  /** Byte offset of the window in the buffer; default 0. */
  byteOffset?: number;
  /** Size of the window in bytes (in ports, for `ports`); default: the rest of the buffer. */
  size?: number;
  /**
   * Port space: each offset is a separate register held in its own 4-byte slot of the buffer
   * (so the buffer needs `4 * size` bytes), and accesses of different widths at one offset see
   * the same register. Default false: the buffer is the window's memory, byte for byte.
   */
  ports?: boolean;
  /** Offsets whose writes call `onDoorbell` (typically {@linkcode doorbellOffsets}). */
  doorbells?: Iterable<number>;
  /** Called after each write to a doorbell offset. */
  onDoorbell?: (offset: number, width: RegisterWidth, value: number) => void;
  /** Called after every write, doorbell or not. */
  onWrite?: (offset: number, width: RegisterWidth, value: number) => void;
}

/**
 * A {@linkcode RegisterWindow} over an `ArrayBuffer` or `SharedArrayBuffer`, little-endian. An
 * access outside the window throws `RangeError`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { BufferWindow } from "./runtime.ts";
 * const rung: number[] = [];
 * const window = new BufferWindow(new ArrayBuffer(4096), {
 *   doorbells: [7],
 *   onDoorbell: (offset) => rung.push(offset),
 * });
 * window.write8(6, 0xe0);
 * window.write8(7, 0x20);
 * assertEquals(window.read16(6), 0x20e0);
 * assertEquals(rung, [7]);
 * ```
 */
export class BufferWindow implements RegisterWindow {
  readonly #view: DataView;
  readonly #ports: boolean;
  readonly #size: number;
  readonly #doorbells: ReadonlySet<number>;
  readonly #onDoorbell: ((offset: number, width: RegisterWidth, value: number) => void) | undefined;
  readonly #onWrite: ((offset: number, width: RegisterWidth, value: number) => void) | undefined;

  /** A window over `buffer`; see {@linkcode BufferWindowOptions}. */
  constructor(buffer: ArrayBufferLike, options: BufferWindowOptions = {}) {
    this.#ports = options.ports ?? false;
    const unit = this.#ports ? 4 : 1;
    const byteOffset = options.byteOffset ?? 0;
    const size = options.size ?? Math.floor((buffer.byteLength - byteOffset) / unit);
    if (
      !Number.isSafeInteger(byteOffset) || !Number.isSafeInteger(size) || byteOffset < 0 ||
      size < 0 || byteOffset + size * unit > buffer.byteLength
    ) {
      throw new RangeError(
        `Cannot create a window of ${size}${
          this.#ports ? " ports" : " bytes"
        } at ${byteOffset}: buffer is ${buffer.byteLength} bytes`,
      );
    }
    this.#view = new DataView(buffer, byteOffset, size * unit);
    this.#size = size;
    this.#doorbells = new Set(options.doorbells ?? []);
    this.#onDoorbell = options.onDoorbell;
    this.#onWrite = options.onWrite;
  }

  /** Size of the window: bytes, or ports for a port window. */
  get size(): number {
    return this.#size;
  }

  /** Reads the 8-bit register at `offset`. */
  read8(offset: number): number {
    return this.#view.getUint8(this.#at(offset, 8));
  }

  /** Reads the 16-bit register at `offset`. */
  read16(offset: number): number {
    return this.#view.getUint16(this.#at(offset, 16), true);
  }

  /** Reads the 32-bit register at `offset`. */
  read32(offset: number): number {
    return this.#view.getUint32(this.#at(offset, 32), true);
  }

  /** Writes the 8-bit register at `offset`, then calls the hooks. */
  write8(offset: number, value: number): void {
    const at = this.#at(offset, 8);
    if (this.#ports) this.#view.setUint32(at, 0);
    this.#view.setUint8(at, value);
    this.#wrote(offset, 8, this.#view.getUint8(at));
  }

  /** Writes the 16-bit register at `offset`, then calls the hooks. */
  write16(offset: number, value: number): void {
    const at = this.#at(offset, 16);
    if (this.#ports) this.#view.setUint32(at, 0);
    this.#view.setUint16(at, value, true);
    this.#wrote(offset, 16, this.#view.getUint16(at, true));
  }

  /** Writes the 32-bit register at `offset`, then calls the hooks. */
  write32(offset: number, value: number): void {
    const at = this.#at(offset, 32);
    this.#view.setUint32(at, value, true);
    this.#wrote(offset, 32, this.#view.getUint32(at, true));
  }

  /** The byte position of a register in the view, after checking it is inside the window. */
  #at(offset: number, width: RegisterWidth): number {
    const span = this.#ports ? 1 : width / 8;
    if (!Number.isInteger(offset) || offset < 0 || offset + span > this.#size) {
      throw new RangeError(
        `Cannot access ${width}-bit register at offset ${offset}: window is ${this.#size}${
          this.#ports ? " ports" : " bytes"
        }`,
      );
    }
    return this.#ports ? offset * 4 : offset;
  }

  #wrote(offset: number, width: RegisterWidth, value: number): void {
    this.#onWrite?.(offset, width, value);
    if (this.#doorbells.has(offset)) this.#onDoorbell?.(offset, width, value);
  }
}

/**
 * The offsets of the doorbell registers in one window of a device.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { doorbellOffsets } from "./runtime.ts";
 * const map = {
 *   name: "dev",
 *   windows: [{ name: "io", size: 4096, ports: false }],
 *   registers: [
 *     {
 *       name: "go",
 *       window: "io",
 *       offset: 4,
 *       width: 8,
 *       access: "wo",
 *       reset: 0,
 *       doorbell: true,
 *       fields: [],
 *     },
 *   ],
 * } as const;
 * assertEquals(doorbellOffsets(map, "io"), [4]);
 * ```
 */
export function doorbellOffsets(map: DeviceMap, window: string): number[] {
  return map.registers.filter((r) => r.window === window && r.doorbell).map((r) => r.offset);
}

/** Options for {@linkcode createBufferWindows}. */
export interface CreateBufferWindowsOptions {
  /** Use `SharedArrayBuffer`s (for sharing with a device model in a worker); default false. */
  shared?: boolean;
  /** Called after each write to a doorbell register, with the window's name. */
  onDoorbell?: (window: string, offset: number, width: RegisterWidth, value: number) => void;
  /** Called after every write, with the window's name. */
  onWrite?: (window: string, offset: number, width: RegisterWidth, value: number) => void;
}

/**
 * One fresh {@linkcode BufferWindow} per window of `map`, holding the registers' reset values and
 * ringing `onDoorbell` for the map's doorbell registers. With a generated map (`ATA_MAP`, declared
 * `as const`) the result is typed by window name, so it can be passed to the device class. Where a read-only and a write-only
 * register share an offset, the buffer holds the read-only one's reset value (what a read sees).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createBufferWindows } from "./runtime.ts";
 * const map = {
 *   name: "dev",
 *   windows: [{ name: "io", size: 4096, ports: false }],
 *   registers: [
 *     {
 *       name: "id",
 *       window: "io",
 *       offset: 0,
 *       width: 16,
 *       access: "ro",
 *       reset: 0x1234,
 *       doorbell: false,
 *       fields: [],
 *     },
 *   ],
 * } as const;
 * const windows = createBufferWindows(map);
 * assertEquals(windows.io.read16(0), 0x1234);
 * ```
 */
export function createBufferWindows<M extends DeviceMap>(
  map: M,
  options: CreateBufferWindowsOptions = {},
): Record<M["windows"][number]["name"], BufferWindow> {
  const windows: Record<string, BufferWindow> = {};
  for (const { name, size, ports } of map.windows) {
    const bytes = ports ? size * 4 : size;
    const buffer = options.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
    const view = new DataView(buffer);
    const registers = map.registers.filter((r) => r.window === name);
    // Write-only registers first, so a read-only register at the same offset wins.
    for (const r of [...registers].sort((a, b) => rank(b.access) - rank(a.access))) {
      const at = ports ? r.offset * 4 : r.offset;
      if (at + (ports ? 4 : r.width / 8) > bytes) continue;
      if (r.width === 8) view.setUint8(at, r.reset);
      else if (r.width === 16) view.setUint16(at, r.reset, true);
      else view.setUint32(at, r.reset, true);
    }
    const { onDoorbell, onWrite } = options;
    windows[name] = new BufferWindow(buffer, {
      ports,
      doorbells: doorbellOffsets(map, name),
      ...(onDoorbell && { onDoorbell: (o, w, v) => onDoorbell(name, o, w, v) }),
      ...(onWrite && { onWrite: (o, w, v) => onWrite(name, o, w, v) }),
    });
  }
  return windows;
}

function rank(access: RegisterAccess): number {
  return access === "wo" ? 1 : 0;
}

/**
 * The name of `value` in an enum object, or `undefined` if no name has that value. Generated
 * readers use it for their `<field>Name()` methods.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { nameOf } from "./runtime.ts";
 * const Cmd = { READ_DMA: 0xc8, WRITE_DMA: 0xca } as const;
 * assertEquals(nameOf(Cmd, 0xca), "WRITE_DMA");
 * assertEquals(nameOf(Cmd, 0x20), undefined);
 * ```
 */
export function nameOf<E extends Readonly<Record<string, number>>>(
  values: E,
  value: number,
): (keyof E & string) | undefined {
  for (const name of Object.keys(values)) {
    if (values[name] === value) return name;
  }
  return undefined;
}
