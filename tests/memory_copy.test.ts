// Memory that copies at a plain copy's speed: WebAssembly memories and memory.copy between them
// (machine/memory_copy.ts), and the memory objects, disk images and DMA built on them.
import { assert, assertEquals, assertThrows } from "@std/assert";
import { DiskImage } from "../machine/disk_image.ts";
import { Iommu } from "../machine/iommu.ts";
import {
  copyBytes,
  copyModuleBytes,
  isWasmBacked,
  privateMemory,
  sharedMemory,
  WASM_PAGE,
} from "../machine/memory_copy.ts";
import { MemoryObject } from "../kernel/memory_object.ts";
import { pattern } from "./_machine_ide_harness.ts";

Deno.test("buffers of a page or more are WebAssembly memories of exactly the size asked for", () => {
  for (
    const [size, wasm] of [[1, false], [WASM_PAGE - 1, false], [WASM_PAGE, true], [
      100_000,
      true,
    ]] as const
  ) {
    const shared = sharedMemory(size);
    const own = privateMemory(size);
    assertEquals([shared.length, own.length], [size, size]);
    assertEquals([isWasmBacked(shared), isWasmBacked(own)], [wasm, wasm], `${size} bytes`);
    assert(shared.buffer instanceof SharedArrayBuffer);
    assert(!(own.buffer instanceof SharedArrayBuffer));
    // Whole pages behind a WebAssembly memory; zeroed like any new buffer.
    if (wasm) assertEquals(shared.buffer.byteLength % WASM_PAGE, 0);
    assert(shared.every((b) => b === 0) && own.every((b) => b === 0));
  }
});

Deno.test("copyBytes moves exactly the source's bytes to the target's offset, in every combination of memories", () => {
  const makers = {
    shared: sharedMemory,
    private: privateMemory,
    plain: (n: number) => new Uint8Array(n),
  };
  for (const [fromKind, from] of Object.entries(makers)) {
    for (const [toKind, to] of Object.entries(makers)) {
      const source = from(3 * WASM_PAGE);
      source.set(pattern(source.length, 3));
      const target = to(2 * WASM_PAGE);
      // Unaligned offsets on both sides, across a page boundary, longer than the smallest copy
      // memory.copy is used for, and one shorter.
      for (
        const [at, off, length] of [[4097, WASM_PAGE - 13, 70_001], [3, 5, 100]] as const
      ) {
        target.fill(0xee);
        copyBytes(target.subarray(at), source.subarray(off, off + length));
        const what = `${fromKind} -> ${toKind}, ${length} bytes`;
        assertEquals(target.subarray(at, at + length), source.subarray(off, off + length), what);
        assertEquals([target[at - 1], target[at + length]], [0xee, 0xee], what);
      }
    }
  }
});

Deno.test("copyBytes refuses a source longer than its target, as set does, and writes nothing", () => {
  const source = privateMemory(2 * WASM_PAGE).fill(1);
  const target = sharedMemory(2 * WASM_PAGE);
  assertThrows(
    () => copyBytes(target.subarray(WASM_PAGE + 1), source.subarray(0, WASM_PAGE)),
    RangeError,
  );
  assert(target.every((b) => b === 0));
  // Within one memory too (overlapping ranges move like memmove).
  const one = privateMemory(WASM_PAGE);
  one.set(pattern(8192, 9));
  copyBytes(one.subarray(100), one.subarray(0, 8000));
  assertEquals(one.subarray(100, 8100), pattern(8000, 9));
});

Deno.test("the copy module is valid WebAssembly for each kind of memory pair, and only exports copy", () => {
  for (const sourceShared of [false, true]) {
    for (const targetShared of [false, true]) {
      const module = new WebAssembly.Module(copyModuleBytes(sourceShared, targetShared));
      assertEquals(WebAssembly.Module.exports(module), [{ name: "copy", kind: "function" }]);
      assertEquals(
        WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}:${i.kind}`),
        ["m.from:memory", "m.to:memory"],
      );
    }
  }
});

Deno.test("a memory object of 64 KiB or more is a WebAssembly memory, its bytes exactly its size", () => {
  const small = new MemoryObject(0x1000n, 512, "small");
  const large = new MemoryObject(0x10_0000n, 3 * WASM_PAGE + 1, "large");
  assertEquals([small.bytes.length, large.bytes.length], [512, 3 * WASM_PAGE + 1]);
  assertEquals([isWasmBacked(small.bytes), isWasmBacked(large.bytes)], [false, true]);
  assert(large.buffer instanceof SharedArrayBuffer);
  assertEquals(large.bytes.buffer, large.buffer);
});

Deno.test("a cached disk image reads into and writes from a memory object through the IOMMU, byte for byte", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/disk.img`;
    const content = pattern(4 * WASM_PAGE, 11);
    await Deno.writeFile(path, content);
    const disk = await DiskImage.open(path, { cache: true });
    const memory = new MemoryObject(0x20_0000n, 2 * WASM_PAGE, "buffer");
    const iommu = new Iommu();
    const port = iommu.port("ide0");
    iommu.map("ide0", {
      address: memory.address,
      length: memory.size,
      bytes: memory.bytes,
      writable: true,
      label: "buffer",
    });
    // A read of 3 sectors past a page, into the buffer 512 bytes in (a DMA view, as the IDE
    // model makes).
    const view = port.view(memory.address + 512n, 70_000 - 70_000 % 512, "write");
    disk.readAt(WASM_PAGE + 1536, view);
    assertEquals(view, content.subarray(WASM_PAGE + 1536, WASM_PAGE + 1536 + view.length));
    assertEquals(memory.bytes[511], 0);
    // Written back elsewhere, it reaches the memory copy and the file.
    const out = port.view(memory.address + 512n, 8192, "read");
    disk.writeAt(0, out);
    const reread = new Uint8Array(8192);
    disk.readAt(0, reread);
    assertEquals(reread, content.subarray(WASM_PAGE + 1536, WASM_PAGE + 1536 + 8192));
    disk.flush();
    disk.close();
    const file = await Deno.readFile(path);
    assertEquals(file.subarray(0, 8192), reread);
    // The device's copy through its port reaches the same bytes.
    const small = new Uint8Array(5000);
    port.readInto(memory.address + 512n, small);
    assertEquals(small, reread.subarray(0, 5000));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
