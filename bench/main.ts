/**
 * The performance study (`deno task bench`): disk read throughput and CPU cost of the IDE driver
 * in the kernel's isolate (the in-kernel baseline) and in a restricted Worker (user level), on
 * the same disk image, over request sizes from 512 B to 1 MiB, against a plain memory copy.
 *
 *     deno task bench [--quick] [--out DIR] [--depth N] [--trials N] [--trial-ms MS]
 *                     [--sizes 512,4k,1m] [--image-mib N] [--data DIR] [--no-progress]
 *     deno task bench --profile [--quick]      # where the time of one request goes
 *
 * Writes `results.csv`, `results.json`, `throughput.svg` and `cpu.svg` to `--out` (default
 * `<data>/bench`, data default `./.mungi`), prints the table and where the run stands against the
 * goals. The task may write only under `./.mungi`, so `--out` must lie there too.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { join } from "@std/path";
import { prepareImage } from "./disk.ts";
import { cpuSpec, renderSvg, throughputSpec } from "./plot.ts";
import { runCpuProfile } from "./cpu_profile.ts";
import { formatTimeline, runTimeline, timelineFileName, timelineJson } from "./timeline.ts";
import { runProfile } from "./profile.ts";
import { intOption, requestSizeOption } from "./options.ts";
import { ALLOCATION_BYTES_RANGE, INTERVAL_US_RANGE } from "../kernel/profiler.ts";
import { progressBar } from "./progress.ts";
import { formatGoals, formatTable, type RunInfo, toCsv, toJson } from "./report.ts";
import { analyze, DRIFT_NOTE, parseSize } from "./results.ts";
import { checkConfig, type Host, isDiskBacking, runStudy, type StudyConfig } from "./study.ts";

/**
 * The bench image's default size, MiB: larger than the CPU caches. A 64 MiB image (the default up
 * to session 11) stayed in this VM's last-level cache in some phases of the machine, and then the
 * host whose requests cycle faster found more of it cached: a 1 MiB copy out of it took 64 µs in
 * the kernel host against 100 µs in the worker host, while from a 16 MiB image both took 52-54 µs
 * and from a 256 MiB one both 101-103 µs (bench/README.md, session 11).
 */
const DEFAULT_IMAGE_MIB = 256;

/** How often `--cpu-profile --allocations` samples allocations by default, in bytes. */
const DEFAULT_ALLOCATION_BYTES = 4096;

const USAGE = `Usage: deno task bench [options]

  --quick          a reduced run (7 sizes, 7 short trials each): well under a minute
  --out DIR        where to write results.csv, results.json, throughput.svg, cpu.svg
                   (default <data>/bench; must be under ./.mungi for the task's permissions)
  --data DIR       the data directory holding the bench disk image (default ./.mungi)
  --depth N        requests in flight (default 1: the per-request cost the paper's figures show)
  --trials N       timed trials per size and series (default 15; quick 7)
  --trial-ms MS    length of one trial (default 150; quick 50)
  --sizes LIST     request sizes, e.g. 512,4k,64k,1m (default 512 B to 1 MiB, powers of two)
  --image-mib N    size of the disk image, and of the copy series' source (default 256:
                   larger than the CPU caches, so both hosts read the disk from memory)
  --prime-ms MS    untimed reads on each host before anything is measured, in every mode
                   (default 6000, quick 1500: every size in turn; --cpu-profile and
                   --timeline 5000, quick 1000): V8 takes seconds to compile a host's path
  --disk KIND      how the disk model holds the image, in every mode: file (default: each
                   transfer reads the file, from the page cache) or cached (held in memory: a
                   transfer is a memory copy, so the host's page-cache copy drops out)
  --no-progress    no progress bar
  --profile        instead of the study: time the stages of one request on each host
  --cpu-profile    instead of the study: sample each host's threads (the kernel's, and the
                   driver's in the worker host) while they read; prints where the time goes
                   per function, writes .cpuprofile files to --out (needs --allow-sys, which the
                   task grants). With it: --size S (default 512), --depth N (default 1),
                   --hosts kernel,worker, --seconds S (default 3; quick 1), --interval-us N
                   (sampling interval, default 1000: every 100 µs slowed the worker host by a
                   third here; the report gives the unprofiled rate next to the profiled one),
                   --top N (functions listed, default 20),
                   --allocations [BYTES] (also sample what each thread allocates, garbage
                   included, every BYTES on average, default 4096: per function, and
                   .heapprofile files)
  --timeline       instead of the study: time every message between the kernel's thread and
                   the driver's (worker host) while it reads: per kind and direction, how many
                   per request and how long from publish to handler; the stalls (nothing
                   crossed for far longer than usual: which thread a message waited for); at
                   depth 1 also a request's critical path, step by step; writes
                   timeline-<size>-d<depth>.json to --out. With it: --size S (default 512),
                   --depth N (default 1), --record-ms MS (default 300)
  --help           this text

Whether a change made reads faster: deno task bench:compare --base DIR (--help there).`;

