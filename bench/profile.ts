/**
 * Where the time of one request goes (`deno task bench --profile`). For each host it boots a
 * kernel, reads at queue depth 1 with probes on the kernel side of the per-request path, and
 * prints the median time between consecutive probe points:
 *
 * - `invoke <method>`: `Kernel.invoke` entered (capability check, argument validation follow);
 * - `out <t>` / `in <t>`: a message put on / taken off the kernel's end of the ring (worker host
 *   only: the time between an `out` and the next `in` is the crossing plus the worker's work);
 * - `reg write`, `map`, `unmap`, `irq ack`: the driver's calls into the kernel's driver services;
 * - `dma start` / `dma end`: the device model moving the bytes from the image file;
 * - `irq raise`: the device model asserting its interrupt line;
 * - `done`: the client's `transfer()` promise resolved.
 *
 * The probes wrap prototype methods of the kernel, the ring endpoint and the device model for the
 * duration of the profile and restore them afterwards; the worker's own side cannot be probed
 * without changing its code, so its work shows as the gaps between an `out` and the next `in`.
 * Then micro-benchmarks of the costs that grow with the request size: building the block list,
 * validating it against the IDL, and encoding and decoding the call message for the ring.
 *
 * @module
 */

import { BlockClient, blockList } from "../clients/block_client.ts";
import { validateArgs } from "../idl/validate_args.ts";
import { schema as blockSchema } from "../interfaces/block.ts";
import { boot } from "../kernel/boot.ts";
import { DriverServices } from "../kernel/driver_services.ts";
import { Kernel } from "../kernel/kernel.ts";
import { Endpoint } from "../kernel/ring.ts";
import { LayoutTable } from "../kernel/hosts/layout.ts";
import { SELF } from "../kernel/hosts/protocol.ts";
import { wireCodec } from "../kernel/hosts/wire.ts";
import { DiskImage } from "../machine/disk_image.ts";
import { InterruptBus } from "../machine/interrupt_bus.ts";
import { formatSize } from "./results.ts";
import { summarize } from "./stats.ts";
import { type DiskBacking, type Host, ideDisk } from "./study.ts";
import { tableLines } from "./table.ts";

/** Probe points recorded in order: parallel arrays of times (ms) and labels. */
export class Trace {
  readonly times: number[] = [];
  readonly labels: string[] = [];
  on = false;

  mark(label: string): void {
    if (!this.on) return;
    this.times.push(performance.now());
    this.labels.push(label);
  }

  clear(): void {
    this.times.length = 0;
    this.labels.length = 0;
  }
}

/** One step between two consecutive probe points, over all traced requests. */
export interface Stage {
  readonly from: string;
  readonly to: string;
  /** Times the step occurs per request (median). */
  readonly perRequest: number;
  /** Median time per request spent in this step (all its occurrences), µs. */
  readonly medianUs: number;
  /** Mean time per request, µs. */
  readonly meanUs: number;
  /** Mean position of its first occurrence in a request's trace (for ordering). */
  readonly position: number;
}

/** The stages of traced requests, and the whole request cycle. */
export interface StageProfile {
  readonly requests: number;
  /** Median time from one request's start to the next one's, µs. */
  readonly cycleUs: number;
  readonly stages: readonly Stage[];
}

/**
 * Splits a trace at each `start` label into request cycles and sums, per cycle, the time of each
 * (from, to) step between consecutive probe points; steps are ordered as they first occur.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { stagesOf } from "./profile.ts";
 * const p = stagesOf([0, 0.001, 0.003, 0.004, 0.005, 0.007], ["request", "a", "done", "request", "a", "done"], "request");
 * assertEquals(p.stages.map((s) => [s.from, s.to, s.medianUs]), [["request", "a", 1], ["a", "done", 2]]);
 * ```
 */
