// Message timelines (kernel/timeline.ts): stamps and records line up with the frames (also
// when the ring is full and sends queue), nothing is recorded while off, garbage written by the
// driver's side makes a wrong report and no fault, and the worker host's driver is timed end to
// end.
import { assert, assertEquals, assertThrows } from "@std/assert";
import { BlockClient } from "../clients/block_client.ts";
import { boot } from "../kernel/boot.ts";
import { createChannel, Endpoint } from "../kernel/ring.ts";
import {
  createTimeline,
  summarizeTimeline,
  Timeline,
  TIMELINE_SLOTS,
  TimelineEnd,
} from "../kernel/timeline.ts";
import {
  criticalPath,
  findStalls,
  formatTimeline,
  STALL_MIN_US,
  timelineFileName,
  timelineJson,
} from "../bench/timeline.ts";
import type { TimelineRecord } from "../kernel/timeline.ts";

// Both ends in this thread: no spinning (it could never see the peer).
const options = { spinMicros: 0 };

async function exchange(
  channel: ReturnType<typeof createChannel>,
  toWorker: unknown[],
  toKernel: unknown[],
): Promise<void> {
  const kernel = new Endpoint(channel, "kernel", options);
  const worker = new Endpoint(channel, "worker", options);
  let atWorker = 0, atKernel = 0;
  let loops: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const check = () => {
      if (atWorker === toWorker.length && atKernel === toKernel.length) resolve();
    };
    loops = [
      worker.start(() => {
        atWorker++;
        check();
      }),
      kernel.start(() => {
        atKernel++;
        check();
      }),
    ];
    for (const m of toWorker) kernel.send(m);
    for (const m of toKernel) worker.send(m);
    check();
  });
  kernel.stop();
  worker.stop();
  await Promise.all(loops);
}

Deno.test("a timeline records every message by kind and direction, and only while on", async () => {
  const channel = createChannel(4096, { timeline: createTimeline(["call", "result"]) });
  const timeline = new Timeline(channel.timeline!);
  // Off: nothing recorded.
  await exchange(channel, [{ t: "call" }], [{ t: "result" }]);
  timeline.start();
  assertEquals(timeline.stop().toWorker.length, 0);

  timeline.start();
  await exchange(
    channel,
    [{ t: "call" }, { t: "call" }, { t: "odd" }, 7],
    [{ t: "result" }, { t: "call" }],
  );
  const records = timeline.stop();
  assertEquals(records.toWorker.map((r) => r.kind), ["call", "call", "other", "other"]);
  assertEquals(records.toKernel.map((r) => r.kind), ["result", "call"]);
  // One thread, one clock: every latency is real time, and the offset estimate small.
  for (const r of [...records.toWorker, ...records.toKernel]) {
    assert(r.us >= -1 && r.us < 5_000_000, `latency ${r.us}`);
  }
  assertEquals(records.dropped, { toWorker: 0, toKernel: 0 });
  const rows = summarizeTimeline(records, 2);
  assertEquals(rows.map((r) => [r.direction, r.kind, r.count, r.perRequest]), [
    ["to driver", "call", 2, 1],
    ["to driver", "other", 2, 1],
    ["to kernel", "result", 1, 0.5],
    ["to kernel", "call", 1, 0.5],
  ]);
});

