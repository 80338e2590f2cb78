/**
 * CPU profiles of one thread, taken by the thread itself through V8's inspector
 * (`node:inspector`'s `Session`, which needs the `sys` permission), and their summary: where a
 * thread's time goes, function by function. The kernel's main thread profiles itself; a driver's
 * worker profiles itself when its kernel was booted with `profileDrivers` (see
 * `WorkerHost.startProfile`). Unlike `deno run --cpu-prof` (which profiles every thread, workers
 * included, from start to exit, and writes the files when each isolate ends), a profile here
 * covers exactly the stretch the caller chooses, and comes back to it as data.
 *
 * The profiles are V8's `.cpuprofile` format: Chrome's DevTools (Performance, "Load profile")
 * and speedscope open them.
 *
 * @module
 */

/** A V8 CPU profile (the inspector's `Profiler.Profile`). */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * A V8 sampling heap profile (the inspector's `HeapProfiler.SamplingHeapProfile`): a call tree
 * whose nodes carry the bytes allocated there, sampled on average every `samplingInterval` bytes.
 * Taken with the objects that were collected meanwhile, so it counts garbage too. Chrome's
 * DevTools (Memory, "Load profile") open it as a `.heapprofile`.
 */
export interface HeapProfile {
  head: HeapProfileNode;
  samples?: { size: number; nodeId: number; ordinal: number }[];
}

/** One node of a {@link HeapProfile}'s call tree. */
export interface HeapProfileNode {
  callFrame: CpuProfileNode["callFrame"];
  /** Bytes allocated in this function itself (an estimate from the samples). */
  selfSize: number;
  id: number;
  children: HeapProfileNode[];
}

/** What a profiler took: the CPU profile, and the allocations if they were sampled too. */
export interface ProfilerResult {
  readonly profile: CpuProfile;
  readonly allocations?: HeapProfile;
}

/**
 * A thread's profile and the time its ring loops spent waiting meanwhile (`waitClock` of
 * `kernel/ring.ts`), which the sampler misplaces: it over-counts polling.
 */
export interface ThreadProfile extends ProfilerResult {
  readonly waitedMs: number;
}

/** Options of {@link ThreadProfiler.start}. */
export interface ProfilerOptions {
  /**
   * Also sample allocations, on average every this many bytes (64 to 1 MiB), garbage included:
   * where the thread's garbage collections come from.
   */
  readonly allocationBytes?: number;
}

/** One node of a {@link CpuProfile}'s call tree. */
export interface CpuProfileNode {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
    columnNumber: number;
    scriptId?: string;
  };
  children?: number[];
  hitCount?: number;
}

interface InspectorSession {
  connect(): void;
  disconnect(): void;
  post(
    method: string,
    params: Record<string, unknown>,
    callback: (error: Error | null, result: unknown) => void,
  ): void;
}

/** Default sampling interval, in µs. */
export const DEFAULT_INTERVAL_US = 100;
/** The sampling intervals {@link ThreadProfiler.start} takes, in µs. */
export const INTERVAL_US_RANGE = { min: 10, max: 100_000 } as const;
/** The average allocation sampling distances it takes (`ProfilerOptions.allocationBytes`). */
export const ALLOCATION_BYTES_RANGE = { min: 64, max: 1 << 20 } as const;

/**
 * Samples the calling thread's stack every `intervalUs` until {@link stop}. Throws a `TypeError`
 * naming the missing permission when the thread may not use the inspector.
 *
 * @example
 * ```ts ignore
 * const profiler = await ThreadProfiler.start(50, { allocationBytes: 4096 });
 * work();
 * const { profile, allocations } = await profiler.stop();
 * console.log(summarizeProfile(profile).busyShare, summarizeAllocations(allocations!).bytes);
 * ```
 */
export class ThreadProfiler {
  #session: InspectorSession;
  #stopped = false;
  #allocations: boolean;

  private constructor(session: InspectorSession, allocations: boolean) {
    this.#session = session;
    this.#allocations = allocations;
  }

