import { assert, assertEquals, assertThrows } from "@std/assert";
import { parseIdl, validateArgs } from "../idl/mod.ts";
import type { MethodSchema } from "../idl/types.ts";
import { COUNTING_RUN_MAX, ValueDecoder, ValueEncoder } from "../kernel/codec.ts";
import { LayoutReader, LayoutTable, LayoutWriter } from "../kernel/hosts/layout.ts";
import { POSTED_TYPES, WIRE_CODEC, wireCodec } from "../kernel/hosts/wire.ts";
import { schema as blockSchema } from "../interfaces/block.ts";

const schema = parseIdl(`
enum mode { READ = 1, WRITE = 2, BOTH = 4 };
typedef u64 lba;
struct request { mode m; sequence<lba> blocks; bytes payload; string tag; bool urgent; i8 prio; };
struct pair { i16 a; u16 b; };
interface IAll {
    void all(int a, i8 b, i16 c, i32 d, i64 e, u8 f, u16 g, u32 h, u64 i, bool j, string k,
             bytes l, cap_t m, sequence<u8> n, mode o, request p, lba q);
    void lists(sequence<u64> a, sequence<i64> b, sequence<pair> c, sequence<sequence<u8>> d);
    void nothing();
    void one(block_seq data);
};
`);

const table = LayoutTable.fromSchema(schema);
const cap = { address: 0x1_0000_0040_0000n, password: 0xfedc_ba98_7654_3210n };

function method(name: string): MethodSchema {
  return schema.interfaces.IAll!.methods.find((m) => m.name === name)!;
}

function encode(name: string, args: unknown[], room = 1 << 16): number | Uint8Array {
  const bytes = new Uint8Array(room);
  const w = new LayoutWriter(new ValueEncoder(0));
  w.open(bytes, new DataView(bytes.buffer), 0, room);
  const at = table.get("IAll", name)!.encode(args, w);
  return at < 0 ? at : bytes.slice(0, at);
}

function decode(name: string, bytes: Uint8Array): unknown[] {
  const r = new LayoutReader(new ValueDecoder());
  r.open(bytes, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length);
  const args = table.get("IAll", name)!.decode(r);
  assertEquals(r.pos, bytes.length, "the decoder reads exactly what the encoder wrote");
  return args;
}

const request = {
  m: 2,
  blocks: [1n, 2n, 0xffff_ffff_ffff_ffffn],
  payload: new Uint8Array([1, 2, 3]),
  tag: "héllo",
  urgent: true,
  prio: -128,
};

const valid: [string, unknown[]][] = [
  ["all", [
    -(2 ** 31),
    127,
    -32768,
    2 ** 31 - 1,
    -(2n ** 63n),
    255,
    65535,
    2 ** 32 - 1,
    2n ** 64n - 1n,
    false,
    "",
    new Uint8Array(0),
    cap,
    [0, 255],
    4,
    request,
    0n,
  ]],
  ["all", [
    0,
    -128,
    0,
    0,
    2n ** 63n - 1n,
    0,
    0,
    0,
    0n,
    true,
    "x".repeat(300),
    new Uint8Array(300),
    {
      password: 1n,
      address: 2n,
    },
    [],
    1,
    { ...request, blocks: new BigUint64Array([7n, 8n]) },
    9n,
  ]],
  ["lists", [[], [], [], []]],
  ["lists", [
    new BigUint64Array([1n, 2n ** 64n - 1n]),
    new BigInt64Array([-1n, 2n ** 63n - 1n]),
    [{ a: -1, b: 2 }, { b: 4, a: 3 }],
    [[1], [], [2, 3]],
  ]],
  ["lists", [[5n], [-(2n ** 63n)], [], [[]]]],
  ["nothing", []],
  ["one", [{ blocks: [5n], addr: 0x1000n, buffer: cap }]],
  ["one", [{ blocks: new BigUint64Array(2048).fill(3n), addr: 0n, buffer: cap }]],
  // Counting up: runs (form 2) where the high halves stay put, arrays where they carry.
  ["one", [{ blocks: counting(4096n, 2048), addr: 0n, buffer: cap }]],
  ["lists", [counting(7n, 16), countingSigned(-20n, 16), [], []]],
  ["lists", [counting(0xffff_fff8n, 16), countingSigned(-8n, 16), [], []]],
  ["lists", [counting(2n ** 64n - 16n, 16), countingSigned(2n ** 63n - 16n, 16), [], []]],
  ["lists", [counting(1n, 15), new BigInt64Array(0), [], []]],
  // Counting but for one value: its high half, or the last of a second chunk of 256.
  ["lists", [almostCounting(16, 9, (1n << 32n) + 9n), [], [], []]],
  ["lists", [almostCounting(300, 299, 5n), [], [], []]],
];

