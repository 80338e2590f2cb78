import { assert, assertEquals, assertRejects } from "@std/assert";
import { BlockClient, BlockIoError } from "../clients/block_client.ts";
import { boot } from "../kernel/boot.ts";
import type { HostKind } from "../kernel/hosts/driver_host.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { IdeController } from "../machine/ide_controller.ts";
import { pattern } from "./_machine_ide_harness.ts";
import { waitFor } from "./_wait.ts";

async function withDisk(
  host: HostKind,
  fn: (kernel: Kernel, disk: BlockClient) => Promise<void>,
  latencyMs = 0,
): Promise<void> {
  const kernel = await boot({
    names: ":memory:",
    host,
    machine: { ide: { memory: true, size: 4 << 20, latencyMs } },
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

  Deno.test(`long block lists reused from the client's pool never mix up requests (${host} host)`, async () => {
    await withDisk(host, async (kernel, disk) => {
      // 40 blocks: past the short-list length, so each request takes a pooled list.
      const blocks = 40;
      const data = pattern(12 * blocks * 512, 3);
      await disk.write(0n, data);
      for (let round = 0; round < 3; round++) {
        const buffers = Array.from(
          { length: 12 },
          (_, i) => kernel.allocate(blocks * 512, `l${i}`),
        );
        // Out of order on the disk, all in flight at once, and again with the lists returned.
        const order = [5, 0, 11, 3, 8, 1, 10, 6, 2, 9, 4, 7];
        await Promise.all(
          order.map((k, i) =>
            disk.transfer("read", BigInt(k * blocks), blocks, buffers[i]!.capability)
          ),
        );
        order.forEach((k, i) => {
          const bytes = kernel.memory(buffers[i]!.capability, "read").bytes;
          assertEquals(bytes, data.subarray(k * blocks * 512, (k + 1) * blocks * 512), `${k}`);
          kernel.free(buffers[i]!.capability);
        });
      }
    });
  });

  Deno.test(`a long list of scattered blocks reads each run where it belongs, a run longer than a command too (${host} host)`, async () => {
    await withDisk(host, async (kernel, disk) => {
      const data = pattern(2200 * 512, 5);
      await disk.write(0n, data);
      // Runs of 20, 20 and 2100 blocks (more than one command's 2048), the first two out of
      // order on the disk.
      const runs = [[500, 20], [10, 20], [0, 2100]] as const;
      const blocks = new BigUint64Array(
        runs.flatMap(([at, n]) => Array.from({ length: n }, (_, i) => BigInt(at + i))),
      );
      const { capability } = kernel.allocate(blocks.length * 512, "scattered");
      await kernel.invoke(disk.device, "IBlock.read", [disk.notify, {
        blocks,
        addr: capability.address,
        buffer: capability,
      }]);
      // Requests are served in order: once a later one is done, so is this one.
      await disk.read(0n, 1);
      const bytes = kernel.memory(capability, "read").bytes;
      let at = 0;
      for (const [first, n] of runs) {
        assertEquals(
          bytes.subarray(at, at + n * 512),
          data.subarray(first * 512, (first + n) * 512),
          `run at ${first}`,
        );
        at += n * 512;
      }
    });
  });

  Deno.test(`blocks past 2^24 and 2^28 land where their LBA says, in 28- and 48-bit commands (${host} host)`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "mungi-lba48-" });
    try {
      const path = `${dir}/big.img`;
      // 256 GiB, sparse: 2^29 blocks, so LBAs use the head bits (28-bit) and the high bytes
      // (48-bit commands, which the driver issues from 2^28 on).
      const kernel = await boot({
        names: ":memory:",
        host,
        machine: { ide: { image: path, size: 2 ** 38 }, usb: false },
      });
      try {
        const disk = await BlockClient.open(
          kernel,
          kernel.mint(await kernel.names.lookup("dev/ide0")),
        );
        assertEquals(disk.blockCount, 2 ** 29);
        for (const lba of [0x0abc_def0, 0x1234_5678, 2 ** 29 - 2]) {
          const data = pattern(2 * 512, lba & 0xff);
          await disk.write(BigInt(lba), data);
          assertEquals(await disk.read(BigInt(lba), 2), data, `LBA 0x${lba.toString(16)}`);
          // On the image itself at lba * 512: the address reached the device byte for byte.
          const file = await Deno.open(path);
          try {
            const got = new Uint8Array(1024);
            await file.seek(lba * 512, Deno.SeekMode.Start);
            let n = 0;
            while (n < got.length) n += (await file.read(got.subarray(n))) ?? got.length;
            assertEquals(got, data, `image at LBA 0x${lba.toString(16)}`);
          } finally {
            file.close();
          }
        }
        disk.close();
      } finally {
        await kernel.shutdown();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`DMA mappings come and go with the requests, over many buffers (${host} host)`, async () => {
    await withDisk(host, async (kernel, disk) => {
      // The driver's own descriptor table stays mapped throughout.
      const mapped = () => kernel.machine.iommu.mappings().length;
      const baseline = mapped();
      // A fresh buffer per read (BlockClient.read allocates one): far more distinct buffers
      // than the instance keeps unmapped entries for; then the same buffer over and over.
      await disk.write(0n, pattern(512 * 4, 3));
      for (let i = 0; i < 150; i++) {
        assertEquals(
          await disk.read(BigInt(i % 4), 1),
          pattern(512 * 4, 3).subarray(
            (i % 4) * 512,
            (i % 4 + 1) * 512,
          ),
        );
      }
      const { capability } = kernel.allocate(512, "reused");
      for (let i = 0; i < 20; i++) await disk.transfer("read", 1n, 1, capability);
      assertEquals(
        kernel.memory(capability, "read").bytes,
        pattern(512 * 4, 3).subarray(512, 1024),
      );
      // Each release goes after the completion in the worker host: wait for the last ones.
      await waitFor(() => mapped() <= baseline, "the last releases");
      assertEquals(mapped(), baseline);
    });
  });

  Deno.test(`arguments of the wrong types are refused before the driver sees them (${host} host)`, async () => {
    await withDisk(host, async (kernel, disk) => {
      const dev = disk.device;
      const { capability: buffer } = kernel.allocate(1024, "buf");
      const maps = kernel.drivers.instance("ide0")!.counters.dmaMaps;
      const cases: [unknown[], string][] = [
        [
          [disk.notify, { blocks: [1n, 2n, 3], addr: buffer.address, buffer }],
          'IBlock.read: argument "data.blocks[2]" must be u64',
        ],
        [
          [disk.notify, { blocks: [1n], addr: buffer.address, buffer, extra: 1 }],
          'IBlock.read: argument "data"',
        ],
        [[disk.notify], 'IBlock.read: missing argument "data"'],
        [
          [disk.notify, { blocks: [1n], addr: buffer.address, buffer }, 7],
          "IBlock.read: unexpected extra argument #3",
        ],
        // Values the ring cannot carry at all get the same answer as in the kernel host.
        [
          [disk.notify, { blocks: [1n], addr: buffer.address, buffer: () => 0 }],
          'IBlock.read: argument "data.buffer"',
        ],
        [[{ address: 1n, password: Symbol("x") }, 5], 'IBlock.read: argument "notify.password"'],
      ];
      for (const [args, message] of cases) {
        await assertRejects(() => kernel.invoke(dev, "IBlock.read", args), TypeError, message);
      }
      // No request got as far as mapping its buffer, and the driver still serves.
      assertEquals(kernel.drivers.instance("ide0")!.counters.dmaMaps, maps);
      assertEquals(kernel.drivers.instance("ide0")!.state, "running");
      assertEquals(await disk.read(0n, 1), new Uint8Array(512));
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
      // The same as 64-bit arrays (the form long lists take): past the end, and a high half set.
      // A run that follows on past the last block names the first block past it.
      for (
        const [bad, first] of [
          [[0n, 1n, 8192n], 8192n],
          [[1n << 32n], 1n << 32n],
          [[8190n, 8191n, 8192n, 8193n], 8192n],
          [[5n, 8191n, (1n << 32n) + 8192n], (1n << 32n) + 8192n],
        ] as const
      ) {
        const list = new BigUint64Array(bad);
        await assertRejects(
          () => kernel.invoke(dev, "IBlock.read", [disk.notify, { ...data([]), blocks: list }]),
          RangeError,
          `block ${first} is past the end`,
        );
      }
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

  Deno.test(`a request whose buffer the kernel will not map never reaches the device (${host} host)`, async () => {
    await withDisk(host, async (kernel, disk) => {
      const model = kernel.drivers.devices().find((d) => d.name === "ide0")!.model as IdeController;
      // Another client's buffer, mapped in the disk's IOMMU domain (as for a request in flight).
      const { capability: victim } = kernel.allocate(8 * 512, "victim");
      const mem = kernel.memory(victim, "write");
      mem.bytes.fill(0x5a);
      kernel.machine.iommu.map("ide0", {
        address: mem.address,
        length: mem.size,
        bytes: mem.bytes,
        writable: true,
        label: "victim",
      });
      await disk.write(0n, pattern(8 * 512, 3));
      const before = model.stats;
      const faults = kernel.machine.iommu.faults.length;
      // A capability for a small buffer of its own, and the victim's address: the map is refused,
      // and the command the driver may already have programmed (DriverDma.mapThen) is dropped.
      const { capability: small } = kernel.allocate(512, "small");
      for (let i = 0; i < 3; i++) {
        await assertRejects(
          () =>
            kernel.invoke(disk.device, "IBlock.read", [disk.notify, {
              blocks: new BigUint64Array([0n, 1n, 2n, 3n]),
              addr: mem.address,
              buffer: small,
            }]),
          RangeError,
          "Buffer too small",
        );
      }
      const after = model.stats;
      assertEquals(after.commands, before.commands);
      assertEquals(after.dmaTransfers, before.dmaTransfers);
      assertEquals(kernel.machine.iommu.faults.length, faults);
      assert(mem.bytes.every((b) => b === 0x5a), "the victim's buffer was written");
      // The driver forgot the dropped commands: the next requests are served.
      assertEquals(await disk.read(0n, 8), pattern(8 * 512, 3));
      assertEquals(model.stats.dmaTransfers, before.dmaTransfers + 1);
    });
  });

  Deno.test(`a refused map among queued requests fails that one only, and no command of it runs (${host} host)`, async () => {
    await withDisk(host, async (kernel, disk) => {
      const model = kernel.drivers.devices().find((d) => d.name === "ide0")!.model as IdeController;
      await disk.write(100n, pattern(12 * 512, 6));
      const { capability: victim } = kernel.allocate(4 * 512, "victim");
      const victimBytes = kernel.memory(victim, "write");
      victimBytes.bytes.fill(0x5a);
      kernel.machine.iommu.map("ide0", {
        address: victimBytes.address,
        length: victimBytes.size,
        bytes: victimBytes.bytes,
        writable: true,
        label: "victim",
      });
      const { capability: small } = kernel.allocate(512, "small");
      const faults = kernel.machine.iommu.faults.length;
      const buffers = Array.from({ length: 12 }, (_, i) => kernel.allocate(512, `q${i}`));
      // Twelve reads of consecutive blocks at once (the busy controller queues and merges them);
      // the sixth names the victim's address with a buffer too small for it: refused.
      const results = await Promise.allSettled(
        buffers.map((b, i) =>
          i === 5
            ? kernel.invoke(disk.device, "IBlock.read", [disk.notify, {
              blocks: [105n, 106n, 107n, 108n],
              addr: victimBytes.address,
              buffer: small,
            }])
            : disk.transfer("read", BigInt(100 + i), 1, b.capability)
        ),
      );
      for (const [i, r] of results.entries()) {
        if (i === 5) {
          assertEquals(r.status, "rejected");
          assert((r as PromiseRejectedResult).reason instanceof RangeError);
        } else assertEquals(r.status, "fulfilled", `request ${i}`);
      }
      for (const [i, b] of buffers.entries()) {
        if (i === 5) continue;
        assertEquals(
          kernel.memory(b.capability, "read").bytes,
          pattern(12 * 512, 6).subarray(i * 512, (i + 1) * 512),
          `buffer ${i}`,
        );
      }
      assert(victimBytes.bytes.every((b) => b === 0x5a), "the victim's buffer was written");
      assertEquals(kernel.machine.iommu.faults.length, faults);
      // Every mapping of the served requests is gone again (the worker host's releases follow
      // the completions).
      const outlived = () => {
        const mapped = new Set(kernel.machine.iommu.mappings("ide0").map((m) => m.mapping.address));
        return [...buffers, { capability: small }].some((b) => mapped.has(b.capability.address));
      };
      await waitFor(() => !outlived(), "the requests' mappings to go");
      assert(model.stats.commands > 0);
    });
  });

  Deno.test(`queued requests that follow each other on the disk share a command (${host} host)`, async () => {
    await withDisk(host, async (kernel, disk) => {
      const model = kernel.drivers.devices().find((d) => d.name === "ide0")!.model as IdeController;
      await disk.write(40n, pattern(16 * 512, 5));
      const buffers = Array.from({ length: 16 }, (_, i) => kernel.allocate(512, `b${i}`));
      const before = model.stats.commands;
      await Promise.all(
        buffers.map((b, i) => disk.transfer("read", BigInt(40 + i), 1, b.capability)),
      );
      const commands = model.stats.commands - before;
      assert(commands < 16, `${commands} commands for 16 requests`);
      const expected = pattern(16 * 512, 5);
      buffers.forEach((b, i) => {
        const bytes = kernel.memory(b.capability, "read").bytes;
        assertEquals(bytes, expected.subarray(i * 512, (i + 1) * 512), `request ${i}`);
      });
    }, 1);
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

Deno.test("a merged command that fails is retried request by request, each with its status", async () => {
  await withDisk("kernel", async (kernel, disk) => {
    const model = kernel.drivers.devices().find((d) => d.name === "ide0")!.model as IdeController;
    await disk.write(10n, pattern(3 * 512, 8));
    const caps = [0, 1, 2].map((i) => kernel.allocate(512, `m${i}`).capability);
    // The first request starts at once; the other two queue behind it and are merged.
    const transfers = caps.map((c, i) => disk.transfer("read", BigInt(10 + i), 1, c));
    // The third buffer's mapping disappears behind the driver's back: the merged command faults.
    kernel.machine.iommu.unmap("ide0", caps[2]!.address);
    const faults = model.stats.dmaFaults;
    const results = await Promise.allSettled(transfers);
    assertEquals(results.map((r) => r.status), ["fulfilled", "fulfilled", "rejected"]);
    assert((results[2] as PromiseRejectedResult).reason instanceof BlockIoError);
    assertEquals(kernel.memory(caps[1]!, "read").bytes, pattern(3 * 512, 8).subarray(512, 1024));
    // Once merged, once alone.
    assertEquals(model.stats.dmaFaults - faults, 2);
  }, 1);
});

for (const host of ["kernel", "worker"] as const) {
  Deno.test(`a completion posted to a forged notify capability is logged, not lost (${host} host)`, async () => {
    await withDisk(host, async (kernel, disk) => {
      const { capability } = kernel.allocate(512, "buffer");
      const forged = { address: disk.notify.address, password: disk.notify.password ^ 1n };
      // The call itself is fine; the driver's send-only completion then fails in the kernel.
      await kernel.invoke(disk.device, "IBlock.read", [forged, {
        blocks: [3n],
        addr: capability.address,
        buffer: capability,
      }]);
      const logged = () =>
        kernel.events.recent({ source: "ide0" }).map((e) => e.message)
          .filter((m) => m.includes("INotify.complete (posted) failed"));
      await waitFor(() => logged().length > 0, "the failed completion's log entry");
      assertEquals(logged().length, 1, "one logged failure");
      // And the driver goes on serving.
      assertEquals((await disk.read(3n, 1)).length, 512);
    });
  });
}
