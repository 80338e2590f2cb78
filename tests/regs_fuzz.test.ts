// Garbage in, SyntaxError out: random bytes, random token soup and mutations of the ATA
// description must only ever give RegsSyntaxErrors (or a description that compiles), never
// another exception and never a hang.

import { assert, assertEquals } from "@std/assert";
import {
  checkRegs,
  compileRegsToPython,
  compileRegsToTs,
  formatRegsReport,
  parseRegs,
  RegsSyntaxError,
} from "../regs/mod.ts";

const ATA = await Deno.readTextFile(new URL("../drivers/ide/ata.regs", import.meta.url));

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  "device",
  "window",
  "register",
  "reset",
  "doorbell",
  "ports",
  "as",
  "rw",
  "ro",
  "wo",
  "w1c",
  "rx",
  "{",
  "}",
  "[",
  "]",
  ":",
  "=",
  ",",
  "\n",
  "\n",
  "\r\n",
  "# note",
  "0",
  "7",
  "8",
  "16",
  "32",
  "4096",
  "0x1000",
  "0xffffffff",
  "0x1_0000_0000",
  "0b101",
  "1__0",
  "99999999999999999999999",
  "io",
  "cmd",
  "A",
  "B",
  "_x",
  "Mode",
  "bits",
  "constructor",
  "-",
  "@",
  "é",
  "\u2028",
  "\0",
];

function randomBytes(next: () => number): string {
  const length = Math.floor(next() * 200);
  let s = "";
  for (let i = 0; i < length; i++) {
    const r = next();
    s += r < 0.9
      ? String.fromCharCode(Math.floor(next() * 128))
      : String.fromCharCode(Math.floor(next() * 0x10000)); // includes lone surrogates
  }
  return s;
}

function tokenSoup(next: () => number): string {
  const length = Math.floor(next() * 60);
  const parts: string[] = [];
  for (let i = 0; i < length; i++) parts.push(TOKENS[Math.floor(next() * TOKENS.length)]!);
  return parts.join(next() < 0.5 ? " " : "");
}

function mutate(next: () => number, source: string): string {
  let s = source;
  const count = 1 + Math.floor(next() * 5);
  for (let i = 0; i < count; i++) {
    const at = Math.floor(next() * (s.length + 1));
    const span = Math.floor(next() * 20);
    switch (Math.floor(next() * 5)) {
      case 0: // delete
        s = s.slice(0, at) + s.slice(at + span);
        break;
      case 1: // duplicate
        s = s.slice(0, at) + s.slice(at, at + span) + s.slice(at);
        break;
      case 2: // insert a token
        s = s.slice(0, at) + TOKENS[Math.floor(next() * TOKENS.length)] + s.slice(at);
        break;
      case 3: { // swap two lines
        const lines = s.split("\n");
        const a = Math.floor(next() * lines.length);
        const b = Math.floor(next() * lines.length);
        [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        s = lines.join("\n");
        break;
      }
      default: // replace a character
        s = s.slice(0, at) + String.fromCharCode(Math.floor(next() * 128)) + s.slice(at + 1);
    }
  }
  return s;
}

/** Checks the contract for one input; returns whether it was a valid description. */
function exercise(source: string, label: string): boolean {
  const started = performance.now();
  const result = checkRegs(source, { file: "fuzz.regs" });
  for (const e of result.errors) {
    assert(e instanceof RegsSyntaxError && e instanceof SyntaxError, label);
    assert(Number.isInteger(e.line) && e.line >= 1, `${label}: line ${e.line}`);
    assert(Number.isInteger(e.column) && e.column >= 1, `${label}: column ${e.column}`);
    assertEquals(e.file, "fuzz.regs");
  }
  assertEquals(result.desc === undefined, result.errors.length > 0, label);
  formatRegsReport("fuzz.regs", result);
  let valid = false;
  try {
    const desc = parseRegs(source);
    compileRegsToTs(desc, { source: "fuzz.regs", runtimeImport: "./runtime.ts" });
    compileRegsToPython(desc, { source: "fuzz.regs" });
    valid = true;
  } catch (e) {
    assert(e instanceof RegsSyntaxError, `${label}: threw ${e}`);
  }
  assert(performance.now() - started < 10_000, `${label}: took too long`);
  return valid;
}

Deno.test("random bytes give only SyntaxErrors", () => {
  const next = prng(1);
  for (let i = 0; i < 1500; i++) exercise(randomBytes(next), `bytes #${i}`);
});

Deno.test("random token sequences give only SyntaxErrors or a valid description", () => {
  const next = prng(2);
  for (let i = 0; i < 1500; i++) exercise(tokenSoup(next), `tokens #${i}`);
});

Deno.test("mutations of the ATA description give only SyntaxErrors or a valid description", () => {
  const next = prng(3);
  let valid = 0;
  for (let i = 0; i < 1500; i++) {
    if (exercise(mutate(next, ATA), `mutation #${i}`)) valid++;
  }
  // Some mutations (in comments, in reset values) keep the description valid; most do not.
  assert(valid > 0 && valid < 1500, `${valid} valid mutations`);
});

Deno.test("a large garbage input is handled in linear time", () => {
  const next = prng(4);
  let source = "";
  while (source.length < 200_000) source += tokenSoup(next) + "\n";
  const started = performance.now();
  const { errors } = checkRegs(source);
  assert(errors.length > 0);
  assert(performance.now() - started < 5000);
});

Deno.test("deeply nested and unclosed braces do not hang", () => {
  for (const source of ["{".repeat(10_000), "}".repeat(10_000), "register {\n".repeat(2_000)]) {
    exercise(source, source.slice(0, 12));
  }
});
