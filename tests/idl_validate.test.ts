import { assertEquals, assertThrows } from "@std/assert";
import {
  type MethodSchema,
  namedArgs,
  parseIdl,
  validateArgs,
  validateResult,
} from "../idl/mod.ts";

const schema = parseIdl(`
interface IBlock {
    int write (cap_t notify, block_seq data);
    int read (cap_t notify, block_seq data);
    int get_block_count ();
    int get_block_size ();
};
enum mode { READ = 1, WRITE = 2, BOTH = 4 };
typedef u64 lba;
struct request { mode m; sequence<lba> blocks; bytes payload; string tag; bool urgent; i8 prio; };
interface IAll {
    void all(int a, i8 b, i16 c, i32 d, i64 e, u8 f, u16 g, u32 h, u64 i, bool j, string k,
             bytes l, cap_t m, sequence<u8> n, mode o, request p, lba q);
    sequence<request> pending();
    void nothing();
};
`);

function method(iface: string, name: string): MethodSchema {
  const m = schema.interfaces[iface]?.methods.find((m) => m.name === name);
  if (m === undefined) throw new Error(`no method ${iface}.${name}`);
  return m;
}

const read = method("IBlock", "read");
const size = method("IBlock", "get_block_size");
const all = method("IAll", "all");
const cap = { address: 0x0001_0000_0000_1000n, password: 0xdead_beef_0000_0001n };
/** The capability of the memory object holding a block_seq's `addr`. */
const buffer = { address: 1n, password: 2n };
const request = {
  m: 2,
  blocks: [0n, 1n],
  payload: new Uint8Array([1, 2]),
  tag: "t",
  urgent: false,
  prio: -1,
};
const goodAll: unknown[] = [
  -2147483648,
  127,
  -32768,
  2147483647,
  -(2n ** 63n),
  255,
  65535,
  4294967295,
  2n ** 64n - 1n,
  true,
  "",
  new Uint8Array(),
  cap,
  [0, 255],
  4,
  request,
  7n,
];

/** Expects validateArgs to throw a TypeError whose message is exactly `message`. */
function rejects(m: MethodSchema, args: unknown[], where: string, message: string): void {
  assertThrows(() => validateArgs(schema, m, args, where), TypeError, message);
  const e = assertThrows(() => validateArgs(schema, m, args, where), TypeError);
  assertEquals(e.message, message);
}

Deno.test("validateArgs() accepts valid arguments of every type, at the ends of every range", () => {
  validateArgs(schema, read, [cap, { blocks: [1n, 2n, 3n], addr: 0x2000n, buffer }], "IBlock.read");
  validateArgs(schema, read, [
    cap,
    { blocks: [], addr: 0n, buffer: { address: 0n, password: 2n ** 64n - 1n } },
  ], "IBlock.read");
  validateArgs(schema, size, [], "IBlock.get_block_size");
  validateArgs(schema, all, goodAll, "IAll.all");
  validateArgs(schema, read, [
    { ...cap },
    Object.assign(Object.create(null), {
      blocks: [1n],
      addr: 0n,
      buffer: { ...buffer },
    }),
  ], "IBlock.read");
});

Deno.test("validateArgs() names the argument path and the expected type", () => {
  rejects(
    read,
    [cap, { blocks: [1n, 2n, 3], addr: 0n, buffer }],
    "IBlock.read",
    'IBlock.read: argument "data.blocks[2]" must be u64 (a bigint in 0..18446744073709551615), got number 3',
  );
  rejects(
    read,
    [cap, { blocks: [1n], addr: -1n, buffer }],
    "IBlock.read",
    'IBlock.read: argument "data.addr" must be u64 (a bigint in 0..18446744073709551615), got bigint -1n',
  );
  rejects(
    read,
    [cap, "data"],
    "IBlock.read",
    'IBlock.read: argument "data" must be block_seq (an object with fields blocks, addr, buffer), got string "data"',
  );
  rejects(
    read,
    [cap, { blocks: 1n, addr: 0n, buffer }],
    "IBlock.read",
    'IBlock.read: argument "data.blocks" must be sequence<u64> (an array or a BigUint64Array), got bigint 1n',
  );
  rejects(
    read,
    [cap, { blocks: [], addr: 0n, buffer: { address: 1n, password: 2 } }],
    "IBlock.read",
    'IBlock.read: argument "data.buffer.password" must be a bigint in 0..18446744073709551615, got number 2',
  );
  rejects(
    read,
    [cap, { blocks: [], addr: 0n, buffer: 0x1000n }],
    "IBlock.read",
    'IBlock.read: argument "data.buffer" must be cap_t (an object { address, password } of bigints in 0..18446744073709551615), got bigint 4096n',
  );
});