  /** Starts sampling this thread (and its allocations, with `allocationBytes`). */
  static async start(
    intervalUs = DEFAULT_INTERVAL_US,
    options: ProfilerOptions = {},
  ): Promise<ThreadProfiler> {
    const iv = INTERVAL_US_RANGE;
    if (!Number.isInteger(intervalUs) || intervalUs < iv.min || intervalUs > iv.max) {
      throw new RangeError(
        `Cannot profile every ${intervalUs} µs: the interval must be an integer from ${iv.min} to ${iv.max}`,
      );
    }
    const bytes = options.allocationBytes;
    const ab = ALLOCATION_BYTES_RANGE;
    if (bytes !== undefined && (!Number.isInteger(bytes) || bytes < ab.min || bytes > ab.max)) {
      throw new RangeError(
        `Cannot sample allocations every ${bytes} bytes: it must be an integer from ${ab.min} to ${ab.max}`,
      );
    }
    if (Deno.permissions.querySync({ name: "sys" }).state !== "granted") {
      throw new TypeError(
        "Cannot profile this thread: the inspector needs the sys permission (--allow-sys)",
      );
    }
    const { Session } = await import("node:inspector");
    const session = new Session() as unknown as InspectorSession;
    session.connect();
    const profiler = new ThreadProfiler(session, bytes !== undefined);
    try {
      await profiler.#post("Profiler.enable");
      await profiler.#post("Profiler.setSamplingInterval", { interval: intervalUs });
      if (bytes !== undefined) {
        await profiler.#post("HeapProfiler.enable");
        await profiler.#post("HeapProfiler.startSampling", {
          samplingInterval: bytes,
          // Garbage too: what a thread allocates and drops is what its scavenges cost.
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      }
      await profiler.#post("Profiler.start");
    } catch (error) {
      session.disconnect();
      throw error;
    }
    return profiler;
  }

  /** Stops sampling and returns the profile (and the allocations, if they were sampled). */
  async stop(): Promise<ProfilerResult> {
    if (this.#stopped) throw new TypeError("Cannot stop the profiler: it was stopped already");
    this.#stopped = true;
    try {
      const result = await this.#post("Profiler.stop") as { profile: CpuProfile };
      await this.#post("Profiler.disable");
      if (!this.#allocations) return { profile: result.profile };
      const heap = await this.#post("HeapProfiler.stopSampling") as { profile: HeapProfile };
      await this.#post("HeapProfiler.disable");
      return { profile: result.profile, allocations: heap.profile };
    } finally {
      this.#session.disconnect();
    }
  }

  #post(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.#session.post(method, params, (error, result) => error ? reject(error) : resolve(result))
    );
  }
}

/** One function's share of a profile. */
export interface ProfileRow {
  /** `name file:line` (the file relative to the project when it lies inside it). */
  name: string;
  /** Milliseconds the function itself ran. */
  selfMs: number;
  /** Milliseconds it or what it called ran (each sample once, however deep the recursion). */
  totalMs: number;
  /** Whether the thread was waiting in it (polling a ring or sleeping), not working. */
  waiting: boolean;
}

/** What {@link summarizeProfile} finds. */
export interface ProfileSummary {
  /** Milliseconds the profile covers. */
  ms: number;
  /** Share of the time the thread worked: not waiting, polling or idle. */
  busyShare: number;
  /** Share of the time in the garbage collector. */
  gcShare: number;
  /** Functions by self time, largest first. */
  bySelf: ProfileRow[];
  /** Functions by inclusive time, largest first. */
  byTotal: ProfileRow[];
}

/**
 * Functions in which a thread waits for its peer rather than works: the ring loop's polling and
 * sleeping (`kernel/ring.ts`), and V8's "(idle)" (the event loop had nothing to run).
 */
const WAITING = new Set([
  "(idle)",
  "spinLoads ring.ts",
  "#waitBriefly ring.ts",
  "waitSync ring.ts",
  "spin ring.ts",
]);

/** `name file:line` for a call frame; files under `root` are shown relative to it. */
function frameName(frame: CpuProfileNode["callFrame"], root: string): string {
  const name = frame.functionName || "(anonymous)";
  if (!frame.url) return name;
  let file = frame.url;
  if (root && file.startsWith(root)) file = file.slice(root.length);
  return `${name} ${file}:${frame.lineNumber + 1}`;
}

function isWaiting(frame: CpuProfileNode["callFrame"]): boolean {
  if (!frame.url) return WAITING.has(frame.functionName);
  const file = frame.url.slice(frame.url.lastIndexOf("/") + 1);
  return WAITING.has(`${frame.functionName} ${file}`);
}

/**
 * Sums a profile by function: self and inclusive time, the share spent waiting and in the
 * garbage collector. `root` (a `file://` URL of the project's directory, with its trailing
 * slash) shortens file names.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { summarizeProfile } from "./profiler.ts";
 * const frame = (functionName: string) => ({ functionName, url: "", lineNumber: 0, columnNumber: 0 });
 * const summary = summarizeProfile({
 *   nodes: [
 *     { id: 1, callFrame: frame("(root)"), children: [2, 3] },
 *     { id: 2, callFrame: frame("work") },
 *     { id: 3, callFrame: frame("(idle)") },
 *   ],
 *   startTime: 0,
 *   endTime: 4000,
 *   samples: [2, 2, 2, 3],
 *   timeDeltas: [0, 1000, 1000, 1000],
 * });
 * assertEquals(summary.busyShare, 0.75);
 * assertEquals(summary.bySelf[0]!.name, "work");
 * ```
 */
