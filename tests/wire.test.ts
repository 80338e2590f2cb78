import { assert, assertEquals, assertThrows } from "@std/assert";
import { WIRE_CODEC } from "../kernel/hosts/wire.ts";
import { createRing, RingReader, RingWriter } from "../kernel/ring.ts";

const cap = { address: 0x1234_5678_9abc_def0n, password: 0xfedc_ba98_7654_3210n };

/** Every message of a 512 B read, in the layouts they travel in (first byte: the kind). */
const HOT: [unknown, number][] = [
  [{
    t: "call",
    id: 17,
    o: 0,
    i: "IBlock",
    m: "read",
    a: [cap, { blocks: [5n], addr: 0x1000n, buffer: cap }],
  }, 1],
  [{ t: "irq", line: 14 }, 2],
  [{ t: "reply", id: 3, ok: true, v: 0x8000_0000n }, 3],
  [{ t: "reply", id: 3, ok: false, e: { name: "RangeError", message: "no" } }, 4],
  [{ t: "result", id: 0xffff_ffff, ok: true, v: 9 }, 5],
  [{ t: "result", id: 4, ok: false, e: { name: "Error", message: "x", stack: "s" } }, 6],
  [{ t: "mmio_wb", b: [0x0201_0007, 0xc8, 0x7f00_0000, 14] }, 7],
  [{ t: "mmio_wb", b: [], g: [12] }, 7],
  [{ t: "mmio_wb", b: [0x0201_0007, 0xc8], g: [3, 0xffff_ffff, 9] }, 7],
  [{ t: "req", id: 5, op: "map", a: [cap, true, 0x1000n, 512] }, 8],
  [{ t: "req", id: 5, op: "map", a: [cap, true, 0x1000n, 512], c: 0xffff_ffff }, 8],
  [{ t: "req", id: 0, op: "invoke", a: [cap, "INotify.complete", [1, 0]] }, 8],
  [{ t: "req", id: 6, op: "unmap", a: [0x4000_0000n] }, 8],
];

/** Messages without a fixed layout, or whose fields do not fit it: kind 0, the whole value. */
const OTHER: unknown[] = [
  { t: "started" },
  { t: "export", i: "IBlock", m: ["read", "write"] },
  { t: "log", msg: "héllo" },
  { t: "call", id: 2 ** 32, o: 0, i: "IBlock", m: "read", a: [] }, // id past u32
  { t: "call", id: 1.5, o: 0, i: "IBlock", m: "read", a: [] },
  { t: "mmio_wb", b: [-0x7f00_0000, 1] }, // a window index past 127 makes the entry negative
  { t: "mmio_wb", b: [1, 2], g: [] }, // an empty guard list is no guard list
  { t: "mmio_wb", b: [1, 2], g: 12 },
  { t: "mmio_wb", b: [1, 2], g: [-1] },
  { t: "mmio_wb", b: [1, 2, 3] }, // odd: the kernel refuses it, but it must arrive as sent
  { t: "req", id: 1, op: "reboot", a: [] },
  { t: "req", id: 1, op: "map", a: [], g: true }, // guards travel with the writes now
  { t: "req", id: 1, op: "map", a: [], c: 0 }, // no call has id 0
  { t: "reply", id: 1, ok: "yes", v: 1 },
  "not even an object",
  null,
];

Deno.test("wire: every per-request message has a fixed layout and comes back equal", () => {
  const encoder = WIRE_CODEC.encoder(64);
  const decoder = WIRE_CODEC.decoder();
  for (const [message, kind] of HOT) {
    const bytes = encoder.encode(message);
    assertEquals(bytes[0], kind, JSON.stringify(message, (_, v) => String(v)));
    assertEquals(decoder.decode(bytes, 0, bytes.length), message);
  }
});

Deno.test("wire: other messages, and fields that do not fit a layout, travel as a whole value", () => {
  const encoder = WIRE_CODEC.encoder(64);
  const decoder = WIRE_CODEC.decoder();
  for (const message of OTHER) {
    const bytes = encoder.encode(message);
    assertEquals(bytes[0], 0);
    assertEquals(decoder.decode(bytes, 0, bytes.length), message);
  }
});

Deno.test("wire: a message that does not fit its range reports -1, and fits exactly its length", () => {
  const encoder = WIRE_CODEC.encoder(64);
  // (Not the message with "héllo": for a non-ASCII string the value encoder wants room for the
  // worst case, 3 bytes per UTF-16 unit, before it knows the length; the ring then encodes aside.)
  for (const message of [...HOT.map(([m]) => m), ...OTHER.filter((_, i) => i !== 2)]) {
    const n = encoder.encode(message).length;
    const target = new Uint8Array(n + 8);
    for (let room = 0; room < n; room++) {
      assertEquals(encoder.encodeRange(message, target, 4, 4 + room), -1);
    }
    assertEquals(encoder.encodeRange(message, target, 4, 4 + n), n);
    assertEquals(WIRE_CODEC.decoder().decode(target, 4, 4 + n), message);
  }
});

