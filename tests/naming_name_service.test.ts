import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { NameService } from "../naming/mod.ts";
import { NameExistsError, NameNotFoundError } from "../kernel/errors.ts";

const MAX = (1n << 64n) - 1n;

Deno.test("NameService binds, looks up and unbinds a name", async () => {
  using names = await NameService.open(":memory:");
  await names.bind("dev/ide0", 0x0001_0000_0000_1000n);
  assertEquals(await names.lookup("dev/ide0"), 0x0001_0000_0000_1000n);
  assertEquals(await names.tryLookup("dev/ide0"), 0x0001_0000_0000_1000n);
  assertEquals(await names.unbind("dev/ide0"), 0x0001_0000_0000_1000n);
  assertEquals(await names.tryLookup("dev/ide0"), undefined);
  await names.bind("dev/ide0", 0x2000n);
  assertEquals(await names.lookup("dev/ide0"), 0x2000n);
});

Deno.test("NameService.bind() refuses a bound name with NameExistsError unless replace", async () => {
  using names = await NameService.open(":memory:");
  await names.bind("dev/ide0", 0x1000n);
  await assertRejects(
    () => names.bind("dev/ide0", 0x2000n),
    NameExistsError,
    'Cannot bind "dev/ide0": name is already bound to 0x0000000000001000',
  );
  await assertRejects(() => names.bind("dev/ide0", 0x2000n, { replace: false }), NameExistsError);
  assertEquals(await names.lookup("dev/ide0"), 0x1000n);
  await names.bind("dev/ide0", 0x2000n, { replace: true });
  assertEquals(await names.lookup("dev/ide0"), 0x2000n);
  await names.bind("dev/new", 0x3000n, { replace: true }); // replace on an unbound name binds it
  assertEquals(await names.lookup("dev/new"), 0x3000n);
});

Deno.test("NameService.lookup() and unbind() fail with NameNotFoundError for a missing name", async () => {
  using names = await NameService.open(":memory:");
  await assertRejects(
    () => names.lookup("x"),
    NameNotFoundError,
    'Cannot look up "x": name is not bound',
  );
  await assertRejects(
    () => names.unbind("x"),
    NameNotFoundError,
    'Cannot unbind "x": name is not bound',
  );
  assertEquals(await names.tryLookup("x"), undefined);
});

Deno.test("NameService.bind() accepts addresses 1..2^64-1 and rejects others", async () => {
  using names = await NameService.open(":memory:");
  await names.bind("lowest", 1n);
  await names.bind("highest", MAX);
  assertEquals(await names.lookup("lowest"), 1n);
  assertEquals(await names.lookup("highest"), MAX);
  await assertRejects(() => names.bind("zero", 0n), RangeError, "address 0 is reserved");
  await assertRejects(() => names.bind("neg", -1n), RangeError, "outside 1..2^64-1");
  await assertRejects(() => names.bind("big", MAX + 1n), RangeError, "outside 1..2^64-1");
  await assertRejects(
    // @ts-expect-error: a number is not an address
    () => names.bind("num", 4096),
    TypeError,
    'Cannot bind "num": address must be a bigint, got number 4096',
  );
  assertEquals(await names.tryLookup("zero"), undefined);
});

Deno.test("NameService methods reject invalid names with the validateName errors", async () => {
  using names = await NameService.open(":memory:");
  await assertRejects(() => names.bind("", 1n), TypeError, "must not be empty");
  await assertRejects(() => names.bind("a".repeat(256), 1n), RangeError, "256 bytes");
  await assertRejects(() => names.lookup("a\tb"), TypeError, "control character U+0009");
  await assertRejects(() => names.tryLookup("\ud800"), TypeError, "lone surrogate");
  // @ts-expect-error: a number is not a name
  await assertRejects(() => names.unbind(7), TypeError, "expected a string");
  assertEquals(await names.list(), []);
});

