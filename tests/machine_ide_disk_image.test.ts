import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  BOUNCE_BYTES,
  BOUNCE_SEGMENT,
  DEFAULT_IMAGE_SIZE,
  DiskImage,
  MAX_CACHED_IMAGE,
} from "../machine/disk_image.ts";
import { pattern } from "./_machine_ide_harness.ts";

async function withTempDir(use: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await use(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("DiskImage.open creates a missing image sparse at the default size", async () => {
  await withTempDir(async (dir) => {
    const disk = await DiskImage.open(`${dir}/new.img`);
    assert(disk.created);
    assertEquals(disk.size, DEFAULT_IMAGE_SIZE);
    assertEquals(disk.sectors, DEFAULT_IMAGE_SIZE / 512);
    assertEquals(disk.sectorSize, 512);
    disk.close();
    const stat = await Deno.stat(`${dir}/new.img`);
    assertEquals(stat.size, 64 * 1024 * 1024);
    // Sparse: next to nothing is allocated (blocks are 512-byte units).
    if (stat.blocks !== null) assert(stat.blocks * 512 < 1024 * 1024, `${stat.blocks} blocks`);
  });
});

Deno.test("DiskImage.open keeps an existing image's size and contents", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/disk.img`;
    const first = await DiskImage.open(path, { size: 128 * 512 });
    first.writeSectors(5, pattern(1024, 1));
    first.close();
    const again = await DiskImage.open(path, { size: 4096 * 512 });
    assert(!again.created);
    assertEquals(again.sectors, 128);
    const back = new Uint8Array(1024);
    again.readSectors(5, 2, back);
    assertEquals(back, pattern(1024, 1));
    again.close();
  });
});

Deno.test("DiskImage.open refuses sizes that are not whole sectors", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/odd.img`, new Uint8Array(1000));
    await assertRejects(() => DiskImage.open(`${dir}/odd.img`), RangeError, "1000 bytes");
    await Deno.writeFile(`${dir}/empty.img`, new Uint8Array(0));
    await assertRejects(() => DiskImage.open(`${dir}/empty.img`), RangeError, "0 bytes");
    await assertRejects(() => DiskImage.open(`${dir}/new.img`, { size: 1000 }), RangeError);
    await assertRejects(() => Deno.stat(`${dir}/new.img`), Deno.errors.NotFound);
  });
});

Deno.test("DiskImage.open with create: false fails for a missing file", async () => {
  await withTempDir(async (dir) => {
    await assertRejects(
      () => DiskImage.open(`${dir}/missing.img`, { create: false }),
      Deno.errors.NotFound,
      "missing.img",
    );
  });
});

Deno.test("DiskImage.open says what is wrong with a path that cannot be an image", async () => {
  await withTempDir(async (dir) => {
    await assertRejects(() => DiskImage.open(dir), TypeError, "not a regular file");
    await assertRejects(
      () => DiskImage.open(`${dir}/no/such/dir.img`),
      Deno.errors.NotFound,
      "Cannot create disk image",
    );
    // Nothing was left open or made on the way.
    assertEquals([...Deno.readDirSync(dir)].length, 0);
  });
});

Deno.test("DiskImage access out of range is a RangeError that names the numbers", () => {
  const disk = DiskImage.memory(16 * 512);
  assertThrows(() => disk.readSectors(15, 2, new Uint8Array(1024)), RangeError, "LBA 15");
  assertThrows(() => disk.readSectors(-1, 1, new Uint8Array(512)), RangeError, "16 sectors");
  assertThrows(() => disk.writeSectors(16, new Uint8Array(512)), RangeError, "LBA 16");
  assertThrows(() => disk.writeSectors(0, new Uint8Array(100)), RangeError, "100 bytes");
  assertThrows(() => disk.readSectors(0, 2, new Uint8Array(512)), RangeError, "1024 bytes");
  assertThrows(() => disk.readAt(16 * 512 - 1, new Uint8Array(2)), RangeError, "8191");
  assertThrows(() => DiskImage.memory(100), RangeError);
});

