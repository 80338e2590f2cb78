import { assert, assertEquals, assertRejects } from "@std/assert";
import { BlockClient } from "../clients/block_client.ts";
import { boot } from "../kernel/boot.ts";
import type { HostKind } from "../kernel/hosts/driver_host.ts";
import type { Kernel } from "../kernel/kernel.ts";

async function withDisk(
  host: HostKind,
  fn: (kernel: Kernel, disk: BlockClient) => Promise<void>,
): Promise<void> {
  const kernel = await boot({
    names: ":memory:",
    host,
    machine: { ide: { memory: true, size: 4 << 20 } },
  });
  try {
    const address = await kernel.names.lookup("dev/ide0");
    const disk = await BlockClient.open(kernel, kernel.mint(address));
    try {
      await fn(kernel, disk);
    } finally {
      disk.close();
    }
  } finally {
    await kernel.shutdown();
  }
}

function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return out;
}

for (const host of ["kernel", "worker"] as const) {
  Deno.test(`IBlock write then read round trip through the ${host} host`, async () => {
    await withDisk(host, async (kernel, disk) => {
      assertEquals(disk.blockSize, 512);
      assertEquals(disk.blockCount, 8192);
      const data = pattern(512 * 9, 1);
      await disk.write(100n, data);
      assertEquals(await disk.read(100n, 9), data);
      assertEquals(await disk.read(0n, 1), new Uint8Array(512));
      assertEquals(kernel.drivers.instance("ide0")?.host, host);
    });
  });

  Deno.test(`IBlock serves several outstanding requests at once (${host} host)`, async () => {
    await withDisk(host, async (_kernel, disk) => {
      const writes = [];
      for (let i = 0; i < 16; i++) writes.push(disk.write(BigInt(i * 8), pattern(4096, i)));
      await Promise.all(writes);
      const reads = await Promise.all(
        Array.from({ length: 16 }, (_, i) => disk.read(BigInt(i * 8), 8)),
      );
      reads.forEach((r, i) => assertEquals(r, pattern(4096, i)));
    });
  });

  Deno.test(`IBlock refuses bad requests with clear errors (${host} host)`, async () => {
    await withDisk(host, async (kernel, disk) => {
      const dev = disk.device;
      const { capability } = kernel.allocate(1024, "small");
      const data = (blocks: bigint[], buffer = capability) => ({
        blocks,
        addr: buffer.address,
        buffer,
      });
      await assertRejects(
        () => kernel.invoke(dev, "IBlock.read", [disk.notify, data([8192n])]),
        RangeError,
        "past the end",
      );
      await assertRejects(
        () => kernel.invoke(dev, "IBlock.read", [disk.notify, data([])]),
        RangeError,
        "empty",
      );
      await assertRejects(
        () => kernel.invoke(dev, "IBlock.read", [disk.notify, data([0n, 1n, 2n])]),
        RangeError,
        "Buffer too small",
      );
      const forged = { address: capability.address, password: capability.password ^ 1n };
      await assertRejects(
        () => kernel.invoke(dev, "IBlock.read", [disk.notify, data([0n], forged)]),
        Error,
        "Permission denied",
      );
      const readOnly = kernel.derive(capability, ["read"]);
      await assertRejects(
        () => kernel.invoke(dev, "IBlock.read", [disk.notify, data([0n], readOnly)]),
        Error,
        "Permission denied",
      );
      // The disk still works afterwards.
      await disk.write(5n, pattern(512, 9));
      assertEquals(await disk.read(5n, 1), pattern(512, 9));
      assert(kernel.drivers.instance("ide0")!.counters.denied >= 2);
    });
  });

  Deno.test(`IIde reports the identity and flushes (${host} host)`, async () => {
    await withDisk(host, async (kernel, disk) => {
      const id = await kernel.invoke(disk.device, "IIde.identify") as {
        sectors: bigint;
        model: string;
      };
      assertEquals(id.sectors, 8192n);
      assert(id.model.length > 0);
      assertEquals(await kernel.invoke(disk.device, "IIde.flush"), 0);
      const raw = await kernel.invoke(disk.device, "IIde.identify_raw") as Uint8Array;
      assertEquals(raw.length, 512);
    });
  });
}

Deno.test("data written and flushed survives a reboot on the same data directory", async () => {
  const data = await Deno.makeTempDir({ prefix: "mungi-ide-" });
  try {
    const bytes = pattern(512 * 4, 42);
    const first = await boot({ data, machine: { ide: { size: 1 << 20 } } });
    try {
      const dev = first.mint(await first.names.lookup("dev/ide0"));
      const disk = await BlockClient.open(first, dev);
      await disk.write(77n, bytes);
      assertEquals(await first.invoke(dev, "IIde.flush"), 0);
      disk.close();
    } finally {
      await first.shutdown();
    }
    const image = await Deno.readFile(`${data}/disks/ide0.img`);
    assertEquals(image.length, 1 << 20);
    assertEquals(image.subarray(77 * 512, 81 * 512), bytes);
    const second = await boot({ data, machine: { ide: { size: 1 << 20 } } });
    try {
      const disk = await BlockClient.open(
        second,
        second.mint(await second.names.lookup("dev/ide0")),
      );
      assertEquals(await disk.read(77n, 4), bytes);
      disk.close();
    } finally {
      await second.shutdown();
    }
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});
