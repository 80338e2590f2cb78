import { assert, assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { fillSector, holdsSectors, prepareImage, SECTOR } from "../bench/disk.ts";

Deno.test("holdsSectors() recognizes the pattern of the right LBAs only", () => {
  const bytes = new Uint8Array(3 * SECTOR);
  for (let s = 0; s < 3; s++) fillSector(bytes.subarray(s * SECTOR, (s + 1) * SECTOR), 40 + s);
  assert(holdsSectors(bytes, 40, 3));
  assert(!holdsSectors(bytes, 41, 2));
  assert(!holdsSectors(bytes, 40, 4)); // too short
  bytes[SECTOR + 8]! ^= 1;
  assert(!holdsSectors(bytes, 40, 3));
  assert(!holdsSectors(new Uint8Array(SECTOR), 0, 1)); // a hole (zeros) is not sector 0
});

Deno.test("prepareImage() fills a new image once and keeps a filled one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "disk.img");
    assertEquals(await prepareImage(path, 1 << 20), true);
    assertEquals((await Deno.stat(path)).size, 1 << 20);
    const bytes = await Deno.readFile(path);
    assert(holdsSectors(bytes, 0, 2048));
    assertEquals(await prepareImage(path, 1 << 20), false);
    // A wrong size, or a last sector that was never written, is filled again.
    assertEquals(await prepareImage(path, 2 << 20), true);
    const file = await Deno.open(path, { write: true });
    await file.seek(-SECTOR, Deno.SeekMode.End);
    await file.write(new Uint8Array(SECTOR));
    file.close();
    assertEquals(await prepareImage(path, 2 << 20), true);
    assert(holdsSectors(await Deno.readFile(path), 0, 4096));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prepareImage() refuses a size that is not whole MiB", async () => {
  await assertRejects(() => prepareImage("unused.img", 1000), RangeError, "whole MiB");
});
