/**
 * The measurement: one kernel per host (the IDE driver in the kernel's isolate, the in-kernel
 * baseline, and the same driver in a restricted Worker, user level), both on the same disk image,
 * and timed trials of reads of one request size, interleaved with each other and with a plain
 * memory copy of the same size (the physical limit) and a copy of that size into shared memory
 * (the limit of a transfer into a memory object).
 *
 * Per trial: wall time (`performance.now()`), process CPU time (user + system over every thread
 * of the process, from `process.cpuUsage()`), requests completed and bytes moved.
 *
 * @module
 */

import process from "node:process";
import { BlockClient } from "../clients/block_client.ts";
import { boot, type IdeDiskConfig } from "../kernel/boot.ts";
import type { Capability } from "../idl/types.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { holdsSectors, SECTOR } from "./disk.ts";
import { quantile } from "./stats.ts";
import { copyBytes, privateMemory, sharedMemory } from "../machine/memory_copy.ts";

/** Where the driver runs: `kernel` is the in-kernel baseline, `worker` the user-level driver. */
export type Host = "kernel" | "worker";

/** The two hosts, baseline first. */
export const HOSTS: readonly Host[] = ["kernel", "worker"];

/**
 * A measured series: a host, or an in-process memory copy: `copy` into plain memory (the physical
 * limit), `shared` into shared memory the way a transfer from a disk held in memory moves bytes
 * into a memory object (shared with the driver hosts and the device models): `memory.copy` into a
 * WebAssembly shared memory from 64 KiB on (`machine/memory_copy.ts`; `Uint8Array.set` into a
 * SharedArrayBuffer, relaxed atomic stores, reaches about half a plain copy's speed here).
 */
export type Series = Host | "copy" | "shared";

/** Every series, in the order a round starts from (see {@link seriesOrder}). */
export const SERIES: readonly Series[] = ["kernel", "worker", "copy", "shared"];

/** Whether a series is one of the memory copies (no requests, no latencies, no CPU of its own). */
export function isCopy(series: Series): series is "copy" | "shared" {
  return series === "copy" || series === "shared";
}

/** What to measure. */
export interface StudyConfig {
  /** Request sizes in bytes (multiples of 512, at most 1 MiB). */
  readonly sizes: readonly number[];
  /** Timed trials per size and series. */
  readonly trials: number;
  /** Length of one trial in ms (a trial also completes at least `minRequests`). */
  readonly trialMs: number;
  readonly minRequests: number;
  /** Untimed run of each size and series before its first trial, in ms. */
  readonly warmupMs: number;
  /**
   * Untimed reads of every size in turn on each host before anything else, in ms (default 0; see
   * {@link primeRig}): V8 keeps compiling the hot path on its helper threads for seconds in a
   * fresh process (the worker host's about 5 s), and with two polling threads on two CPUs each
   * compile job takes a CPU from one of them.
   */
  readonly primeMs?: number;
  /** Requests kept in flight (1 = each read waits for the previous one). */
  readonly depth: number;
  /** The disk image both kernels open (filled by `prepareImage`). */
  readonly image: string;
  /**
   * How the disk model holds the image (default `file`): `file` reads it from the file (the page
   * cache) per transfer; `cached` holds it in memory, so a transfer is a memory copy
   * (`DiskImageOpenOptions.cache`).
   */
  readonly disk?: DiskBacking;
}

/** How the study's disk holds its image: see {@link StudyConfig.disk}. */
export type DiskBacking = "file" | "cached";

/** The machine's IDE disk over the image at `image`, held as `disk` says. */
export function ideDisk(image: string, disk: DiskBacking = "file"): IdeDiskConfig {
  return disk === "cached" ? { image, cache: true } : { image };
}

/** Whether `text` names a {@link DiskBacking}. */
export function isDiskBacking(text: unknown): text is DiskBacking {
  return text === "file" || text === "cached";
}

/** One timed trial of one series at one size. */
export interface Trial {
  readonly series: Series;
  readonly size: number;
  /** Index of the round of the interleaving (0-based). */
  readonly round: number;
  /** Requests (or copies) completed. */
  readonly ops: number;
  readonly bytes: number;
  readonly wallMs: number;
  /** Process CPU time over the trial and the settling pause after it, user + system, in µs. */
  readonly cpuUs: number;
  /**
   * Request latency in this trial (from the client's call to its completion), median and 99th
   * percentile, in µs; absent for the copy series. The mean is wall time over requests: where it
   * lies far above the median, a few long stalls, not the typical request, set the throughput.
   */
  readonly p50Us?: number;
  readonly p99Us?: number;
}