Deno.test("validateArgs() rejects missing and extra arguments", () => {
  rejects(read, [cap], "IBlock.read", 'IBlock.read: missing argument "data" (block_seq)');
  rejects(read, [], "IBlock.read", 'IBlock.read: missing argument "notify" (cap_t)');
  rejects(
    size,
    [1],
    "IBlock.get_block_size",
    "IBlock.get_block_size: unexpected extra argument #1 (takes 0)",
  );
  rejects(
    read,
    [cap, { blocks: [], addr: 0n, buffer }, 3],
    "IBlock.read",
    "IBlock.read: unexpected extra argument #3 (takes 2)",
  );
});

Deno.test("validateArgs() rejects structs with missing or extra fields, and non-plain objects", () => {
  rejects(
    read,
    [cap, { blocks: [], buffer }],
    "IBlock.read",
    'IBlock.read: argument "data" is missing field "addr" (u64)',
  );
  rejects(
    read,
    [cap, { blocks: [], addr: 0n }],
    "IBlock.read",
    'IBlock.read: argument "data" is missing field "buffer" (cap_t)',
  );
  rejects(
    read,
    [cap, { blocks: [], addr: 0n, buffer, extra: 1 }],
    "IBlock.read",
    'IBlock.read: argument "data" has unexpected field "extra" (block_seq has fields blocks, addr, buffer)',
  );
  rejects(
    read,
    [cap, new Map()],
    "IBlock.read",
    'IBlock.read: argument "data" must be block_seq (an object with fields blocks, addr, buffer), got Map object',
  );
  rejects(
    read,
    [cap, [1n]],
    "IBlock.read",
    'IBlock.read: argument "data" must be block_seq (an object with fields blocks, addr, buffer), got array of length 1',
  );
});

Deno.test("validateArgs() checks capabilities: exactly address and password, u64 bigints", () => {
  const data = { blocks: [], addr: 0n, buffer };
  const capType = "cap_t (an object { address, password } of bigints in 0..18446744073709551615)";
  rejects(
    read,
    [null, data],
    "IBlock.read",
    `IBlock.read: argument "notify" must be ${capType}, got null`,
  );
  rejects(
    read,
    [{ address: 1n }, data],
    "IBlock.read",
    'IBlock.read: argument "notify" is missing field "password" (u64)',
  );
  rejects(
    read,
    [{ ...cap, node: 1 }, data],
    "IBlock.read",
    'IBlock.read: argument "notify" has unexpected field "node" (cap_t has fields address, password)',
  );
  rejects(
    read,
    [{ address: 1n, password: 2 }, data],
    "IBlock.read",
    'IBlock.read: argument "notify.password" must be a bigint in 0..18446744073709551615, got number 2',
  );
  rejects(
    read,
    [{ address: 2n ** 64n, password: 2n }, data],
    "IBlock.read",
    'IBlock.read: argument "notify.address" must be a bigint in 0..18446744073709551615, got bigint 18446744073709551616n',
  );
});

Deno.test("validateArgs() rejects every out-of-range or wrongly typed scalar", () => {
  const cases: [number, unknown, string][] = [
    [
      0,
      2147483648,
      'a" must be int (an integer number in -2147483648..2147483647), got number 2147483648',
    ],
    [0, 1.5, 'a" must be int (an integer number in -2147483648..2147483647), got number 1.5'],
    [0, 1n, 'a" must be int (an integer number in -2147483648..2147483647), got bigint 1n'],
    [0, NaN, 'a" must be int (an integer number in -2147483648..2147483647), got number NaN'],
    [1, 128, 'b" must be i8 (an integer number in -128..127), got number 128'],
    [2, -32769, 'c" must be i16 (an integer number in -32768..32767), got number -32769'],
    [
      4,
      2n ** 63n,
      'e" must be i64 (a bigint in -9223372036854775808..9223372036854775807), got bigint 9223372036854775808n',
    ],
    [4, 1, 'e" must be i64 (a bigint in -9223372036854775808..9223372036854775807), got number 1'],
    [5, -1, 'f" must be u8 (an integer number in 0..255), got number -1'],
    [7, 4294967296, 'h" must be u32 (an integer number in 0..4294967295), got number 4294967296'],
    [9, 1, 'j" must be bool (a boolean), got number 1'],
    [10, undefined, 'k" must be string (a string), got undefined'],
    [11, [1, 2], 'l" must be bytes (a Uint8Array), got array of length 2'],
    [13, [0, 256], 'n[1]" must be u8 (an integer number in 0..255), got number 256'],
    [14, 3, 'o" must be mode (one of READ = 1, WRITE = 2, BOTH = 4), got number 3'],
    [14, "READ", 'o" must be mode (one of READ = 1, WRITE = 2, BOTH = 4), got string "READ"'],
    [16, 7, 'q" must be lba (a bigint in 0..18446744073709551615), got number 7'],
  ];
  for (const [index, value, message] of cases) {
    const args = [...goodAll];
    args[index] = value;
    rejects(all, args, "IAll.all", `IAll.all: argument "${message}`);
  }
  const args = [...goodAll];
  args[15] = { ...request, blocks: [1n, 2] };
  rejects(
    all,
    args,
    "IAll.all",
    'IAll.all: argument "p.blocks[1]" must be lba (a bigint in 0..18446744073709551615), got number 2',
  );
});

