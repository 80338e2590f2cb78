/**
 * Disk images: the backing store of a simulated disk. A file image is a raw file of whole 512-byte
 * sectors, created sparse when missing; a memory image is for tests. All I/O is synchronous so
 * that a device model needs no awaits on its hot path, and reads go straight into the caller's
 * buffer (a DMA view) with no extra copy.
 *
 * @module
 */

import fs from "node:fs";
import { copyBytes, privateMemory } from "./memory_copy.ts";

/** The size of a sector in bytes. */
export const SECTOR_SIZE = 512;

/** The size of a new image when none is given: 64 MiB. */
export const DEFAULT_IMAGE_SIZE = 64 * 1024 * 1024;

/** Options of {@linkcode DiskImage.open}. */
export interface DiskImageOpenOptions {
  /** Size in bytes of a newly created image (a positive multiple of 512); default 64 MiB. */
  readonly size?: number;
  /** Create the file when it is missing (default `true`); `false` makes a missing file an error. */
  readonly create?: boolean;
  /**
   * Hold the whole image in memory (at most {@link MAX_CACHED_IMAGE} bytes): reads are memory
   * copies instead of reads of the file, writes go to memory and through to the file. For a disk
   * as fast as memory (the performance study's `--disk cached`); default false.
   */
  readonly cache?: boolean;
}

/** The largest image {@linkcode DiskImageOpenOptions.cache} holds in memory: 1 GiB. */
export const MAX_CACHED_IMAGE = 1 << 30;

/** Where an image's bytes live. */
interface Backend {
  readAt(offset: number, into: Uint8Array): void;
  writeAt(offset: number, data: Uint8Array): void;
  /** Reads consecutive bytes from `offset` into `segments` (`total` bytes), one after the other. */
  readvAt(offset: number, segments: readonly Uint8Array[], total: number): void;
  /** Writes `segments` (`total` bytes), one after the other, as consecutive bytes from `offset`. */
  writevAt(offset: number, segments: readonly Uint8Array[], total: number): void;
  flush(): void;
  close(): void;
}

/**
 * A scattered transfer from or to a file goes through a bounce buffer, in one positioned read or
 * write, when it is at most this many bytes in all and its segments average at most
 * {@link BOUNCE_SEGMENT} bytes: a system call then costs more than a second copy of the bytes.
 * Measured through {@link DiskImage.readvAt} from the page cache (a read per segment -> one
 * read): 7 x 512 B 3.3-3.9 -> 1.4 µs, 16 x 4 KiB 14.1 -> 10.5 µs, 8 x 8 KiB 11.1 -> 10.0 µs, but
 * 2 x 32 KiB 9.0 -> 10.1 µs, which is why large segments are read one by one.
 */
export const BOUNCE_BYTES = 64 * 1024;
/** See {@link BOUNCE_BYTES}. */
export const BOUNCE_SEGMENT = 8 * 1024;

/**
 * A raw disk image of whole 512-byte sectors.
 *
 * @example
 * ```ts
 * import { DiskImage } from "./disk_image.ts";
 * const disk = DiskImage.memory(1024 * 1024);
 * disk.writeSectors(3, new Uint8Array(512).fill(7));
 * const sector = new Uint8Array(512);
 * disk.readSectors(3, 1, sector);
 * sector[0]; // 7
 * disk.close();
 * ```
 */
export class DiskImage {
  /** The file behind the image, or `undefined` for a memory image. */
  readonly path: string | undefined;
  /** Size in bytes. */
  readonly size: number;
  /** Size in sectors. */
  readonly sectors: number;
  /** Bytes per sector: always 512. */
  readonly sectorSize: number = SECTOR_SIZE;
  /** Whether {@linkcode DiskImage.open} created the file (it was missing). */
  readonly created: boolean;
  #backend: Backend;
  #dirty = false;
  #closed = false;

  private constructor(backend: Backend, size: number, path: string | undefined, created: boolean) {
    this.#backend = backend;
    this.size = size;
    this.sectors = size / SECTOR_SIZE;
    this.path = path;
    this.created = created;
  }