const FULL_SIZES = Array.from({ length: 12 }, (_, i) => 512 << i);
const QUICK_SIZES = [512, 2048, 8192, 32768, 65536, 262144, 1 << 20];

/** The `--size` of a profile or timeline (default 512 B): a request the study can make. */
function requestSize(text: string | undefined): number {
  return requestSizeOption("size", text ?? "512");
}

function loadavg(): number[] | undefined {
  const status = Deno.permissions.querySync({ name: "sys", kind: "loadavg" });
  return status.state === "granted" ? Deno.loadavg() : undefined;
}

/** The options that belong to one mode or two: given without them, they would do nothing. */
const MODE_OPTIONS: Record<string, readonly ("cpu-profile" | "timeline")[]> = {
  size: ["cpu-profile", "timeline"],
  hosts: ["cpu-profile"],
  seconds: ["cpu-profile"],
  "interval-us": ["cpu-profile"],
  top: ["cpu-profile"],
  allocations: ["cpu-profile"],
  "record-ms": ["timeline"],
};

/**
 * Why the parsed options cannot go together (an option of a mode without that mode), or
 * undefined when they can.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { misplacedOption } from "./main.ts";
 * assertEquals(misplacedOption({ "cpu-profile": true, allocations: "" }), undefined);
 * assertEquals(misplacedOption({ allocations: "" }), "--allocations works only with --cpu-profile");
 * ```
 */
