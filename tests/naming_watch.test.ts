import { assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { type NameEvent, NameService, type NameWatch } from "../naming/mod.ts";

/** Binds, rebinds and unbinds dev/ide0, and binds two names outside "dev/". */
async function churn(names: NameService): Promise<void> {
  await names.bind("dev/ide0", 0x1000n);
  await names.bind("devices", 0x9000n);
  await names.bind("dev/ide0", 0x2000n, { replace: true });
  await names.bind("net/eth0", 0x8000n);
  await names.unbind("dev/ide0");
}

const EXPECTED: NameEvent[] = [
  { kind: "bind", name: "dev/ide0", address: 0x1000n, previous: 0n },
  { kind: "rebind", name: "dev/ide0", address: 0x2000n, previous: 0x1000n },
  { kind: "unbind", name: "dev/ide0", address: 0n, previous: 0x2000n },
];

/** Reads every event a watch yields until it ends. */
async function drain(watch: NameWatch): Promise<NameEvent[]> {
  const events: NameEvent[] = [];
  for await (const event of watch) events.push(event);
  return events;
}

Deno.test("NameService.watch() callback sees bind, rebind and unbind in order", async () => {
  using names = await NameService.open(":memory:");
  const seen: NameEvent[] = [];
  const watch = names.watch("dev/", (event) => seen.push(event));
  await names.bind("dev/ide0", 0x1000n);
  assertEquals(seen.length, 1, "delivered before bind() resolves");
  await names.unbind("dev/ide0");
  seen.length = 0;
  await churn(names);
  assertEquals(seen, EXPECTED);
  watch.close();
  await names.bind("dev/ide1", 0x3000n);
  assertEquals(seen, EXPECTED, "no events after close");
});

Deno.test("NameService.watch() iterator yields bind, rebind and unbind in order", async () => {
  using names = await NameService.open(":memory:");
  const watch = names.watch("dev/");
  await churn(names);
  const events: NameEvent[] = [];
  for await (const event of watch) {
    events.push(event);
    if (events.length === EXPECTED.length) break; // leaving the loop closes the watch
  }
  assertEquals(events, EXPECTED);
  assertEquals(watch.closed, true);
  await names.bind("dev/ide1", 0x3000n);
  assertEquals(await drain(watch), []);
});

Deno.test("NameService.watch() iterator waits for events and ends when closed", async () => {
  using names = await NameService.open(":memory:");
  const watch = names.watch("dev/");
  const reading = drain(watch);
  await churn(names);
  watch.close();
  assertEquals(await reading, EXPECTED);
  await names.bind("dev/ide1", 0x3000n);
  assertEquals(await drain(watch), []);
});

Deno.test("NameWatch.close() discards buffered events", async () => {
  using names = await NameService.open(":memory:");
  const watch = names.watch("");
  await churn(names);
  watch.close();
  watch.close();
  assertEquals(await drain(watch), []);
});

Deno.test("NameService.close() ends watches after their buffered events", async () => {
  const names = await NameService.open(":memory:");
  const waiting = names.watch("net/")[Symbol.asyncIterator]();
  const first = waiting.next();
  const second = waiting.next();
  const buffered = names.watch("dev/");
  await churn(names);
  names.close();
  assertEquals(await drain(buffered), EXPECTED);
  assertEquals(buffered.closed, true);
  assertEquals(await first, {
    done: false,
    value: { kind: "bind", name: "net/eth0", address: 0x8000n, previous: 0n },
  });
  assertEquals(await second, { done: true, value: undefined });
});

Deno.test("NameService.watch() delivers to every matching watch the same frozen event", async () => {
  using names = await NameService.open(":memory:");
  const all: NameEvent[] = [];
  const dev: NameEvent[] = [];
  const exact: NameEvent[] = [];
  const other: NameEvent[] = [];
  using _a = names.watch("", (e) => all.push(e));
  using _b = names.watch("dev/", (e) => dev.push(e));
  using _c = names.watch("dev/ide0", (e) => exact.push(e));
  using _d = names.watch("usb/", (e) => other.push(e));
  await churn(names);
  assertEquals(all.map((e) => e.name), [
    "dev/ide0",
    "devices",
    "dev/ide0",
    "net/eth0",
    "dev/ide0",
  ]);
  assertEquals(dev, EXPECTED);
  assertEquals(exact, EXPECTED);
  assertEquals(other, []);
  assertStrictEquals(all[0], dev[0]);
  assertEquals(Object.isFrozen(dev[0]), true);
});

Deno.test("NameService.watch() does not report failed binds or unbinds", async () => {
  using names = await NameService.open(":memory:");
  await names.bind("dev/ide0", 0x1000n);
  const seen: NameEvent[] = [];
  using _watch = names.watch("dev/", (e) => seen.push(e));
  await names.bind("dev/ide0", 0x2000n).catch(() => {});
  await names.unbind("dev/missing").catch(() => {});
  await names.bind("", 1n).catch(() => {});
  assertEquals(seen, []);
});

Deno.test("NameService.watch() reports concurrent changes in commit order", async () => {
  using names = await NameService.open(":memory:");
  const seen: NameEvent[] = [];
  using _watch = names.watch("", (e) => seen.push(e));
  // Interleave binds, rebinds and unbinds of a few names without awaiting in between.
  const ops: Promise<unknown>[] = [];
  for (let i = 0; i < 30; i++) {
    const name = `n${i % 4}`;
    if (i % 3 === 2) ops.push(names.unbind(name).catch(() => {}));
    else ops.push(names.bind(name, BigInt(i + 1), { replace: true }));
  }
  await Promise.all(ops);
  // Replaying the events in delivery order must give the stored state, with each event's
  // `previous` equal to what the replay holds at that point.
  const replay = new Map<string, bigint>();
  for (const event of seen) {
    assertEquals(event.previous, replay.get(event.name) ?? 0n, `${event.kind} ${event.name}`);
    if (event.kind === "unbind") replay.delete(event.name);
    else replay.set(event.name, event.address);
  }
  const stored = await names.list();
  assertEquals(
    stored,
    [...replay].map(([name, address]) => ({ name, address })).sort((a, b) =>
      a.name < b.name ? -1 : 1
    ),
  );
});

Deno.test("NameService.watch() logs a throwing callback and keeps going", async () => {
  using names = await NameService.open(":memory:");
  const logged: unknown[][] = [];
  const originalError = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const seen: NameEvent[] = [];
    using _bad = names.watch("dev/", () => {
      throw new Error("watcher bug");
    });
    using _good = names.watch("dev/", (e) => seen.push(e));
    await names.bind("dev/ide0", 0x1000n);
    assertEquals(seen.length, 1);
    assertEquals(await names.lookup("dev/ide0"), 0x1000n);
  } finally {
    console.error = originalError;
  }
  assertEquals(logged.length, 1);
  assertEquals(String(logged[0]?.[0]).includes('Name watch "dev/"'), true);
});

Deno.test("NameWatch with a callback cannot be iterated", async () => {
  using names = await NameService.open(":memory:");
  using watch = names.watch("dev/", () => {});
  assertThrows(() => watch[Symbol.asyncIterator](), TypeError, "its events go to a callback");
});