Deno.test("wire: a message too large for the scratch buffer grows it", () => {
  const big = { t: "result", id: 1, ok: true, v: new Uint8Array(100_000).fill(7) };
  const bytes = WIRE_CODEC.encoder(0).encode(big);
  assertEquals(WIRE_CODEC.decoder().decode(bytes, 0, bytes.length), big);
});

Deno.test("wire: values the codec refuses are refused on every layout", () => {
  const encoder = WIRE_CODEC.encoder(64);
  assertThrows(
    () => encoder.encode({ t: "call", id: 1, o: 0, i: "I", m: "m", a: [() => 1] }),
    TypeError,
  );
  assertThrows(() => encoder.encode({ t: "result", id: 1, ok: true, v: Symbol("s") }), TypeError);
  assertThrows(() => encoder.encode({ t: "req", id: 1, op: "map", a: [new Map()] }), TypeError);
});

/** Decodes, and accepts only a message or the two errors the ring turns into "corrupt". */
function decodeOrRefuse(bytes: Uint8Array): unknown {
  try {
    return WIRE_CODEC.decoder().decode(bytes, 0, bytes.length);
  } catch (e) {
    assert(
      e instanceof RangeError || e instanceof TypeError,
      `unexpected ${e} for [${[...bytes].join(",")}]`,
    );
    return undefined;
  }
}

Deno.test("wire: truncated and extended messages are refused, never misread", () => {
  const encoder = WIRE_CODEC.encoder(64);
  for (const [message] of HOT) {
    const bytes = encoder.encode(message).slice();
    for (let n = 0; n < bytes.length; n++) {
      assertEquals(decodeOrRefuse(bytes.subarray(0, n)), undefined, `${n} of ${bytes.length}`);
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    assertEquals(decodeOrRefuse(longer), undefined);
  }
});

Deno.test("wire: fields of the wrong type are refused", () => {
  const encoder = WIRE_CODEC.encoder(64);
  // A call whose arguments are not a list: build a valid call, then splice in a number.
  const call = encoder.encode({ t: "call", id: 1, o: 0, i: "I", m: "m", a: [] }).slice();
  call[call.length - 1] = 0x05; // [] (0x8c 0x00) becomes 0x8c 0x05: a list of 5 values, absent
  assertThrows(() => WIRE_CODEC.decoder().decode(call, 0, call.length), RangeError);
  const notList = new Uint8Array([...call.subarray(0, call.length - 2), 0x07]);
  assertThrows(() => WIRE_CODEC.decoder().decode(notList, 0, notList.length), TypeError);
  // An unknown operation, bad flags, an unknown kind, a failed reply whose error is a number.
  const req = encoder.encode({ t: "req", id: 1, op: "map", a: [] }).slice();
  req[5] = 200;
  assertThrows(() => WIRE_CODEC.decoder().decode(req, 0, req.length), TypeError);
  req[5] = 1;
  req[6] = 2;
  assertThrows(() => WIRE_CODEC.decoder().decode(req, 0, req.length), TypeError);
  assertThrows(() => WIRE_CODEC.decoder().decode(new Uint8Array([99]), 0, 1), TypeError);
  const failed = new Uint8Array([4, 1, 0, 0, 0, 0x07]);
  assertThrows(() => WIRE_CODEC.decoder().decode(failed, 0, failed.length), TypeError);
  // A batch of register writes that claims more pairs than it carries, or absurdly many.
  const wb = new Uint8Array([7, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
  assertThrows(() => WIRE_CODEC.decoder().decode(wb, 0, wb.length), RangeError);
  wb[8] = 0x7f;
  assertThrows(() => WIRE_CODEC.decoder().decode(wb, 0, wb.length), RangeError);
});

Deno.test("wire: random bytes decode to a message or are refused", () => {
  let x = 0x5eed;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const encoder = WIRE_CODEC.encoder(64);
  const seeds = HOT.map(([m]) => encoder.encode(m).slice());
  for (let i = 0; i < 20_000; i++) {
    // Half pure noise behind a valid kind byte, half a valid message with a few bytes flipped.
    let bytes: Uint8Array;
    if (i & 1) {
      bytes = new Uint8Array(next() % 40).map(() => next());
      if (bytes.length > 0) bytes[0] = next() % 10;
    } else {
      bytes = seeds[next() % seeds.length]!.slice();
      for (let k = next() % 4; k >= 0; k--) bytes[next() % bytes.length] = next();
    }
    decodeOrRefuse(bytes);
  }
});

Deno.test("wire: a ring with the wire codec carries messages in order, wrapping around", () => {
  const sab = createRing(4096);
  const writer = new RingWriter(sab, WIRE_CODEC);
  const reader = new RingReader(sab, WIRE_CODEC);
  const sent: unknown[] = [];
  const got: unknown[] = [];
  for (let round = 0; round < 200; round++) {
    for (const [message] of HOT) {
      if (!writer.writeValue(message)) break;
      sent.push(message);
    }
    reader.drainValues((m) => got.push(m));
  }
  assertEquals(got, sent);
  assert(sent.length > 1000);
});
