/**
 * Single-producer single-consumer message rings in a SharedArrayBuffer: the per-request path
 * between the kernel (main thread) and a driver host (a Deno Worker). postMessage stays for
 * control; requests, replies and notifications travel here.
 *
 * Layout of a ring's SharedArrayBuffer (`Int32Array` words, each group on its own cache line):
 *
 * | byte offset | word            | written by | meaning                                      |
 * |-------------|-----------------|------------|----------------------------------------------|
 * | 0           | magic, capacity | creator    | `RING_MAGIC`, data capacity in bytes         |
 * | 128         | tail            | writer     | bytes ever published (wraps at 2^32)         |
 * | 256         | head            | reader     | bytes ever consumed (wraps at 2^32)          |
 * | 384         | reader sleeping | both       | 1 while the reader waits on `tail`           |
 * | 512         | writer waiting  | both       | 1 while the writer waits on `head` for space |
 * | 644         | data            | writer     | `capacity` bytes of frames                   |
 *
 * A frame is a u32 payload length, then the payload, padded to a multiple of 8 bytes: the data
 * area starts 4 bytes past an 8-byte boundary, so every payload starts on one (see
 * {@link RING_HEADER_BYTES}). A frame never wraps:
 * when it does not fit before the end, the writer puts a skip marker (length 0xffffffff) there
 * and starts the frame at offset 0. So a payload may take up to `capacity / 2 - 4` bytes.
 *
 * Publication: the writer fills a frame with plain stores, then `Atomics.store`s `tail`; the
 * reader `Atomics.load`s `tail` before reading frames and `Atomics.store`s `head` after. Each
 * side wakes the other only when it has announced that it sleeps, because `Atomics.notify`
 * costs a system call.
 *
 * Trust: the reader never trusts what the writer put in shared memory (lengths, `tail`) nor the
 * writer the reader's `head`; an impossible value throws `RangeError` ("ring corrupted"), and
 * payloads are decoded with bounds checks, so a hostile peer cannot crash its partner.
 *
 * @module
 */

import { ValueDecoder, ValueEncoder } from "./codec.ts";
import { type TimelineChannel, TimelineEnd } from "./timeline.ts";

/** The first word of every ring: "RNG1". */
export const RING_MAGIC = 0x524e4731;

/**
 * Bytes before the data area: 4 past an 8-byte boundary, so that every frame's payload (after its
 * u32 length, frames being whole multiples of 8 bytes) starts on one. The value codec aligns long
 * arrays to 8-byte boundaries of its buffer (`codec.ts`), and V8 copies aligned shared memory a
 * word at a time: a message's bytes are then the same wherever it is encoded (in place, aside, in
 * the backlog), and its arrays aligned in the ring.
 */
export const RING_HEADER_BYTES = 644;

/** The smallest ring capacity, in bytes. */
export const MIN_RING_CAPACITY = 4096;

/** The largest ring capacity, in bytes. */
export const MAX_RING_CAPACITY = 1 << 30;

const W_MAGIC = 0;
const W_CAPACITY = 1;
const W_TAIL = 32;
const W_HEAD = 64;
const W_READER_SLEEPING = 96;
const W_WRITER_WAITING = 128;

const SKIP = -1;
/** Frames are whole multiples of this many bytes. */
const FRAME_ALIGN = 8;
/** Bytes a frame of an `n`-byte payload takes: its length word, the payload, padding. */
function frameBytes(n: number): number {
  return (4 + n + FRAME_ALIGN - 1) & ~(FRAME_ALIGN - 1);
}

/** Throws the `RangeError` of a message of `n` bytes in a ring whose largest is `max`. */
function checkMessageBytes(n: number, max: number): void {
  if (n > max) {
    throw new RangeError(`Cannot write a message of ${n} bytes: the ring's maximum is ${max}`);
  }
}

/** Values of the reader-sleeping word. */
const AWAKE = 0;
const ASLEEP = 1;

/** Returned by {@link RingReader.readValue} when the ring is empty. */
export const EMPTY: unique symbol = Symbol("mungi.ring.empty");

/**
 * An already resolved promise: what a wait that need not wait returns, and what the receive loop
 * awaits for one microtask turn (one turn, as `await null`, without a new promise each time: the
 * loop takes tens of turns a request while it polls).
 */
const RESOLVED: Promise<void> = Promise.resolve();

/** How often a running endpoint checks that it is not asleep on a waiting message, in ms. */
const WATCHDOG_MS = 100;

/**
 * Microtask turns an endpoint's poll only looks before it spins: a promise chain continued by
 * the message just handled advances one step per turn of ours, and a turn that spun for 2 µs
 * made every step of a caller's `await` chain cost 2 µs (3.5 µs from a result's arrival to the
 * caller's next call, measured, against 1 µs for the whole round trip through the driver). Each
 * turn is an `await`, 38 bytes of garbage: with 32, the poll made 48 % of the IDE driver
 * thread's garbage at 512 B (`bench --cpu-profile --allocations`: 5.6 of 11.7 KB a request); 16
 * cut the thread's to 10.2 KB, and the user level read 3.8 % more at 512 B, depth 8
 * (`bench:compare`); 4 were too few for the client's chain (12.6 % less).
 */
const LOOK_TURNS = 16;
/**
 * Atomic loads of one poll slice before microtasks run again: short, so that whatever a microtask
 * still has to do waits little. Each load is followed by the spin-wait hint (`Atomics.pause`), and
 * with it a slice took 0.93-1.3 µs on the 2-vCPU KVM guest of session 15 (0.52 without the hint).
 */
const SLICE_LOADS = 16;
/** The poll reads the clock (175 ns in Deno 2.9) every this many slices (a power of two). */
const CLOCK_EVERY = 8;
/**
 * The loop reads the clock to see whether it is time to yield every this many messages handled
 * back to back (and whenever it polls past its look turns): two clock reads per message were
 * about 4 % of the kernel thread at queue depth 8 (`--cpu-prof`, 64 KiB reads).
 */
const CLOCK_MESSAGES = 8;

/**
 * While it polls with no answer due, the loop yields to the event loop this often by default, in
 * ms (`EndpointOptions.idleYieldMs`): the thread's timers, I/O and other endpoints then wait at
 * most this long for a poll that may be for nothing.
 */
const IDLE_YIELD_MS = 0.25;

let countingWaits = false;
let waitedMs = 0;
/** Up to when the thread's time has been put down as waiting (ms): counted spans never overlap. */
let countedTo = 0;
/** Running receive loops of this thread that are not asleep in `Atomics.waitAsync`. */
let awakeLoops = 0;
/** Since when every running loop of this thread sleeps (ms), while counting and they all do. */
let allAsleepSince: number | undefined;
/**
 * A look turn (see {@link LOOK_TURNS}) that took longer than this (ms) ran other work (a
 * continuation of what the loop handled, a device's transfer): it counts as work, not waiting. An
 * idle turn takes about 0.05 µs; shorter work counts as waiting, a preempted idle turn as work.
 * Past the look turns, polling counts as waiting throughout (a clock read per step would cost
 * more than the step).
 */
const LOOK_TURN_WORK_MS = 0.002;

/** Puts the thread's time from `from` to `to` down as waiting, minus what already is. */
function countWait(from: number, to: number): void {
  const start = Math.max(from, countedTo);
  if (to > start) {
    waitedMs += to - start;
    countedTo = to;
  }
}