Deno.test("DiskImage byte access crosses sector boundaries", () => {
  const disk = DiskImage.memory(4 * 512);
  disk.writeAt(500, pattern(100, 2));
  const back = new Uint8Array(100);
  disk.readAt(500, back);
  assertEquals(back, pattern(100, 2));
  const sector = new Uint8Array(512);
  disk.readSectors(1, 1, sector);
  assertEquals(sector.subarray(0, 88), pattern(100, 2).subarray(12));
});

/** Views of `lengths` bytes at staggered offsets of one SharedArrayBuffer (as DMA segments are). */
function segmentsOf(lengths: readonly number[]): Uint8Array[] {
  const total = lengths.reduce((a, b) => a + b, 0);
  const buffer = new SharedArrayBuffer(total + 72 * lengths.length);
  let at = 0;
  return lengths.map((length, i) => {
    const view = new Uint8Array(buffer, at + 7 * i, length);
    at += length + 64;
    return view;
  });
}

function joined(segments: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(segments.reduce((a, s) => a + s.length, 0));
  let at = 0;
  for (const s of segments) {
    out.set(s, at);
    at += s.length;
  }
  return out;
}

/** Shapes on both sides of the bounce rule: small pieces, large pieces, odd sizes, one, none. */
const SHAPES: readonly (readonly number[])[] = [
  Array(7).fill(512),
  [BOUNCE_SEGMENT * 4, BOUNCE_SEGMENT * 4],
  [1, 511, 1000, 0, 3],
  Array(BOUNCE_BYTES / 512 + 1).fill(512),
  [4096],
  [],
];

Deno.test("scattered reads and writes move the same bytes as one contiguous access, on every backing", async () => {
  await withTempDir(async (dir) => {
    const size = 512 * 512;
    const original = pattern(size, 5);
    await Deno.writeFile(`${dir}/file.img`, original);
    await Deno.writeFile(`${dir}/cached.img`, original);
    const memory = DiskImage.memory(size);
    memory.writeAt(0, original);
    const disks = {
      file: await DiskImage.open(`${dir}/file.img`),
      cached: await DiskImage.open(`${dir}/cached.img`, { cache: true }),
      memory,
    };
    const expected = original.slice();
    let seed = 20;
    for (const [kind, disk] of Object.entries(disks)) {
      for (const shape of SHAPES) {
        const what = `${kind} [${shape.slice(0, 4).join(",")}${shape.length > 4 ? ",..." : ""}]`;
        const offset = 300 + shape.length * 17;
        const into = segmentsOf(shape);
        disk.readvAt(offset, into);
        const total = shape.reduce((a, b) => a + b, 0);
        assertEquals(joined(into), expected.subarray(offset, offset + total), `read ${what}`);
        // Write fresh bytes the same way, then read them back contiguously.
        const data = segmentsOf(shape);
        const fresh = pattern(total, seed++);
        let at = 0;
        for (const d of data) {
          d.set(fresh.subarray(at, at + d.length));
          at += d.length;
        }
        disk.writevAt(offset + 1, data);
        const back = new Uint8Array(total);
        disk.readAt(offset + 1, back);
        assertEquals(back, fresh, `write ${what}`);
        if (kind !== "memory") {
          // Written through to the file (a cached image reads from memory: look at the file).
          const file = Deno.readFileSync(`${dir}/${kind}.img`);
          assertEquals(file.subarray(offset + 1, offset + 1 + total), fresh, `file ${what}`);
        }
        // Put the original bytes back for the next shape.
        disk.writeAt(offset + 1, expected.subarray(offset + 1, offset + 1 + total));
      }
    }
    for (const disk of Object.values(disks)) disk.close();
    // What the file-backed images wrote reached their files.
    assertEquals(await Deno.readFile(`${dir}/file.img`), expected);
    assertEquals(await Deno.readFile(`${dir}/cached.img`), expected);
  });
});

