import { assertEquals, assertThrows } from "@std/assert";
import { parseIdl, parseValue, toJsonValue, type TypeRef, validateArgs } from "../idl/mod.ts";

const schema = parseIdl(`
enum mode { READ = 1, WRITE = 2, NEG = -7 };
typedef u64 lba;
struct request { mode m; sequence<lba> blocks; bytes payload; string tag; bool urgent; i8 prio;
                 cap_t reply; sequence<sequence<u16>> grid; };
`);

const u64: TypeRef = { kind: "int", name: "u64" };
const i64: TypeRef = { kind: "int", name: "i64" };
const int: TypeRef = { kind: "int", name: "int" };
const u8: TypeRef = { kind: "int", name: "u8" };
const named = (name: string): TypeRef => ({ kind: "named", name });

Deno.test("parseValue() reads ints in decimal or 0x hex, as bigints for 64-bit types", () => {
  assertEquals(parseValue(schema, int, "-42", "x"), -42);
  assertEquals(parseValue(schema, int, "0x7fffffff", "x"), 2147483647);
  assertEquals(parseValue(schema, u8, " 255 ", "x"), 255);
  assertEquals(parseValue(schema, u64, "0xFFFFFFFFFFFFFFFF", "x"), 2n ** 64n - 1n);
  assertEquals(parseValue(schema, i64, "-9223372036854775808", "x"), -(2n ** 63n));
  assertEquals(parseValue(schema, named("lba"), "4096", "x"), 4096n);
  assertThrows(
    () => parseValue(schema, u8, "256", "IDev.set arg"),
    TypeError,
    'IDev.set arg: expected u8 (decimal or 0x hex in 0..255), got string "256"',
  );
  assertThrows(() => parseValue(schema, u64, "-1", "x"), TypeError, "expected u64");
  assertThrows(() => parseValue(schema, int, "1.5", "x"), TypeError, "expected int");
  assertThrows(() => parseValue(schema, int, "", "x"), TypeError, "expected int");
  assertThrows(() => parseValue(schema, int, "9".repeat(5000), "x"), TypeError, "expected int");
});

Deno.test("parseValue() reads bool, string, bytes, cap_t and enums", () => {
  assertEquals(
    ["true", "false", "1", "0"].map((t) => parseValue(schema, { kind: "bool" }, t, "x")),
    [true, false, true, false],
  );
  assertThrows(
    () => parseValue(schema, { kind: "bool" }, "yes", "x"),
    TypeError,
    'x: expected bool (true, false, 1 or 0), got string "yes"',
  );
  assertEquals(parseValue(schema, { kind: "string" }, "dev/ide0", "x"), "dev/ide0");
  assertEquals(parseValue(schema, { kind: "string" }, '"a\\"b"', "x"), 'a"b');
  assertEquals(parseValue(schema, { kind: "string" }, '"unbalanced', "x"), '"unbalanced');
  assertEquals(
    parseValue(schema, { kind: "bytes" }, "0xdeadBEEF", "x"),
    new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
  );
  assertEquals(parseValue(schema, { kind: "bytes" }, "", "x"), new Uint8Array());
  assertThrows(
    () => parseValue(schema, { kind: "bytes" }, "abc", "x"),
    TypeError,
    "expected bytes",
  );
  assertEquals(parseValue(schema, { kind: "cap" }, "0x0000000000001000:0x00000000000000ff", "x"), {
    address: 0x1000n,
    password: 0xffn,
  });
  assertThrows(
    () => parseValue(schema, { kind: "cap" }, "4096:255", "x"),
    TypeError,
    'x: expected cap_t (0x<address>:0x<password>, each up to 16 hex digits), got string "4096:255"',
  );
  assertEquals(parseValue(schema, named("mode"), "WRITE", "x"), 2);
  assertEquals(parseValue(schema, named("mode"), "-7", "x"), -7);
  assertThrows(
    () => parseValue(schema, named("mode"), "3", "x"),
    TypeError,
    'x: expected mode (one of READ = 1, WRITE = 2, NEG = -7), got string "3"',
  );
});

Deno.test("parseValue() reads sequences and structs as JSON, converting per element type", () => {
  assertEquals(
    parseValue(
      schema,
      named("block_seq"),
      '{"blocks": [1, "0x10", "18446744073709551615"], "addr": 4096, "buffer": "0x1:0x2"}',
      "data",
    ),
    {
      blocks: [1n, 16n, 2n ** 64n - 1n],
      addr: 4096n,
      buffer: { address: 1n, password: 2n },
    },
  );
  assertEquals(
    parseValue(schema, { kind: "sequence", of: named("mode") }, '["READ", 2, "NEG"]', "x"),
    [1, 2, -7],
  );
  const text = JSON.stringify({
    m: "WRITE",
    blocks: ["1"],
    payload: "0102",
    tag: "t",
    urgent: true,
    prio: -3,
    reply: "0x1:0x2",
    grid: [[1, 2], []],
  });
  const value = parseValue(schema, named("request"), text, "x");
  assertEquals(value, {
    m: 2,
    blocks: [1n],
    payload: new Uint8Array([1, 2]),
    tag: "t",
    urgent: true,
    prio: -3,
    reply: { address: 1n, password: 2n },
    grid: [[1, 2], []],
  });
  // What parseValue returns is what validateArgs accepts.
  validateArgs(
    schema,
    { name: "f", params: [{ name: "r", type: named("request") }], returns: { kind: "void" } },
    [value],
    "f",
  );
});

