// What a driver meets must not depend on the host it runs on: refused exports, and memory freed
// under a driver's DMA mapping.
import { assert, assertEquals, assertMatch } from "@std/assert";
import { BlockClient } from "../clients/block_client.ts";
import { boot } from "../kernel/boot.ts";
import { withProbe } from "./_probe_harness.ts";
import { schema as blockSchema } from "../interfaces/block.ts";
import { waitFor } from "./_wait.ts";

const HOSTS = ["kernel", "worker"] as const;

function refusedExports(host: "kernel" | "worker"): Promise<string> {
  return withProbe(host, 17, async (kernel, device) => {
    assertEquals(kernel.drivers.instance("probe17")?.host, host);
    return await kernel.invoke(device, "IProbe.attempt", []) as string;
  });
}

Deno.test("an export with a method missing, or of an undeclared interface, is refused alike on both hosts", async () => {
  const [inKernel, inWorker] = [await refusedExports("kernel"), await refusedExports("worker")];
  assertEquals(inWorker, inKernel);
  const [partial, undeclared, object] = inKernel.split("\n");
  assertEquals(
    partial,
    "TypeError: Cannot export IProbe from probe17: method interrupts is missing from the implementation",
  );
  assertMatch(
    undeclared!,
    /^TypeError: Cannot export INaming from probe17: class "hostile" does not declare it/,
  );
  assertEquals(object, "TypeError: Cannot create a IProbe object: method interrupts is missing");
});

for (const host of HOSTS) {
  Deno.test(`memory freed while a driver has it mapped loses its mapping, and its address maps again (${host} host)`, async () => {
    await withProbe(host, 0, async (kernel, device) => {
      const first = kernel.allocate(4096, "first");
      // The driver maps it for DMA and keeps the mapping.
      assertEquals(await kernel.invoke(device, "IProbe.mapFor", [first.capability]), "queued");
      assertEquals(await kernel.invoke(device, "IProbe.mapped", []), `mapped ${first.address}`);
      const iommu = kernel.machine.iommu;
      const mapped = () => iommu.mappings("probe0").map((m) => m.mapping.label);
      assertEquals(mapped(), ["first"]);

      kernel.free(first.capability);
      assertEquals(mapped(), []);
      const revoked = kernel.events.recent({ kind: "iommu.revoke", source: "probe0" });
      assertEquals(revoked.length, 1);
      assertMatch(revoked[0]!.message, /was freed while mapped for probe0: mapping revoked/);

      // The device's DMA to the old address faults instead of reaching the freed bytes.
      await kernel.invoke(device, "IProbe.poke", [1, 0, first.address]);
      await waitFor(() => iommu.faults.some((f) => f.device === "probe0"), "the probe's DMA fault");

      // A new object at any address maps (a stale mapping would overlap it and be refused).
      const second = kernel.allocate(4096, "second");
      assertEquals(await kernel.invoke(device, "IProbe.mapFor", [second.capability]), "queued");
      assertEquals(await kernel.invoke(device, "IProbe.mapped", []), `mapped ${second.address}`);
      assertEquals(mapped(), ["second"]);
    });
  });
}

Deno.test("a buffer freed in the middle of a disk read: the read settles, the disk still reads, nothing stays mapped (both hosts)", async () => {
  for (const host of HOSTS) {
    const kernel = await boot({ names: ":memory:", host });
    try {
      const disk = await BlockClient.open(
        kernel,
        kernel.mint(await kernel.names.lookup("dev/ide0")),
      );
      const doomed = kernel.allocate(64 * 512, "doomed");
      const read = disk.transfer("read", 0n, 64, doomed.capability);
      kernel.free(doomed.capability);
      const status = await read.then(() => "ok", (error) => (error as Error).name);
      assert(status.length > 0);
      // Leaving out the driver's own descriptor table, mapped for as long as the driver runs.
      const mapped = () =>
        kernel.machine.iommu.mappings("ide0").filter((m) => m.mapping.label !== "ide0-dma").length;
      assertEquals(mapped(), 0, `${host} (${status}): a mapping outlived its freed memory`);
      // The disk still reads into live memory.
      const buffer = kernel.allocate(512, "after");
      await disk.transfer("read", 1n, 1, buffer.capability);
      assertEquals(mapped(), 0);
      disk.close();
    } finally {
      await kernel.shutdown();
    }
  }
});

Deno.test("DMA memory a driver allocates is as long as it asked for on both hosts, also where it is a WebAssembly memory of whole pages", async () => {
  for (const host of HOSTS) {
    await withProbe(host, 0, async (kernel, device) => {
      for (const size of [100, 65536, 100_000]) {
        const got = await kernel.invoke(device, "IProbe.allocate", [size]) as string;
        const [length, address] = got.split(" at ");
        assertEquals(Number(length), size, `${host} host, ${size} bytes`);
        // The device sees the same bytes (the driver wrote them all), and no more of them.
        const mapping = kernel.machine.iommu.mappings("probe0")
          .find((m) => m.mapping.address === BigInt(address!))?.mapping;
        assertEquals(mapping?.bytes.length, size);
        assertEquals([mapping?.bytes[0], mapping?.bytes[size - 1]], [0xa5, 0xa5]);
      }
    });
  }
});

Deno.test("issueAfter refuses what no map returned alike on both hosts; a copied mark only guards by the driver's own map", async () => {
  const outcomes = await Promise.all(
    HOSTS.map((host) =>
      withProbe(host, 0, async (kernel, device) => {
        const memory = kernel.allocate(4096, "guarded");
        return await kernel.invoke(device, "IProbe.foreignGuards", [memory.capability]) as string;
      })
    ),
  );
  assertEquals(outcomes[1], outcomes[0]);
  const refusal = "TypeError: issueAfter takes the promises that ctx.dma.map returned";
  assertEquals(outcomes[0]!.split("\n"), [refusal, refusal, refusal, "allowed", "allowed"]);
});

Deno.test("a post is checked against its target's parameter types, whatever the driver declared, on both hosts", async () => {
  const seen = await Promise.all(HOSTS.map((host) =>
    withProbe(host, 0, async (kernel, device) => {
      // A client's completion target: INotify.complete(int, int).
      const calls: unknown[][] = [];
      const target = kernel.createComponent({
        className: "client",
        schema: blockSchema,
        provides: ["INotify"],
      });
      target.export("INotify", { complete: (...args: unknown[]) => void calls.push(args) });
      const cap = kernel.mint(target.address);
      // The driver's INotify says (i64, i64): bigints, which the target's ints are not.
      await kernel.invoke(device, "IProbe.notify", [cap, 7n, 0n]);
      const failed = () =>
        kernel.events.recent({ source: "probe0" }).map((e) => e.message)
          .filter((m) => m.includes("INotify.complete (posted) failed"));
      await waitFor(() => failed().length > 0, "the refused post's log entry");
      return { calls, failed: failed() };
    })
  ));
  for (const { calls, failed } of seen) {
    assertEquals(calls, []);
    assertEquals(failed.length, 1);
    assertMatch(failed[0]!, /request.* must be int/);
  }
});
