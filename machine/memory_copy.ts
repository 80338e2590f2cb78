/**
 * Memory that copies at memory-copy speed. V8 copies into a SharedArrayBuffer with relaxed atomic
 * stores (`Uint8Array.prototype.set`, `copyWithin`), about half as fast as into ordinary memory
 * from a few KiB up (measured here with Deno 2.9: 11-15 against 22-25 GB/s at 64 KiB-1 MiB), and
 * every memory object is shared (a driver host in another thread and the device models see the
 * same bytes). WebAssembly's `memory.copy` moves bytes between two memories, shared or not, at
 * the speed of a plain copy (23-24 GB/s there). So buffers of at least a WebAssembly page
 * (64 KiB) are WebAssembly memories, and {@link copyBytes} copies between two of them with
 * `memory.copy`: the simulated DMA of a disk held in memory runs as fast as the machine copies.
 *
 * A buffer from here is a `Uint8Array` of exactly the size asked for, over a buffer rounded up to
 * whole pages; its `buffer` is a SharedArrayBuffer (shared) or an ArrayBuffer (private) like any
 * other. Smaller buffers, and any buffer where a WebAssembly memory cannot be made, are ordinary,
 * and {@link copyBytes} copies them with `set`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { copyBytes, privateMemory, sharedMemory } from "./memory_copy.ts";
 * const image = privateMemory(1 << 20);
 * image.fill(7, 4096, 8192);
 * const buffer = sharedMemory(128 * 1024);
 * copyBytes(buffer.subarray(512), image.subarray(4096, 8192));
 * assertEquals([buffer[511], buffer[512], buffer[512 + 4095], buffer[512 + 4096]], [0, 7, 7, 0]);
 * ```
 *
 * @module
 */

/** Bytes of a WebAssembly page: the smallest buffer that is a WebAssembly memory. */
export const WASM_PAGE = 65536;

/** Pages of the largest WebAssembly memory (4 GiB): a larger buffer is an ordinary one. */
const MAX_PAGES = 65536;

/** Copies of fewer bytes use `set`: two map lookups and a call cost more than they save. */
const MIN_WASM_COPY = 4096;

/** The WebAssembly memory behind each buffer made here. */
const memories = new WeakMap<ArrayBufferLike, WebAssembly.Memory>();

/** Per target memory, per source memory: the compiled copy between them. */
const copiers = new WeakMap<WebAssembly.Memory, WeakMap<WebAssembly.Memory, Copier>>();

/** `memory.copy` from the source memory's `from` to the target's `to`, `length` bytes. */
type Copier = (to: number, from: number, length: number) => void;

/**
 * `size` bytes of zeroed shared memory (a view of a SharedArrayBuffer): a WebAssembly memory when
 * `size` is at least {@link WASM_PAGE}, so copies into it run at full speed.
 */
export function sharedMemory(size: number): Uint8Array {
  return wasmBytes(size, true) ?? new Uint8Array(new SharedArrayBuffer(size));
}

/** `size` bytes of zeroed memory of this thread only: like {@link sharedMemory}, not shared. */
export function privateMemory(size: number): Uint8Array {
  return wasmBytes(size, false) ?? new Uint8Array(size);
}

/** Whether `bytes` lie in a WebAssembly memory, so that {@link copyBytes} copies them fast. */
export function isWasmBacked(bytes: Uint8Array): boolean {
  return memories.has(bytes.buffer);
}

/**
 * Copies `source` into `target` from its start, as `target.set(source)` does (`source` no longer
 * than `target`, else a RangeError), with `memory.copy` when both lie in WebAssembly memories.
 */
export function copyBytes(target: Uint8Array, source: Uint8Array): void {
  const length = source.length;
  if (length >= MIN_WASM_COPY && length <= target.length) {
    const to = memories.get(target.buffer);
    const from = to && memories.get(source.buffer);
    if (from) {
      copierOf(to, from)(target.byteOffset, source.byteOffset, length);
      return;
    }
  }
  target.set(source);
}

function wasmBytes(size: number, shared: boolean): Uint8Array | undefined {
  if (!Number.isSafeInteger(size) || size < WASM_PAGE) return undefined;
  const pages = Math.ceil(size / WASM_PAGE);
  if (pages > MAX_PAGES) return undefined;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
  } catch {
    return undefined; // no room for one (address space, a limit): an ordinary buffer instead
  }
  // A memory that never grows keeps one buffer for its whole life.
  const buffer = memory.buffer;
  memories.set(buffer, memory);
  return new Uint8Array(buffer, 0, size);
}

function copierOf(target: WebAssembly.Memory, source: WebAssembly.Memory): Copier {
  let bySource = copiers.get(target);
  if (!bySource) copiers.set(target, bySource = new WeakMap());
  let copier = bySource.get(source);
  if (!copier) {
    const module = copyModule(isShared(source), isShared(target));
    const instance = new WebAssembly.Instance(module, { m: { from: source, to: target } });
    copier = instance.exports.copy as Copier;
    bySource.set(source, copier);
  }
  return copier;
}

function isShared(memory: WebAssembly.Memory): boolean {
  return memory.buffer instanceof SharedArrayBuffer;
}

/** The compiled modules, by whether the source and the target memory are shared. */
const modules = new Map<string, WebAssembly.Module>();

function copyModule(sourceShared: boolean, targetShared: boolean): WebAssembly.Module {
  const key = `${sourceShared}${targetShared}`;
  let module = modules.get(key);
  if (!module) {
    modules.set(key, module = new WebAssembly.Module(copyModuleBytes(sourceShared, targetShared)));
  }
  return module;
}

/**
 * The binary of a module that imports two memories, `m.from` (memory 0) and `m.to` (memory 1),
 * and exports `copy(to, from, length)`: `memory.copy` from memory 0 into memory 1 (the bulk
 * memory and multi-memory features of WebAssembly 3.0).
 */
export function copyModuleBytes(
  sourceShared: boolean,
  targetShared: boolean,
): Uint8Array<ArrayBuffer> {
  // A shared memory's type must give a maximum; the import accepts any up to 4 GiB.
  const limits = (shared: boolean) => shared ? [0x03, 0x00, ...leb(MAX_PAGES)] : [0x00, 0x00];
  const memoryImport = (field: string, shared: boolean) => [
    ...name("m"),
    ...name(field),
    0x02, // memory
    ...limits(shared),
  ];
  const I32 = 0x7f;
  const body = [
    0x00, // no locals
    0x20,
    0x00, // local.get 0: destination offset
    0x20,
    0x01, // local.get 1: source offset
    0x20,
    0x02, // local.get 2: length
    0xfc,
    0x0a,
    0x01,
    0x00, // memory.copy into memory 1 from memory 0
    0x0b, // end
  ];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00, // "\0asm", version 1
    ...section(1, [0x01, 0x60, 0x03, I32, I32, I32, 0x00]), // type 0: (i32 i32 i32) -> ()
    ...section(2, [
      0x02,
      ...memoryImport("from", sourceShared),
      ...memoryImport("to", targetShared),
    ]),
    ...section(3, [0x01, 0x00]), // function 0 has type 0
    ...section(7, [0x01, ...name("copy"), 0x00, 0x00]), // export function 0 as "copy"
    ...section(10, [0x01, ...leb(body.length), ...body]),
  ]);
}

function section(id: number, content: number[]): number[] {
  return [id, ...leb(content.length), ...content];
}

function name(text: string): number[] {
  return [...leb(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];
}

/** Unsigned LEB128. */
function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}