export function misplacedOption(args: Record<string, unknown>): string | undefined {
  for (const [option, modes] of Object.entries(MODE_OPTIONS)) {
    if (args[option] === undefined || modes.some((mode) => args[mode] === true)) continue;
    return `--${option} works only with ${modes.map((mode) => `--${mode}`).join(" or ")}`;
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {
    boolean: ["quick", "help", "progress", "profile", "cpu-profile", "timeline"],
    string: [
      "out",
      "data",
      "depth",
      "trials",
      "trial-ms",
      "sizes",
      "image-mib",
      "disk",
      "size",
      "hosts",
      "seconds",
      "interval-us",
      "top",
      "allocations",
      "record-ms",
      "prime-ms",
    ],
    default: { progress: true },
    negatable: ["progress"],
    unknown: (arg: string) => {
      if (arg.startsWith("-")) throw new TypeError(`Unknown option ${arg}\n\n${USAGE}`);
      return true;
    },
  });
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const misplaced = misplacedOption(args);
  if (misplaced) throw new TypeError(`${misplaced}\n\n${USAGE}`);
  const quick = args.quick;
  const primeMs = (fallback: number) => intOption("prime-ms", args["prime-ms"], fallback, 0);
  const data = args.data ?? "./.mungi";
  const benchDir = join(data, "bench");
  const out = args.out ?? benchDir;
  for (const [flag, dir] of [["--data", data], ["--out", out]]) {
    // Found out before a run of minutes, not when its results are written.
    if ((await Deno.permissions.query({ name: "write", path: dir })).state !== "granted") {
      throw new TypeError(
        `Cannot write to ${flag} ${dir}: this task may write only under ./.mungi ` +
          `(run bench/main.ts with --allow-write=${dir} to write elsewhere)`,
      );
    }
  }
  const imageMib = intOption("image-mib", args["image-mib"], DEFAULT_IMAGE_MIB);
  const disk = args.disk ?? "file";
  if (!isDiskBacking(disk)) {
    throw new TypeError(`Cannot use --disk ${disk}: it must be file or cached`);
  }
  const imageBytes = imageMib << 20;
  const image = join(benchDir, "disk.img");
  await Deno.mkdir(benchDir, { recursive: true });
  console.error(`bench image ${image} (${imageMib} MiB)...`);
  if (await prepareImage(image, imageBytes)) console.error("  created and filled");

  if (args.profile) {
    console.log(await runProfile(image, { quick, disk }));
    return 0;
  }
  if (args["cpu-profile"]) {
    if (Deno.permissions.querySync({ name: "sys" }).state !== "granted") {
      throw new TypeError(
        "Cannot take CPU profiles: V8's inspector needs the sys permission " +
          "(deno task bench grants it; run bench/main.ts with --allow-sys)",
      );
    }
    const hosts = String(args.hosts ?? "kernel,worker").split(",").map((h: string) => h.trim());
    for (const h of hosts) {
      if (h !== "kernel" && h !== "worker") {
        throw new TypeError(`Cannot profile host "${h}": --hosts takes kernel, worker or both`);
      }
    }
    const size = requestSize(args.size);
    await Deno.mkdir(out, { recursive: true });
    console.log(
      await runCpuProfile(image, {
        hosts: hosts as Host[],
        size,
        depth: intOption("depth", args.depth, 1),
        seconds: intOption("seconds", args.seconds, quick ? 1 : 3),
        primeMs: primeMs(quick ? 1000 : 5000),
        intervalUs: intOption(
          "interval-us",
          args["interval-us"],
          1000,
          INTERVAL_US_RANGE.min,
          INTERVAL_US_RANGE.max,
        ),
        top: intOption("top", args.top, 20),
        ...(args.allocations === undefined ? {} : {
          allocationBytes: args.allocations === "" ? DEFAULT_ALLOCATION_BYTES : intOption(
            "allocations",
            args.allocations,
            DEFAULT_ALLOCATION_BYTES,
            ALLOCATION_BYTES_RANGE.min,
            ALLOCATION_BYTES_RANGE.max,
          ),
        }),
        out,
        disk,
      }),
    );
    return 0;
  }

  if (args.timeline) {
    const report = await runTimeline(image, {
      size: requestSize(args.size),
      depth: intOption("depth", args.depth, 1),
      ms: intOption("record-ms", args["record-ms"], 300),
      primeMs: primeMs(quick ? 1000 : 5000),
      disk,
    });
    console.log(formatTimeline(report));
    await Deno.mkdir(out, { recursive: true });
    const file = join(out, timelineFileName(report.options));
    await Deno.writeTextFile(file, JSON.stringify(timelineJson(report), null, 2) + "\n");
    console.log(`\nWrote ${file}`);
    return 0;
  }

  const config: StudyConfig = {
    sizes: args.sizes === undefined
      ? (quick ? QUICK_SIZES : FULL_SIZES)
      : args.sizes.split(",").map(parseSize),
    trials: intOption("trials", args.trials, quick ? 7 : 15),
    trialMs: intOption("trial-ms", args["trial-ms"], quick ? 50 : 150),
    minRequests: 3,
    warmupMs: quick ? 30 : 100,
    primeMs: primeMs(quick ? 1500 : 6000),
    depth: intOption("depth", args.depth, 1),
    image,
    disk,
  };
  checkConfig(config);
  const started = new Date();
  const load = loadavg();
  const bar = progressBar(args.progress);
  let study;
  try {
    study = await runStudy(config, imageBytes, bar);
  } finally {
    bar.stop();
  }
  const { trials, interrupts } = study;
  const seconds = (Date.now() - started.getTime()) / 1000;
  const analysis = analyze(trials);
  const run: RunInfo = {
    started: started.toISOString(),
    seconds,
    argv,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpus: navigator.hardwareConcurrency,
    loadavg: load,
    imageBytes,
    interrupts,
  };
  const subtitle = [
    `queue depth ${config.depth}; ${config.trials} interleaved trials of ${config.trialMs} ms ` +
    `per size and series; ${imageMib} MiB image${disk === "cached" ? " held in memory" : ""}`,
    `Deno ${run.deno}, ${run.os}/${run.arch}, ${run.cpus} CPUs; ` +
    `${run.started.slice(0, 16).replace("T", " ")} UTC`,
  ];

  await Deno.mkdir(out, { recursive: true });
  const files: [string, string | Promise<string>][] = [
    ["results.csv", toCsv(analysis, config.depth)],
    ["results.json", toJson(run, config, analysis, trials)],
    ["throughput.svg", renderSvg(throughputSpec(analysis, subtitle))],
    ["cpu.svg", renderSvg(cpuSpec(analysis, subtitle))],
  ];
  for (const [name, text] of files) await Deno.writeTextFile(join(out, name), await text);

  console.log(
    `\nDisk reads (${disk === "cached" ? "image held in memory" : "image file"}), queue depth ` +
      `${config.depth}, ${config.trials} interleaved trials of ` +
      `${config.trialMs} ms per size and series (${seconds.toFixed(0)} s` +
      `${load ? `, load average ${load.map((l) => l.toFixed(2)).join(" ")}` : ""})\n`,
  );
  console.log(formatTable(analysis));
  console.log(
    "\nspread: half the interquartile range of the trials, relative to the median. CPU: process" +
      "\nCPU time (all threads) per MiB read and per wall second. U/K: user-level over in-kernel," +
      "\nmedian of the ratios of trials run in the same round. p50/p99: request latency (call to" +
      "\ncompletion), median over the trials. Throughput follows the mean request time: where that" +
      "\nlies far above p50, a few long stalls set it.\n",
  );
  for (const [host, irq] of Object.entries(interrupts)) {
    if (irq.rateLimited > 0) {
      console.log(
        `note: the ${host} host's interrupt rate limit held back ${irq.rateLimited} of ` +
          `${irq.delivered} interrupts (each a wait of at least 1 ms)`,
      );
    }
  }
  const drift = analysis.drift;
  if (drift) {
    const each = drift.perSize.map((d) => d.drift);
    console.log(
      `drift: U/K in the last third of the rounds over the first ${drift.overall.toFixed(3)} ` +
        `(geometric mean; per size ${Math.min(...each).toFixed(3)}..` +
        `${Math.max(...each).toFixed(3)})`,
    );
    if (Math.abs(drift.overall - 1) > DRIFT_NOTE) {
      console.log(
        `note: U/K ${drift.overall > 1 ? "rose" : "fell"} by ` +
          `${(Math.abs(drift.overall - 1) * 100).toFixed(1)} % over the run: a host still ` +
          "compiling its path (raise --prime-ms) or a phase of the machine that suits one host; " +
          "more trials tell which",
      );
    }
  }
  console.log("Goals:");
  console.log(formatGoals(analysis));
  console.log(`\nWrote ${files.map(([name]) => join(out, name)).join(", ")}`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main(Deno.args);
  } catch (error) {
    console.error(
      error instanceof TypeError || error instanceof RangeError ? `error: ${error.message}` : error,
    );
    Deno.exitCode = 1;
  }
}