Deno.test("parseValue() says what was wrong with JSON, and where", () => {
  assertThrows(
    () => parseValue(schema, named("block_seq"), "{blocks: []}", "IBlock.read data"),
    TypeError,
    "IBlock.read data: expected block_seq (a JSON object with fields blocks, addr, buffer), got invalid JSON",
  );
  assertThrows(
    () =>
      parseValue(
        schema,
        named("block_seq"),
        '{"blocks": [1, -2], "addr": 0, "buffer": "0x1:0x2"}',
        "d",
      ),
    TypeError,
    'd: "blocks[1]" must be u64 (decimal or 0x hex in 0..18446744073709551615), got number -2',
  );
  assertThrows(
    () =>
      parseValue(
        schema,
        named("block_seq"),
        '{"blocks": [1e300], "addr": 0, "buffer": "0x1:0x2"}',
        "d",
      ),
    TypeError,
    "(write large 64-bit values as strings)",
  );
  assertThrows(
    () => parseValue(schema, named("block_seq"), '{"blocks": [], "buffer": "0x1:0x2"}', "d"),
    TypeError,
    '(missing field "addr")',
  );
  assertThrows(
    () => parseValue(schema, named("block_seq"), '{"blocks": [], "addr": 0}', "d"),
    TypeError,
    '(missing field "buffer")',
  );
  assertThrows(
    () =>
      parseValue(
        schema,
        named("block_seq"),
        '{"blocks": [], "addr": 0, "buffer": "4096:255"}',
        "d",
      ),
    TypeError,
    'd: "buffer" must be cap_t (0x<address>:0x<password>, each up to 16 hex digits), got string "4096:255"',
  );
  assertThrows(
    () =>
      parseValue(
        schema,
        named("block_seq"),
        '{"blocks": [], "addr": 0, "buffer": "0x1:0x2", "x": 1}',
        "d",
      ),
    TypeError,
    '(unexpected field "x")',
  );
  assertThrows(
    () => parseValue(schema, named("block_seq"), "[]", "d"),
    TypeError,
    "d: value must be block_seq (a JSON object with fields blocks, addr, buffer), got array of length 0",
  );
  assertThrows(
    () => parseValue(schema, { kind: "void" }, "", "d"),
    TypeError,
    "d: expected no value (void)",
  );
});

Deno.test("toJsonValue() output parses back with parseValue() to the same value", () => {
  const cases: [TypeRef, unknown][] = [
    [int, -5],
    [u64, 2n ** 64n - 1n],
    [i64, -(2n ** 63n)],
    [{ kind: "bool" }, false],
    [{ kind: "string" }, "plain text"],
    [{ kind: "string" }, '"quoted"'],
    [{ kind: "bytes" }, new Uint8Array([0, 1, 254, 255])],
    [{ kind: "cap" }, { address: 0xffff_0000_0000_1000n, password: 0n }],
    [named("mode"), -7],
    [named("block_seq"), {
      blocks: [0n, 2n ** 64n - 1n],
      addr: 0x2000n,
      buffer: { address: 1n, password: 2n },
    }],
    [named("request"), {
      m: 1,
      blocks: [],
      payload: new Uint8Array([9]),
      tag: '"x"',
      urgent: false,
      prio: 127,
      reply: { address: 5n, password: 6n },
      grid: [[65535]],
    }],
    [{ kind: "sequence", of: { kind: "cap" } }, [{ address: 1n, password: 2n }]],
  ];
  for (const [type, value] of cases) {
    const json = toJsonValue(value);
    // Scalars go on the command line as they print; strings JSON-quoted, so quotes survive.
    const text = typeof json === "string" && type.kind !== "string" ? json : JSON.stringify(json);
    assertEquals(parseValue(schema, type, text, "x"), value, `round trip of ${text}`);
  }
});

Deno.test("toJsonValue() prints bigints as decimal, bytes as hex, caps as 0x...:0x...", () => {
  assertEquals(toJsonValue(undefined), null);
  assertEquals(toJsonValue(12n), "12");
  assertEquals(toJsonValue(new Uint8Array([0xab, 1])), "ab01");
  assertEquals(toJsonValue({ address: 1n, password: 2n }), "0x0000000000000001:0x0000000000000002");
  assertEquals(toJsonValue([{ name: "dev/ide0", address: 4096n }]), [{
    name: "dev/ide0",
    address: "4096",
  }]);
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  JSON.stringify(toJsonValue(cyclic)); // terminates
  // A "__proto__" key stays an own key; it does not replace the prototype.
  const own = toJsonValue(JSON.parse('{"__proto__": 5}'));
  assertEquals(Object.keys(own as object), ["__proto__"]);
  assertEquals(Object.getPrototypeOf(own), Object.prototype);
});