/** A loop of this thread goes to sleep (`true`) or wakes (`false`). */
function loopSleeps(asleep: boolean): void {
  awakeLoops += asleep ? -1 : 1;
  if (!countingWaits) return;
  if (asleep && awakeLoops === 0) allAsleepSince = performance.now();
  else if (!asleep && awakeLoops === 1 && allAsleepSince !== undefined) {
    countWait(allAsleepSince, performance.now());
    allAsleepSince = undefined;
  }
}

/**
 * The time this thread spends waiting for messages, while counted: for profiles, whose samplers
 * misplace polling time (see `kernel/profiler.ts`). Waiting is the thread's look turns in which
 * no other work ran, its polling, its blocking, its yields to the event loop while it polls, and
 * the time every receive loop of the thread sleeps at once (one loop asleep while another works
 * is not waiting). Off by default: a count reads the clock once per look turn.
 *
 * @example
 * ```ts
 * import { waitClock } from "./ring.ts";
 * waitClock.start();
 * const waited = waitClock.stop(); // ms since start() spent waiting
 * ```
 */
export const waitClock = {
  /** Starts counting from zero. */
  start(): void {
    countingWaits = true;
    waitedMs = 0;
    countedTo = performance.now();
    allAsleepSince = awakeLoops === 0 ? countedTo : undefined;
  },
  /** Stops counting; returns the milliseconds waited since {@link start}. */
  stop(): number {
    if (countingWaits && allAsleepSince !== undefined) countWait(allAsleepSince, performance.now());
    countingWaits = false;
    allAsleepSince = undefined;
    return waitedMs;
  },
};

/** Encodes messages for a ring (see {@link MessageCodec}). */
export interface MessageEncoder {
  /**
   * Encodes `message` into `target[start..end)` and returns the bytes written, or -1 when it
   * does not fit. Throws `TypeError` for a message it does not carry.
   */
  encodeRange(message: unknown, target: Uint8Array, start: number, end: number): number;
  /** Encodes `message` into a scratch buffer: the view is valid until the next call. */
  encode(message: unknown): Uint8Array;
}

/** Decodes messages from a ring (see {@link MessageCodec}). */
export interface MessageDecoder {
  /**
   * Decodes the message that occupies exactly `bytes[start..end)`. Throws `RangeError` or
   * `TypeError` for bytes that are not one (the ring then counts as corrupt).
   */
  decode(bytes: Uint8Array, start: number, end: number): unknown;
}

/**
 * How the messages of a ring become bytes and back. A writer, reader or endpoint makes its own
 * encoders and decoders from it (they keep scratch state), so one codec object serves any number
 * of rings. The default, {@link VALUE_CODEC}, is `codec.ts`'s self-describing value encoding; a
 * protocol may bring fixed layouts for its hot messages (`kernel/hosts/wire.ts`).
 */
export interface MessageCodec {
  /** A new encoder with a scratch buffer of about `initialBytes`. */
  encoder(initialBytes: number): MessageEncoder;
  decoder(): MessageDecoder;
}

/**
 * `codec.ts`'s value encoding as a {@link MessageCodec}: any value the codec carries.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { VALUE_CODEC } from "./ring.ts";
 * const bytes = VALUE_CODEC.encoder(64).encode({ t: "irq", line: 14 });
 * assertEquals(VALUE_CODEC.decoder().decode(bytes, 0, bytes.length), { t: "irq", line: 14 });
 * ```
 */
export const VALUE_CODEC: MessageCodec = {
  encoder: (initialBytes) => new ValueEncoder(initialBytes),
  decoder: () => new ValueDecoder(),
};

/**
 * Creates the shared memory of one ring with `capacityBytes` of data space (a power of two,
 * 4 KiB to 1 GiB). Hand it to a {@link RingWriter} on one side and a {@link RingReader} on the
 * other; it can be posted to a worker.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createRing } from "./ring.ts";
 * const sab = createRing(65536);
 * assertEquals(sab.byteLength, 65536 + 644);
 * ```
 */
export function createRing(capacityBytes = 65536): SharedArrayBuffer {
  if (
    !Number.isInteger(capacityBytes) || capacityBytes < MIN_RING_CAPACITY ||
    capacityBytes > MAX_RING_CAPACITY || (capacityBytes & (capacityBytes - 1)) !== 0
  ) {
    throw new RangeError(
      `Cannot create ring of ${capacityBytes} bytes: capacity must be a power of two from ${MIN_RING_CAPACITY} to ${MAX_RING_CAPACITY}`,
    );
  }
  const sab = new SharedArrayBuffer(RING_HEADER_BYTES + capacityBytes);
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  header[W_CAPACITY] = capacityBytes;
  Atomics.store(header, W_MAGIC, RING_MAGIC);
  return sab;
}

/** The views both ends need, after checking the buffer really is a ring. */
function openRing(sab: SharedArrayBuffer, role: string): {
  header: Int32Array;
  data: Uint8Array;
  words: Int32Array;
  capacity: number;
} {
  if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < RING_HEADER_BYTES) {
    throw new TypeError(`Cannot open ${role}: not a SharedArrayBuffer made by createRing()`);
  }
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  const capacity = header[W_CAPACITY]!;
  if (
    Atomics.load(header, W_MAGIC) !== RING_MAGIC ||
    capacity < MIN_RING_CAPACITY || (capacity & (capacity - 1)) !== 0 ||
    sab.byteLength !== RING_HEADER_BYTES + capacity
  ) {
    throw new TypeError(`Cannot open ${role}: not a SharedArrayBuffer made by createRing()`);
  }
  return {
    header,
    data: new Uint8Array(sab, RING_HEADER_BYTES, capacity),
    words: new Int32Array(sab, RING_HEADER_BYTES, capacity / 4),
    capacity,
  };
}

function corrupted(what: string): RangeError {
  return new RangeError(`Ring corrupted: ${what}`);
}

/**
 * The producing end of a ring. Only one writer may exist per ring.
 *
 * `tryWrite` and `writeValue` publish at once. `stage` and `stageValue` write without
 * publishing, and {@link RingWriter.publish} makes everything staged visible with one atomic
 * store and at most one wake-up: that is how a batch of replies costs one notification.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createRing, RingReader, RingWriter } from "./ring.ts";
 * const sab = createRing(4096);
 * const writer = new RingWriter(sab);
 * assertEquals(writer.writeValue({ t: "ping", id: 1 }), true);
 * assertEquals(new RingReader(sab).readValue(), { t: "ping", id: 1 });
 * ```
 */
export class RingWriter {
  #header: Int32Array;
  #data: Uint8Array;
  #words: Int32Array;
  #capacity: number;
  #mask: number;
  /** Our tail, including staged frames not yet published. */
  #tail: number;
  /** The last published tail. */
  #published: number;
  /** The reader's head when we last looked. */
  #head: number;
  #encoder: MessageEncoder;
  #scratch: MessageEncoder;
  /** Frames committed so far (skip markers are not frames). */
  #frames = 0;
  #onPublish: ((frames: number) => void) | undefined;