export function stagesOf(
  times: readonly number[],
  labels: readonly string[],
  start: string,
): StageProfile {
  const cycles: { t0: number; t1: number; steps: Map<string, { us: number; n: number }> }[] = [];
  const positions = new Map<string, number[]>();
  let current: (typeof cycles)[number] | undefined;
  let index = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === start) {
      if (current) current.t1 = times[i]!;
      current = { t0: times[i]!, t1: NaN, steps: new Map() };
      cycles.push(current);
      index = 0;
      continue;
    }
    if (!current || i === 0) continue;
    const key = `${labels[i - 1]}\u0000${labels[i]}`;
    const step = current.steps.get(key) ?? { us: 0, n: 0 };
    if (step.n === 0) (positions.get(key) ?? positions.set(key, []).get(key)!).push(index);
    step.us += (times[i]! - times[i - 1]!) * 1000;
    step.n++;
    current.steps.set(key, step);
    index++;
  }
  const complete = cycles.filter((c) => Number.isFinite(c.t1));
  if (complete.length === 0) return { requests: 0, cycleUs: 0, stages: [] };
  const stages: Stage[] = [];
  for (const [key, at] of positions) {
    const [from, to] = key.split("\u0000") as [string, string];
    const us = complete.map((c) => c.steps.get(key)?.us ?? 0);
    const n = complete.map((c) => c.steps.get(key)?.n ?? 0);
    stages.push({
      from,
      to,
      perRequest: summarize(n).median,
      medianUs: summarize(us).median,
      meanUs: summarize(us).mean,
      position: at.reduce((a, b) => a + b, 0) / at.length,
    });
  }
  stages.sort((a, b) => a.position - b.position);
  return {
    requests: complete.length,
    cycleUs: summarize(complete.map((c) => (c.t1 - c.t0) * 1000)).median,
    stages,
  };
}

type Method = (...args: never[]) => unknown;

/** Replaces `target[name]` by `wrap(original)`; returns the function that restores it. */
function patch<T extends object>(
  target: T,
  name: string,
  wrap: (original: Method) => Method,
): () => void {
  const record = target as Record<string, unknown>;
  const original = record[name] as Method;
  if (typeof original !== "function") throw new TypeError(`Cannot probe ${name}: not a method`);
  record[name] = wrap(original);
  return () => {
    record[name] = original;
  };
}

function messageLabel(m: unknown): string {
  const msg = m as { t?: string; op?: string; m?: string };
  return msg.t === "req" ? `req ${msg.op}` : msg.t === "call" ? `call ${msg.m}` : `${msg.t}`;
}

/** Installs the probes; returns the function that removes them. */
function probe(trace: Trace): () => void {
  const restores = [
    patch(Kernel.prototype, "invoke", (original) =>
      function (this: unknown, ...args: never[]) {
        trace.mark(`invoke ${String(args[1])}`);
        return original.apply(this, args);
      }),
    patch(
      DriverServices.prototype,
      "deviceWrite",
      (original) =>
        function (this: unknown, ...args: never[]) {
          trace.mark("reg write");
          return original.apply(this, args);
        },
    ),
    patch(
      DriverServices.prototype,
      "mapDma",
      (original) =>
        function (this: unknown, ...args: never[]) {
          trace.mark("map");
          return original.apply(this, args);
        },
    ),
    patch(
      DriverServices.prototype,
      "unmapDma",
      (original) =>
        function (this: unknown, ...args: never[]) {
          trace.mark("unmap");
          return original.apply(this, args);
        },
    ),
    patch(
      DriverServices.prototype,
      "ackIrq",
      (original) =>
        function (this: unknown, ...args: never[]) {
          trace.mark("irq ack");
          return original.apply(this, args);
        },
    ),
    patch(DiskImage.prototype, "readAt", (original) =>
      function (this: unknown, ...args: never[]) {
        trace.mark("dma start");
        try {
          return original.apply(this, args);
        } finally {
          trace.mark("dma end");
        }
      }),
    patch(
      InterruptBus.prototype,
      "raise",
      (original) =>
        function (this: unknown, ...args: never[]) {
          trace.mark("irq raise");
          return original.apply(this, args);
        },
    ),
    patch(Endpoint.prototype, "send", (original) =>
      function (this: unknown, ...args: never[]) {
        trace.mark(`out ${messageLabel(args[0])}`);
        return original.apply(this, args);
      }),
    patch(Endpoint.prototype, "start", (original) =>
      function (this: unknown, ...args: never[]) {
        const handler = args[0] as unknown as (m: unknown) => void;
        const traced = (m: unknown) => {
          trace.mark(`in ${messageLabel(m)}`);
          handler(m);
        };
        return original.apply(this, [traced] as never[]);
      }),
  ];
  return () => restores.reverse().forEach((restore) => restore());
}