  /**
   * Opens a raw image file, creating it sparse (truncated to `size`, no zeros written) when it is
   * missing. An existing file keeps its size and contents; a size that is not a positive multiple
   * of 512 is a `RangeError`.
   *
   * @example
   * ```ts ignore
   * import { DiskImage } from "./disk_image.ts";
   * const disk = await DiskImage.open(".mungi/ide0.img", { size: 16 * 1024 * 1024 });
   * console.log(disk.sectors); // 32768
   * disk.close();
   * ```
   */
  static open(path: string, options: DiskImageOpenOptions = {}): Promise<DiskImage> {
    try {
      return Promise.resolve(DiskImage.#openFile(path, options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  static #openFile(path: string, options: DiskImageOpenOptions): DiskImage {
    const size = options.size ?? DEFAULT_IMAGE_SIZE;
    checkImageSize(size, `Cannot create disk image "${path}"`);
    // One descriptor, checked and then used: reads and writes are positioned (pread/pwrite
    // through node:fs: a seek and a read were 1.35-1.95 µs for 512 bytes from the page cache, a
    // positioned read 0.90-1.16 µs), and a file replaced after the check is never the one used.
    let fd: number;
    let created = false;
    try {
      fd = fs.openSync(path, "r+");
    } catch (error) {
      if (fsCode(error) !== "ENOENT") throw openError(error, path);
      if (options.create === false) {
        throw new Deno.errors.NotFound(`Cannot open disk image "${path}": no such file`, {
          cause: error,
        });
      }
      try {
        fd = fs.openSync(path, "wx+"); // created here, or not at all
      } catch (createError) {
        throw openError(createError, path, "create");
      }
      try {
        fs.ftruncateSync(fd, size);
      } catch (truncateError) {
        fs.closeSync(fd);
        throw openError(truncateError, path, "create");
      }
      created = true;
    }
    let actual: number;
    try {
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) {
        throw new TypeError(`Cannot open disk image "${path}": not a regular file`);
      }
      actual = stat.size;
      checkImageSize(actual, `Cannot open disk image "${path}"`);
      if (options.cache === true && actual > MAX_CACHED_IMAGE) {
        throw new RangeError(
          `Cannot hold disk image "${path}" in memory: its ${actual} bytes are more than ${MAX_CACHED_IMAGE}`,
        );
      }
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
    const backend = fileBackend(fd);
    if (options.cache !== true) return new DiskImage(backend, actual, path, created);
    let bytes: Uint8Array;
    try {
      bytes = privateMemory(actual);
      backend.readAt(0, bytes);
    } catch (error) {
      backend.close();
      throw error;
    }
    return new DiskImage(cachedBackend(backend, bytes), actual, path, created);
  }

  /**
   * An image in memory, zero-filled, for tests. `size` is a positive multiple of 512 bytes.
   *
   * @example
   * ```ts
   * import { DiskImage } from "./disk_image.ts";
   * DiskImage.memory(512 * 8).sectors; // 8
   * ```
   */
  static memory(size: number): DiskImage {
    checkImageSize(size, "Cannot create a memory disk image");
    return new DiskImage(memoryBackend(privateMemory(size)), size, undefined, true);
  }

  /** Whether {@linkcode DiskImage.close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads `count` sectors starting at `lba` into the first `count * 512` bytes of `into`.
   * Out of range (or `into` too small) is a `RangeError`.
   */
  readSectors(lba: number, count: number, into: Uint8Array): void {
    this.#checkSectors("read", lba, count);
    const length = count * SECTOR_SIZE;
    if (into.length < length) {
      throw new RangeError(
        `Cannot read ${count} sectors into a ${into.length}-byte buffer: ${length} bytes needed`,
      );
    }
    this.#open("read").readAt(lba * SECTOR_SIZE, into.subarray(0, length));
  }

  /** Writes whole sectors (`data.length` a multiple of 512) starting at `lba`. */
  writeSectors(lba: number, data: Uint8Array): void {
    if (data.length % SECTOR_SIZE !== 0) {
      throw new RangeError(
        `Cannot write ${data.length} bytes as sectors: not a multiple of ${SECTOR_SIZE}`,
      );
    }
    this.#checkSectors("write", lba, data.length / SECTOR_SIZE);
    this.#open("write").writeAt(lba * SECTOR_SIZE, data);
    this.#dirty = true;
  }

  /**
   * Reads `into.length` bytes at byte `offset` (no alignment needed): for a DMA segment that
   * splits a sector.
   */
  readAt(offset: number, into: Uint8Array): void {
    this.#checkBytes("read", offset, into.length);
    this.#open("read").readAt(offset, into);
  }

  /** Writes `data` at byte `offset` (no alignment needed). */
  writeAt(offset: number, data: Uint8Array): void {
    this.#checkBytes("write", offset, data.length);
    this.#open("write").writeAt(offset, data);
    this.#dirty = true;
  }

  /**
   * Reads the bytes from `offset` on into `segments`, one after the other: the disk's side of one
   * DMA transfer that memory holds in pieces (the segments of a PRD table, the requests of a
   * merged command). From a file, small pieces take one positioned read (see
   * {@link BOUNCE_BYTES}: seven of 512 bytes 1.4 µs instead of 3.3-3.9). Past the image's end is a
   * `RangeError`, before any byte moves.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { DiskImage } from "./disk_image.ts";
   * const disk = DiskImage.memory(4096);
   * disk.writeAt(510, new Uint8Array([1, 2, 3, 4]));
   * const a = new Uint8Array(2), b = new Uint8Array(2);
   * disk.readvAt(510, [a, b]);
   * assertEquals([...a, ...b], [1, 2, 3, 4]);
   * ```
   */
  readvAt(offset: number, segments: readonly Uint8Array[]): void {
    const total = totalLength(segments);
    this.#checkBytes("read", offset, total);
    this.#open("read").readvAt(offset, segments, total);
  }

  /**
   * Writes `segments`, one after the other, from byte `offset` on: the other direction of
   * {@link DiskImage.readvAt}, with the same single write for small ones.
   */
  writevAt(offset: number, segments: readonly Uint8Array[]): void {
    const total = totalLength(segments);
    this.#checkBytes("write", offset, total);
    this.#open("write").writevAt(offset, segments, total);
    this.#dirty = true;
  }

  /** Makes everything written so far durable (fsync of the file); a no-op when nothing was. */
  flush(): void {
    this.#open("flush");
    if (!this.#dirty) return;
    this.#backend.flush();
    this.#dirty = false;
  }

  /** Flushes and releases the image; later calls to anything but `close` throw. */
  close(): void {
    if (this.#closed) return;
    try {
      this.flush();
    } finally {
      this.#closed = true;
      this.#backend.close();
    }
  }

  #open(what: string): Backend {
    if (this.#closed) {
      throw new Deno.errors.BadResource(
        `Cannot ${what} disk image ${this.path ?? "(memory)"}: it is closed`,
      );
    }
    return this.#backend;
  }

  #checkSectors(what: string, lba: number, count: number): void {
    if (
      !Number.isSafeInteger(lba) || !Number.isSafeInteger(count) || lba < 0 || count < 0 ||
      lba + count > this.sectors
    ) {
      throw new RangeError(
        `Cannot ${what} ${count} sectors at LBA ${lba}: the image has ${this.sectors} sectors`,
      );
    }
  }

  #checkBytes(what: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new RangeError(
        `Cannot ${what} ${length} bytes at offset ${offset}: the image has ${this.size} bytes`,
      );
    }
  }
}