  /**
   * Opens the writing end of `sab` (made by {@link createRing}); messages are encoded by `codec`
   * (default: `codec.ts`'s value encoding).
   */
  constructor(sab: SharedArrayBuffer, codec: MessageCodec = VALUE_CODEC) {
    this.#encoder = codec.encoder(0);
    this.#scratch = codec.encoder(4096);
    const ring = openRing(sab, "ring writer");
    this.#header = ring.header;
    this.#data = ring.data;
    this.#words = ring.words;
    this.#capacity = ring.capacity;
    this.#mask = ring.capacity - 1;
    this.#tail = this.#published = Atomics.load(this.#header, W_TAIL);
    this.#head = Atomics.load(this.#header, W_HEAD);
  }

  /** Data capacity of the ring in bytes. */
  get capacity(): number {
    return this.#capacity;
  }

  /** The largest payload a single message may have: `capacity / 2 - 4`. */
  get maxMessageBytes(): number {
    return this.#capacity / 2 - 4;
  }

  /** Whether frames have been staged since the last {@link RingWriter.publish}. */
  get hasStaged(): boolean {
    return this.#tail !== this.#published;
  }

  /**
   * Writes one message of raw bytes and publishes it. Returns false, writing nothing, when the
   * ring has no room now; throws `RangeError` when the message could never fit.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, RingWriter } from "./ring.ts";
   * assertEquals(new RingWriter(createRing(4096)).tryWrite(new Uint8Array([1, 2, 3])), true);
   * ```
   */
  tryWrite(bytes: Uint8Array): boolean {
    if (!this.stage(bytes)) return false;
    this.publish();
    return true;
  }

  /**
   * Encodes `value` (see `codec.ts`) straight into ring memory and publishes it. Returns false
   * when the ring has no room now; throws `TypeError` for a value the codec refuses and
   * `RangeError` for a message larger than {@link RingWriter.maxMessageBytes}.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, RingWriter } from "./ring.ts";
   * assertEquals(new RingWriter(createRing(4096)).writeValue({ t: "irq", line: 14 }), true);
   * ```
   */
  writeValue(value: unknown): boolean {
    if (!this.stageValue(value)) return false;
    this.publish();
    return true;
  }

  /**
   * Like {@link RingWriter.tryWrite} but does not publish: the reader sees the message after the
   * next {@link RingWriter.publish}.
   *
   * @example
   * ```ts
   * import { createRing, RingWriter } from "./ring.ts";
   * const writer = new RingWriter(createRing(4096));
   * writer.stage(new Uint8Array([1]));
   * writer.stage(new Uint8Array([2]));
   * writer.publish(); // both become visible at once
   * ```
   */
  stage(bytes: Uint8Array): boolean {
    const n = bytes.length;
    const start = this.#reserve(n);
    if (start < 0) return false;
    this.#data.set(bytes, start);
    this.#commit(start, n);
    return true;
  }