Deno.test("the critical path numbers repeated events, tells crossings from work, and takes the usual order", () => {
  const rec = (kind: string, at: number, us: number) => ({ kind, at, us });
  // Two requests of call, two posted writes, irq; a third in another order (skipped), and the
  // call that ends the last.
  const toWorker = [
    rec("call", 1, 1),
    rec("irq", 8, 1),
    rec("call", 21, 1),
    rec("irq", 28, 1),
    rec("call", 41, 1),
    rec("irq", 43, 1),
    rec("call", 61, 1),
  ];
  const toKernel = [
    rec("mmio_wb", 4, 1),
    rec("mmio_wb", 6, 1),
    rec("mmio_wb", 24, 1),
    rec("mmio_wb", 26, 1),
    rec("mmio_wb", 46, 1), // after the irq this time
    rec("mmio_wb", 48, 1),
  ];
  const path = criticalPath({
    toWorker,
    toKernel,
    dropped: { toWorker: 0, toKernel: 0 },
    clockOffsetUs: 0,
    rawMinUs: { toWorker: 1, toKernel: 1 },
  })!;
  assertEquals([path.requests, path.matching, path.cycleP50], [3, 2, 20]);
  assertEquals(path.steps.map((s) => [s.event, s.where, s.p50]), [
    ["driver gets call", "crossing", 1],
    ["driver sends mmio_wb", "driver", 2],
    ["kernel gets mmio_wb", "crossing", 1],
    ["driver sends mmio_wb #2", "both", 1],
    ["kernel gets mmio_wb #2", "crossing", 1],
    ["kernel sends irq", "kernel", 1],
    ["driver gets irq", "crossing", 1],
    ["kernel sends next call", "both", 12],
  ]);
  // Fewer than two whole requests: nothing to say.
  assertEquals(
    criticalPath({
      toWorker: [rec("call", 1, 1), rec("call", 5, 1)],
      toKernel: [],
      dropped: { toWorker: 0, toKernel: 0 },
      clockOffsetUs: 0,
      rawMinUs: { toWorker: 1, toKernel: 1 },
    }),
    undefined,
  );
});

/** Depth-1 requests as records: per request a call, `work` µs of the driver, a result, then `gap` µs of the kernel. */
function requestsOf(
  n: number,
  step: (i: number) => { callUs?: number; work?: number; resultUs?: number; gap?: number },
): { toWorker: TimelineRecord[]; toKernel: TimelineRecord[] } {
  const toWorker: TimelineRecord[] = [], toKernel: TimelineRecord[] = [];
  let t = 0;
  for (let i = 0; i < n; i++) {
    const { callUs = 1, work = 2, resultUs = 1, gap = 5 } = step(i);
    toWorker.push({ kind: "call", us: callUs, at: t += callUs });
    t += work;
    toKernel.push({ kind: "result", us: resultUs, at: t += resultUs });
    t += gap;
  }
  return { toWorker, toKernel };
}

const noDrops = {
  dropped: { toWorker: 0, toKernel: 0 },
  clockOffsetUs: 0,
  rawMinUs: { toWorker: 1, toKernel: 1 },
};

Deno.test("stalls are the long quiet moments, put down to the thread a message waited for", () => {
  const stalls = findStalls({
    ...noDrops,
    ...requestsOf(1000, (i) =>
      i === 100
        ? { callUs: 800 } // the driver did not read the call
        : i === 200
        ? { resultUs: 3000 } // the kernel did not read the result
        : i === 300
        ? { work: 400 } // the driver worked (or stopped) with nothing in flight
        : i === 400
        ? { gap: 90 } // shorter than the threshold: not a stall
        : {}),
  })!;
  assertEquals(stalls.thresholdUs, STALL_MIN_US, "3 x the p99 gap (5 µs) is less");
  assertEquals(stalls.count, 3);
  assertEquals(stalls.waiting.driver, { count: 1, us: 800 });
  assertEquals(stalls.waiting.kernel, { count: 1, us: 3000 });
  assertEquals(stalls.waiting.none, { count: 1, us: 400 });
  assertEquals(stalls.waiting.both, { count: 0, us: 0 });
  assertEquals([stalls.totalUs, stalls.longestUs], [4200, 3000]);
  // From the first call's publish to the last result's delivery (the last gap is not in it).
  assertEquals(stalls.spanUs, 9 * 1000 - 5 + (800 - 1) + (3000 - 1) + (400 - 2) + (90 - 5));
});

