import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  checkIdl,
  formatCheckReport,
  formatSignature,
  formatType,
  type IdlSchema,
  IdlSyntaxError,
  parseIdl,
} from "../idl/mod.ts";

const FIGURE_1 = `interface IBlock {
    int write (cap_t notify, block_seq data);
    int read (cap_t notify, block_seq data);
    int get_block_count ();
    int get_block_size ();
};
`;

/** `LINE:COL reason` for every error of `source`. */
function errorsOf(source: string): string[] {
  return checkIdl(source).errors.map((e) => `${e.line}:${e.column} ${e.reason}`);
}

/** The single error `source` produces, as `LINE:COL reason`. */
function onlyError(source: string): string {
  const errors = errorsOf(source);
  assertEquals(errors.length, 1, `expected one error, got ${JSON.stringify(errors)}`);
  return errors[0]!;
}

Deno.test("parseIdl() compiles Figure 1 exactly as printed in the paper", () => {
  const schema = parseIdl(FIGURE_1);
  const iface = schema.interfaces.IBlock!;
  assertEquals(iface.extends, []);
  assertEquals(iface.methods.map(formatSignature), [
    "int write(cap_t notify, block_seq data)",
    "int read(cap_t notify, block_seq data)",
    "int get_block_count()",
    "int get_block_size()",
  ]);
  const read = iface.methods[1]!;
  assertEquals(read.params, [
    { name: "notify", type: { kind: "cap" } },
    { name: "data", type: { kind: "named", name: "block_seq" } },
  ]);
  assertEquals(read.returns, { kind: "int", name: "int" });
});

Deno.test("parseIdl() includes the prelude's block_seq in every schema", () => {
  const expected: IdlSchema["types"] = {
    block_seq: {
      kind: "struct",
      name: "block_seq",
      fields: [
        { name: "blocks", type: { kind: "sequence", of: { kind: "int", name: "u64" } } },
        { name: "addr", type: { kind: "int", name: "u64" } },
        { name: "buffer", type: { kind: "cap" } },
      ],
    },
  };
  assertEquals(parseIdl("").types, expected);
  assertEquals(parseIdl(FIGURE_1).types, expected);
  assertEquals(Object.keys(parseIdl("").interfaces), []);
});

Deno.test("parseIdl() accepts every type, comments, enums, typedefs and forward references", () => {
  const schema = parseIdl(`
    // line comment
    /* block
       comment */
    struct all {
      int a; i8 b; i16 c; i32 d; i64 e; u8 f; u16 g; u32 h; u64 i;
      bool j; string k; bytes l; cap_t m;
      sequence<sequence<later>> n;   // used before its definition
      color o;
      addr_t p;
    };
    enum color { RED, GREEN = 5, BLUE, NEG = -3, HEX = 0x10, };
    typedef u64 addr_t;
    struct later { u8 x; };
    struct empty {};
    interface I { void ping(); empty get(all a); };
  `);
  assertEquals(Object.keys(schema.types), [
    "block_seq",
    "all",
    "color",
    "addr_t",
    "later",
    "empty",
  ]);
  const all = schema.types.all;
  if (all?.kind !== "struct") throw new Error("all is not a struct");
  assertEquals(all.fields.map((f) => `${formatType(f.type)} ${f.name}`), [
    "int a",
    "i8 b",
    "i16 c",
    "i32 d",
    "i64 e",
    "u8 f",
    "u16 g",
    "u32 h",
    "u64 i",
    "bool j",
    "string k",
    "bytes l",
    "cap_t m",
    "sequence<sequence<later>> n",
    "color o",
    "addr_t p",
  ]);
  assertEquals(schema.types.color, {
    kind: "enum",
    name: "color",
    values: [
      { name: "RED", value: 0 },
      { name: "GREEN", value: 5 },
      { name: "BLUE", value: 6 },
      { name: "NEG", value: -3 },
      { name: "HEX", value: 16 },
    ],
  });
  assertEquals(schema.types.addr_t, {
    kind: "alias",
    name: "addr_t",
    type: { kind: "int", name: "u64" },
  });
  assertEquals(schema.interfaces.I?.methods.map(formatSignature), [
    "void ping()",
    "empty get(all a)",
  ]);
});

