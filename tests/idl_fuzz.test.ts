import { assert, assertEquals } from "@std/assert";
import {
  checkIdl,
  compileIdlToTs,
  formatCheckReport,
  IdlSyntaxError,
  parseIdl,
} from "../idl/mod.ts";

/** xorshift32: a tiny deterministic PRNG so every run sees the same inputs. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const VALID: readonly string[] = [
  `interface IBlock {
    int write (cap_t notify, block_seq data);
    int read (cap_t notify, block_seq data);
    int get_block_count ();
    int get_block_size ();
};`,
  `// naming
struct name_entry { string name; u64 address; };
interface INaming {
  void bind(string name, u64 address, bool replace);
  u64 unbind(string name);
  sequence<name_entry> list(string prefix);
  void watch(string prefix, cap_t notify);
};
interface INameWatcher { void changed(string name, u64 address, u64 previous); };`,
  `/* everything */
enum color { RED, GREEN = 5, BLUE, NEG = -3, HEX = 0x10, };
typedef sequence<sequence<u8>> grid;
struct pixel { color c; i8 a; i16 b; i32 d; i64 e; u16 f; u32 g; bool h; bytes raw; grid g2; };
interface IBase { void ping(); };
interface IScreen : IBase { pixel get(u32 x, u32 y); void put(pixel p, string why); };
interface IBoth : IScreen, IBase {};`,
];

const TOKENS: readonly string[] = [
  "interface",
  "struct",
  "enum",
  "typedef",
  "sequence",
  "void",
  "int",
  "u64",
  "i8",
  "bool",
  "string",
  "bytes",
  "cap_t",
  "block_seq",
  "IBlock",
  "x",
  "__proto__",
  "constructor",
  "{",
  "}",
  "(",
  ")",
  "<",
  ">",
  ",",
  ";",
  ":",
  "=",
  "-",
  "0",
  "0x7fffffff",
  "2147483648",
  "99999999999999999999999999999999",
  "0xZZ",
  "1abc",
  "//",
  "/*",
  "*/",
  "\n",
  "\u0000",
  "é",
  "\u{1F600}",
  "\ud800",
  '"',
  "@",
];

/** Checks one input: nothing but IdlSyntaxError may come out, and results must be consistent. */
function probe(source: string): void {
  const result = checkIdl(source, { file: "fuzz.idl" });
  for (const e of result.errors) {
    assert(e instanceof IdlSyntaxError, `not an IdlSyntaxError: ${e}`);
    assert(e.line >= 1 && e.column >= 1, `bad position ${e.line}:${e.column}`);
  }
  assertEquals(result.schema === undefined, result.errors.length > 0);
  try {
    parseIdl(source);
  } catch (e) {
    if (!(e instanceof IdlSyntaxError)) throw e;
  }
  formatCheckReport("fuzz.idl", result);
  if (result.schema !== undefined) {
    try {
      compileIdlToTs(result.schema, { source: "fuzz.idl", kernelTypesImport: "./types.ts" });
    } catch (e) {
      // The only refusal: an IDL name TypeScript cannot take.
      if (!(e instanceof TypeError && e.message.includes("reserved in generated code"))) throw e;
    }
  }
}

function randomBytes(rand: () => number): string {
  const n = Math.floor(rand() * 300);
  let s = "";
  for (let i = 0; i < n; i++) {
    s += String.fromCharCode(rand() < 0.9 ? Math.floor(rand() * 256) : Math.floor(rand() * 65536));
  }
  return s;
}

function tokenSoup(rand: () => number): string {
  const n = Math.floor(rand() * 80);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(TOKENS[Math.floor(rand() * TOKENS.length)]!);
    parts.push(rand() < 0.7 ? " " : "");
  }
  return parts.join("");
}

function mutate(rand: () => number, source: string): string {
  let s = source;
  const ops = 1 + Math.floor(rand() * 5);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(rand() * (s.length + 1));
    const op = rand();
    if (op < 0.35) {
      s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 4));
    } else if (op < 0.7) {
      const insert = rand() < 0.5
        ? String.fromCharCode(32 + Math.floor(rand() * 95))
        : TOKENS[Math.floor(rand() * TOKENS.length)]!;
      s = s.slice(0, at) + insert + s.slice(at);
    } else {
      const end = Math.min(s.length, at + Math.floor(rand() * 40));
      s = s.slice(0, end) + s.slice(at, end) + s.slice(end);
    }
  }
  return s;
}

Deno.test("garbage input only ever yields IdlSyntaxError: random bytes, token soups, mutations", () => {
  const rand = prng(0x6d756e67);
  const started = performance.now();
  let inputs = 0;
  for (let i = 0; i < 1000; i++, inputs++) probe(randomBytes(rand));
  for (let i = 0; i < 1500; i++, inputs++) probe(tokenSoup(rand));
  for (let i = 0; i < 2500; i++, inputs++) {
    probe(mutate(rand, VALID[Math.floor(rand() * VALID.length)]!));
  }
  for (const v of VALID) {
    probe(v);
    for (let cut = 0; cut <= v.length; cut += 3, inputs++) probe(v.slice(0, cut)); // truncations
  }
  assert(inputs > 5000);
  const elapsed = performance.now() - started;
  assert(elapsed < 15_000, `fuzzing took ${elapsed.toFixed(0)} ms`);
});

Deno.test("huge and deeply nested inputs are handled in linear time without overflowing the stack", () => {
  const cases: [string, string][] = [
    ["open braces", "{".repeat(200_000)],
    [
      "nested sequences",
      "typedef " + "sequence<".repeat(50_000) + "u8" + ">".repeat(50_000) + " t;",
    ],
    ["one huge identifier", "a".repeat(200_000)],
    ["one huge number", `enum e { A = ${"9".repeat(200_000)} };`],
    ["unterminated comment", "/*" + "x".repeat(200_000)],
    ["NUL bytes", "\u0000".repeat(200_000)],
    ["nested interface bodies", "interface I { ".repeat(50_000)],
    [
      "a long typedef chain",
      Array.from({ length: 5_000 }, (_, i) => `typedef ${i === 0 ? "u8" : `t${i - 1}`} t${i};`)
        .join("\n"),
    ],
    [
      "a long containment cycle",
      Array.from({ length: 5_000 }, (_, i) => `struct s${i} { s${(i + 1) % 5_000} next; };`)
        .join("\n"),
    ],
    [
      "a long inheritance chain",
      Array.from(
        { length: 500 },
        (_, i) => `interface I${i}${i === 0 ? "" : ` : I${i - 1}`} { void m${i}(); };`,
      ).join("\n"),
    ],
    [
      "a long inheritance cycle",
      Array.from({ length: 5_000 }, (_, i) => `interface I${i} : I${(i + 1) % 5_000} {};`)
        .join("\n"),
    ],
  ];
  for (const [what, source] of cases) {
    const started = performance.now();
    for (const e of checkIdl(source).errors) assert(e instanceof IdlSyntaxError);
    try {
      parseIdl(source);
    } catch (e) {
      if (!(e instanceof IdlSyntaxError)) throw e;
    }
    const elapsed = performance.now() - started;
    assert(elapsed < 10_000, `${what} took ${elapsed.toFixed(0)} ms`);
  }
  const cycle = checkIdl(
    Array.from({ length: 5_000 }, (_, i) => `struct s${i} { s${(i + 1) % 5_000} next; };`).join(
      "",
    ),
  );
  assertEquals(cycle.errors.length, 1);
  assert(cycle.errors[0]!.reason.startsWith('Struct "s0" is recursive: s0.next -> s1.next -> '));
});