/** Traces `requests` reads of `size` bytes on `host` (after a warmup) and returns the stages. */
async function traceHost(
  host: Host,
  image: string,
  size: number,
  requests: number,
  disk: DiskBacking = "file",
): Promise<StageProfile> {
  const trace = new Trace();
  const unprobe = probe(trace);
  try {
    const kernel = await boot({ names: ":memory:", host, machine: { ide: ideDisk(image, disk) } });
    try {
      const disk = await BlockClient.open(
        kernel,
        kernel.mint(await kernel.names.lookup("dev/ide0")),
      );
      const { capability } = kernel.allocate(size, "profile");
      const blocks = size / 512;
      const span = Math.floor(disk.blockCount / blocks) - 1;
      for (let i = 0; i < 300; i++) {
        await disk.transfer("read", BigInt((i % span) * blocks), blocks, capability);
      }
      trace.on = true;
      for (let i = 0; i < requests; i++) {
        trace.mark("request");
        await disk.transfer("read", BigInt((i % span) * blocks), blocks, capability);
        trace.mark("done");
      }
      trace.mark("request");
      trace.on = false;
      disk.close();
    } finally {
      await kernel.shutdown();
    }
  } finally {
    unprobe();
  }
  return stagesOf(trace.times, trace.labels, "request");
}

/** Median µs per call of `fn` over batches lasting about `ms` in all. */
function microbench(fn: () => unknown, ms: number): number {
  const samples: number[] = [];
  let sink: unknown;
  const end = performance.now() + ms;
  let batch = 1;
  while (performance.now() < end || samples.length < 5) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) sink = fn();
    const dt = performance.now() - t0;
    if (dt < 0.5) batch *= 2;
    else samples.push(dt * 1000 / batch);
  }
  void sink;
  return summarize(samples).median;
}

/** Costs that grow with the request size, per request, µs. */
export interface SizeCosts {
  readonly size: number;
  /** `BlockClient.transfer` building the `blocks` list (`blockList`). */
  readonly blockList: number;
  /** `validateArgs` of `IBlock.read` (the kernel host's check of every invoke). */
  readonly validate: number;
  /**
   * The worker host's `call` message in the wire format (`kernel/hosts/wire.ts`, the method's
   * compiled layout, whose encoder does the same check as it writes), and its decoding in the
   * driver's thread.
   */
  readonly encode: number;
  readonly decode: number;
  /** Bytes of the encoded call message. */
  readonly messageBytes: number;
}

/** Measures {@link SizeCosts} of `size`-byte reads, each for about `ms`. */
export function sizeCosts(size: number, ms: number): SizeCosts {
  const count = size / 512;
  const cap = { address: 0x1_0000n, password: 0x1234_5678_9abc_def0n };
  const blocks = blockList(4096n, count);
  const args = [cap, { blocks, addr: 0x2_0000n, buffer: cap }];
  const read = blockSchema.interfaces.IBlock!.methods.find((m) => m.name === "read")!;
  const message = { t: "call", id: 1234, o: SELF, i: "IBlock", m: "read", a: args };
  const codec = wireCodec(LayoutTable.fromSchema(blockSchema));
  const encoder = codec.encoder(4096);
  const decoder = codec.decoder();
  const bytes = encoder.encode(message).slice();
  const decoded = decoder.decode(bytes, 0, bytes.length) as { checked?: boolean };
  if (decoded.checked !== true) {
    throw new Error("The profile's IBlock.read call did not travel in its layout");
  }
  return {
    size,
    blockList: microbench(() => blockList(4096n, count), ms),
    validate: microbench(() => validateArgs(blockSchema, read, args, "IBlock.read"), ms),
    encode: microbench(() => encoder.encode(message), ms),
    decode: microbench(() => decoder.decode(bytes, 0, bytes.length), ms),
    messageBytes: bytes.length,
  };
}

