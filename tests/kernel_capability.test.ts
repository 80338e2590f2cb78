import { assert, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { CapabilityTable, formatCapability, parseCapability } from "../kernel/capability.ts";
import { PermissionDeniedError } from "../kernel/errors.ts";

Deno.test("a million random passwords never validate a forged capability", () => {
  const table = new CapabilityTable();
  const address = 0x1000n;
  table.mint(address, null, "owner");
  const guesses = new BigUint64Array(1 << 13);
  const start = performance.now();
  let accepted = 0;
  for (let round = 0; round < 128; round++) {
    crypto.getRandomValues(guesses);
    for (const password of guesses) {
      if (table.lookup({ address, password }) !== undefined) accepted++;
    }
  }
  const elapsed = performance.now() - start;
  assertEquals(accepted, 0);
  assert(elapsed < 1000, `1M forgery checks took ${elapsed.toFixed(0)} ms`);
});

Deno.test("passwords are 64-bit, random and never zero", () => {
  const table = new CapabilityTable();
  const seen = new Set<bigint>();
  let high = 0;
  for (let i = 0; i < 1000; i++) {
    const cap = table.mint(BigInt(i + 1) * 4096n, null, "x");
    assertNotEquals(cap.password, 0n);
    seen.add(cap.password);
    if (cap.password >= 1n << 63n) high++;
  }
  assertEquals(seen.size, 1000);
  // About half should have the top bit set; far outside 350..650 means a weak source.
  assert(high > 350 && high < 650, `top bit set in ${high} of 1000`);
});

Deno.test("check refuses forged, too narrow and malformed capabilities with one message", () => {
  const table = new CapabilityTable();
  const cap = table.mint(0x1000n, new Set(["IBlock.read"]), "client");
  assertEquals(table.check(cap, "IBlock.read", "IBlock.read").label, "client");
  const messages = new Set<string>();
  for (
    const bad of [
      { address: cap.address, password: cap.password ^ 1n },
      { address: cap.address + 4096n, password: cap.password },
      cap,
      null,
      { address: 1, password: 2 },
      "0x1000:0x1",
    ]
  ) {
    const what = bad === cap ? "IBlock.write" : "IBlock.write";
    const e = assertThrows(() => table.check(bad, "IBlock.write", what), PermissionDeniedError);
    messages.add(e.message);
  }
  assertEquals([...messages], ["Permission denied: IBlock.write"]);
});

Deno.test("derive narrows, and cannot widen", () => {
  const table = new CapabilityTable();
  const master = table.mint(0x1000n, null, "owner");
  const readOnly = table.derive(master, new Set(["IBlock.read", "IBlock.get_block_size"]), "r");
  const sizeOnly = table.derive(readOnly, new Set(["IBlock.get_block_size"]), "s");
  table.check(sizeOnly, "IBlock.get_block_size", "x");
  assertThrows(() => table.check(sizeOnly, "IBlock.read", "x"), PermissionDeniedError);
  assertThrows(
    () => table.derive(readOnly, new Set(["IBlock.write"]), "w"),
    PermissionDeniedError,
    "does not grant it",
  );
  const same = table.derive(readOnly, null, "copy");
  table.check(same, "IBlock.read", "x");
  assertThrows(() => table.check(same, "IBlock.write", "x"), PermissionDeniedError);
});

Deno.test("revocation cascades to every derived capability and nothing else", () => {
  const table = new CapabilityTable();
  const master = table.mint(0x1000n, null, "owner");
  const a = table.derive(master, null, "a");
  const a1 = table.derive(a, new Set(["I.m"]), "a1");
  const a2 = table.derive(a1, new Set(["I.m"]), "a2");
  const b = table.derive(master, null, "b");
  assertEquals(table.revoke(a), 3);
  for (const gone of [a, a1, a2]) assertEquals(table.lookup(gone), undefined);
  table.check(master, "I.m", "I.m");
  table.check(b, "I.m", "I.m");
  assertThrows(() => table.revoke(a), PermissionDeniedError);
  assertEquals(table.revoke(master), 2);
  assertEquals(table.size, 0);
});

Deno.test("capabilities print and parse as address:password", () => {
  const cap = { address: 0x1000n, password: 0xdeadbeefn };
  const text = formatCapability(cap);
  assertEquals(text, "0x0000000000001000:0x00000000deadbeef");
  assertEquals(parseCapability(text), cap);
  assertThrows(() => parseCapability("0x1000"), SyntaxError);
  assertThrows(() => parseCapability("0x1000:zz"), SyntaxError);
});