Deno.test("parseIdl() puts inherited methods first and includes a diamond's shared base once", () => {
  const schema = parseIdl(`
    interface IDisk : IBlock, IPower { int eject(); };
    interface IBlock : IDevice { int get_block_size(); };
    interface IPower : IDevice { void suspend(); };
    interface IDevice { string describe(); };
  `);
  assertEquals(schema.interfaces.IDisk?.extends, ["IBlock", "IPower"]);
  assertEquals(schema.interfaces.IDisk?.methods.map((m) => m.name), [
    "describe",
    "get_block_size",
    "suspend",
    "eject",
  ]);
  assertEquals(Object.keys(schema.interfaces), ["IDisk", "IBlock", "IPower", "IDevice"]);
});

Deno.test("parseIdl() throws IdlSyntaxError with file, line and column", () => {
  const e = assertThrows(
    () => parseIdl("interface I {\n  int f();\n}\n", { file: "x.idl" }),
    IdlSyntaxError,
  );
  assert(e instanceof SyntaxError);
  assertEquals([e.file, e.line, e.column], ["x.idl", 3, 1]);
  assertEquals(
    e.message,
    'x.idl:3:1: Expected ";" after "}" of interface "I" (write "};" as in Figure 1)',
  );
});

Deno.test("a missing ';' after '}' is reported at the '}'", () => {
  assertEquals(
    onlyError("struct s {\n  int x;\n}\ninterface I {};"),
    '3:1 Expected ";" after "}" of struct "s" (write "};" as in Figure 1)',
  );
  assertEquals(
    onlyError("enum e { A }"),
    '1:12 Expected ";" after "}" of enum "e" (write "};" as in Figure 1)',
  );
});

Deno.test("syntax errors point at the offending token", () => {
  assertEquals(
    onlyError("interface I {\n  int f(int);\n};"),
    '2:12 Expected a parameter name in method "f", found ")"',
  );
  assertEquals(onlyError("struct int { };"), '1:8 Expected a struct name, found keyword "int"');
  assertEquals(
    onlyError("interface I { int f() };"),
    '1:23 Expected ";" after method "f", found "}"',
  );
  assertEquals(
    onlyError("interface I {\n  int f();"),
    '2:11 Expected "}" to close interface "I", found end of input',
  );
  assertEquals(
    onlyError("interface I { void f(void x); };"),
    `1:22 "void" is only allowed as a method's return type`,
  );
  assertEquals(
    onlyError("/* one\n   two */ struct s { sequence<u8 x; };"),
    '2:34 Expected ">" to close "sequence<", found "x"',
  );
  assertEquals(
    onlyError("\tstruct s { int x; };\n  foo"),
    '2:3 Expected "interface", "struct", "enum" or "typedef", found "foo"',
  );
  assertEquals(onlyError("enum e { A = x };"), '1:14 Expected an integer enum value, found "x"');
  assertEquals(
    onlyError("struct __proto__ {};"),
    '1:8 Cannot use "__proto__" as a name: it is reserved',
  );
});

Deno.test("lexical errors point at the offending character", () => {
  assertEquals(onlyError("interface I {};\n  @"), '2:3 Unexpected character "@"');
  assertEquals(onlyError("struct s { int x; };\u0000"), "1:21 Unexpected character U+0000");
  assertEquals(
    onlyError("struct s { u8 x; }; é /* é is fine here */"),
    '1:21 Unexpected character "é" (U+00E9)',
  );
  assertEquals(
    onlyError("struct s { u8 x; };\n\u{1F600}"),
    '2:1 Unexpected character "\u{1F600}" (U+1F600)',
  );
  assertEquals(onlyError("enum e { A = 12ab };"), '1:14 Invalid number "12ab"');
  assertEquals(
    onlyError("struct s {};\n /* open"),
    '2:2 Unterminated comment: "/*" has no matching "*/"',
  );
  assertEquals(
    onlyError(`struct ${"n".repeat(33)} {};`),
    `1:8 Name "${"n".repeat(21)}..." is too long (33 characters; at most 32)`,
  );
  assertEquals(
    onlyError(`typedef ${"sequence<".repeat(9)}u8${">".repeat(9)} t;`),
    "1:81 Type is nested too deeply (more than 8 sequences)",
  );
});