export function summarizeProfile(profile: CpuProfile, root = ""): ProfileSummary {
  const nodes = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    nodes.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  // Each sample's time is the delta to the next sample (the last one's: the profile's end).
  const selfUs = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  let t = profile.startTime;
  const times: number[] = [];
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i] ?? 0;
    times.push(t);
  }
  for (let i = 0; i < samples.length; i++) {
    const next = i + 1 < samples.length ? times[i + 1]! : profile.endTime;
    const dt = Math.max(0, next - times[i]!);
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + dt);
  }
  const rows = new Map<string, ProfileRow>();
  const row = (node: CpuProfileNode): ProfileRow => {
    const name = frameName(node.callFrame, root);
    let r = rows.get(name);
    if (!r) rows.set(name, r = { name, selfMs: 0, totalMs: 0, waiting: isWaiting(node.callFrame) });
    return r;
  };
  let totalUs = 0, waitingUs = 0, gcUs = 0;
  for (const [id, us] of selfUs) {
    const node = nodes.get(id);
    if (!node) continue;
    totalUs += us;
    const own = row(node);
    own.selfMs += us / 1000;
    if (own.waiting) waitingUs += us;
    if (node.callFrame.functionName === "(garbage collector)") gcUs += us;
    const seen = new Set<ProfileRow>();
    for (let n: CpuProfileNode | undefined = node; n; n = nodes.get(parent.get(n.id) ?? -1)) {
      if (n.callFrame.functionName === "(root)") break;
      const r = row(n);
      if (seen.has(r)) continue;
      seen.add(r);
      r.totalMs += us / 1000;
    }
  }
  const all = [...rows.values()];
  return {
    ms: totalUs / 1000,
    busyShare: totalUs > 0 ? 1 - waitingUs / totalUs : 0,
    gcShare: totalUs > 0 ? gcUs / totalUs : 0,
    bySelf: all.filter((r) => r.selfMs > 0).sort((a, b) => b.selfMs - a.selfMs),
    byTotal: all.sort((a, b) => b.totalMs - a.totalMs),
  };
}

/** One function's allocations in a {@link HeapProfile}. */
export interface AllocationRow {
  /** `name file:line`, as in {@link ProfileRow}. */
  name: string;
  /** Bytes the function itself allocated (sampled estimate). */
  bytes: number;
}

/** What {@link summarizeAllocations} finds. */
export interface AllocationSummary {
  /** Bytes allocated in all (sampled estimate). */
  bytes: number;
  /** Functions by the bytes they allocated themselves, largest first. */
  bySelf: AllocationRow[];
}

/**
 * Sums a heap profile by function (`root` shortens file names, as in {@link summarizeProfile}).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { summarizeAllocations } from "./profiler.ts";
 * const frame = (functionName: string) => ({ functionName, url: "", lineNumber: 0, columnNumber: 0 });
 * const summary = summarizeAllocations({
 *   head: {
 *     callFrame: frame("(root)"), selfSize: 0, id: 1, children: [
 *       { callFrame: frame("decode"), selfSize: 300, id: 2, children: [] },
 *       { callFrame: frame("poll"), selfSize: 100, id: 3, children: [
 *         { callFrame: frame("decode"), selfSize: 200, id: 4, children: [] },
 *       ] },
 *     ],
 *   },
 * });
 * assertEquals(summary.bytes, 600);
 * assertEquals(summary.bySelf, [{ name: "decode", bytes: 500 }, { name: "poll", bytes: 100 }]);
 * ```
 */
export function summarizeAllocations(profile: HeapProfile, root = ""): AllocationSummary {
  const rows = new Map<string, AllocationRow>();
  let bytes = 0;
  const stack = [profile.head];
  for (let node = stack.pop(); node; node = stack.pop()) {
    stack.push(...node.children);
    if (node.selfSize <= 0) continue;
    bytes += node.selfSize;
    const name = frameName(node.callFrame, root);
    const row = rows.get(name);
    if (row) row.bytes += node.selfSize;
    else rows.set(name, { name, bytes: node.selfSize });
  }
  return { bytes, bySelf: [...rows.values()].sort((a, b) => b.bytes - a.bytes) };
}