/** The code of a node:fs error (`ENOENT`, ...), if it is one. */
function fsCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * What opening or creating an image failed with, as the Deno error a caller expects: a refused
 * permission passes through; a missing directory is NotFound; a directory is not an image.
 */
function openError(error: unknown, path: string, what: "open" | "create" = "open"): Error {
  const where = `Cannot ${what} disk image "${path}"`;
  switch (fsCode(error)) {
    case undefined:
      return error instanceof Error ? error : new Error(`${where}: ${String(error)}`);
    case "ENOENT":
      return new Deno.errors.NotFound(`${where}: no such directory`, { cause: error });
    case "EISDIR":
      return new TypeError(`${where}: not a regular file`, { cause: error });
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return new Deno.errors.PermissionDenied(`${where}: ${(error as Error).message}`, {
        cause: error,
      });
    case "EEXIST":
      return new Deno.errors.AlreadyExists(`${where}: it appeared meanwhile`, { cause: error });
    default:
      return new Error(`${where}: ${(error as Error).message}`, { cause: error });
  }
}

function checkImageSize(size: number, context: string): void {
  if (!Number.isSafeInteger(size) || size <= 0 || size % SECTOR_SIZE !== 0) {
    throw new RangeError(
      `${context}: its size ${size} bytes is not a positive multiple of ${SECTOR_SIZE}`,
    );
  }
}