function us(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/**
 * The stage table of one host and size: the steps that occur in most requests, the rest summed
 * as one line, and the split between kernel-side time and time spent waiting for the worker
 * (steps that end when a message from the worker arrives: crossing latency plus its work).
 */
export function formatStages(title: string, p: StageProfile): string {
  const total = p.stages.reduce((a, s) => a + s.meanUs, 0);
  const common = p.stages.filter((s) => s.perRequest >= 1);
  const rare = p.stages.filter((s) => s.perRequest < 1);
  const row = (name: string, times: string, median: string, mean: number) => [
    name,
    times,
    median,
    us(mean),
    `${(mean / total * 100).toFixed(1)}%`,
  ];
  const rows = common.map((s) =>
    row(
      `${s.from} -> ${s.to}`,
      s.perRequest === 1 ? "" : `x${s.perRequest}`,
      us(s.medianUs),
      s.meanUs,
    )
  );
  if (rare.length > 0) {
    rows.push(
      row("(steps in other orders, some requests)", "", "", sum(rare.map((s) => s.meanUs))),
    );
  }
  const head = ["step between kernel-side probe points", "", "median µs", "mean µs", "share"];
  const waiting = sum(p.stages.filter((s) => s.to.startsWith("in ")).map((s) => s.meanUs));
  const lines = [
    `${title}: ${p.requests} requests, median cycle ${us(p.cycleUs)} µs ` +
    `(sum of mean steps ${us(total)} µs)`,
    ...tableLines(head, rows, { rule: false }),
  ];
  if (waiting > 0) {
    lines.push(
      `waiting for the worker (ring crossings + worker-side work): ${us(waiting)} µs ` +
        `(${(waiting / total * 100).toFixed(0)}%); kernel side: ${us(total - waiting)} µs`,
    );
  }
  return lines.join("\n");
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Runs the profile and returns its report. */
export async function runProfile(
  image: string,
  options: { quick: boolean; disk?: DiskBacking },
): Promise<string> {
  const requests = options.quick ? 400 : 2000;
  const out: string[] = [];
  for (const size of [512, 1 << 20]) {
    for (const host of ["kernel", "worker"] as const) {
      const n = size >= 1 << 20 ? Math.max(50, requests / 10) : requests;
      const p = await traceHost(host, image, size, n, options.disk ?? "file");
      out.push(formatStages(`${host} host, ${formatSize(size)} reads`, p), "");
    }
  }
  const ms = options.quick ? 50 : 200;
  const rows = [512, 4096, 65536, 1 << 20].map((size) => sizeCosts(size, ms));
  out.push("Per-request costs that grow with the size (µs): the client's block list; the kernel");
  out.push("host's check of the call; the worker host's call in its layout (checked as encoded)");
  out.push("and decoded in the driver's thread, and its bytes on the ring:");
  out.push("size      block list  validate  encode  decode  call message");
  for (const r of rows) {
    out.push(
      `${formatSize(r.size).padEnd(8)}  ${us(r.blockList).padStart(10)}  ${
        us(r.validate).padStart(8)
      }  ${us(r.encode).padStart(6)}  ${us(r.decode).padStart(6)}  ${
        String(r.messageBytes).padStart(8)
      } B`,
    );
  }
  return out.join("\n");
}