function almostCounting(n: number, at: number, value: bigint): BigUint64Array {
  const v = counting(0n, n);
  v[at] = value;
  return v;
}

function counting(first: bigint, n: number): BigUint64Array {
  return BigUint64Array.from({ length: n }, (_, i) => first + BigInt(i));
}

function countingSigned(first: bigint, n: number): BigInt64Array {
  return BigInt64Array.from({ length: n }, (_, i) => first + BigInt(i));
}

Deno.test("layout: every valid call comes back equal, in the form it was sent", () => {
  for (const [name, args] of valid) {
    validateArgs(schema, method(name), args, `IAll.${name}`); // the fixture itself is valid
    const bytes = encode(name, args);
    if (!(bytes instanceof Uint8Array)) throw new Error(`${name}: no layout for valid values`);
    const back = decode(name, bytes);
    assertEquals(back, args);
    // A typed sequence stays typed, a plain list stays a list.
    for (let i = 0; i < args.length; i++) {
      assertEquals(
        Object.prototype.toString.call(back[i]),
        Object.prototype.toString.call(args[i]),
      );
    }
  }
});

/** Mutations of valid calls that the validator refuses: each must not get a layout. */
function invalidVariants(): [string, unknown[]][] {
  const out: [string, unknown[]][] = [];
  const base = valid[0]![1];
  const bad: [number, unknown][] = [
    [0, 2 ** 31], // int past its range
    [0, 1.5],
    [0, -0 + 0.000001],
    [0, 1n],
    [1, 128],
    [2, -32769],
    [4, 2n ** 63n],
    [4, 1],
    [5, -1],
    [6, 65536],
    [7, -1],
    [8, -1n],
    [8, 2n ** 64n],
    [9, 0],
    [10, 5],
    [11, [1, 2]],
    [12, { address: 1n }],
    [12, { address: 1n, password: 2n, extra: 3n }],
    [12, { address: -1n, password: 2n }],
    [12, { address: 1n, password: 2 }],
    [12, null],
    [
      12,
      new (class Cap {
        address = 1n;
        password = 2n;
      })(),
    ],
    [13, [256]],
    [13, new Uint8Array(2)],
    [14, 3],
    [14, 1.5],
    [15, { ...request, extra: 1 }],
    [15, { ...request, m: 3 }],
    [15, { ...request, blocks: [1] }],
    [15, { ...request, blocks: new BigInt64Array(1) }],
    [15, { ...request, payload: [1] }],
    [15, (({ tag: _, ...rest }) => rest)(request)],
    [16, 1],
  ];
  for (const [i, v] of bad) {
    const args = base.slice();
    args[i] = v;
    out.push(["all", args]);
  }
  out.push(["all", base.slice(1)]); // too few
  out.push(["all", [...base, 1]]); // too many
  out.push(["lists", [[1n], [], [{ a: 1, b: -1 }], []]]);
  out.push(["lists", [[1n], [], [], [[256]]]]);
  out.push(["lists", [new BigInt64Array(1), [], [], []]]);
  out.push(["lists", [[1n], new BigUint64Array(1), [], []]]);
  out.push(["nothing", [undefined]]);
  out.push(["one", [{ blocks: [5n], addr: 0x1000n, buffer: cap, more: 1 }]]);
  return out;
}