/** Interrupt counts of one host's disk line over a run. */
export interface InterruptCounts {
  readonly delivered: number;
  /** Held back by the kernel's interrupt rate limit (a delay for the baseline if not 0). */
  readonly rateLimited: number;
  readonly coalesced: number;
}

/** What {@link runStudy} returns. */
export interface StudyRun {
  /** The trials, in the order they ran. */
  readonly trials: Trial[];
  /** Per host, its disk line's interrupts over the whole run. */
  readonly interrupts: Readonly<Record<Host, InterruptCounts>>;
}

/** Progress reports of {@link runStudy}. */
export interface StudyProgress {
  /** Called after each warmup or trial: units done so far, of `total`, and what ran. */
  step(done: number, total: number, what: string): void;
}

/** The most bytes one IDE command moves, so the largest request size. */
export const MAX_REQUEST = 1 << 20;

/** Whether `size` is a request size the study can read: whole sectors, one command at most. */
export function isRequestSize(size: number): boolean {
  return Number.isInteger(size) && size >= SECTOR && size % SECTOR === 0 && size <= MAX_REQUEST;
}

/** Checks a configuration; throws `RangeError` naming what is wrong. */
export function checkConfig(config: StudyConfig): void {
  if (config.sizes.length === 0) throw new RangeError("Cannot run a study of no request sizes");
  for (const size of config.sizes) {
    if (!isRequestSize(size)) {
      throw new RangeError(
        `Cannot use request size ${size}: it must be a multiple of ${SECTOR} up to ${MAX_REQUEST}`,
      );
    }
  }
  const positive: [string, number][] = [
    ["trials", config.trials],
    ["trialMs", config.trialMs],
    ["minRequests", config.minRequests],
    ["depth", config.depth],
  ];
  for (const [name, value] of positive) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`Cannot use ${name} ${value}: it must be a positive integer`);
    }
  }
  if (!(config.warmupMs >= 0)) throw new RangeError(`Cannot use warmupMs ${config.warmupMs}`);
  if (config.primeMs !== undefined && !(config.primeMs >= 0)) {
    throw new RangeError(`Cannot use primeMs ${config.primeMs}`);
  }
  if (config.disk !== undefined && !isDiskBacking(config.disk)) {
    throw new RangeError(`Cannot use disk ${config.disk}: it must be "file" or "cached"`);
  }
}

/**
 * The interrupt rate limit of the study's kernels: far above what either host reaches, so that it
 * never holds back an interrupt. The kernel's default (100 000 a second) is a guard against
 * storms, and a simulated disk in the page cache completes more commands than that: left on, it
 * capped the in-kernel host (and, once it got as fast, the user-level one) at 100 000 512 B reads
 * a second at queue depth 1, which made the two hosts look alike. The run records it.
 */
export const STUDY_IRQ_RATE = { perSecond: 10_000_000, burst: 100_000 } as const;

/** A booted kernel with the IDE disk open and `depth` DMA buffers of the largest size. */
export class Rig {
  readonly host: Host;
  readonly kernel: Kernel;
  readonly disk: BlockClient;
  readonly buffers: readonly Capability[];
  #cursor = 0;

  private constructor(host: Host, kernel: Kernel, disk: BlockClient, buffers: Capability[]) {
    this.host = host;
    this.kernel = kernel;
    this.disk = disk;
    this.buffers = buffers;
  }