  /**
   * Like {@link RingWriter.writeValue} but does not publish.
   *
   * @example
   * ```ts
   * import { createRing, RingWriter } from "./ring.ts";
   * const writer = new RingWriter(createRing(4096));
   * writer.stageValue({ t: "reply", id: 1 });
   * writer.publish();
   * ```
   */
  stageValue(value: unknown): boolean {
    // Encode in place, into the free bytes before the end of the data area; if that fails,
    // look at the reader's head again and retry; then encode aside, and wrap or give up.
    if (this.#encodeInPlace(value) || (this.#refreshHead() && this.#encodeInPlace(value))) {
      return true;
    }
    return this.stage(this.#scratch.encode(value));
  }

  /**
   * Makes staged messages visible to the reader, and wakes the reader if it sleeps.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, RingWriter } from "./ring.ts";
   * const writer = new RingWriter(createRing(4096));
   * writer.stageValue(1);
   * writer.publish();
   * assertEquals(writer.hasStaged, false);
   * ```
   */
  publish(): void {
    if (this.#tail === this.#published) return;
    this.#published = this.#tail;
    // Before the tail: what the hook writes (a timeline's stamps) is visible with the frames.
    this.#onPublish?.(this.#frames);
    const header = this.#header;
    Atomics.store(header, W_TAIL, this.#tail);
    if (
      Atomics.load(header, W_READER_SLEEPING) !== AWAKE &&
      Atomics.compareExchange(header, W_READER_SLEEPING, ASLEEP, AWAKE) === ASLEEP
    ) {
      Atomics.notify(header, W_TAIL, 1);
    }
  }

  /**
   * Calls `fn` at every publish that makes frames visible, with the count of frames committed so
   * far, before the frames become visible to the reader (a timeline stamps them: see
   * `timeline.ts`). One hook per writer; `undefined` removes it.
   */
  onPublish(fn: ((frames: number) => void) | undefined): void {
    this.#onPublish = fn;
  }

  /**
   * Resolves once the reader has consumed something since the last write that found the ring
   * full (at once if it already has). Retry the write then; it may still not fit, so loop.
   * Like `Atomics.waitAsync` itself, the pending wait does not keep Deno's event loop alive.
   *
   * @example
   * ```ts
   * import { createRing, RingWriter } from "./ring.ts";
   * const writer = new RingWriter(createRing(4096));
   * const big = new Uint8Array(1000);
   * while (writer.tryWrite(big)); // fill the ring
   * const space = writer.waitForSpace(); // resolves when a reader consumes
   * ```
   */
  waitForSpace(): Promise<void> {
    const header = this.#header;
    Atomics.store(header, W_WRITER_WAITING, 1);
    const head = Atomics.load(header, W_HEAD);
    if (head !== this.#head) {
      Atomics.store(header, W_WRITER_WAITING, 0);
      return RESOLVED;
    }
    const result = Atomics.waitAsync(header, W_HEAD, head);
    if (!result.async) {
      Atomics.store(header, W_WRITER_WAITING, 0);
      return RESOLVED;
    }
    return result.value.then(() => {
      Atomics.store(header, W_WRITER_WAITING, 0);
    });
  }

  #encodeInPlace(value: unknown): boolean {
    const pos = this.#tail & this.#mask;
    const free = this.#capacity - ((this.#tail - this.#head) | 0);
    const room = Math.min(free, this.#capacity - pos, this.#capacity / 2) - 4;
    if (room < 0) return false;
    const n = this.#encoder.encodeRange(value, this.#data, pos + 4, pos + 4 + room);
    if (n < 0) return false;
    this.#commit(pos + 4, n);
    return true;
  }

  /** Loads the reader's head; returns whether it moved. */
  #refreshHead(): boolean {
    const head = Atomics.load(this.#header, W_HEAD);
    if (head === this.#head) return false;
    const used = (this.#tail - head) | 0;
    if (used < 0 || used > this.#capacity || (head & (FRAME_ALIGN - 1)) !== 0) {
      throw corrupted(`reader's head ${head} is inconsistent with tail ${this.#tail}`);
    }
    this.#head = head;
    return true;
  }

  /**
   * Returns the data offset where a payload of `n` bytes may be written (writing a skip marker
   * first if it has to wrap), or -1 when there is no room now.
   */
  #reserve(n: number): number {
    checkMessageBytes(n, this.maxMessageBytes);
    const frame = frameBytes(n);
    const pos = this.#tail & this.#mask;
    const contiguous = this.#capacity - pos;
    const need = frame <= contiguous ? frame : contiguous + frame;
    if (
      need > this.#capacity - ((this.#tail - this.#head) | 0) &&
      (!this.#refreshHead() || need > this.#capacity - ((this.#tail - this.#head) | 0))
    ) {
      return -1;
    }
    if (frame > contiguous) {
      this.#words[pos >> 2] = SKIP;
      this.#tail = (this.#tail + contiguous) | 0;
      return 4;
    }
    return pos + 4;
  }

  /** Writes the length word of the frame whose payload starts at `start`, and advances. */
  #commit(start: number, n: number): void {
    this.#frames++;
    this.#words[(start - 4) >> 2] = n;
    this.#tail = (this.#tail + frameBytes(n)) | 0;
  }
}

/**
 * The consuming end of a ring. Only one reader may exist per ring.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createRing, EMPTY, RingReader, RingWriter } from "./ring.ts";
 * const sab = createRing(4096);
 * const reader = new RingReader(sab);
 * assertEquals(reader.readValue(), EMPTY);
 * new RingWriter(sab).writeValue("hi");
 * assertEquals(reader.readValue(), "hi");
 * ```
 */
export class RingReader {
  #header: Int32Array;
  #data: Uint8Array;
  #words: Int32Array;
  #capacity: number;
  #mask: number;
  /** Bytes consumed by us, possibly not yet stored to the shared head. */
  #head: number;
  /** The head last stored to shared memory. */
  #stored: number;
  /** The writer's tail when we last looked. */
  #tail: number;
  /** Payload length of the frame found by the last successful `#next()`. */
  #length = 0;
  #decoder: MessageDecoder;
  #frames = 0;

  /** Opens the reading end of `sab` (made by {@link createRing}); see {@link RingWriter}'s `codec`. */
  constructor(sab: SharedArrayBuffer, codec: MessageCodec = VALUE_CODEC) {
    this.#decoder = codec.decoder();
    const ring = openRing(sab, "ring reader");
    this.#header = ring.header;
    this.#data = ring.data;
    this.#words = ring.words;
    this.#capacity = ring.capacity;
    this.#mask = ring.capacity - 1;
    this.#head = this.#stored = this.#tail = Atomics.load(this.#header, W_HEAD);
  }

  /** Frames read so far: the last one read has sequence number `frames - 1`. */
  get frames(): number {
    return this.#frames;
  }

  /** Whether a message is waiting (one atomic load at most). */
  get hasData(): boolean {
    return this.#tail !== this.#head || this.#loadTail() !== this.#head;
  }

  /**
   * Takes the next message as a copy of its bytes, or `undefined` when the ring is empty.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, RingReader, RingWriter } from "./ring.ts";
   * const sab = createRing(4096);
   * new RingWriter(sab).tryWrite(new Uint8Array([7]));
   * assertEquals(new RingReader(sab).tryRead(), new Uint8Array([7]));
   * ```
   */
  tryRead(): Uint8Array | undefined {
    const start = this.#next();
    if (start < 0) return undefined;
    const bytes = this.#data.slice(start, start + this.#length);
    this.#storeHead();
    return bytes;
  }

  /**
   * Takes and decodes the next message, or returns {@link EMPTY}. A message that does not decode
   * is consumed anyway, then its `RangeError` or `TypeError` is thrown.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, EMPTY, RingReader } from "./ring.ts";
   * assertEquals(new RingReader(createRing(4096)).readValue(), EMPTY);
   * ```
   */
  readValue(): unknown {
    const start = this.#next();
    if (start < 0) return EMPTY;
    try {
      return this.#decoder.decode(this.#data, start, start + this.#length);
    } finally {
      this.#storeHead();
    }
  }

  /**
   * Hands every waiting message (up to `max`) to `fn` as a view of ring memory, valid only during
   * the call, and returns how many it handled. Space is given back to the writer once at the end
   * (and every quarter ring on long batches). `fn` may return `false` to stop after this
   * message. If `fn` throws, that message counts as consumed.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, RingReader, RingWriter } from "./ring.ts";
   * const sab = createRing(4096);
   * const writer = new RingWriter(sab);
   * writer.tryWrite(new Uint8Array([1]));
   * writer.tryWrite(new Uint8Array([2, 3]));
   * const lengths: number[] = [];
   * assertEquals(new RingReader(sab).drain((bytes) => lengths.push(bytes.length)), 2);
   * assertEquals(lengths, [1, 2]);
   * ```
   */
  drain(fn: (bytes: Uint8Array) => unknown, max: number = Infinity): number {
    let count = 0;
    try {
      while (count < max) {
        const start = this.#next();
        if (start < 0) break;
        count++;
        const more = fn(this.#data.subarray(start, start + this.#length));
        this.#maybeStoreHead();
        if (more === false) break;
      }
    } finally {
      this.#storeHead();
    }
    return count;
  }

  /**
   * Decodes every waiting message (up to `max`) and hands it to `fn`; returns how many it
   * handled. `fn` may return `false` to stop after this message. A message that fails to decode
   * is consumed and its error thrown.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, RingReader, RingWriter } from "./ring.ts";
   * const sab = createRing(4096);
   * const writer = new RingWriter(sab);
   * writer.writeValue("a");
   * writer.writeValue("b");
   * const got: unknown[] = [];
   * assertEquals(new RingReader(sab).drainValues((v) => got.push(v)), 2);
   * assertEquals(got, ["a", "b"]);
   * ```
   */
  drainValues(fn: (value: unknown) => unknown, max: number = Infinity): number {
    let count = 0;
    const decoder = this.#decoder;
    const data = this.#data;
    try {
      while (count < max) {
        const start = this.#next();
        if (start < 0) break;
        count++;
        const more = fn(decoder.decode(data, start, start + this.#length));
        this.#maybeStoreHead();
        if (more === false) break;
      }
    } finally {
      this.#storeHead();
    }
    return count;
  }

  /**
   * Busy-waits up to `micros` microseconds for a message, watching `tail` with atomic loads and
   * the clock every 64 loads. Returns whether a message is waiting. It blocks the thread's event
   * loop meanwhile: use it only when a reply is expected within microseconds.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, RingReader } from "./ring.ts";
   * assertEquals(new RingReader(createRing(4096)).spin(10), false); // after about 10 us
   * ```
   */
  spin(micros: number): boolean {
    if (this.hasData) return true;
    if (!(micros > 0)) return false;
    const deadline = performance.now() + micros / 1000;
    do {
      if (this.spinLoads(64)) return true;
    } while (performance.now() < deadline);
    return false;
  }

  /**
   * Busy-waits for a message for at most `loads` atomic loads of the writer's tail (no clock);
   * returns whether a message is waiting.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, RingReader } from "./ring.ts";
   * assertEquals(new RingReader(createRing(4096)).spinLoads(16), false);
   * ```
   */
  spinLoads(loads: number): boolean {
    if (this.#tail !== this.#head) return true;
    const header = this.#header;
    const head = this.#head;
    for (let i = 0; i < loads; i++) {
      if (Atomics.load(header, W_TAIL) !== head) return this.hasData;
      // The spin-wait hint (x86 PAUSE): the core's other hardware thread runs meanwhile.
      Atomics.pause();
    }
    return false;
  }

  /**
   * Adaptive wait: spins up to `spinMicros` (see {@link RingReader.spin}), then announces that it
   * sleeps, checks once more (so a write racing with the announcement is not missed) and waits
   * with `Atomics.waitAsync` on `tail` until the writer publishes. Resolves when a message is
   * waiting; a call to {@link RingReader.wake} also resolves it. Like `Atomics.waitAsync` itself,
   * the pending wait does not keep Deno's event loop alive (a live worker or a timer must).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, RingReader, RingWriter } from "./ring.ts";
   * const sab = createRing(4096);
   * const reader = new RingReader(sab);
   * const ready = reader.waitAsync(20);
   * new RingWriter(sab).writeValue("x");
   * await ready;
   * assertEquals(reader.readValue(), "x");
   * ```
   */
  waitAsync(spinMicros = 0): Promise<void> {
    if (this.spin(spinMicros)) return RESOLVED;
    const header = this.#header;
    Atomics.store(header, W_READER_SLEEPING, ASLEEP);
    const tail = Atomics.load(header, W_TAIL);
    if (tail !== this.#head) {
      Atomics.store(header, W_READER_SLEEPING, AWAKE);
      return RESOLVED;
    }
    const result = Atomics.waitAsync(header, W_TAIL, tail);
    if (!result.async) {
      Atomics.store(header, W_READER_SLEEPING, AWAKE);
      return RESOLVED;
    }
    return result.value.then(() => {
      Atomics.store(header, W_READER_SLEEPING, AWAKE);
    });
  }

  /**
   * Blocks the thread with `Atomics.wait` until a message is waiting or `timeoutMs` passes;
   * returns whether a message is waiting. For contexts that may block (a worker's own loop);
   * Deno allows it on the main thread too, where it freezes the event loop.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { createRing, RingReader } from "./ring.ts";
   * assertEquals(new RingReader(createRing(4096)).waitSync(1), false); // after 1 ms
   * ```
   */
  waitSync(timeoutMs: number = Infinity): boolean {
    if (this.hasData) return true;
    const header = this.#header;
    Atomics.store(header, W_READER_SLEEPING, ASLEEP);
    const tail = Atomics.load(header, W_TAIL);
    if (tail === this.#head) Atomics.wait(header, W_TAIL, tail, timeoutMs);
    Atomics.store(header, W_READER_SLEEPING, AWAKE);
    return this.hasData;
  }

  /**
   * Wakes a pending {@link RingReader.waitAsync} or {@link RingReader.waitSync} without a message
   * (used to stop a loop). It may be called from any thread that has the ring.
   *
   * @example
   * ```ts
   * import { createRing, RingReader } from "./ring.ts";
   * const reader = new RingReader(createRing(4096));
   * const waiting = reader.waitAsync();
   * reader.wake();
   * await waiting;
   * ```
   */
  wake(): void {
    Atomics.notify(this.#header, W_TAIL);
  }

  /**
   * Finds the next frame: returns the data offset of its payload and sets `#length`, and moves
   * our head past it; returns -1 when the ring is empty.
   */
  #next(): number {
    let available = (this.#tail - this.#head) | 0;
    if (available === 0) {
      available = (this.#loadTail() - this.#head) | 0;
      if (available === 0) return -1;
    }
    let pos = this.#head & this.#mask;
    let length = this.#words[pos >> 2]!;
    if (length === SKIP) {
      const skip = this.#capacity - pos;
      if (skip >= available) throw this.#corrupt("skip marker past the tail");
      this.#head = (this.#head + skip) | 0;
      available -= skip;
      pos = 0;
      length = this.#words[0]!;
    }
    // Checked before padding, so that a huge length cannot overflow into a small one.
    const room = Math.min(available, this.#capacity - pos) - 4;
    if (length < 0 || length > room || frameBytes(length) > room + 4) {
      throw this.#corrupt(`frame length ${length} at offset ${pos} overruns the data`);
    }
    this.#length = length;
    this.#head = (this.#head + frameBytes(length)) | 0;
    this.#frames++;
    return pos + 4;
  }

  /** Loads and checks the writer's tail. */
  #loadTail(): number {
    const tail = Atomics.load(this.#header, W_TAIL);
    const available = (tail - this.#head) | 0;
    if (available < 0 || available > this.#capacity || (tail & (FRAME_ALIGN - 1)) !== 0) {
      throw corrupted(`writer's tail ${tail} is inconsistent with head ${this.#head}`);
    }
    return this.#tail = tail;
  }

  /** Drops all published data we cannot parse, so that the next call does not fail again. */
  #corrupt(what: string): RangeError {
    this.#head = this.#tail;
    this.#storeHead();
    return corrupted(what);
  }

  #maybeStoreHead(): void {
    if (((this.#head - this.#stored) | 0) >= this.#capacity >> 2) this.#storeHead();
  }

  /** Gives consumed space back to the writer, waking it if it waits for space. */
  #storeHead(): void {
    if (this.#head === this.#stored) return;
    this.#stored = this.#head;
    const header = this.#header;
    Atomics.store(header, W_HEAD, this.#head);
    if (
      Atomics.load(header, W_WRITER_WAITING) !== 0 &&
      Atomics.compareExchange(header, W_WRITER_WAITING, 1, 0) === 1
    ) {
      Atomics.notify(header, W_HEAD, 1);
    }
  }
}

/**
 * The two rings of a kernel <-> driver host connection. Plain data: post it to the worker.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type Channel, createChannel } from "./ring.ts";
 * const channel: Channel = createChannel(65536);
 * assertEquals(channel.toWorker.byteLength, 65536 + 644);
 * ```
 */
export interface Channel {
  /** Kernel writes, worker reads. */
  readonly toWorker: SharedArrayBuffer;
  /** Worker writes, kernel reads. */
  readonly toKernel: SharedArrayBuffer;
  /** Where both endpoints record message latencies, if the channel has a timeline. */
  readonly timeline?: TimelineChannel;
}

/**
 * Creates a {@link Channel}: two rings of `capacityBytes` each; with `timeline` (made by
 * `createTimeline` in `timeline.ts`), the endpoints record their messages' latencies in it.
 *
 * @example
 * ```ts
 * import { createChannel, Endpoint } from "./ring.ts";
 * const channel = createChannel(65536);
 * const kernel = new Endpoint(channel, "kernel");
 * // worker.postMessage(channel); and in the worker: new Endpoint(channel, "worker")
 * ```
 */
export function createChannel(
  capacityBytes = 65536,
  options: { timeline?: TimelineChannel } = {},
): Channel {
  const channel = { toWorker: createRing(capacityBytes), toKernel: createRing(capacityBytes) };
  return options.timeline === undefined ? channel : { ...channel, timeline: options.timeline };
}

/**
 * Limits how many threads of a process poll for long at once. Polling pays only while each
 * polling thread has a CPU of its own: with more pollers than CPUs, every poller loses scheduler
 * slices to the others and a message waits milliseconds (plugging a USB device, which keeps the
 * kernel, the host controller driver and the USB core busy at once, took 130-180 ms instead of
 * 10-40 ms on a 2-vCPU VM). A thread holds a *token* while it polls past the short poll and gives
 * it back before it blocks or sleeps; `owner` marks that this thread holds one, so that whoever
 * stops the thread can give its token back too ({@link PollGate.reclaim}).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PollGate } from "./ring.ts";
 * const tokens = PollGate.createTokens();
 * const a = new PollGate(tokens, 1, new Int32Array(new SharedArrayBuffer(4)));
 * const b = new PollGate(tokens, 1, new Int32Array(new SharedArrayBuffer(4)));
 * assertEquals([a.tryAcquire(), b.tryAcquire()], [true, false]);
 * a.release();
 * assertEquals(b.tryAcquire(), true);
 * ```
 */
export class PollGate {
  #tokens: Int32Array;
  #limit: number;
  #owner: Int32Array;

  /** The shared count of tokens out: one per process, handed to every gate. */
  static createTokens(): SharedArrayBuffer {
    return new SharedArrayBuffer(4);
  }

  /**
   * A gate over `tokens` that lets `limit` holders poll at once; `owner[0]` is 1 while this
   * thread holds a token.
   */
  constructor(tokens: SharedArrayBuffer, limit: number, owner: Int32Array) {
    this.#tokens = new Int32Array(tokens, 0, 1);
    this.#limit = limit;
    this.#owner = owner;
  }

  /** Whether this thread holds a token. */
  get holding(): boolean {
    return Atomics.load(this.#owner, 0) === 1;
  }

  /** Takes a token if one is free (or keeps the one it holds); returns whether it holds one. */
  tryAcquire(): boolean {
    if (this.holding) return true;
    for (;;) {
      const out = Atomics.load(this.#tokens, 0);
      if (out >= this.#limit) return false;
      if (Atomics.compareExchange(this.#tokens, 0, out, out + 1) === out) break;
    }
    Atomics.store(this.#owner, 0, 1);
    return true;
  }

  /** Gives the token back, if this thread holds one. */
  release(): void {
    giveBack(this.#tokens, this.#owner);
  }

  /** Gives back the token of the thread whose `owner` word this is (from any thread). */
  static reclaim(tokens: SharedArrayBuffer, owner: Int32Array): void {
    giveBack(new Int32Array(tokens, 0, 1), owner);
  }
}

/** Clears `owner` and, if it held a token, returns it to `tokens` (whoever clears it first). */
function giveBack(tokens: Int32Array, owner: Int32Array): void {
  if (Atomics.exchange(owner, 0, 0) === 1) Atomics.sub(tokens, 0, 1);
}

/** Options of an {@link Endpoint}. */
export interface EndpointOptions {
  /**
   * How long the loop polls for the next message while one is expected (see `expecting`) before
   * it sleeps, in microseconds (default 50). Polling yields to microtasks between looks (so the
   * continuations of what it just handled run and send), but not to timers or I/O. 0 never polls.
   */
  spinMicros?: number;
  /**
   * How long the loop keeps polling after the last message it handled when none is expected, in
   * microseconds (default 0): traffic comes in bursts, and a wake-up from sleep costs far more
   * than a few microseconds of polling.
   */
  idleSpinMicros?: number;
  /**
   * After polling in vain, how long the loop may block its thread in `Atomics.wait` before it
   * yields to the event loop and sleeps in `Atomics.waitAsync`, in microseconds (default 0). A
   * blocked thread wakes within microseconds of the peer's publish but runs nothing else
   * meanwhile: for a worker with nothing else to do, never for the kernel's main thread.
   */
  blockMicros?: number;
  /**
   * Whether a message is expected soon (a call or an interrupt is outstanding): the loop polls
   * for `spinMicros` then, and until `idleSpinMicros` after the last message otherwise. Default:
   * always expected.
   */
  expecting?: () => boolean;
  /**
   * If given, the loop polls past `shortPollMicros` only while it holds one of the gate's tokens
   * (see {@link PollGate}), and gives the token back before it blocks or sleeps.
   */
  pollGate?: PollGate;
  /** How long the loop polls without a token of `pollGate`, in µs (default 50). */
  shortPollMicros?: number;
  /**
   * How messages become bytes (default: `codec.ts`'s value encoding). Both sides of a channel
   * must use the same codec.
   */
  codec?: MessageCodec;
  /** Most messages handled before the loop gives space back and looks around (default 256). */
  maxBatch?: number;
  /**
   * Longest stretch of continuous work or polling before yielding to the event loop, in ms
   * (default 4): timers, I/O and the other endpoints of the thread run meanwhile.
   */
  yieldMs?: number;
  /**
   * How often the loop yields while it polls with no message expected (see `expecting`), in ms
   * (default 0.25): short where other endpoints or I/O share the thread.
   */
  idleYieldMs?: number;
}

/**
 * One side of a {@link Channel}: writes one ring, reads the other. `send` never blocks and never
 * loses a message: when the ring is full it queues locally (encoded, in order) and flushes as the
 * peer consumes; each send is published at once (one atomic store; a futex wake only if the peer
 * sleeps), so the peer starts on it while we go on. `start` runs the receive loop: it drains in
 * batches, lets the continuations of what it handled run, then waits adaptively: polls (between
 * microtasks) for up to `spinMicros` while a message is `expecting` (until `idleSpinMicros` after
 * the last message otherwise), then blocks in `Atomics.wait` for up to `blockMicros` (0 on the
 * kernel's side), then sleeps in `Atomics.waitAsync`. Every `yieldMs` of continuous traffic or
 * polling it yields to the event loop.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { createChannel, Endpoint } from "./ring.ts";
 * const channel = createChannel(4096);
 * const kernel = new Endpoint(channel, "kernel");
 * const worker = new Endpoint(channel, "worker"); // normally in the worker
 * const echo = worker.start((msg) => worker.send(msg));
 * const got = new Promise((resolve) => kernel.start(resolve));
 * kernel.send({ t: "call", id: 1 });
 * assertEquals(await got, { t: "call", id: 1 });
 * kernel.stop();
 * worker.stop();
 * await echo;
 * ```
 */
export class Endpoint {
  #writer: RingWriter;
  #reader: RingReader;
  #spinMax: number;
  #idleMax: number;
  #lastActive = 0;
  /** Whether messages were handled since the clock was last read for `#lastActive`. */
  #active = false;
  #blockMs: number;
  #expecting: (() => boolean) | undefined;
  #maxBatch: number;
  #yieldMs: number;
  #idleYieldMs: number;
  #gate: PollGate | undefined;
  #shortPoll: number;
  /** Messages (encoded) waiting for ring space. */
  #backlog: Backlog;
  #flushedWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  #flushing = false;
  /** Why queued messages could not be flushed (a corrupted ring); thrown by later sends. */
  #error: unknown = undefined;
  /** When the loop last yielded to the event loop (`performance.now()`). */
  #lastYield = 0;
  #running = false;
  #stopped = false;
  #timeline: TimelineEnd | undefined;

  /** Opens the `side` ("kernel" or "worker") of `channel`. */
  constructor(channel: Channel, side: "kernel" | "worker", options: EndpointOptions = {}) {
    if (side !== "kernel" && side !== "worker") {
      throw new TypeError(`Cannot open endpoint: side must be "kernel" or "worker", not ${side}`);
    }
    const out = side === "kernel" ? channel.toWorker : channel.toKernel;
    const inn = side === "kernel" ? channel.toKernel : channel.toWorker;
    const codec = options.codec ?? VALUE_CODEC;
    this.#writer = new RingWriter(out, codec);
    this.#reader = new RingReader(inn, codec);
    this.#backlog = new Backlog(codec, this.#writer.maxMessageBytes);
    this.#spinMax = Math.max(0, options.spinMicros ?? 50);
    this.#idleMax = Math.max(0, options.idleSpinMicros ?? 0);
    this.#blockMs = Math.max(0, options.blockMicros ?? 0) / 1000;
    this.#expecting = options.expecting;
    this.#maxBatch = Math.max(1, options.maxBatch ?? 256);
    this.#yieldMs = options.yieldMs ?? 4;
    this.#idleYieldMs = options.idleYieldMs ?? IDLE_YIELD_MS;
    this.#gate = options.pollGate;
    this.#shortPoll = Math.max(0, options.shortPollMicros ?? 50) / 1000;
    if (channel.timeline !== undefined) {
      const timeline = this.#timeline = new TimelineEnd(channel.timeline, side);
      this.#writer.onPublish((frames) => timeline.published(frames));
    }
  }

  /** Messages queued locally because the ring was full. */
  get queued(): number {
    return this.#backlog.size;
  }

  /**
   * Sends `message` (anything `codec.ts` carries). Throws `TypeError` at once for a value the
   * codec refuses, `RangeError` for one larger than half the ring or when the peer has
   * corrupted the ring. The message is published at once: batching publishes saved nothing
   * measurable, and a call held back to the end of a microtask checkpoint cost its round trip
   * several microseconds.
   *
   * @example
   * ```ts
   * import { createChannel, Endpoint } from "./ring.ts";
   * const kernel = new Endpoint(createChannel(4096), "kernel");
   * kernel.send({ t: "call", id: 17, iface: "IBlock", method: "read", args: [0, 8] });
   * ```
   */
  send(message: unknown): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.#backlog.size === 0) {
      if (this.#writer.writeValue(message)) return;
      this.#writer.publish();
      this.#backlog.push(message);
      this.#flush().catch((error) => {
        this.#error = error;
        const waiters = this.#flushedWaiters;
        this.#flushedWaiters = [];
        for (const waiter of waiters) waiter.reject(error);
      });
      return;
    }
    this.#backlog.push(message);
  }

  /**
   * Resolves when no message is queued locally any more (all are in the ring): how a producer
   * that sends in bulk respects back-pressure. Rejects if the peer corrupted the ring.
   *
   * @example
   * ```ts
   * import { createChannel, Endpoint } from "./ring.ts";
   * const kernel = new Endpoint(createChannel(4096), "kernel");
   * kernel.send("x");
   * if (kernel.queued > 0) await kernel.flushed();
   * ```
   */
  flushed(): Promise<void> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#backlog.size === 0) return RESOLVED;
    return new Promise((resolve, reject) => this.#flushedWaiters.push({ resolve, reject }));
  }

  /** Publishes anything staged (sends publish at once; kept for callers that must be sure). */
  flush(): void {
    this.#writer.publish();
  }

  /**
   * Runs the receive loop: calls `handler` for every message, in order, until {@link stop}.
   * Resolves after `stop()`; rejects (and stops) if `handler` throws or a message is corrupt.
   * While running it keeps the process alive, like a listening socket.
   *
   * @example
   * ```ts
   * import { createChannel, Endpoint } from "./ring.ts";
   * const worker = new Endpoint(createChannel(4096), "worker");
   * const done = worker.start((msg) => console.log(msg));
   * worker.stop();
   * await done;
   * ```
   */
  async start(handler: (message: unknown) => void): Promise<void> {
    if (this.#running) throw new TypeError("Cannot start endpoint: it is already running");
    this.#running = true;
    this.#stopped = false;
    // Keeps the process alive, and is a safety net: Deno delivers the wake-up of a pending
    // Atomics.waitAsync through V8's task queue, which an idle event loop may leave unserved;
    // a timer tick serves it, and this one also wakes the reader if a message is waiting.
    const keepAlive = setInterval(() => {
      try {
        if (this.#stopped || this.#reader.hasData) this.#reader.wake();
      } catch {
        this.#reader.wake(); // a corrupted ring: let the loop find out and fail
      }
    }, WATCHDOG_MS);
    /**
     * Resolves in a task of its own: every microtask queued before has run by then, and the
     * thread's timers and I/O get their turn. An immediate, not a message to a MessageChannel of
     * our own: the two cost the same alone (3.3 against 3.9-4.8 µs), but in the running worker
     * host a message's turn took 132 µs on average on the kernel's thread and 127 on the driver's
     * (an immediate's 50 and 43-55): 3.3 % and 5.8 % of the threads' time (session 15).
     */
    const nextTask = () => new Promise<void>((resolve) => setImmediate(resolve));
    const reader = this.#reader;
    const timeline = this.#timeline;
    const deliver = (message: unknown): boolean => {
      timeline?.delivered(reader.frames - 1, message);
      handler(message);
      return !this.#stopped;
    };
    let sinceClock = 0;
    loopSleeps(false);
    try {
      this.#lastYield = performance.now();
      while (!this.#stopped) {
        const handled = reader.drainValues(deliver, this.#maxBatch);
        if (this.#stopped) break;
        sinceClock += handled;
        if (sinceClock >= CLOCK_MESSAGES) {
          sinceClock = 0;
          if (performance.now() - this.#lastYield >= this.#yieldMs) {
            await nextTask();
            this.#lastYield = performance.now();
            continue;
          }
        }
        if (handled > 0 && reader.hasData) {
          // Let what the batch queued (a device's work, a promise's continuation) run first.
          await RESOLVED;
          continue;
        }
        // The look turns run here, in the loop itself (see #waitBriefly): most waits end in them,
        // and a call of an async function costs 236 bytes and 0.1 µs more than its awaits.
        if (handled > 0) this.#active = true;
        let step = countingWaits ? performance.now() : 0;
        let turn = 0;
        for (;; turn++) {
          if (countingWaits && turn > 0) {
            // The turn before this one, counted as waiting if nothing else ran in it.
            const now = performance.now();
            if (now - step <= LOOK_TURN_WORK_MS) countWait(step, now);
            step = now;
          }
          if (turn === LOOK_TURNS) break;
          await RESOLVED;
          if (reader.hasData) break;
        }
        if (turn < LOOK_TURNS) {
          this.#counted(step, true, true);
          continue;
        }
        if (await this.#waitBriefly(nextTask, step)) continue;
        if (this.#stopped) break;
        loopSleeps(true);
        try {
          await reader.waitAsync(0);
        } finally {
          loopSleeps(false);
        }
        this.#lastYield = performance.now();
      }
    } finally {
      loopSleeps(true);
      this.#running = false;
      this.#gate?.release();
      clearInterval(keepAlive);
    }
  }

  /**
   * Stops the receive loop after the message being handled (the rest stay in the ring for a
   * later `start()`); `start()`'s promise then resolves.
   * Queued sends still flush as the peer consumes.
   *
   * @example
   * ```ts
   * import { createChannel, Endpoint } from "./ring.ts";
   * const kernel = new Endpoint(createChannel(4096), "kernel");
   * const loop = kernel.start(() => {});
   * kernel.stop();
   * await loop;
   * ```
   */
  stop(): void {
    this.#stopped = true;
    this.#reader.wake();
  }

  /**
   * Waits briefly for the next message, once the loop's look turns (microtask turns that only
   * look: the promise chains of what was just handled run and send, and each of their steps needs
   * a turn of ours, so a turn must not spin) found none: polls in short slices between microtask
   * turns while an answer is due (see `spinMicros`; else `idleSpinMicros`), then, after a task
   * boundary (so that no microtask is left behind), blocks in `Atomics.wait` for up to
   * `blockMicros`. `step` is when the polling began (while `waitClock` counts). Returns whether a
   * message arrived.
   */
  async #waitBriefly(nextTask: () => Promise<void>, step: number): Promise<boolean> {
    const reader = this.#reader;
    const expecting = this.#expecting;
    // The clock is read only once the look turns are over (most messages arrive before): the
    // time of the last message handled is then taken as now.
    let dueUntil = 0, lingerUntil = 0;
    // Past the short poll, only with a token of the gate.
    let limit = Infinity;
    let until = 0;
    // While counted, `step` is when the polling began.
    for (let turn = LOOK_TURNS;; turn++) {
      await RESOLVED;
      if (reader.hasData) return this.#counted(step, true, false);
      if ((turn & (CLOCK_EVERY - 1)) === 0) {
        // Every few slices: is an answer due, how long may we poll, is it time to yield?
        const now = performance.now();
        if (turn === LOOK_TURNS) {
          if (this.#active) {
            this.#lastActive = now;
            this.#active = false;
          }
          dueUntil = now + this.#spinMax / 1000;
          lingerUntil = this.#lastActive + this.#idleMax / 1000;
          if (this.#gate !== undefined) limit = now + this.#shortPoll;
        }
        const due = expecting === undefined || expecting();
        until = due ? Math.max(dueUntil, lingerUntil) : lingerUntil;
        if (this.#stopped || now >= until) break;
        if (now >= limit) {
          if (!this.#gate!.tryAcquire()) break;
          limit = Infinity;
        }
        if (now - this.#lastYield >= (due ? this.#yieldMs : this.#idleYieldMs)) {
          // A long poll must not starve timers, I/O or the thread's other endpoints.
          await nextTask();
          this.#lastYield = performance.now();
          if (countingWaits) countWait(step, step = this.#lastYield);
          continue;
        }
      }
      if (reader.spinLoads(SLICE_LOADS)) return this.#counted(step, true, false);
    }
    this.#gate?.release();
    if (this.#blockMs <= 0 || this.#stopped) return this.#counted(step, false, false);
    // Blocking stops the microtasks too: let every one queued so far run (and send) first, or
    // the peer could wait for a message that sits behind our block.
    await nextTask();
    const arrived = reader.hasData || (!this.#stopped && reader.waitSync(this.#blockMs));
    if (countingWaits) countWait(step, performance.now());
    return arrived;
  }

  /**
   * Ends a poll whose last look turn (`looking`), or whose polling, began at `step` (a look turn
   * counted as waiting if short, polling always); returns `arrived`.
   */
  #counted(step: number, arrived: boolean, looking: boolean): boolean {
    if (countingWaits) {
      const now = performance.now();
      if (!looking || now - step <= LOOK_TURN_WORK_MS) countWait(step, now);
    }
    return arrived;
  }

  /** Moves queued messages into the ring as space frees, in order. */
  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      const writer = this.#writer;
      while (!this.#backlog.moveInto(writer)) {
        writer.publish();
        await writer.waitForSpace();
      }
      writer.publish();
      const waiters = this.#flushedWaiters;
      this.#flushedWaiters = [];
      for (const waiter of waiters) waiter.resolve();
    } finally {
      this.#flushing = false;
    }
  }
}

const BACKLOG_CHUNK = 1 << 16;
/**
 * Where a backlog chunk's first message's length goes: its bytes then start at 8, and each next
 * message's a frame (`frameBytes`) further on, 8-aligned as in the ring.
 */
const FIRST_SLOT = 4;

/**
 * Encoded messages waiting for ring space, oldest first: each a u32 length and the bytes, packed
 * into 64 KiB chunks so that queueing a message costs an encoding, not an allocation.
 */
class Backlog {
  #chunks: Uint8Array[] = [];
  #views: DataView[] = [];
  /** Bytes used in each chunk. */
  #used: number[] = [];
  /** Read position in the first chunk. */
  #read = FIRST_SLOT;
  #size = 0;
  #encoder: MessageEncoder;
  #scratch: MessageEncoder;
  /** The ring's largest message: a larger one is refused when queued, not when flushed. */
  #maxBytes: number;

  constructor(codec: MessageCodec, maxBytes: number) {
    this.#encoder = codec.encoder(0);
    this.#scratch = codec.encoder(4096);
    this.#maxBytes = maxBytes;
  }

  /** Messages queued. */
  get size(): number {
    return this.#size;
  }

  /**
   * Encodes and queues `value`; throws (queueing nothing) `TypeError` if the codec refuses it,
   * `RangeError` if it is larger than the ring's largest message. Each message's
   * bytes start on an 8-byte boundary of its chunk, as a frame's payload does in the ring, so
   * that they are the bytes the ring would have had (see {@link RING_HEADER_BYTES}).
   */
  push(value: unknown): void {
    const last = this.#chunks.length - 1;
    if (last >= 0) {
      const chunk = this.#chunks[last]!;
      const at = this.#used[last]!;
      if (at + 4 <= chunk.length) {
        const n = this.#encoder.encodeRange(value, chunk, at + 4, chunk.length);
        if (n >= 0) {
          checkMessageBytes(n, this.#maxBytes);
          this.#views[last]!.setUint32(at, n, true);
          this.#used[last] = at + frameBytes(n);
          this.#size++;
          return;
        }
      }
    }
    const bytes = this.#scratch.encode(value);
    checkMessageBytes(bytes.length, this.#maxBytes);
    const chunk = new Uint8Array(Math.max(BACKLOG_CHUNK, FIRST_SLOT + 4 + bytes.length));
    const view = new DataView(chunk.buffer);
    view.setUint32(FIRST_SLOT, bytes.length, true);
    chunk.set(bytes, FIRST_SLOT + 4);
    this.#chunks.push(chunk);
    this.#views.push(view);
    this.#used.push(FIRST_SLOT + frameBytes(bytes.length));
    this.#size++;
  }

  /** Stages queued messages into `writer` while they fit; returns whether none is left. */
  moveInto(writer: RingWriter): boolean {
    while (this.#size > 0) {
      const chunk = this.#chunks[0]!;
      const at = this.#read;
      if (at >= this.#used[0]!) {
        this.#chunks.shift();
        this.#views.shift();
        this.#used.shift();
        this.#read = FIRST_SLOT;
        continue;
      }
      const n = this.#views[0]!.getUint32(at, true);
      if (!writer.stage(chunk.subarray(at + 4, at + 4 + n))) return false;
      this.#read = at + frameBytes(n);
      this.#size--;
    }
    // Empty: keep one standard chunk for next time.
    const keep = this.#chunks[this.#chunks.length - 1];
    this.#chunks.length = this.#views.length = this.#used.length = 0;
    this.#read = FIRST_SLOT;
    if (keep !== undefined && keep.length === BACKLOG_CHUNK) {
      this.#chunks.push(keep);
      this.#views.push(new DataView(keep.buffer));
      this.#used.push(FIRST_SLOT);
    }
    return true;
  }
}
