import { assert, assertEquals } from "@std/assert";
import { BlockStatus, describeStatus } from "../driver.ts";
import { BlockClient, blockList, BlockListPool } from "../clients/block_client.ts";
import type { Capability } from "../idl/types.ts";
import { schema as blockSchema } from "../interfaces/block.ts";
import { Kernel } from "../kernel/kernel.ts";

/**
 * An in-kernel IBlock that answers with the given request ids and completes each request when
 * told to (before or after the call returns), in any order.
 */
function fakeDisk(kernel: Kernel, ids: number[]) {
  const c = kernel.createComponent({
    className: "fake",
    schema: blockSchema,
    provides: ["IBlock"],
  });
  const queued: { id: number; notify: Capability }[] = [];
  let next = 0;
  const complete = (id: number, status = 0) => {
    const i = queued.findIndex((q) => q.id === id);
    const [q] = queued.splice(i, 1);
    return kernel.invoke(q!.notify, "INotify.complete", [id, status]);
  };
  const submit = (notify: Capability) => {
    const id = ids[next++]!;
    queued.push({ id, notify });
    return id;
  };
  c.export("IBlock", {
    read: submit,
    write: submit,
    get_block_count: () => 1024,
    get_block_size: () => 512,
  });
  return { cap: kernel.mint(c.address), complete };
}

Deno.test("BlockClient matches completions to requests by id, negative and large ids too", async () => {
  const kernel = new Kernel();
  const ids = [-1, 0x7fff_ffff, -0x8000_0000, 5, 1 << 20, -5];
  const disk = fakeDisk(kernel, ids);
  const client = await BlockClient.open(kernel, disk.cap);
  const { capability } = kernel.allocate(512, "buf");
  const done: number[] = [];
  const transfers = ids.map((id) =>
    client.transfer("read", 0n, 1, capability).then(() => done.push(id))
  );
  // Let every call return its id, then complete them in reverse order.
  await new Promise((r) => setTimeout(r, 0));
  for (const id of [...ids].reverse()) await disk.complete(id);
  await Promise.all(transfers);
  assertEquals(done, [...ids].reverse());
  client.close();
});

Deno.test("BlockClient takes a completion that arrives before the call's id (negative id)", async () => {
  const kernel = new Kernel();
  const disk = fakeDisk(kernel, [-42]);
  const client = await BlockClient.open(kernel, disk.cap);
  const { capability } = kernel.allocate(512, "buf");
  const transfer = client.transfer("read", 0n, 1, capability);
  // The completion is invoked in the same turn the driver returns: before the client has the id.
  await disk.complete(-42);
  await transfer;
  client.close();
});

Deno.test("every block status has words of its own; an unknown one is named by its number", () => {
  const texts = Object.values(BlockStatus).map(describeStatus);
  assertEquals(new Set(texts).size, texts.length);
  assert(texts.every((t) => !t.startsWith("error ")), texts.join(", "));
  assertEquals(describeStatus(-99), "error -99");
});

Deno.test("block lists hold lba, lba + 1, ... across 2^31, 2^32 and up to 2^53, pooled or not", () => {
  const expected = (lba: bigint, count: number) =>
    Array.from({ length: count }, (_, i) => lba + BigInt(i));
  const cases: [bigint, number][] = [
    [0n, 1],
    [5n, 32],
    [5n, 33],
    [0n, 2048],
    [0x7fff_ff00n, 512], // crosses 2^31
    [0xffff_ff00n, 512], // crosses 2^32
    [0x1_0000_0000n, 64], // above 2^32
    [(1n << 53n) - 40n, 40], // ends at 2^53
    [(1n << 53n) - 40n, 41], // past 2^53: a plain list
  ];
  const pool = new BlockListPool();
  for (const [lba, count] of cases) {
    assertEquals([...blockList(lba, count)], expected(lba, count), `blockList(${lba}, ${count})`);
    const taken = pool.take(lba, count);
    assertEquals([...taken.blocks], expected(lba, count), `pool.take(${lba}, ${count})`);
    pool.give(taken);
  }
  // A pooled list that last held blocks above 2^32 comes back with clean high halves.
  const high = pool.take(0x2_0000_0000n, 600);
  pool.give(high);
  const low = pool.take(7n, 600);
  assertEquals(low.base, high.base);
  assertEquals([...low.blocks], expected(7n, 600));
});
