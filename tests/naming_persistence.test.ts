import { assertEquals, assertRejects } from "@std/assert";
import { join } from "@std/path";
import { NameService } from "../naming/mod.ts";
import { NameExistsError } from "../kernel/errors.ts";

Deno.test("NameService names persist across two opens of the same file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi_naming_" });
  try {
    const path = join(dir, "names.kv");
    const first = await NameService.open(path);
    await first.bind("dev/ide0", 0x0001_0000_0000_1000n);
    await first.bind("dev/usb1", 0x0001_0000_0000_2000n);
    await first.bind("gone", 0x3000n);
    await first.unbind("gone");
    first.close();

    const second = await NameService.open(path);
    try {
      assertEquals(await second.lookup("dev/ide0"), 0x0001_0000_0000_1000n);
      assertEquals(await second.list(), [
        { name: "dev/ide0", address: 0x0001_0000_0000_1000n },
        { name: "dev/usb1", address: 0x0001_0000_0000_2000n },
      ]);
      assertEquals(await second.tryLookup("gone"), undefined);
    } finally {
      second.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NameService.open() writes schema version 1 and refuses another version", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi_naming_" });
  try {
    const path = join(dir, "names.kv");
    (await NameService.open(path)).close();
    const kv = await Deno.openKv(path);
    try {
      assertEquals((await kv.get(["meta", "version"])).value, 1);
      await kv.set(["meta", "version"], 2);
    } finally {
      kv.close();
    }
    await assertRejects(
      () => NameService.open(path),
      Error,
      "schema version number 2 is not supported (expected 1)",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NameService.bind() of one name from two services on one file: exactly one wins", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi_naming_" });
  const a = await NameService.open(join(dir, "names.kv"));
  const b = await NameService.open(join(dir, "names.kv"));
  try {
    for (let round = 0; round < 20; round++) {
      const name = `dev/race${round}`;
      const results = await Promise.allSettled([
        a.bind(name, 0xa000n),
        b.bind(name, 0xb000n),
        a.bind(name, 0xa001n),
        b.bind(name, 0xb001n),
      ]);
      const won = results.filter((r) => r.status === "fulfilled");
      assertEquals(won.length, 1, `round ${round}`);
      for (const r of results) {
        if (r.status === "rejected") {
          assertEquals(r.reason instanceof NameExistsError, true, String(r.reason));
        }
      }
      assertEquals(await a.lookup(name), await b.lookup(name));
    }
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NameService watches see only changes made through the same object", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi_naming_" });
  const a = await NameService.open(join(dir, "names.kv"));
  const b = await NameService.open(join(dir, "names.kv"));
  try {
    const seen: string[] = [];
    using _watch = a.watch("", (e) => seen.push(e.name));
    await b.bind("from/b", 1n);
    await a.bind("from/a", 2n);
    assertEquals(seen, ["from/a"]);
    assertEquals(await a.lookup("from/b"), 1n); // the data itself is shared
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Makes the next read of `["names", name]` through any Deno.Kv be followed, before the reader
 * can commit, by a write of `address` to that key through `writer`: a deterministic lost race.
 */
function interposeWriteAfterRead(writer: Deno.Kv, name: string, address: bigint): Disposable {
  const originalGet = Deno.Kv.prototype.get;
  let armed = true;
  Deno.Kv.prototype.get = async function <T>(
    this: Deno.Kv,
    key: Deno.KvKey,
    options?: { consistency?: Deno.KvConsistencyLevel },
  ): Promise<Deno.KvEntryMaybe<T>> {
    const entry = (await originalGet.call(this, key, options)) as Deno.KvEntryMaybe<T>;
    if (armed && this !== writer && key[0] === "names" && key[1] === name) {
      armed = false;
      await writer.set(["names", name], address);
    }
    return entry;
  };
  return {
    [Symbol.dispose]() {
      Deno.Kv.prototype.get = originalGet;
    },
  };
}

Deno.test("NameService.bind() rechecks when another writer binds the name before its commit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi_naming_" });
  const path = join(dir, "names.kv");
  const names = await NameService.open(path);
  const other = await Deno.openKv(path);
  try {
    {
      using _race = interposeWriteAfterRead(other, "dev/ide0", 0xbbbbn);
      await assertRejects(
        () => names.bind("dev/ide0", 0xaaaan),
        NameExistsError,
        "already bound to 0x000000000000bbbb",
      );
    }
    assertEquals(await names.lookup("dev/ide0"), 0xbbbbn);

    const seen: string[] = [];
    using _watch = names.watch(
      "",
      (e) => seen.push(`${e.kind} ${e.name} 0x${e.previous.toString(16)}`),
    );
    {
      using _race = interposeWriteAfterRead(other, "dev/usb1", 0xccccn);
      await names.bind("dev/usb1", 0xaaaan, { replace: true });
    }
    assertEquals(await names.lookup("dev/usb1"), 0xaaaan);
    assertEquals(seen, ["rebind dev/usb1 0xcccc"]); // previous: the other writer's address
  } finally {
    names.close();
    other.close();
    await Deno.remove(dir, { recursive: true });
  }
});
