/**
 * The benchmark's disk image: a raw file created sparse once, then filled with a pattern so that
 * every read moves real bytes from the file (not holes) and can be checked. Each 512-byte sector
 * starts with its own LBA (u64, little endian); the rest is a byte pattern that depends on it.
 *
 * @module
 */

/** Bytes per sector. */
export const SECTOR = 512;

/** Fills `sector` (512 bytes) with the pattern of `lba`. */
export function fillSector(sector: Uint8Array, lba: number): void {
  const view = new DataView(sector.buffer, sector.byteOffset, SECTOR);
  view.setBigUint64(0, BigInt(lba), true);
  for (let i = 8; i < SECTOR; i++) sector[i] = (lba * 131 + i * 7 + 1) & 0xff;
}

/**
 * Whether `bytes` holds `sectors` consecutive sectors of the pattern starting at `lba` (checks the
 * LBA stamp and the first and last pattern bytes of each).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { fillSector, holdsSectors } from "./disk.ts";
 * const b = new Uint8Array(512);
 * fillSector(b, 7);
 * assertEquals([holdsSectors(b, 7, 1), holdsSectors(b, 8, 1)], [true, false]);
 * ```
 */
export function holdsSectors(bytes: Uint8Array, lba: number, sectors: number): boolean {
  if (bytes.length < sectors * SECTOR) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let s = 0; s < sectors; s++) {
    const at = s * SECTOR;
    const n = lba + s;
    if (view.getBigUint64(at, true) !== BigInt(n)) return false;
    if (bytes[at + 8] !== ((n * 131 + 57) & 0xff)) return false;
    if (bytes[at + SECTOR - 1] !== ((n * 131 + (SECTOR - 1) * 7 + 1) & 0xff)) return false;
  }
  return true;
}

/**
 * Makes sure `path` is a filled image of `size` bytes: a missing or wrong-sized file is created
 * sparse and filled in 1 MiB writes; one whose first and last sectors already hold the pattern is
 * kept (the last sector is written last, so a fill that was interrupted is redone). Returns
 * whether it had to fill.
 */
export async function prepareImage(path: string, size: number): Promise<boolean> {
  if (size <= 0 || size % (1 << 20) !== 0) {
    throw new RangeError(`Cannot make a ${size}-byte bench image: size must be whole MiB`);
  }
  const sectors = size / SECTOR;
  try {
    const stat = await Deno.stat(path);
    if (stat.isFile && stat.size === size && await endsHold(path, sectors)) return false;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const file = await Deno.open(path, { read: true, write: true, create: true });
  try {
    await file.truncate(0);
    await file.truncate(size); // sparse until filled
    const chunk = new Uint8Array(1 << 20);
    const perChunk = chunk.length / SECTOR;
    for (let first = 0; first < sectors; first += perChunk) {
      for (let s = 0; s < perChunk; s++) {
        fillSector(chunk.subarray(s * SECTOR, (s + 1) * SECTOR), first + s);
      }
      let done = 0;
      while (done < chunk.length) done += await file.write(chunk.subarray(done));
    }
    await file.sync();
  } finally {
    file.close();
  }
  return true;
}

async function endsHold(path: string, sectors: number): Promise<boolean> {
  const file = await Deno.open(path, { read: true });
  try {
    const sector = new Uint8Array(SECTOR);
    for (const lba of [0, sectors - 1]) {
      await file.seek(lba * SECTOR, Deno.SeekMode.Start);
      let done = 0;
      while (done < SECTOR) {
        const n = await file.read(sector.subarray(done));
        if (n === null) return false;
        done += n;
      }
      if (!holdsSectors(sector, lba, 1)) return false;
    }
    return true;
  } finally {
    file.close();
  }
}