/** Calls `fn` with each segment and where it starts, the first at `offset`, the rest after it. */
function forSegments(
  offset: number,
  segments: readonly Uint8Array[],
  fn: (offset: number, segment: Uint8Array) => void,
): void {
  for (const segment of segments) {
    fn(offset, segment);
    offset += segment.length;
  }
}

function totalLength(segments: readonly Uint8Array[]): number {
  let total = 0;
  for (const segment of segments) total += segment.length;
  return total;
}

function fileBackend(fd: number): Backend {
  const readAt = (offset: number, into: Uint8Array): void => {
    let done = 0;
    while (done < into.length) {
      const n = fs.readSync(fd, into, done, into.length - done, offset + done);
      if (n === 0) {
        // The file shrank under us: what is missing reads as zeros, like a sparse hole.
        into.fill(0, done);
        return;
      }
      done += n;
    }
  };
  const writeAt = (offset: number, data: Uint8Array): void => {
    let done = 0;
    while (done < data.length) {
      done += fs.writeSync(fd, data, done, data.length - done, offset + done);
    }
  };
  let bounce: Uint8Array | undefined;
  /** The bounce buffer for `total` bytes of several segments, or none (one call each then). */
  const bounceFor = (segments: readonly Uint8Array[], total: number): Uint8Array | undefined => {
    if (
      segments.length < 2 || total > BOUNCE_BYTES || total > segments.length * BOUNCE_SEGMENT
    ) return undefined;
    return (bounce ??= new Uint8Array(BOUNCE_BYTES)).subarray(0, total);
  };
  return {
    readAt,
    writeAt,
    readvAt(offset, segments, total) {
      const buffer = bounceFor(segments, total);
      if (buffer === undefined) return forSegments(offset, segments, readAt);
      readAt(offset, buffer);
      forSegments(
        0,
        segments,
        (at, segment) => segment.set(buffer.subarray(at, at + segment.length)),
      );
    },
    writevAt(offset, segments, total) {
      const buffer = bounceFor(segments, total);
      if (buffer === undefined) return forSegments(offset, segments, writeAt);
      forSegments(0, segments, (at, segment) => buffer.set(segment, at));
      writeAt(offset, buffer);
    },
    flush() {
      fs.fsyncSync(fd);
    },
    close() {
      fs.closeSync(fd);
    },
  };
}

/** The file's bytes in memory (read from there); writes go through to the file as well. */
function cachedBackend(file: Backend, bytes: Uint8Array): Backend {
  const memory = memoryBackend(bytes);
  return {
    readAt: memory.readAt,
    writeAt(offset, data) {
      memory.writeAt(offset, data);
      file.writeAt(offset, data);
    },
    readvAt: memory.readvAt,
    writevAt(offset, segments, total) {
      memory.writevAt(offset, segments, total);
      file.writevAt(offset, segments, total);
    },
    flush: file.flush,
    close: file.close,
  };
}

function memoryBackend(bytes: Uint8Array): Backend {
  // Into and out of memory objects with memory.copy (./memory_copy.ts): a plain copy's speed.
  const readAt = (offset: number, into: Uint8Array): void => {
    copyBytes(into, bytes.subarray(offset, offset + into.length));
  };
  const writeAt = (offset: number, data: Uint8Array): void => {
    copyBytes(bytes.subarray(offset), data);
  };
  return {
    readAt,
    writeAt,
    readvAt: (offset, segments) => forSegments(offset, segments, readAt),
    writevAt: (offset, segments) => forSegments(offset, segments, writeAt),
    flush() {},
    close() {},
  };
}