Deno.test("name errors point at the offending name", () => {
  assertEquals(onlyError("interface I {\n  int f(blk b);\n};"), '2:9 Unknown type "blk"');
  assertEquals(
    onlyError("struct a { int x; };\nenum a { X };"),
    '2:6 Duplicate definition of "a" (first defined as struct at 1:8)',
  );
  assertEquals(
    onlyError("struct block_seq { int x; };"),
    '1:8 Cannot define "block_seq": the name is defined by the prelude',
  );
  assertEquals(
    onlyError("struct s { int x; u8 x; };"),
    '1:22 Duplicate field "x" in struct "s" (first declared at 1:16)',
  );
  assertEquals(
    onlyError("interface I { void f(int a, bool a); };"),
    '1:34 Duplicate parameter "a" in method "f" (first declared at 1:26)',
  );
  assertEquals(
    onlyError("interface I { void f(); int f(); };"),
    '1:29 Duplicate method "f" in interface "I" (first declared at 1:20)',
  );
  assertEquals(
    onlyError("interface J {};\ninterface I { void f(J j); };"),
    '2:22 "J" is an interface, not a type (use cap_t to pass a reference to an object)',
  );
});

Deno.test("enum errors: duplicate members and values, out-of-range values", () => {
  assertEquals(
    onlyError("enum e { A = 1, B = 0, C };"),
    '1:24 Enum member "C" has value 1, the same as "A"',
  );
  assertEquals(
    onlyError("enum e { A, B, A };"),
    '1:16 Duplicate member "A" in enum "e" (first declared at 1:10)',
  );
  assertEquals(
    onlyError("enum e { A = 2147483648 };"),
    '1:14 Enum value of "A" is out of range (-2147483648..2147483647)',
  );
  assertEquals(
    onlyError(`enum e { A = -${"9".repeat(500)} };`),
    '1:14 Enum value of "A" is out of range (-2147483648..2147483647)',
  );
  assertEquals(
    onlyError("enum e { A = 2147483647, B };"),
    '1:26 Enum member "B" would be 2147483648, out of range for int',
  );
  assertEquals(parseIdl("enum e { A = -2147483648 };").types.e, {
    kind: "enum",
    name: "e",
    values: [{ name: "A", value: -2147483648 }],
  });
});

Deno.test("recursive structs are rejected, directly or through typedefs and sequences", () => {
  assertEquals(
    onlyError("struct node {\n  int v;\n  node next;\n};"),
    '3:3 Struct "node" is recursive: node.next -> node',
  );
  assertEquals(
    onlyError("typedef sequence<tree> forest;\nstruct tree { forest kids; };"),
    '1:18 Typedef "forest" is recursive: forest -> tree.kids -> forest',
  );
  assertEquals(
    onlyError("struct a { b x; };\nstruct b { sequence<c> y; };\nstruct c { a z; };"),
    '1:12 Struct "a" is recursive: a.x -> b.y -> c.z -> a',
  );
  assertEquals(onlyError("typedef t t;"), '1:9 Typedef "t" is recursive: t -> t');
  // Reaching the same struct twice without a cycle is fine.
  parseIdl("struct leaf { u8 v; }; struct pair { leaf l; leaf r; sequence<leaf> all; };");
});