Deno.test("layout: a call the validator refuses gets no layout (it travels plain)", () => {
  for (const [name, args] of invalidVariants()) {
    assertThrows(() => validateArgs(schema, method(name), args, `IAll.${name}`), TypeError);
    assertEquals(encode(name, args), -2, JSON.stringify(args, (_, v) => String(v)));
  }
});

Deno.test("layout: -0 for an integer travels plain (the layout would make it 0)", () => {
  const args = valid[0]![1].slice();
  args[0] = -0;
  validateArgs(schema, method("all"), args, "IAll.all");
  assertEquals(encode("all", args), -2);
});

Deno.test("layout: a polluted Object.prototype makes every call travel plain", () => {
  const proto = Object.prototype as Record<string, unknown>;
  Object.defineProperty(proto, "polluted", { value: 1, enumerable: true, configurable: true });
  try {
    assertEquals(encode("one", valid[6]![1]), -2);
  } finally {
    delete proto.polluted;
  }
  assert(encode("one", valid[6]![1]) instanceof Uint8Array);
});

Deno.test("layout: a range too short gives -1, and writes nothing past its end", () => {
  for (const [name, args] of valid) {
    const full = encode(name, args) as Uint8Array;
    for (let room = 0; room < full.length; room += Math.max(1, full.length >> 4)) {
      const bytes = new Uint8Array(full.length + 8).fill(0xee);
      const w = new LayoutWriter(new ValueEncoder(0));
      w.open(bytes, new DataView(bytes.buffer), 0, room);
      assertEquals(table.get("IAll", name)!.encode(args, w), -1, `${name} in ${room} bytes`);
      assert(bytes.subarray(room).every((b) => b === 0xee), "nothing written past the range");
    }
  }
});

Deno.test("layout: truncated input is refused with RangeError, extended input is left over", () => {
  for (const [name, args] of valid) {
    const full = encode(name, args) as Uint8Array;
    for (let n = 0; n < full.length; n++) {
      const r = new LayoutReader(new ValueDecoder());
      const cut = full.slice(0, n);
      r.open(cut, new DataView(cut.buffer), 0, n);
      assertThrows(() => table.get("IAll", name)!.decode(r), RangeError);
    }
  }
});

Deno.test("layout: random bytes decode to well-typed arguments or are refused", () => {
  let seed = 0x9e37_79b9;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) >>> 0) >>> 24;
  for (const name of ["all", "lists", "one"]) {
    const m = method(name);
    for (let round = 0; round < 3000; round++) {
      const n = random() % 96;
      const bytes = new Uint8Array(n).map(() => random());
      if (n > 0 && round % 3 === 0) bytes[0] = 0; // sequences: mostly the plain form
      const r = new LayoutReader(new ValueDecoder());
      r.open(bytes, new DataView(bytes.buffer), 0, n);
      let args: unknown[];
      try {
        args = table.get("IAll", name)!.decode(r);
      } catch (error) {
        assert(error instanceof RangeError || error instanceof TypeError, String(error));
        continue;
      }
      // Whatever decodes is a valid call: the worker's check may be skipped.
      validateArgs(schema, m, args, `IAll.${name}`);
    }
  }
});

