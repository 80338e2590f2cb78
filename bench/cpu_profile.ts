/**
 * Where each thread's time goes, function by function (`deno task bench --cpu-profile`). For
 * each host it boots a kernel over the bench image, primes it, then reads `size`-byte requests at
 * `depth` for `seconds` while V8 samples the kernel's thread and, in the worker host, the
 * driver's thread (which profiles itself: `BootOptions.profileDrivers`). It writes each profile
 * as a `.cpuprofile` (Chrome DevTools, speedscope) and prints, per thread, the share of time spent
 * working rather than waiting for the other thread, the garbage collector's share, and the
 * functions that took most time, in µs per request. With `allocationBytes` (`--allocations`) each
 * thread's allocations are sampled as well, garbage included: per function in bytes a request,
 * and as a `.heapprofile` (Chrome DevTools, Memory).
 *
 * The sampler costs time itself (every `intervalUs`, a stack walk, from a sampler thread per
 * isolate): right before each profile the rig reads as long again unprofiled, and the report
 * gives both rates, so a reader sees how far the profile slowed what it shows. On the 2-vCPU VM
 * this was built on, sampling every 100 µs slowed the worker host by 30-40 % (its two threads
 * poll a CPU each, and the two sampler threads take turns on them), every 1000 µs (the default)
 * by 5-10 %; the kernel host by 3 % or less either way.
 *
 * @module
 */

import { join } from "@std/path";
import {
  type HeapProfile,
  type ProfileRow,
  summarizeAllocations,
  summarizeProfile,
  type ThreadProfile,
  ThreadProfiler,
} from "../kernel/profiler.ts";
import { waitClock } from "../kernel/ring.ts";
import { formatSize } from "./results.ts";
import { type DiskBacking, type Host, Rig } from "./study.ts";

/** Options of {@link runCpuProfile}. */
export interface CpuProfileOptions {
  readonly hosts: readonly Host[];
  readonly size: number;
  readonly depth: number;
  /** How long each host is profiled. */
  readonly seconds: number;
  /** How long each host reads before its profile starts (JIT warm-up), in ms. */
  readonly primeMs: number;
  readonly intervalUs: number;
  /** Where the `.cpuprofile` files go. */
  readonly out: string;
  /** Functions listed per thread. */
  readonly top: number;
  /** How the disk holds its image (default file; see `StudyConfig.disk`). */
  readonly disk?: DiskBacking;
  /**
   * Also sample each thread's allocations, garbage included, every this many bytes on average
   * (`ProfilerOptions.allocationBytes`): written as `.heapprofile` files and summed per function.
   */
  readonly allocationBytes?: number;
}

/** One profiled thread. */
export interface ThreadReport {
  readonly host: Host;
  readonly thread: "kernel" | "driver";
  readonly file: string;
  readonly requests: number;
  readonly ms: number;
  readonly profile: ThreadProfile["profile"];
  /** Time the thread's ring loop waited (measured, not sampled); undefined without a ring. */
  readonly waitedMs: number | undefined;
  /**
   * The same rig's reads right before the profile, for as long, unprofiled (neither sampler nor
   * wait clock): what the profile's own cost is measured against.
   */
  readonly unprofiled?: { readonly requests: number; readonly ms: number };
  /** The thread's sampled allocations and their file, with `allocationBytes`. */
  readonly allocations?: HeapProfile;
  readonly allocationFile?: string;
}

const ROOT = new URL("../", import.meta.url).href;

/** Profiles the hosts one after the other; returns the report to print. */
export async function runCpuProfile(image: string, options: CpuProfileOptions): Promise<string> {
  const reports: ThreadReport[] = [];
  for (const host of options.hosts) {
    const rig = await Rig.open(host, image, options.depth, options.size, {
      profileDrivers: host === "worker",
      disk: options.disk ?? "file",
    });
    try {
      await rig.read(options.size, options.primeMs, 100);
      const u0 = performance.now();
      const unprofiledRequests = await rig.read(options.size, options.seconds * 1000, 100);
      const unprofiled = { requests: unprofiledRequests, ms: performance.now() - u0 };
      const sampling = options.allocationBytes === undefined
        ? {}
        : { allocationBytes: options.allocationBytes };
      const kernel = await ThreadProfiler.start(options.intervalUs, sampling);
      let stopDriver: (() => Promise<ThreadProfile>) | undefined;
      try {
        if (host === "worker") {
          stopDriver = await rig.kernel.drivers.profile("ide0", options.intervalUs, sampling);
        }
        waitClock.start();
        const t0 = performance.now();
        const requests = await rig.read(options.size, options.seconds * 1000, 100);
        const ms = performance.now() - t0;
        const kernelWaited = waitClock.stop();
        const driver = await stopDriver?.();
        stopDriver = undefined;
        const threads: [ThreadReport["thread"], ThreadProfile][] = [
          ["kernel", { ...await kernel.stop(), waitedMs: kernelWaited }],
        ];
        if (driver) threads.push(["driver", driver]);
        for (const [thread, { profile, waitedMs, allocations }] of threads) {
          const name = `${host}-${options.size}-d${options.depth}-${thread}`;
          const file = join(options.out, `cpu-${name}.cpuprofile`);
          await Deno.writeTextFile(file, JSON.stringify(profile));
          const allocationFile = allocations && join(options.out, `alloc-${name}.heapprofile`);
          if (allocationFile) await Deno.writeTextFile(allocationFile, JSON.stringify(allocations));
          // The kernel host has no ring: its thread never waits in one.
          reports.push({
            host,
            thread,
            file,
            requests,
            ms,
            profile,
            waitedMs: host === "worker" ? waitedMs : undefined,
            unprofiled,
            ...(allocations ? { allocations, allocationFile } : {}),
          });
        }
      } finally {
        await stopDriver?.().catch(() => {});
      }
    } finally {
      await rig.close();
    }
  }
  return formatCpuReport(reports, options);
}

