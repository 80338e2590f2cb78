/**
 * Hot-plug benchmark: plug-to-ready time (plug until `dev/usb<port>` answers
 * `IBlock.get_block_size`) for a USB disk whose class driver runs in a worker and in the kernel
 * host, then N plug/unplug cycles with the process's memory before and after.
 *
 * Run: `deno run --allow-read=. --allow-write=./.mungi --allow-sys=osUptime bench/hotplug_bench.ts [--cycles 1000] [--samples 30]`
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { boot } from "../kernel/boot.ts";
import type { HostKind } from "../kernel/hosts/driver_host.ts";
import { WorkerHost } from "../kernel/hosts/worker_host.ts";

const flags = parseArgs(Deno.args, {
  string: ["cycles", "samples"],
  default: { cycles: "1000", samples: "30" },
});
const cycles = Number(flags.cycles);
const samples = Number(flags.samples);
if (!Number.isInteger(cycles) || cycles < 1 || !Number.isInteger(samples) || samples < 1) {
  console.error("usage: hotplug_bench.ts [--cycles N] [--samples N]  (whole numbers >= 1)");
  Deno.exit(2);
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function plugToReady(host: HostKind): Promise<number[]> {
  const kernel = await boot({
    names: ":memory:",
    machine: { ide: false, usb: true },
    hostFor: { usb1: host },
  });
  const times: number[] = [];
  try {
    for (let i = 0; i < samples + 2; i++) {
      const t0 = performance.now();
      const { address } = await kernel.plug("usb", 1, "storage", { size: 1 << 20, memory: true });
      await kernel.invoke(kernel.mint(address), "IBlock.get_block_size");
      const t = performance.now() - t0;
      if (i >= 2) times.push(t); // the first plugs import the driver modules
      await kernel.unplug("usb", 1);
    }
  } finally {
    await kernel.shutdown();
  }
  return times.sort((a, b) => a - b);
}

const mib = (n: number) => (n / 1048576).toFixed(1);

console.log(`plug-to-ready, USB disk, ${samples} samples after 2 warm-up plugs (ms):`);
console.log("host     median   p95     min     max");
for (const host of ["worker", "kernel"] as const) {
  const t = await plugToReady(host);
  console.log(
    `${host.padEnd(8)} ${quantile(t, 0.5).toFixed(1).padStart(6)}  ${
      quantile(t, 0.95).toFixed(1).padStart(6)
    }  ${t[0]!.toFixed(1).padStart(6)}  ${t.at(-1)!.toFixed(1).padStart(6)}`,
  );
}

const kernel = await boot({ names: ":memory:", machine: { ide: false, usb: true } });
try {
  // Warm up every port and both models once, so the controller's reused memory is in place.
  for (let p = 1; p <= 4; p++) {
    await kernel.plug("usb", p, p % 2 ? "storage" : "keyboard", { size: 64 * 1024, memory: true });
    await kernel.unplug("usb", p);
  }
  const before = Deno.memoryUsage();
  const components = kernel.components().length;
  const t0 = performance.now();
  for (let i = 0; i < cycles; i++) {
    const port = 1 + (i % 4);
    await kernel.plug("usb", port, i % 2 ? "keyboard" : "storage", {
      size: 64 * 1024,
      memory: true,
    });
    await kernel.unplug("usb", port);
    if ((i + 1) % 100 === 0) {
      const m = Deno.memoryUsage();
      console.log(`  ${i + 1} cycles: rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)} MiB`);
    }
  }
  const elapsed = performance.now() - t0;
  await kernel.drivers.settled();
  const after = Deno.memoryUsage();
  console.log(
    `${cycles} plug/unplug cycles (class drivers in workers) in ${(elapsed / 1000).toFixed(1)} s`,
  );
  console.log(`memory before: rss ${mib(before.rss)} MiB, heap ${mib(before.heapUsed)} MiB`);
  console.log(`memory after:  rss ${mib(after.rss)} MiB, heap ${mib(after.heapUsed)} MiB`);
  console.log(
    `components ${components} -> ${kernel.components().length}, live workers ${WorkerHost.live}, names ${
      (await kernel.names.list()).length
    }`,
  );
} finally {
  await kernel.shutdown();
}