Deno.test("layout: a typed list that counts up travels as a 13-byte run; forged runs are refused", () => {
  // A 1 MiB read's block list: 16 KiB as an array, 13 bytes (and the form) as a run.
  const list = counting(0x1234_5678n, 2048);
  const run = encode("one", [{ blocks: list, addr: 0n, buffer: cap }]) as Uint8Array;
  const plain = encode("one", [{ blocks: list.map((b) => b ^ 1n), addr: 0n, buffer: cap }]);
  assertEquals((plain as Uint8Array).length - run.length > 16_000, true);
  const back = decode("one", run)[0] as { blocks: BigUint64Array };
  assert(back.blocks instanceof BigUint64Array);
  assertEquals(back.blocks, list);
  // Two decoded runs do not share values (the slab carves each its own).
  const again = decode("one", run)[0] as { blocks: BigUint64Array };
  again.blocks[0] = 0n;
  assertEquals(back.blocks[0], 0x1234_5678n);

  // Forged runs in the first sequence of IAll.lists: form 2 at byte 0, first value, u32 count.
  const good = encode("lists", [counting(5n, 16), [], [], []]) as Uint8Array;
  assertEquals(good[0], 2);
  const forged = (lo: number, hi: number, count: number) => {
    const bytes = good.slice();
    const view = new DataView(bytes.buffer);
    view.setUint32(1, lo, true);
    view.setUint32(5, hi, true);
    view.setUint32(9, count, true);
    return bytes;
  };
  assertEquals(decode("lists", forged(5, 7, 16))[0], counting(7n * 2n ** 32n + 5n, 16));
  const most = decode("lists", forged(0, 0, COUNTING_RUN_MAX))[0] as BigUint64Array;
  assertEquals([most.length, most[COUNTING_RUN_MAX - 1]], [COUNTING_RUN_MAX, 131071n]);
  for (
    const [lo, hi, count] of [
      [0, 0, 15], // shorter than a run: the encoder never makes one
      [0, 0, COUNTING_RUN_MAX + 1], // a few bytes that would become more than a ring holds
      [0, 0, 0xffff_ffff],
      [0xffff_fff8, 0, 16], // its low halves would carry
    ]
  ) {
    assertThrows(
      () => decode("lists", forged(lo!, hi!, count!)),
      TypeError,
      "counting run",
      `lo ${lo}, count ${count}`,
    );
  }
});

Deno.test("layout: both sides build the same table from the same schema (and its clone)", () => {
  const clone = LayoutTable.fromSchema(structuredClone(schema));
  for (let i = 0; i < 4; i++) {
    assertEquals(clone.at(i)?.iface, table.at(i)?.iface);
    assertEquals(clone.at(i)?.method, table.at(i)?.method);
  }
  assertEquals(table.get("IAll", "one")!.index, 3);
  assertEquals(table.get("IAll", "missing"), undefined);
  assertEquals(table.at(99), undefined);
});

Deno.test("wire: a call with a layout is kind 9, decodes with checked, and falls back plain", () => {
  const codec = wireCodec(LayoutTable.fromSchema(blockSchema));
  const encoder = codec.encoder(64), decoder = codec.decoder();
  const call = {
    t: "call",
    id: 17,
    o: 0,
    i: "IBlock",
    m: "read",
    a: [cap, { blocks: [5n], addr: 0x1000n, buffer: cap }],
  };
  const bytes = encoder.encode(call).slice(); // the encoder reuses its buffer
  assertEquals(bytes[0], 9);
  assert(bytes.length < WIRE_CODEC.encoder(64).encode(call).length);
  assertEquals(decoder.decode(bytes, 0, bytes.length), { ...call, checked: true });
  // Invalid arguments, an unknown method, a method of another interface: plain, unchecked.
  for (
    const plain of [
      { ...call, a: [cap, { blocks: [-5n], addr: 0x1000n, buffer: cap }] },
      { ...call, m: "erase" },
      { ...call, i: "IOther" },
    ]
  ) {
    const b = encoder.encode(plain);
    assertEquals(b[0], 1);
    assertEquals(decoder.decode(b, 0, b.length), plain);
  }
  // A layout index the table does not have, and trailing bytes, are refused.
  const unknown = bytes.slice();
  new DataView(unknown.buffer).setUint16(9, 999, true);
  assertThrows(() => decoder.decode(unknown, 0, unknown.length), TypeError);
  const longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  assertThrows(() => decoder.decode(longer, 0, longer.length), RangeError);
  // A codec without the table does not know kind 9.
  assertThrows(() => WIRE_CODEC.decoder().decode(bytes, 0, bytes.length), TypeError);
});