Deno.test("validateResult() checks the return type, including void", () => {
  validateResult(schema, size, 512, "IBlock.get_block_size");
  validateResult(schema, method("IAll", "nothing"), undefined, "IAll.nothing");
  validateResult(schema, method("IAll", "pending"), [request], "IAll.pending");
  assertThrows(
    () => validateResult(schema, size, "512", "IBlock.get_block_size"),
    TypeError,
    'IBlock.get_block_size: result must be int (an integer number in -2147483648..2147483647), got string "512"',
  );
  assertThrows(
    () => validateResult(schema, method("IAll", "nothing"), 0, "IAll.nothing"),
    TypeError,
    "IAll.nothing: result must be void (undefined), got number 0",
  );
  assertThrows(
    () =>
      validateResult(
        schema,
        method("IAll", "pending"),
        [request, { ...request, m: 9 }],
        "IAll.pending",
      ),
    TypeError,
    "IAll.pending: result[1].m must be mode (one of READ = 1, WRITE = 2, BOTH = 4), got number 9",
  );
});

Deno.test("namedArgs() orders named arguments and rejects unknown or missing names", () => {
  assertEquals(namedArgs(read, { data: "D", notify: "N" }), ["N", "D"]);
  assertEquals(namedArgs(size, {}), []);
  assertThrows(
    () => namedArgs(read, { notify: 1, data: 2, flags: 3 }, { where: "IBlock.read" }),
    TypeError,
    'IBlock.read: unknown argument "flags" (takes notify, data)',
  );
  assertThrows(
    () => namedArgs(read, { notify: 1 }),
    TypeError,
    'read: missing argument "data" (block_seq)',
  );
  assertThrows(
    () => namedArgs(size, { x: 1 }),
    TypeError,
    'get_block_size: unknown argument "x" (takes none)',
  );
  // Inherited properties do not count as arguments.
  assertThrows(() => namedArgs(read, Object.create({ notify: 1, data: 2 })), TypeError);
});

Deno.test("validateArgs() reports a schema that lacks a named type", () => {
  const broken = {
    name: "f",
    params: [{ name: "x", type: { kind: "named", name: "ghost" } }],
    returns: { kind: "void" },
  } as const;
  assertThrows(
    () => validateArgs(schema, broken, [1], "I.f"),
    TypeError,
    'I.f: the schema has no type "ghost"',
  );
});

Deno.test("a BigUint64Array is a sequence<u64>, through aliases too; other typed arrays are not", () => {
  const blocks = new BigUint64Array([0n, 2n ** 64n - 1n, 7n]);
  validateArgs(schema, read, [cap, { blocks, addr: 0n, buffer }], "IBlock.read");
  validateArgs(
    schema,
    read,
    [cap, { blocks: new BigUint64Array(0), addr: 0n, buffer }],
    "IBlock.read",
  );
  // sequence<lba>, lba a typedef of u64:
  const p = { ...request, blocks: new BigUint64Array([1n]) };
  validateArgs(schema, all, [...goodAll.slice(0, 15), p, 5n], "IAll.all");
  const refused: [unknown, string][] = [
    [new BigInt64Array([1n]), "got BigInt64Array of length 1"],
    [new Uint32Array([1]), "got Uint32Array object"],
    [new Float64Array([1]), "got Float64Array object"],
    [new Uint8Array([1]), "got Uint8Array of length 1"],
  ];
  for (const [value, got] of refused) {
    assertThrows(
      () => validateArgs(schema, read, [cap, { blocks: value, addr: 0n, buffer }], "IBlock.read"),
      TypeError,
      `argument "data.blocks" must be sequence<u64> (an array or a BigUint64Array), ${got}`,
    );
  }
  // A sequence of anything else takes no typed array at all.
  const n = parseIdl("interface I { void f(sequence<u32> a, sequence<i64> b); };");
  const f = n.interfaces.I!.methods[0]!;
  validateArgs(n, f, [[1], new BigInt64Array([-1n])], "I.f");
  assertThrows(
    () => validateArgs(n, f, [new Uint32Array([1]), []], "I.f"),
    TypeError,
    'argument "a" must be sequence<u32> (an array), got Uint32Array object',
  );
  assertThrows(
    () => validateArgs(n, f, [[], new BigUint64Array([1n])], "I.f"),
    TypeError,
    'argument "b" must be sequence<i64> (an array or a BigInt64Array), got BigUint64Array of length 1',
  );
});
