import { assert, assertEquals, assertFalse, assertThrows } from "@std/assert";
import {
  createRing,
  EMPTY,
  MIN_RING_CAPACITY,
  RING_HEADER_BYTES,
  RingReader,
  RingWriter,
} from "../kernel/ring.ts";

function xorshift(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** A message of `n` bytes whose content says which message it is. */
function message(seq: number, n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (seq * 31 + i) & 255;
  return bytes;
}

function pair(capacity = MIN_RING_CAPACITY): [RingWriter, RingReader] {
  const sab = createRing(capacity);
  return [new RingWriter(sab), new RingReader(sab)];
}

Deno.test("createRing accepts powers of two from 4 KiB and refuses the rest", () => {
  assertEquals(createRing(4096).byteLength, RING_HEADER_BYTES + 4096);
  assertEquals(createRing(1 << 20).byteLength, RING_HEADER_BYTES + (1 << 20));
  for (const bad of [0, 2048, 4095, 5000, 4096.5, -4096, 2 ** 31]) {
    assertThrows(() => createRing(bad), RangeError, "power of two");
  }
});

Deno.test("writer and reader refuse memory that is not a ring", () => {
  assertThrows(() => new RingWriter(new SharedArrayBuffer(8192)), TypeError, "createRing");
  assertThrows(() => new RingReader(new SharedArrayBuffer(16)), TypeError, "createRing");
  assertThrows(
    () => new RingReader(new ArrayBuffer(8192) as unknown as SharedArrayBuffer),
    TypeError,
  );
});

Deno.test("an empty ring reads as EMPTY / undefined and drains nothing", () => {
  const [, reader] = pair();
  assertEquals(reader.readValue(), EMPTY);
  assertEquals(reader.tryRead(), undefined);
  assertEquals(reader.drain(() => {}), 0);
  assertFalse(reader.hasData);
});

Deno.test("values come out in the order they went in", () => {
  const [writer, reader] = pair();
  const values = [{ t: "call", id: 1 }, "two", 3n, [4], null, undefined, new Uint8Array([6])];
  for (const v of values) assert(writer.writeValue(v));
  const out: unknown[] = [];
  for (let v = reader.readValue(); v !== EMPTY; v = reader.readValue()) out.push(v);
  assertEquals(out, values);
});

Deno.test("raw messages, including empty ones, round-trip through tryWrite/tryRead", () => {
  const [writer, reader] = pair();
  for (const n of [0, 1, 2, 3, 4, 5, 100]) assert(writer.tryWrite(message(n, n)));
  for (const n of [0, 1, 2, 3, 4, 5, 100]) assertEquals(reader.tryRead(), message(n, n));
  assertEquals(reader.tryRead(), undefined);
});

Deno.test("wrap-around with varied sizes keeps every message intact and in order", () => {
  const [writer, reader] = pair(4096);
  const next = xorshift(99);
  let written = 0;
  let read = 0;
  const sizes: number[] = [];
  while (read < 20_000) {
    // Write a random burst until the ring refuses, then read a random number back.
    for (let burst = next() % 40; burst > 0; burst--) {
      const n = next() % 3 === 0 ? next() % writer.maxMessageBytes : next() % 64;
      if (!writer.tryWrite(message(written, n))) break;
      sizes.push(n);
      written++;
    }
    for (let take = next() % 40; take > 0; take--) {
      const got = reader.tryRead();
      if (got === undefined) break;
      assertEquals(got, message(read, sizes[read]!), `message ${read}`);
      read++;
    }
  }
  assertEquals(written - read, [...drainAll(reader)].length);
});

function* drainAll(reader: RingReader): Generator<Uint8Array> {
  for (let m = reader.tryRead(); m !== undefined; m = reader.tryRead()) yield m;
}

Deno.test("a full ring returns false and loses nothing", () => {
  const [writer, reader] = pair(4096);
  let n = 0;
  while (writer.writeValue({ seq: n, pad: "x".repeat(20) })) n++;
  assert(n > 50);
  assertFalse(writer.writeValue({ seq: n, pad: "x".repeat(20) }));
  // Free one message: exactly one more fits (same size).
  assertEquals((reader.readValue() as { seq: number }).seq, 0);
  assert(writer.writeValue({ seq: n, pad: "x".repeat(20) }));
  n++;
  assertFalse(writer.writeValue({ seq: n, pad: "x".repeat(20) }));
  for (let i = 1; i < n; i++) assertEquals((reader.readValue() as { seq: number }).seq, i);
  assertEquals(reader.readValue(), EMPTY);
});

Deno.test("frames fill the ring exactly to capacity", () => {
  const [writer, reader] = pair(4096);
  // Four frames of 4 + 1020 bytes are exactly 4096.
  for (let i = 0; i < 4; i++) assert(writer.tryWrite(message(i, 1020)), `frame ${i}`);
  assertFalse(writer.tryWrite(new Uint8Array(0)));
  for (let i = 0; i < 4; i++) assertEquals(reader.tryRead(), message(i, 1020));
  // 512 empty messages (8-byte frames: a length word and padding) too, after wrapping.
  for (let i = 0; i < 512; i++) assert(writer.tryWrite(new Uint8Array(0)), `empty ${i}`);
  assertFalse(writer.tryWrite(new Uint8Array(0)));
  assertEquals(reader.drain(() => {}), 512);
});

Deno.test("frames are padded to 8 bytes, so that every payload starts on an 8-byte boundary", () => {
  const sab = createRing(4096);
  const writer = new RingWriter(sab);
  // 1021..1028 bytes all take a 1032-byte frame: three fit, a fourth does not.
  for (const n of [1021, 1024, 1028]) assert(writer.tryWrite(new Uint8Array(n)));
  assertFalse(writer.tryWrite(new Uint8Array(1022)));
  assert(writer.tryWrite(new Uint8Array(996))); // 4 + 996 = the 1000 bytes left
  const reader = new RingReader(sab);
  const starts: number[] = [];
  reader.drain((bytes) => starts.push(bytes.byteOffset));
  assertEquals(starts, [0, 1032, 2064, 3096].map((at) => RING_HEADER_BYTES + at + 4));
  for (const at of starts) assertEquals(at % 8, 0);
});

Deno.test("the largest message is half the ring minus the header; larger throws", () => {
  const [writer, reader] = pair(4096);
  assertEquals(writer.maxMessageBytes, 2044);
  assert(writer.tryWrite(message(1, 2044)));
  assertThrows(() => writer.tryWrite(new Uint8Array(2045)), RangeError, "maximum is 2044");
  assertThrows(() => writer.writeValue(new Uint8Array(3000)), RangeError, "maximum is 2044");
  assertEquals(reader.tryRead(), message(1, 2044));
});

Deno.test("a maximal message fits after any position once the ring is empty", () => {
  const [writer, reader] = pair(4096);
  for (let offset = 0; offset < 4096; offset += 4) {
    assert(writer.tryWrite(message(offset, writer.maxMessageBytes)), `at ${offset}`);
    assertEquals(reader.tryRead(), message(offset, writer.maxMessageBytes));
    // Move by one 4-byte frame.
    assert(writer.tryWrite(new Uint8Array(0)));
    assertEquals(reader.tryRead(), new Uint8Array(0));
  }
});

Deno.test("writeValue wraps with a skip marker when a value does not fit before the end", () => {
  const [writer, reader] = pair(4096);
  assert(writer.tryWrite(new Uint8Array(2000)));
  assert(writer.tryWrite(new Uint8Array(1900)));
  assertEquals(reader.drain(() => {}), 2);
  // 196 bytes left before the end: a 300-byte value goes to offset 0.
  const value = { blob: new Uint8Array(300).fill(7), tag: "wrapped" };
  assert(writer.writeValue(value));
  assertEquals(reader.readValue(), value);
});

Deno.test("staged messages become visible only on publish", () => {
  const [writer, reader] = pair();
  assert(writer.stageValue("a"));
  assert(writer.stage(new Uint8Array([1])));
  assert(writer.hasStaged);
  assertFalse(reader.hasData);
  writer.publish();
  assertFalse(writer.hasStaged);
  assertEquals(reader.readValue(), "a");
  assertEquals(reader.tryRead(), new Uint8Array([1]));
});

Deno.test("drain stops when the callback returns false, and at max", () => {
  const [writer, reader] = pair();
  for (let i = 0; i < 10; i++) writer.writeValue(i);
  const seen: unknown[] = [];
  assertEquals(reader.drainValues((v) => seen.push(v) < 3 ? undefined : false), 3);
  assertEquals(reader.drainValues((v) => void seen.push(v), 2), 2);
  assertEquals(reader.drainValues((v) => void seen.push(v)), 5);
  assertEquals(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("a throwing drain callback consumes its message and keeps the rest", () => {
  const [writer, reader] = pair();
  for (let i = 0; i < 4; i++) writer.writeValue(i);
  assertThrows(() =>
    reader.drainValues((v) => {
      if (v === 1) throw new Error("boom");
    })
  );
  assertEquals(reader.readValue(), 2);
  assertEquals(reader.readValue(), 3);
});

Deno.test("a bad value is refused by writeValue and leaves the ring untouched", () => {
  const [writer, reader] = pair();
  assertThrows(() => writer.writeValue({ f: () => 1 }), TypeError, "value.f");
  assert(writer.writeValue("after"));
  assertEquals(reader.readValue(), "after");
  assertEquals(reader.readValue(), EMPTY);
});

/**
 * A pending Atomics.waitAsync does not keep Deno's event loop alive, and a notify from the same
 * thread resolves it through a task Deno does not count: hold a timer while a test waits.
 */
async function keepingAlive<T>(fn: () => Promise<T>): Promise<T> {
  const timer = setTimeout(() => {}, 60_000);
  try {
    return await fn();
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("waitForSpace resolves once the reader consumes", () =>
  keepingAlive(async () => {
    const [writer, reader] = pair(4096);
    while (writer.tryWrite(new Uint8Array(1000)));
    let resolved = false;
    const space = writer.waitForSpace().then(() => resolved = true);
    await new Promise((r) => setTimeout(r, 5));
    assertFalse(resolved);
    reader.tryRead();
    await space;
    assert(writer.tryWrite(new Uint8Array(1000)));
  }));

Deno.test("waitAsync resolves at once when data waits, else when published", () =>
  keepingAlive(async () => {
    const [writer, reader] = pair();
    writer.writeValue(1);
    await reader.waitAsync(0);
    reader.readValue();
    let resolved = false;
    const waiting = reader.waitAsync(10).then(() => resolved = true);
    await new Promise((r) => setTimeout(r, 5));
    assertFalse(resolved);
    writer.writeValue(2);
    await waiting;
    assertEquals(reader.readValue(), 2);
  }));

Deno.test("wake() ends a waitAsync without data", () =>
  keepingAlive(async () => {
    const [, reader] = pair();
    const waiting = reader.waitAsync(0);
    reader.wake();
    await waiting;
    assertFalse(reader.hasData);
  }));

Deno.test("spin and waitSync time out on an empty ring and see published data", () => {
  const [writer, reader] = pair();
  const t0 = performance.now();
  assertFalse(reader.spin(200));
  assert(performance.now() - t0 >= 0.2);
  assertFalse(reader.waitSync(1));
  writer.writeValue("x");
  assert(reader.spin(1000));
  assert(reader.waitSync(1000));
  assertEquals(reader.readValue(), "x");
});

Deno.test("a corrupted tail or frame length is a RangeError, not a hang or a crash", () => {
  const sab = createRing(4096);
  const writer = new RingWriter(sab);
  const reader = new RingReader(sab);
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  const words = new Int32Array(sab, RING_HEADER_BYTES);
  // A tail beyond capacity.
  Atomics.store(header, 32, 8192);
  assertThrows(() => reader.readValue(), RangeError, "Ring corrupted");
  assertThrows(() => reader.hasData, RangeError, "Ring corrupted");
  // A frame whose length overruns the published data.
  Atomics.store(header, 32, 8);
  words[0] = 1000;
  assertThrows(() => reader.tryRead(), RangeError, "overruns");
  // Lengths that would overflow int32 arithmetic once padded.
  for (const bad of [0x7fff_ffff, 0x7fff_fffd, -2, 4096]) {
    Atomics.store(header, 32, 16);
    Atomics.store(header, 64, 0);
    const fresh = new RingReader(sab);
    words[0] = bad;
    assertThrows(() => fresh.tryRead(), RangeError, "Ring corrupted");
  }
  // A reader that lies about its head makes the writer throw, not overwrite.
  Atomics.store(header, 64, 1 << 20);
  assertThrows(
    () => {
      while (writer.tryWrite(new Uint8Array(100)));
    },
    RangeError,
    "Ring corrupted",
  );
});

Deno.test("garbage in a frame decodes to a RangeError/TypeError and is skipped", () => {
  const [writer, reader] = pair();
  writer.tryWrite(new Uint8Array([0x88, 50, 1])); // a string claiming 50 bytes
  writer.writeValue("next");
  assertThrows(() => reader.readValue(), RangeError);
  assertEquals(reader.readValue(), "next");
});

Deno.test("a reader and writer reopened on the same ring continue where it was", () => {
  const sab = createRing(4096);
  new RingWriter(sab).writeValue("one");
  new RingReader(sab).readValue();
  new RingWriter(sab).writeValue("two");
  assertEquals(new RingReader(sab).readValue(), "two");
});

Deno.test("the indices survive wrapping past 2^31 bytes", () => {
  const sab = createRing(4096);
  const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  // Start both indices just below the int32 overflow.
  const start = 0x7fff_ff00;
  Atomics.store(header, 32, start);
  Atomics.store(header, 64, start);
  const writer = new RingWriter(sab);
  const reader = new RingReader(sab);
  for (let i = 0; i < 2000; i++) {
    assert(writer.writeValue({ i, pad: "p".repeat(i % 50) }));
    assertEquals(reader.readValue(), { i, pad: "p".repeat(i % 50) });
  }
  assert(Atomics.load(header, 32) < 0, "tail wrapped to negative int32");
});

Deno.test("random values of random sizes interleave through writeValue/readValue", () => {
  const [writer, reader] = pair(4096);
  const next = xorshift(2024);
  const pending: unknown[] = [];
  let checked = 0;
  while (checked < 10_000) {
    for (let burst = next() % 20; burst > 0; burst--) {
      const value = { seq: checked + pending.length, text: "é".repeat(next() % 300), n: next() };
      if (!writer.writeValue(value)) break;
      pending.push(value);
    }
    for (let take = next() % 20; take > 0 && pending.length > 0; take--) {
      assertEquals(reader.readValue(), pending.shift());
      checked++;
    }
  }
});

Deno.test("a reader over random ring memory returns or throws RangeError/TypeError", () => {
  const next = xorshift(777);
  for (let round = 0; round < 300; round++) {
    const sab = createRing(4096);
    const header = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
    const data = new Uint8Array(sab, RING_HEADER_BYTES);
    for (let i = 0; i < data.length; i++) data[i] = next();
    // Mostly plausible tails, sometimes absurd ones.
    Atomics.store(header, 32, round % 5 === 0 ? next() | 0 : (next() % 4097) & ~3);
    const reader = new RingReader(sab);
    for (let call = 0; call < 50; call++) {
      try {
        if (reader.readValue() === EMPTY) break;
      } catch (e) {
        assert(e instanceof RangeError || e instanceof TypeError, String(e));
      }
    }
  }
});