Deno.test("a run whose every request has a long quiet step counts only what is far longer", () => {
  // Every request's kernel step takes 150 µs (a large copy, say); one request's call waits 2 ms.
  const stalls = findStalls({
    ...noDrops,
    ...requestsOf(500, (i) => i === 250 ? { gap: 150, callUs: 2000 } : { gap: 150 }),
  })!;
  assertEquals(stalls.thresholdUs, 450);
  assertEquals([stalls.count, stalls.waiting.driver.us], [1, 2000]);
  // Nothing recorded, or one message: nothing to say.
  assertEquals(findStalls({ ...noDrops, toWorker: [], toKernel: [] }), undefined);
  const one = findStalls({ ...noDrops, toWorker: [{ kind: "call", us: 1, at: 1 }], toKernel: [] });
  assertEquals([one?.count, one?.spanUs], [0, 1]);
});

Deno.test("a timeline stays in step with the frames when a full ring makes sends queue", async () => {
  const channel = createChannel(4096, { timeline: createTimeline(["big", "small"]) });
  const timeline = new Timeline(channel.timeline!);
  timeline.start();
  // 4 KiB of ring, 40 messages of 700 bytes: most wait in the backlog, then go in bunches.
  const big = Array.from(
    { length: 40 },
    (_, i) => ({ t: i % 2 === 0 ? "big" : "small", pad: "x".repeat(700) }),
  );
  await exchange(channel, big, []);
  const records = timeline.stop();
  assertEquals(records.toWorker.map((r) => r.kind), big.map((m) => m.t));
  for (const r of records.toWorker) assert(r.us >= 0, `latency ${r.us}`);
});

Deno.test("garbage in a timeline's buffer makes a wrong report, not a fault", () => {
  const t = createTimeline(["call"]);
  const timeline = new Timeline(t);
  timeline.start();
  const end = new TimelineEnd(t, "worker");
  end.delivered(0, { t: "call" }); // no stamp for that frame: not recorded
  // What a hostile driver could write: counts past the slots, kinds past the list, NaN times.
  const words = new Int32Array(t.buffer, 0, 16);
  words[1] = 0x7fff_ffff;
  words[2] = -5;
  new Uint8Array(t.buffer).fill(0xff, t.buffer.byteLength - 2 * TIMELINE_SLOTS);
  const times = new Float64Array(t.buffer, 128 + 2 * 8 * TIMELINE_SLOTS, TIMELINE_SLOTS);
  times.fill(NaN, 0, 10);
  times[10] = 1e300;
  // Delivery times follow the latencies: NaN ones are skipped as well.
  const delivered = new Float64Array(t.buffer, 128 + 4 * 8 * TIMELINE_SLOTS, TIMELINE_SLOTS);
  delivered.fill(NaN, 20, 25);
  const records = timeline.stop();
  // At most the slots are read; kinds past the list read as "other"; NaN times are skipped.
  assertEquals(records.toWorker.length, TIMELINE_SLOTS - 15);
  assert(records.toWorker.every((r) => r.kind === "other"));
  assertEquals(records.dropped.toWorker, 0x7fff_ffff - TIMELINE_SLOTS);
  assertEquals(records.toKernel.length, 0);
  assertEquals(records.dropped.toKernel, 0);
  assertEquals(records.clockOffsetUs, 0); // nothing came the other way
  assertThrows(() => new Timeline({ buffer: new SharedArrayBuffer(8), kinds: [] }), TypeError);
  assertThrows(() => createTimeline([1 as unknown as string]), TypeError);
});