/** `n` bytes as B, KB or MB (decimal). */
function formatBytes(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} KB`;
  return `${n.toFixed(0)} B`;
}

/** The printed report: per thread, its busy and GC shares and its costliest functions. */
export function formatCpuReport(
  reports: readonly ThreadReport[],
  options: Pick<CpuProfileOptions, "size" | "depth" | "top" | "intervalUs" | "allocationBytes">,
  root = ROOT,
): string {
  const lines = [
    `CPU profiles, ${formatSize(options.size)} reads at queue depth ${options.depth}, ` +
    `sampled every ${options.intervalUs} µs`,
  ];
  for (const r of reports) {
    const summary = summarizeProfile(r.profile, root);
    const perRequest = (ms: number) => (ms * 1000) / Math.max(1, r.requests);
    const rate = r.requests / (r.ms / 1000);
    const u = r.unprofiled;
    const unprofiledRate = u === undefined || u.ms <= 0 ? undefined : u.requests / (u.ms / 1000);
    lines.push(
      "",
      `${r.host} host, ${r.thread} thread: ${r.requests} requests in ${r.ms.toFixed(0)} ms ` +
        `(${(rate / 1000).toFixed(1)}k/s, ${(r.ms * 1000 / r.requests).toFixed(2)} µs each)`,
      ...(unprofiledRate === undefined ? [] : [
        `  unprofiled just before: ${(unprofiledRate / 1000).toFixed(1)}k/s (${
          (1000_000 / unprofiledRate).toFixed(2)
        } µs each): the profile ${
          rate <= unprofiledRate
            ? `slowed the reads by ${((1 - rate / unprofiledRate) * 100).toFixed(1)} %`
            : `ran ${((rate / unprofiledRate - 1) * 100).toFixed(1)} % faster (the machine's noise)`
        }`,
      ]),
      `  working ${
        r.waitedMs === undefined ? "100" : ((1 - r.waitedMs / r.ms) * 100).toFixed(1)
      } % (measured; the rest it waited in its ring loop); sampled: busy ${
        (summary.busyShare * 100).toFixed(1)
      } %, GC ${(summary.gcShare * 100).toFixed(1)} %`,
      `  ${r.file}`,
    );
    const table = (title: string, rows: ProfileRow[], pick: (row: ProfileRow) => number) => {
      lines.push(`  ${title.padEnd(58)}  µs/req   share`);
      for (const row of rows.slice(0, options.top)) {
        const ms = pick(row);
        const name = row.name.length > 56 ? `${row.name.slice(0, 55)}…` : row.name;
        lines.push(
          `  ${(row.waiting ? "~ " : "  ") + name.padEnd(56)}  ${
            perRequest(ms).toFixed(3).padStart(6)
          }  ${(ms / summary.ms * 100).toFixed(1).padStart(5)} %`,
        );
      }
    };
    table("self time (~ waiting for the other thread)", summary.bySelf, (row) => row.selfMs);
    if (r.allocations) {
      const alloc = summarizeAllocations(r.allocations, root);
      const perReq = (bytes: number) => bytes / Math.max(1, r.requests);
      lines.push(
        `  allocated ${formatBytes(perReq(alloc.bytes))} a request, ` +
          `${formatBytes(alloc.bytes / (r.ms / 1000))} a second, garbage included`,
        `  ${r.allocationFile}`,
        `  ${"allocated by (self)".padEnd(58)}  B/req    share`,
      );
      for (const row of alloc.bySelf.slice(0, options.top)) {
        const name = row.name.length > 56 ? `${row.name.slice(0, 55)}…` : row.name;
        lines.push(
          `    ${name.padEnd(56)}  ${perReq(row.bytes).toFixed(0).padStart(6)}  ${
            (row.bytes / alloc.bytes * 100).toFixed(1).padStart(5)
          } %`,
        );
      }
    }
  }
  lines.push(
    "",
    "µs/req: the function's sampled time over the requests completed while the profile ran;",
    "it includes what the profile's own cost added (unprofiled: the same rig without it).",
    "share: of the thread's sampled time. The sampler over-counts polling (~; on the kernel's",
    "thread up to ten times what its ring loop measures): compare the working functions with",
    "each other, and take the measured working share for the thread's load. Open the",
    ".cpuprofile files in Chrome DevTools (Performance) or speedscope for the call trees.",
  );
  if (options.allocationBytes !== undefined) {
    lines.push(
      `Allocations: sampled every ${options.allocationBytes} bytes on average, objects the`,
      "garbage collector has freed since included, so the bytes are what the thread's",
      "scavenges have to clear; the .heapprofile files open in Chrome DevTools (Memory).",
    );
  }
  return lines.join("\n");
}
