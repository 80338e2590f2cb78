/**
 * Boot time of the default machine: `boot()` (name database on disk, the IDE disk image, its
 * driver loaded into a restricted Worker and named `dev/ide0`) then `shutdown()`, N times;
 * prints the median and 95th percentile of each. The first runs (warm-up) are not counted: they
 * create the disk image and compile the modules.
 *
 *     deno run --allow-read=. --allow-write=./.mungi bench/boot_bench.ts [--runs N] [--memory]
 *
 * `--memory` boots with names and disk in memory (what the tests use).
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { join } from "@std/path";
import { boot, type BootOptions } from "../kernel/boot.ts";

/** Summary of a set of timings in milliseconds. */
export interface Timing {
  readonly median: number;
  readonly p95: number;
  readonly min: number;
  readonly max: number;
}

/**
 * Median, 95th percentile (nearest rank), minimum and maximum of some timings.
 *
 * @example
 * ```ts
 * import { summarise } from "./boot_bench.ts";
 * summarise([3, 1, 2]).median; // 2
 * ```
 */
export function summarise(ms: readonly number[]): Timing {
  if (ms.length === 0) throw new RangeError("Cannot summarise no timings");
  const s = [...ms].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  const mid = s.length >> 1;
  return {
    median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2,
    p95: rank(0.95),
    min: s[0]!,
    max: s[s.length - 1]!,
  };
}

async function main(args: string[]): Promise<number> {
  const flags = parseArgs(args, {
    string: ["runs", "warmup", "data"],
    boolean: ["memory", "help"],
    default: { runs: "20", warmup: "2", data: "./.mungi/boot-bench" },
  });
  if (flags.help) {
    console.log(
      "usage: deno run --allow-read=. --allow-write=./.mungi bench/boot_bench.ts [--runs N] [--warmup N] [--memory] [--data DIR]",
    );
    return 0;
  }
  const runs = Number(flags.runs);
  const warmup = Number(flags.warmup);
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(warmup) || warmup < 0) {
    console.error(`boot_bench: --runs must be a whole number >= 1 and --warmup >= 0`);
    return 2;
  }
  const options: BootOptions = flags.memory
    ? { names: ":memory:", machine: { ide: { memory: true } } }
    : { data: flags.data };
  const bootMs: number[] = [];
  const downMs: number[] = [];
  try {
    for (let i = 0; i < warmup + runs; i++) {
      const t0 = performance.now();
      const kernel = await boot(options);
      const t1 = performance.now();
      if (!(await kernel.names.tryLookup("dev/ide0"))) {
        throw new Error("boot finished without dev/ide0: the benchmark measures nothing useful");
      }
      await kernel.shutdown();
      const t2 = performance.now();
      if (i < warmup) continue;
      bootMs.push(t1 - t0);
      downMs.push(t2 - t1);
    }
  } finally {
    if (!flags.memory) {
      await Deno.remove(flags.data, { recursive: true }).catch(() => {});
    }
  }
  const total = bootMs.map((b, i) => b + downMs[i]!);
  const f = (n: number) => n.toFixed(1).padStart(8);
  console.log(
    `default machine (${
      flags.memory ? "names and disk in memory" : `data in ${join(flags.data)}`
    }), IDE driver in a worker; ${runs} runs after ${warmup} warm-up`,
  );
  console.log(
    `${"ms".padEnd(10)}${"median".padStart(8)}${"p95".padStart(8)}${"min".padStart(8)}${
      "max".padStart(8)
    }`,
  );
  for (const [label, ms] of [["boot", bootMs], ["shutdown", downMs], ["total", total]] as const) {
    const t = summarise(ms);
    console.log(`${label.padEnd(10)}${f(t.median)}${f(t.p95)}${f(t.min)}${f(t.max)}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