  /**
   * Boots a kernel whose IDE driver runs on `host`, over the image at `image` (`profileDrivers`,
   * `timeline`: see `BootOptions`; `disk`: see {@link StudyConfig.disk}).
   */
  static async open(
    host: Host,
    image: string,
    depth: number,
    bufferBytes: number,
    options: { profileDrivers?: boolean; timeline?: boolean; disk?: DiskBacking } = {},
  ): Promise<Rig> {
    const kernel = await boot({
      names: ":memory:",
      host,
      machine: { ide: ideDisk(image, options.disk) },
      irqRate: STUDY_IRQ_RATE,
      ...(options.profileDrivers ? { profileDrivers: true } : {}),
      ...(options.timeline ? { timeline: true } : {}),
    });
    try {
      const instance = kernel.drivers.instance("ide0");
      if (instance?.host !== host) {
        throw new Error(`The IDE driver runs on the ${instance?.host} host, not ${host}`);
      }
      const disk = await BlockClient.open(
        kernel,
        kernel.mint(await kernel.names.lookup("dev/ide0")),
      );
      const buffers = Array.from(
        { length: depth },
        (_, i) => kernel.allocate(bufferBytes, `bench-${i}`).capability,
      );
      return new Rig(host, kernel, disk, buffers);
    } catch (error) {
      await kernel.shutdown();
      throw error;
    }
  }