Deno.test("a scattered access past the end is refused before any byte moves", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/disk.img`;
    await Deno.writeFile(path, pattern(8 * 512, 1));
    const disk = await DiskImage.open(path);
    const into = segmentsOf([512, 512, 512]);
    for (const s of into) s.fill(0xee);
    assertThrows(() => disk.readvAt(6 * 512 + 1, into), RangeError, "1536 bytes at offset 3073");
    for (const s of into) assertEquals(s, new Uint8Array(512).fill(0xee));
    assertThrows(() => disk.writevAt(6 * 512, into), RangeError, "the image has 4096 bytes");
    disk.close();
    assertEquals(await Deno.readFile(path), pattern(8 * 512, 1));
    assertThrows(() => disk.readvAt(0, into), Deno.errors.BadResource, "closed");
  });
});

Deno.test("a scattered read of a file that shrank reads the missing bytes as zeros", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/disk.img`;
    await Deno.writeFile(path, pattern(8 * 512, 2));
    const disk = await DiskImage.open(path);
    // Fill the bounce buffer with other bytes first: none of them may show through.
    disk.readvAt(0, segmentsOf([512, 512, 512, 512]));
    await Deno.truncate(path, 2 * 512 + 100);
    const into = segmentsOf([512, 512, 512]);
    disk.readvAt(512, into);
    assertEquals(into[0], pattern(8 * 512, 2).subarray(512, 1024));
    assertEquals(into[1]!.subarray(0, 100), pattern(8 * 512, 2).subarray(1024, 1124));
    assertEquals(into[1]!.subarray(100), new Uint8Array(412));
    assertEquals(into[2], new Uint8Array(512));
    disk.close();
  });
});

Deno.test("DiskImage reads straight into a shared buffer and flush makes writes durable", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/disk.img`;
    const disk = await DiskImage.open(path, { size: 64 * 512 });
    const shared = new Uint8Array(new SharedArrayBuffer(4096), 1024, 1024);
    shared.set(pattern(1024, 3));
    disk.writeSectors(10, shared);
    disk.flush();
    assertEquals((await Deno.readFile(path)).subarray(5120, 6144), pattern(1024, 3));
    const into = new Uint8Array(new SharedArrayBuffer(2048), 512, 1024);
    disk.readSectors(10, 2, into);
    assertEquals(into, pattern(1024, 3));
    disk.close();
    assert(disk.closed);
    disk.close(); // twice is fine
    assertThrows(() => disk.readSectors(0, 1, into), Deno.errors.BadResource, "closed");
  });
});

Deno.test("a cached image reads the file's bytes from memory and writes through to the file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/cached.img`;
    const original = pattern(512 * 64, 3);
    await Deno.writeFile(path, original);
    const disk = await DiskImage.open(path, { cache: true });
    assertEquals(disk.size, original.length);
    const into = new Uint8Array(new SharedArrayBuffer(1024));
    disk.readAt(512 * 10 + 7, into);
    assertEquals(into, original.subarray(512 * 10 + 7, 512 * 10 + 7 + 1024));
    // The file changing under a cached image does not change what it reads: memory is the disk.
    await Deno.writeFile(path, new Uint8Array(original.length));
    const sector = new Uint8Array(512);
    disk.readSectors(1, 1, sector);
    assertEquals(sector, original.subarray(512, 1024));
    // Writes land in memory and in the file.
    const fresh = pattern(512 * 2, 9);
    disk.writeSectors(20, fresh);
    disk.readSectors(20, 2, into);
    assertEquals(into, fresh);
    disk.close();
    assertEquals((await Deno.readFile(path)).subarray(512 * 20, 512 * 22), fresh);
  });
});

Deno.test("a cached image past the memory limit is refused, naming the file and the limit", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/huge.img`;
    const file = await Deno.open(path, { write: true, create: true });
    await file.truncate(MAX_CACHED_IMAGE + 512); // sparse
    file.close();
    await assertRejects(
      () => DiskImage.open(path, { cache: true }),
      RangeError,
      `Cannot hold disk image "${path}" in memory`,
    );
    // Uncached, the same file opens.
    (await DiskImage.open(path)).close();
  });
});