Deno.test("inheritance errors: unknown, non-interface, self, cyclic bases and clashes", () => {
  assertEquals(onlyError("interface I : J {};"), '1:15 Unknown interface "J"');
  assertEquals(
    onlyError("struct s {};\ninterface I : s {};"),
    '2:15 "s" is a struct, not an interface',
  );
  assertEquals(onlyError("interface I : I {};"), '1:15 Interface "I" cannot extend itself');
  assertEquals(
    onlyError("interface A : B {};\ninterface B : C {};\ninterface C : A {};"),
    '3:15 Interface "A" inherits from itself: A -> B -> C -> A',
  );
  assertEquals(
    onlyError("interface A { void f(); };\ninterface B { int f(); };\ninterface C : A, B {};"),
    '3:18 Method "f" inherited from "B" clashes with "f" inherited from "A"',
  );
  assertEquals(
    onlyError("interface A { void f(); };\ninterface C : A { void f(); };"),
    '2:24 Method "f" clashes with "f" inherited from "A"',
  );
  assertEquals(
    onlyError("interface A {};\ninterface C : A, A {};"),
    '2:18 Duplicate base "A" of interface "C" (first declared at 2:15)',
  );
});

Deno.test("checkIdl() collects every semantic error in source order", () => {
  assertEquals(
    errorsOf(`
struct s { int x; u8 x; blob b; };
interface I : Nope { void f(int a, int a); };
enum e { A, A };
struct s {};
`),
    [
      '2:22 Duplicate field "x" in struct "s" (first declared at 2:16)',
      '2:25 Unknown type "blob"',
      '3:15 Unknown interface "Nope"',
      '3:40 Duplicate parameter "a" in method "f" (first declared at 3:33)',
      '4:13 Duplicate member "A" in enum "e" (first declared at 4:10)',
      '5:8 Duplicate definition of "s" (first defined as struct at 2:8)',
    ],
  );
});

Deno.test("checkIdl() recovers after a syntax error and keeps checking the rest", () => {
  const result = checkIdl(`interface A {
  int f(int);
  int g(;
  int h();
};
struct s { int x; int x; };
interface B { blk h(); };
`);
  assertEquals(result.schema, undefined);
  assertEquals(result.errors.map((e) => `${e.line}:${e.column} ${e.reason}`), [
    '2:12 Expected a parameter name in method "f", found ")"',
    '3:9 Expected a type, found ";"',
    '6:23 Duplicate field "x" in struct "s" (first declared at 6:16)',
    // 'Unknown type "blk"' is left out: after syntax errors, a missing name may just have failed
    // to parse.
  ]);
  assert(result.errors.every((e) => e instanceof IdlSyntaxError));
});

Deno.test("checkIdl() stops after 100 errors", () => {
  const result = checkIdl("@".repeat(10_000));
  assertEquals(result.errors.length, 100);
});

Deno.test("formatCheckReport() lists interfaces, signatures and types, or FILE:LINE:COL errors", () => {
  const ok = formatCheckReport(
    "interfaces/block.idl",
    checkIdl(FIGURE_1 + "enum mode { R, W = 4 };\ntypedef u64 lba;\ninterface IDisk : IBlock {};"),
  );
  assertEquals(ok.ok, true);
  assertEquals(ok.text.split("\n"), [
    "interfaces/block.idl: ok",
    "interface IBlock",
    "  int write(cap_t notify, block_seq data)",
    "  int read(cap_t notify, block_seq data)",
    "  int get_block_count()",
    "  int get_block_size()",
    "interface IDisk : IBlock",
    "  int write(cap_t notify, block_seq data)",
    "  int read(cap_t notify, block_seq data)",
    "  int get_block_count()",
    "  int get_block_size()",
    "struct block_seq { sequence<u64> blocks; u64 addr; cap_t buffer; }  // prelude",
    "enum mode { R = 0, W = 4 }",
    "typedef u64 lba",
  ]);
  const bad = formatCheckReport("b.idl", checkIdl("interface I {\n  blk f();\n  int g(x);\n}"));
  assertEquals(bad, {
    ok: false,
    text: [
      'b.idl:3:10: Expected a parameter name in method "g", found ")"',
      'b.idl:4:1: Expected ";" after "}" of interface "I" (write "};" as in Figure 1)',
    ].join("\n"),
  });
});
