import { assert, assertEquals, assertRejects } from "@std/assert";
import { parseIdl } from "../idl/mod.ts";
import { boot, NAMING_NAME } from "../kernel/boot.ts";
import { NameExistsError, NameNotFoundError } from "../kernel/errors.ts";
import { schema as namingSchema } from "../interfaces/naming.ts";

Deno.test("boot binds the name service as a component at svc/naming", async () => {
  const kernel = await boot({ names: ":memory:", machine: "none" });
  try {
    const address = await kernel.names.lookup(NAMING_NAME);
    const d = kernel.describe(address);
    assertEquals(d.interfaces.map((i) => i.name), ["INaming"]);
    await kernel.invoke(kernel.naming, "INaming.bind", ["svc/x", 0x5000n, false]);
    assertEquals(await kernel.invoke(kernel.naming, "INaming.lookup", ["svc/x"]), 0x5000n);
    await assertRejects(
      () => kernel.invoke(kernel.naming, "INaming.bind", ["svc/x", 0x6000n, false]),
      NameExistsError,
      'Cannot bind "svc/x": name is already bound to 0x0000000000005000',
    );
    await assertRejects(() => kernel.invoke(kernel.naming, "lookup", ["nope"]), NameNotFoundError);
    const list = await kernel.invoke(kernel.naming, "list", ["svc/"]) as { name: string }[];
    assertEquals(list.map((e) => e.name), ["svc/naming", "svc/x"]);
  } finally {
    await kernel.shutdown();
  }
});

Deno.test("INaming.watch tells a watcher component about rebinding", async () => {
  const kernel = await boot({ names: ":memory:", machine: "none" });
  try {
    const seen: [string, bigint, bigint][] = [];
    const watcher = kernel.createComponent({
      className: "watcher",
      schema: namingSchema,
      provides: ["INameWatcher"],
    });
    watcher.export("INameWatcher", {
      changed: (name: string, address: bigint, previous: bigint) =>
        void seen.push([name, address, previous]),
    });
    const notify = kernel.derive(kernel.mint(watcher.address), ["INameWatcher.changed"]);
    await kernel.invoke(kernel.naming, "watch", ["dev/", notify]);
    await kernel.names.bind("dev/kbd0", 0x1000n);
    await kernel.names.bind("dev/kbd0", 0x2000n, { replace: true });
    await kernel.names.bind("other", 0x3000n);
    await kernel.names.unbind("dev/kbd0");
    await new Promise((r) => setTimeout(r, 0));
    assertEquals(seen, [["dev/kbd0", 0x1000n, 0n], ["dev/kbd0", 0x2000n, 0x1000n], [
      "dev/kbd0",
      0n,
      0x2000n,
    ]]);
  } finally {
    await kernel.shutdown();
  }
});

Deno.test("names persist across two boots on the same data directory", async () => {
  const data = await Deno.makeTempDir({ prefix: "mungi-boot-" });
  try {
    const first = await boot({ data, machine: "none" });
    await first.names.bind("dev/ide0", 0x0000_0000_0000_7000n);
    await first.names.bind("home/notes", 0x1234_5000n);
    const namingAddress = await first.names.lookup(NAMING_NAME);
    await first.shutdown();

    const second = await boot({ data, machine: "none" });
    try {
      assertEquals(await second.names.lookup("dev/ide0"), 0x7000n);
      assertEquals((await second.names.list("home/")).map((b) => b.name), ["home/notes"]);
      // Boot is deterministic: the name service lands at the same address again.
      assertEquals(await second.names.lookup(NAMING_NAME), namingAddress);
    } finally {
      await second.shutdown();
    }
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("a component instance has its own address, one per instance", async () => {
  const kernel = await boot({ names: ":memory:", machine: "none" });
  try {
    const schema = parseIdl("interface I { int id(); };");
    const addresses = new Set<bigint>();
    for (let i = 0; i < 10; i++) {
      const c = kernel.createComponent({ className: "k", schema, provides: ["I"] });
      c.export("I", { id: () => i });
      addresses.add(c.address);
      assertEquals(await kernel.invoke(kernel.mint(c.address), "id"), i);
    }
    assertEquals(addresses.size, 10);
    assert([...addresses].every((a) => a % 4096n === 0n));
  } finally {
    await kernel.shutdown();
  }
});

Deno.test("boot unbinds device names a killed run left behind", async () => {
  const data = await Deno.makeTempDir({ prefix: "mungi-stale-" });
  try {
    const first = await boot({ data, machine: "none" });
    await first.names.bind("dev/ghost0", 0x9_9999_0000n);
    await first.names.bind("home/keep", 0x9_9999_0000n);
    await first.shutdown();
    const second = await boot({ data, machine: { ide: { memory: true, size: 1 << 20 } } });
    try {
      assertEquals(await second.names.tryLookup("dev/ghost0"), undefined);
      assertEquals(await second.names.lookup("home/keep"), 0x9_9999_0000n);
      assert(second.component(await second.names.lookup("dev/ide0")) !== undefined);
    } finally {
      await second.shutdown();
    }
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});