  /**
   * Reads `size`-byte requests of consecutive blocks (wrapping around the disk) with `depth`
   * in flight, until `ms` have passed and at least `minRequests` completed. Returns the count.
   */
  async read(
    size: number,
    ms: number,
    minRequests: number,
    latencies?: number[],
  ): Promise<number> {
    const blocks = size / SECTOR;
    const end = performance.now() + ms;
    let started = 0;
    const lane = async (buffer: Capability) => {
      for (let now = performance.now(); started < minRequests || now < end;) {
        started++;
        await this.disk.transfer("read", BigInt(this.#next(blocks)), blocks, buffer);
        const done = performance.now();
        latencies?.push((done - now) * 1000);
        now = done;
      }
    };
    await Promise.all(this.buffers.map(lane));
    return started;
  }

  /** Reads `sectors` at `lba` into the first buffer and checks they hold the image's pattern. */
  async verify(lba: number, sectors: number): Promise<void> {
    const buffer = this.buffers[0]!;
    const bytes = this.kernel.memory(buffer, "read").bytes;
    bytes.fill(0, 0, sectors * SECTOR);
    await this.disk.transfer("read", BigInt(lba), sectors, buffer);
    if (!holdsSectors(bytes, lba, sectors)) {
      throw new Error(
        `The ${this.host} host read wrong data at LBA ${lba}: the bench image is not what it wrote`,
      );
    }
  }

  /** Interrupts of the disk's line so far: delivered, and held back by the rate limit. */
  interrupts(): InterruptCounts {
    const line = this.kernel.drivers.router.stats().find((l) => l.device === "ide0");
    return {
      delivered: line?.delivered ?? 0,
      rateLimited: line?.rateLimited ?? 0,
      coalesced: line?.coalesced ?? 0,
    };
  }

  async close(): Promise<void> {
    this.disk.close();
    await this.kernel.shutdown();
  }

  #next(blocks: number): number {
    let lba = this.#cursor;
    if (lba + blocks > this.disk.blockCount) lba = 0;
    this.#cursor = lba + blocks;
    return lba;
  }
}

/**
 * The copy series: {@link copyBytes} of `size` bytes from a source as large as the disk (walked
 * consecutively, so the source is cold like the disk image's pages) into one destination, until
 * `ms` have passed and at least `minCopies` were made. Returns the count.
 */
export function copyFor(
  source: Uint8Array,
  destination: Uint8Array,
  size: number,
  ms: number,
  minCopies: number,
): number {
  const end = performance.now() + ms;
  const batch = Math.max(1, Math.min(256, (1 << 20) / size));
  let offset = 0;
  let copies = 0;
  while (copies < minCopies || performance.now() < end) {
    for (let i = 0; i < batch; i++) {
      if (offset + size > source.length) offset = 0;
      copyBytes(destination, source.subarray(offset, offset + size));
      offset += size;
    }
    copies += batch;
  }
  return copies;
}

/**
 * Pause after each trial, in ms: longer than the worker host's poll after its last message
 * (5 ms, `kernel/hosts/worker_host.ts`), so a trial's CPU time includes that poll.
 */
export const SETTLE_MS = 12;

/** The order of the series in round `round` at size index `i`: rotated, so each runs first. */
export function seriesOrder(round: number, i: number): Series[] {
  const k = (round + i) % SERIES.length;
  return [...SERIES.slice(k), ...SERIES.slice(0, k)];
}

/** How long priming reads one size before it goes on to the next, in ms. */
export const PRIME_SLICE_MS = 100;

/**
 * Primes a rig for `ms`: reads every size in turn, {@link PRIME_SLICE_MS} each (at least 3
 * requests), over and over. The code a size runs is partly its own (long block lists, the
 * codec's array copies), and V8 tiers a function up by how often it ran: a size read only in
 * the warm-up would still run slower code in the first trials.
 */
export async function primeRig(
  rig: Pick<Rig, "read">,
  sizes: readonly number[],
  ms: number,
): Promise<void> {
  const end = performance.now() + ms;
  do {
    for (const size of sizes) await rig.read(size, Math.min(PRIME_SLICE_MS, ms), 3);
  } while (performance.now() < end);
}

/**
 * Runs the study: boots both hosts, checks each reads the image's pattern, warms every size and
 * series up, then runs `trials` rounds; each round runs one trial of every series at every size,
 * in rotating order.
 */
export async function runStudy(
  config: StudyConfig,
  imageBytes: number,
  progress?: StudyProgress,
): Promise<StudyRun> {
  checkConfig(config);
  const largest = Math.max(...config.sizes);
  const rigs = new Map<Host, Rig>();
  try {
    for (const host of HOSTS) {
      // At least 8 sectors: `verify` reads that many into the first buffer.
      rigs.set(
        host,
        await Rig.open(host, config.image, config.depth, Math.max(largest, 8 * SECTOR), {
          disk: config.disk ?? "file",
        }),
      );
    }
    // The source is memory like a disk image held in memory; the shared destination like a
    // memory object (both WebAssembly memories: `copyBytes` moves bytes between them with
    // memory.copy), the plain one an ordinary buffer (`copyBytes` is `set` there).
    const source = privateMemory(imageBytes);
    for (let i = 0; i < source.length; i += 4096) source[i] = i >> 12; // touch every page
    const destination = new Uint8Array(largest);
    const shared = sharedMemory(largest);
    const sectors = imageBytes / SECTOR;
    for (const rig of rigs.values()) {
      await rig.verify(0, 8);
      await rig.verify(sectors - 8, 8);
    }

    const prime = (config.primeMs ?? 0) > 0;
    const total = config.sizes.length * SERIES.length * (config.trials + 1) +
      (prime ? HOSTS.length : 0);
    let done = 0;
    const once = async (
      series: Series,
      size: number,
      ms: number,
    ): Promise<Omit<Trial, "round">> => {
      const latencies: number[] = [];
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const ops = isCopy(series)
        ? copyFor(source, series === "copy" ? destination : shared, size, ms, config.minRequests)
        : await rigs.get(series)!.read(size, ms, config.minRequests, latencies);
      const wallMs = performance.now() - t0;
      // The worker host's threads poll for a while after the last message: wait until they
      // sleep, so that their polling is charged to this trial and does not run into the next.
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const cpu = process.cpuUsage(cpu0);
      const trial = { series, size, ops, bytes: ops * size, wallMs, cpuUs: cpu.user + cpu.system };
      if (latencies.length === 0) return trial;
      latencies.sort((a, b) => a - b);
      return { ...trial, p50Us: quantile(latencies, 0.5), p99Us: quantile(latencies, 0.99) };
    };

    if (prime) {
      for (const host of HOSTS) {
        await primeRig(rigs.get(host)!, config.sizes, config.primeMs!);
        progress?.step(++done, total, `priming ${host}`);
      }
    }
    for (const [i, size] of config.sizes.entries()) {
      for (const series of seriesOrder(0, i)) {
        await once(series, size, config.warmupMs);
        progress?.step(++done, total, `warmup ${series} ${size} B`);
      }
    }
    const trials: Trial[] = [];
    for (let round = 0; round < config.trials; round++) {
      for (const [i, size] of config.sizes.entries()) {
        for (const series of seriesOrder(round, i)) {
          trials.push({ ...await once(series, size, config.trialMs), round });
          progress?.step(++done, total, `round ${round + 1}/${config.trials} ${series} ${size} B`);
        }
      }
    }
    for (const rig of rigs.values()) await rig.verify(sectors / 2, 8);
    return {
      trials,
      interrupts: {
        kernel: rigs.get("kernel")!.interrupts(),
        worker: rigs.get("worker")!.interrupts(),
      },
    };
  } finally {
    for (const rig of rigs.values()) await rig.close();
  }
}