Deno.test("the worker host's driver is timed end to end; other hosts and boots say why not", async () => {
  const kernel = await boot({
    names: ":memory:",
    machine: { ide: { memory: true } },
    timeline: true,
  });
  try {
    const disk = await BlockClient.open(kernel, kernel.mint(await kernel.names.lookup("dev/ide0")));
    const buffer = kernel.allocate(4096, "timed").capability;
    const timeline = kernel.drivers.timeline("ide0");
    timeline.start();
    const requests = 50;
    for (let i = 0; i < requests; i++) await disk.transfer("read", BigInt(i), 8, buffer);
    const records = timeline.stop();
    const kinds = (list: readonly { kind: string }[]) => {
      const m = new Map<string, number>();
      for (const r of list) m.set(r.kind, (m.get(r.kind) ?? 0) + 1);
      return m;
    };
    const toDriver = kinds(records.toWorker), toKernel = kinds(records.toKernel);
    assertEquals(toDriver.get("call"), requests);
    assertEquals(toDriver.get("irq"), requests);
    assertEquals(toKernel.get("result"), requests);
    assert((toKernel.get("mmio_wb") ?? 0) >= requests, JSON.stringify([...toKernel]));
    const report = formatTimeline({
      options: { size: 4096, depth: 1, ms: 0, primeMs: 0 },
      requests,
      wallMs: 1,
      latencies: [1, 2, 3],
      records,
    });
    assert(/to driver\s+call\s+1\.00/.test(report), report);
    // Each direction's deliveries are stamped by one thread, in order, after recording began.
    for (const list of [records.toWorker, records.toKernel]) {
      for (let i = 1; i < list.length; i++) assert(list[i]!.at >= list[i - 1]!.at);
      assert(list.every((r) => r.at - r.us > -50), "published before recording began");
    }
    // The request's path: the call crosses first, the device's transfer ends in the kernel's
    // irq, and the kernel's next call closes the cycle; the steps add up to about a cycle.
    const path = criticalPath(records)!;
    assertEquals(path.requests, requests - 1);
    assert(path.matching > 0 && path.matching <= path.requests);
    const events = path.steps.map((s) => s.event);
    assertEquals([events[0], path.steps[0]!.where], ["driver gets call", "crossing"]);
    assertEquals(events.at(-1), "kernel sends next call");
    assert(events.includes("kernel sends irq") && events.includes("driver gets irq"), `${events}`);
    const sum = path.steps.reduce((a, s) => a + s.p50, 0);
    assert(sum > 0.3 * path.cycleP50 && sum < 3 * path.cycleP50, `${sum} vs ${path.cycleP50}`);
    assert(report.includes("One request, message by message"), report);
    assert(report.includes("Stalls (nothing crossed for more than"), report);
    // The same as JSON, for plots: the messages per kind and the path.
    const json = JSON.parse(JSON.stringify(timelineJson({
      options: { size: 4096, depth: 1, ms: 0, primeMs: 0 },
      requests,
      wallMs: 1,
      latencies: [1, 2, 3],
      records,
    })));
    assertEquals([json.requests, json.options.disk, json.requestUs.p50], [requests, "file", 2]);
    assertEquals(
      json.messages.find((m: { kind: string }) => m.kind === "call").perRequest,
      1,
    );
    assertEquals(json.criticalPath.steps.length, path.steps.length);
    assert(json.stalls.thresholdUs >= STALL_MIN_US && json.stalls.spanUs > 0, `${json.stalls}`);
    assertEquals(
      timelineFileName({ size: 4096, depth: 8, ms: 0, primeMs: 0 }),
      "timeline-4096-d8.json",
    );
    disk.close();
  } finally {
    await kernel.shutdown();
  }
  for (
    const [options, message] of [
      [{ host: "kernel" as const }, "runs in the kernel host"],
      [{}, "was not booted with timeline"],
    ] as const
  ) {
    const k = await boot({ names: ":memory:", machine: { ide: { memory: true } }, ...options });
    try {
      assertThrows(() => k.drivers.timeline("ide0"), TypeError, message);
      assertThrows(() => k.drivers.timeline("nothing0"), TypeError, "no driver serves it");
    } finally {
      await k.shutdown();
    }
  }
});