Deno.test("wire: posts whose methods have layouts are kind 10 and say their arguments' types", () => {
  const codec = wireCodec(LayoutTable.fromSchema(blockSchema));
  const encoder = codec.encoder(64), decoder = codec.decoder();
  const other = { address: 0x2000n, password: 7n };
  const posts = {
    t: "req",
    id: 0,
    op: "invoke",
    a: [cap, "INotify.complete", [9, 0], other, "INotify.complete", [-1, -5]],
  };
  const bytes = encoder.encode(posts).slice();
  assertEquals(bytes[0], 10);
  assertEquals(bytes.length, 5 + 2 * (18 + 8));
  const { [POSTED_TYPES]: types, ...got } = decoder.decode(bytes, 0, bytes.length) as Record<
    string | symbol,
    unknown
  >;
  assertEquals(got, posts);
  const int = { kind: "int", name: "int" };
  assertEquals(types, [[int, int], [int, int]]);
  // Not a layout's: the generic req, which carries no types (nothing decoded from a value can).
  for (
    const plain of [
      { ...posts, a: [cap, "INotify.complete", [9, "0"]] }, // not an int: the kernel's check says so
      { ...posts, a: [cap, "INotify.complete", [9]] },
      { ...posts, a: [cap, "INotify.cancel", [9, 0]] },
      { ...posts, a: [{ ...cap, extra: 1 }, "INotify.complete", [9, 0]] },
      { ...posts, a: [cap, "INotify.complete"] },
      { ...posts, id: 3 }, // a request that wants its answer
      { ...posts, op: "unmap", a: [0x1000n] },
    ]
  ) {
    const b = encoder.encode(plain);
    assertEquals(b[0], 8, JSON.stringify(plain, (_k, v) => typeof v === "bigint" ? `${v}` : v));
    const back = decoder.decode(b, 0, b.length) as Record<string | symbol, unknown>;
    assertEquals(back[POSTED_TYPES], undefined);
  }
  // A whole message claiming types, as a value: the symbol does not travel.
  const forged = WIRE_CODEC.encoder(64).encode({ ...posts, t: "req" });
  assertEquals(
    (decoder.decode(forged, 0, forged.length) as Record<symbol, unknown>)[POSTED_TYPES],
    undefined,
  );
  // Garbage: no posts, more posts than bytes, a layout the table lacks, cut short, trailing bytes.
  const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const zero = bytes.slice();
  view(zero).setUint32(1, 0, true);
  assertThrows(() => decoder.decode(zero, 0, zero.length), RangeError, "0 in");
  const many = bytes.slice();
  view(many).setUint32(1, 0xffff_ffff, true);
  assertThrows(() => decoder.decode(many, 0, many.length), RangeError);
  const three = bytes.slice();
  view(three).setUint32(1, 3, true);
  assertThrows(() => decoder.decode(three, 0, three.length), RangeError);
  const unknown = bytes.slice();
  view(unknown).setUint16(5 + 16, 999, true);
  assertThrows(() => decoder.decode(unknown, 0, unknown.length), TypeError, "layout 999");
  for (let cut = 1; cut < bytes.length; cut++) {
    assertThrows(() => decoder.decode(bytes, 0, cut), RangeError);
  }
  const longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  assertThrows(() => decoder.decode(longer, 0, longer.length), RangeError, "after them");
  // Too little room: -1, then it fits.
  assertEquals(encoder.encodeRange(posts, new Uint8Array(40), 0, 40), -1);
  assertEquals(encoder.encodeRange(posts, new Uint8Array(57), 0, 57), 57);
});
