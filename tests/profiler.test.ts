// CPU profiles of the kernel's thread and of a driver's thread (kernel/profiler.ts), and their
// summary; bench --cpu-profile's report.
import { assert, assertAlmostEquals, assertEquals, assertMatch, assertRejects } from "@std/assert";
import { BlockClient } from "../clients/block_client.ts";
import { boot } from "../kernel/boot.ts";
import {
  type CpuProfile,
  type CpuProfileNode,
  summarizeAllocations,
  summarizeProfile,
  ThreadProfiler,
} from "../kernel/profiler.ts";
import { formatCpuReport } from "../bench/cpu_profile.ts";
import { createChannel, Endpoint, waitClock } from "../kernel/ring.ts";

const RING = "file:///p/kernel/ring.ts";

function node(id: number, functionName: string, url = "", children: number[] = []): CpuProfileNode {
  return { id, callFrame: { functionName, url, lineNumber: 9, columnNumber: 0 }, children };
}

/** root -> a -> b -> a (recursion), root -> spinLoads (waiting), root -> (garbage collector). */
const PROFILE: CpuProfile = {
  nodes: [
    node(1, "(root)", "", [2, 5, 6]),
    node(2, "a", "file:///p/x.ts", [3]),
    node(3, "b", "file:///p/x.ts", [4]),
    node(4, "a", "file:///p/x.ts"),
    node(5, "spinLoads", RING),
    node(6, "(garbage collector)"),
  ],
  startTime: 1000,
  endTime: 11000,
  // 1 ms each: a, b, a (under b), a, spin, spin, spin, spin, gc, unknown node 99 (skipped).
  samples: [2, 3, 4, 2, 5, 5, 5, 5, 6, 99],
  timeDeltas: [0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
};

Deno.test("a profile's summary: self and inclusive time per function, recursion counted once", () => {
  const s = summarizeProfile(PROFILE, "file:///p/");
  assertAlmostEquals(s.ms, 9, 1e-9);
  const self = new Map(s.bySelf.map((r) => [r.name, r.selfMs]));
  const total = new Map(s.byTotal.map((r) => [r.name, r.totalMs]));
  assertEquals(self.get("a x.ts:10"), 3);
  assertEquals(self.get("b x.ts:10"), 1);
  // a's inclusive time is the 4 samples under it, the recursive one not twice.
  assertEquals(total.get("a x.ts:10"), 4);
  assertEquals(total.get("b x.ts:10"), 2);
  assertEquals(s.bySelf[0]!.name, "spinLoads kernel/ring.ts:10");
  assert(s.bySelf[0]!.waiting);
  assertAlmostEquals(s.busyShare, 5 / 9, 1e-9);
  assertAlmostEquals(s.gcShare, 1 / 9, 1e-9);
  // Sorted, largest first.
  for (let i = 1; i < s.bySelf.length; i++) assert(s.bySelf[i - 1]!.selfMs >= s.bySelf[i]!.selfMs);
});

Deno.test("an empty profile summarizes to nothing, not to NaN", () => {
  const s = summarizeProfile({
    nodes: [node(1, "(root)")],
    startTime: 0,
    endTime: 0,
    samples: [],
    timeDeltas: [],
  });
  assertEquals([s.ms, s.busyShare, s.gcShare, s.bySelf.length], [0, 0, 0, 0]);
});

Deno.test("the profiler refuses a bad interval and a second stop", async () => {
  for (const bad of [0, 5, 1.5, 200_000, NaN]) {
    await assertRejects(() => ThreadProfiler.start(bad), RangeError, "interval");
  }
  for (const bad of [0, 63, 100.5, 2 << 20, NaN]) {
    await assertRejects(
      () => ThreadProfiler.start(50, { allocationBytes: bad }),
      RangeError,
      "allocations",
    );
  }
  const profiler = await ThreadProfiler.start(50);
  const result = await profiler.stop();
  assert(Array.isArray(result.profile.samples));
  assertEquals(result.allocations, undefined); // not asked for
  await assertRejects(() => profiler.stop(), TypeError, "stopped already");
});

Deno.test("allocations are sampled with the garbage: a loop that drops what it makes shows", async () => {
  const profiler = await ThreadProfiler.start(1000, { allocationBytes: 256 });
  // Each array escapes into `last` (so no compiler can leave it out) and is dropped by the next.
  let last: number[] = [];
  const makeGarbage = () => {
    for (let i = 0; i < 200_000; i++) last = [i, i + 1, i + 2];
  };
  makeGarbage();
  const { allocations } = await profiler.stop();
  assertEquals(last, [199_999, 200_000, 200_001]);
  const summary = summarizeAllocations(allocations!);
  const row = summary.bySelf.find((r) => r.name.startsWith("makeGarbage"));
  // 200k arrays of 3 small integers, at least 16 bytes each, and all but one collected by now.
  assert(row && row.bytes > 200_000 * 16, JSON.stringify(summary.bySelf.slice(0, 5)));
  assert(summary.bytes >= row!.bytes);
});

Deno.test("the kernel's thread and a worker-hosted driver's thread profile themselves", async () => {
  const kernel = await boot({
    names: ":memory:",
    machine: { ide: { memory: true, size: 4 << 20 }, usb: false },
    host: "worker",
    profileDrivers: true,
  });
  try {
    const disk = await BlockClient.open(kernel, kernel.mint(await kernel.names.lookup("dev/ide0")));
    const { capability } = kernel.allocate(4096, "profiled");
    const main = await ThreadProfiler.start(50, { allocationBytes: 1024 });
    const stopDriver = await kernel.drivers.profile("ide0", 50, { allocationBytes: 1024 });
    const end = performance.now() + 300;
    let n = 0;
    for (let lba = 0n; performance.now() < end; lba = (lba + 8n) % 8000n, n++) {
      await disk.transfer("read", lba, 8, capability);
    }
    const driverProfile = await stopDriver();
    assert(
      driverProfile.waitedMs >= 0 && driverProfile.waitedMs < 1000,
      `${driverProfile.waitedMs}`,
    );
    const driver = summarizeProfile(driverProfile.profile);
    const mainResult = await main.stop();
    const kernelSide = summarizeProfile(mainResult.profile);
    // Each thread's allocations came back with its profile, each side's own code in them.
    const driverAlloc = summarizeAllocations(driverProfile.allocations!);
    const kernelAlloc = summarizeAllocations(mainResult.allocations!);
    assert(driverAlloc.bytes > 0 && kernelAlloc.bytes > 0);
    assert(!driverAlloc.bySelf.some((r) => /clients\/block_client\.ts/.test(r.name)));
    assert(
      kernelAlloc.bySelf.some((r) => /clients\/block_client\.ts/.test(r.name)),
      kernelAlloc.bySelf.slice(0, 20).map((r) => r.name).join("\n"),
    );
    assert(n > 10, `only ${n} reads`);
    // The driver's own functions ran on the driver's thread, the client's on the kernel's.
    assert(
      driver.byTotal.some((r) => /drivers\/ide\/driver\.ts/.test(r.name)),
      driver.byTotal.slice(0, 30).map((r) => r.name).join("\n"),
    );
    assert(!driver.byTotal.some((r) => /clients\/block_client\.ts/.test(r.name)));
    assert(kernelSide.byTotal.some((r) => /clients\/block_client\.ts/.test(r.name)));
    for (const s of [driver, kernelSide]) {
      assert(s.ms > 100, `${s.ms} ms sampled`);
      assert(s.busyShare > 0 && s.busyShare <= 1);
    }
    // A second stop, and a profile of a device no driver serves, are refused.
    await assertRejects(() => stopDriver(), Error, "none is running");
    await assertRejects(() => kernel.drivers.profile("ide9", 50), TypeError, "no driver serves");
    disk.close();
  } finally {
    await kernel.shutdown();
  }
});

Deno.test("a driver in the kernel host has no thread of its own to profile", async () => {
  const kernel = await boot({
    names: ":memory:",
    machine: { ide: { memory: true, size: 1 << 20 }, usb: false },
    host: "kernel",
  });
  try {
    await assertRejects(() => kernel.drivers.profile("ide0", 50), TypeError, "kernel's own thread");
  } finally {
    await kernel.shutdown();
  }
});

Deno.test("the bench's CPU report lists each thread's busy share and costliest functions", () => {
  const report = formatCpuReport(
    [{
      host: "worker",
      thread: "driver",
      file: "out/cpu.cpuprofile",
      requests: 1000,
      ms: 10,
      profile: PROFILE,
      waitedMs: 4,
    }],
    { size: 512, depth: 1, top: 3, intervalUs: 100 },
    "file:///p/",
  );
  assertMatch(report, /worker host, driver thread: 1000 requests in 10 ms \(100\.0k\/s/);
  assertMatch(report, /working 60\.0 % \(measured.*sampled: busy 55\.6 %, GC 11\.1 %/);
  // spinLoads (waiting, marked ~): 4 ms over 1000 requests = 4 µs each, 44.4 % of the thread.
  assertMatch(report, /~ spinLoads kernel\/ring\.ts:10 +4\.000 +44\.4 %/);
  assertEquals(report.split("\n").filter((l) => / x\.ts:10 /.test(l)).length, 2);
  assert(!report.includes("allocated"));
});

Deno.test("the bench's CPU report sets the profiled rate against the same rig's unprofiled one", () => {
  const report = (unprofiled: { requests: number; ms: number }) =>
    formatCpuReport(
      [{
        host: "worker",
        thread: "kernel",
        file: "out/cpu.cpuprofile",
        requests: 800,
        ms: 10,
        profile: PROFILE,
        waitedMs: 4,
        unprofiled,
      }],
      { size: 512, depth: 8, top: 3, intervalUs: 1000 },
      "file:///p/",
    );
  // 80k/s profiled against 100k/s unprofiled: a fifth slower.
  assertMatch(
    report({ requests: 1000, ms: 10 }),
    /unprofiled just before: 100\.0k\/s \(10\.00 µs each\): the profile slowed the reads by 20\.0 %/,
  );
  // Faster with the profile: the noise, said as such, not a negative slowdown.
  assertMatch(
    report({ requests: 400, ms: 10 }),
    /the profile ran 100\.0 % faster \(the machine's noise\)/,
  );
  // No unprofiled read (or none timed): no such line.
  assert(!report({ requests: 10, ms: 0 }).includes("unprofiled just before"));
});

Deno.test("the bench's CPU report adds each thread's allocations per request when sampled", () => {
  const frame = (functionName: string, url = "") => ({
    functionName,
    url,
    lineNumber: 9,
    columnNumber: 0,
  });
  const report = formatCpuReport(
    [{
      host: "worker",
      thread: "kernel",
      file: "out/cpu.cpuprofile",
      requests: 1000,
      ms: 500,
      profile: PROFILE,
      waitedMs: 4,
      allocationFile: "out/alloc.heapprofile",
      allocations: {
        head: {
          callFrame: frame("(root)"),
          selfSize: 0,
          id: 1,
          children: [
            {
              callFrame: frame("decode", "file:///p/x.ts"),
              selfSize: 300_000,
              id: 2,
              children: [],
            },
            { callFrame: frame("poll", "file:///p/y.ts"), selfSize: 100_000, id: 3, children: [] },
          ],
        },
      },
    }],
    { size: 512, depth: 1, top: 3, intervalUs: 100, allocationBytes: 4096 },
    "file:///p/",
  );
  // 400 KB over 1000 requests in 0.5 s.
  assertMatch(report, /allocated 400 B a request, 800\.0 KB a second, garbage included/);
  assertMatch(report, /out\/alloc\.heapprofile/);
  assertMatch(report, /decode x\.ts:10 +300 +75\.0 %/);
  assertMatch(report, /poll y\.ts:10 +100 +25\.0 %/);
  assertMatch(report, /sampled every 4096 bytes/);
});

Deno.test("the wait clock counts the time a receive loop waits, and nothing once stopped", async () => {
  const channel = createChannel(4096);
  const kernel = new Endpoint(channel, "kernel", { spinMicros: 50 });
  const worker = new Endpoint(channel, "worker");
  const got: unknown[] = [];
  const arrived = Promise.withResolvers<void>();
  const loop = kernel.start((m) => {
    got.push(m);
    arrived.resolve();
  });
  waitClock.start();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 40));
  worker.send("late");
  await arrived.promise;
  const elapsed = performance.now() - t0;
  const waited = waitClock.stop();
  assertEquals(got, ["late"]);
  assert(waited >= 25 && waited <= elapsed + 1, `waited ${waited} of ${elapsed} ms`);
  assertEquals(waitClock.stop(), waited);
  kernel.stop();
  await loop;
});

Deno.test("the wait clock counts a thread's time once, and the work its loops let run as work", async () => {
  const a = createChannel(4096), b = createChannel(4096);
  const idle = new Endpoint(a, "kernel", { spinMicros: 50 });
  const busy = new Endpoint(b, "kernel", { spinMicros: 50 });
  const peer = new Endpoint(b, "worker");
  let done: (() => void) | undefined;
  const spin = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };
  const loops = [
    idle.start(() => {}),
    // What a message sets off runs in the loop's microtask turns (as a client's next call does).
    busy.start(() => queueMicrotask(() => queueMicrotask(() => (spin(3), done?.())))),
  ];
  await new Promise((r) => setTimeout(r, 5));
  waitClock.start();
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) {
    const handled = new Promise<void>((resolve) => done = resolve);
    peer.send(i);
    await handled;
    // Both loops asleep at once: counted once.
    await new Promise((r) => setTimeout(r, 8));
  }
  const elapsed = performance.now() - t0;
  const waited = waitClock.stop();
  // 15 ms of the run was work; the rest, about 40 ms, waiting.
  assert(waited <= elapsed - 15 + 1, `waited ${waited} of ${elapsed} ms, 15 of which worked`);
  assert(waited >= 0.5 * (elapsed - 15), `waited ${waited} of ${elapsed} ms`);
  idle.stop();
  busy.stop();
  await Promise.all(loops);
});