Deno.test("NameService.list() returns the names with a string prefix, sorted", async () => {
  using names = await NameService.open(":memory:");
  const bindings: [string, bigint][] = [
    ["dev/usb1", 0x2000n],
    ["devices", 0x3000n],
    ["dev", 0x4000n],
    ["dev/ide0", 0x1000n],
    ["de", 0x5000n],
    ["dev/ide0/part1", 0x1100n],
    ["dev0", 0x6000n],
    ["net/eth0", 0x7000n],
    ["dew", 0x8000n],
  ];
  for (const [name, address] of bindings) await names.bind(name, address);

  assertEquals(await names.list("dev/"), [
    { name: "dev/ide0", address: 0x1000n },
    { name: "dev/ide0/part1", address: 0x1100n },
    { name: "dev/usb1", address: 0x2000n },
  ]);
  assertEquals((await names.list("dev")).map((b) => b.name), [
    "dev",
    "dev/ide0",
    "dev/ide0/part1",
    "dev/usb1",
    "dev0",
    "devices",
  ]);
  assertEquals((await names.list("dev/ide0")).map((b) => b.name), ["dev/ide0", "dev/ide0/part1"]);
  assertEquals(await names.list("dev/ide0/part1/x"), []);
  assertEquals(await names.list("zzz"), []);
  assertEquals(await names.list("d".repeat(300)), []);
  const all = await names.list();
  assertEquals(all.map((b) => b.name), bindings.map(([name]) => name).sort());
  assertEquals(await names.list(""), all);
});

Deno.test("NameService.list() sorts non-ASCII names by code point", async () => {
  using names = await NameService.open(":memory:");
  for (const name of ["é/b", "😀", "\ue000", "é/a", "z"]) await names.bind(name, 1n);
  assertEquals((await names.list()).map((b) => b.name), ["z", "é/a", "é/b", "\ue000", "😀"]);
  assertEquals((await names.list("é/")).map((b) => b.name), ["é/a", "é/b"]);
});

Deno.test("NameService.list() and watch() reject a non-string or ill-formed prefix", async () => {
  using names = await NameService.open(":memory:");
  // @ts-expect-error: a number is not a prefix
  await assertRejects(() => names.list(1), TypeError, "prefix must be a string");
  await assertRejects(() => names.list("a\ud800"), TypeError, "lone surrogate");
  // @ts-expect-error: null is not a prefix
  assertThrows(() => names.watch(null), TypeError, "prefix must be a string");
});

Deno.test("NameService.namesOf() finds every name bound to an address", async () => {
  using names = await NameService.open(":memory:");
  await names.bind("dev/ide0", 0x1000n);
  await names.bind("disk/boot", 0x1000n);
  await names.bind("dev/usb1", 0x2000n);
  assertEquals(await names.namesOf(0x1000n), ["dev/ide0", "disk/boot"]);
  assertEquals(await names.namesOf(0x2000n), ["dev/usb1"]);
  assertEquals(await names.namesOf(0x3000n), []);
  await assertRejects(() => names.namesOf(0n), RangeError, "reserved");
});

Deno.test("NameService.bind() of one name concurrently on one service: exactly one succeeds", async () => {
  using names = await NameService.open(":memory:");
  const addresses = Array.from({ length: 10 }, (_, i) => BigInt(i + 1) * 0x1000n);
  const results = await Promise.allSettled(addresses.map((a) => names.bind("dev/ide0", a)));
  const won = results.flatMap((r, i) => r.status === "fulfilled" ? [addresses[i]] : []);
  assertEquals(won.length, 1);
  for (const r of results) {
    if (r.status === "rejected") assertEquals(r.reason instanceof NameExistsError, true);
  }
  assertEquals(await names.lookup("dev/ide0"), won[0]);
});

Deno.test("NameService.close() is idempotent and later calls fail clearly", async () => {
  const names = await NameService.open(":memory:");
  await names.bind("a", 1n);
  assertEquals(names.closed, false);
  names.close();
  names.close();
  assertEquals(names.closed, true);
  await assertRejects(() => names.lookup("a"), Error, 'Cannot look up "a": name service is closed');
  await assertRejects(() => names.bind("b", 2n), Error, "name service is closed");
  await assertRejects(() => names.unbind("a"), Error, "name service is closed");
  await assertRejects(() => names.list(), Error, "name service is closed");
  await assertRejects(() => names.namesOf(1n), Error, "name service is closed");
  assertThrows(() => names.watch(""), Error, "name service is closed");
});

Deno.test("NameService.close() makes queued writes fail clearly", async () => {
  const names = await NameService.open(":memory:");
  const writes = [names.bind("a", 1n), names.bind("b", 2n), names.unbind("a")];
  // A read already sent to the store may still complete; it must not fail any other way.
  const read = names.lookup("c").then(String, (error: Error) => error.message);
  names.close();
  for (const p of writes) await assertRejects(() => p, Error, "name service is closed");
  assertEquals(
    [
      'Cannot look up "c": name is not bound',
      'Cannot look up "c": name service is closed',
    ].includes(await read),
    true,
  );
});

Deno.test("NameService.open() rejects an empty path", async () => {
  await assertRejects(() => NameService.open(""), TypeError, "path must be a non-empty string");
});
