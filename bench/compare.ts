/**
 * Did a change make reads faster? (`deno task bench:compare --base DIR`). The machine this was
 * built on moves by up to 50 % within an hour, so two runs of `deno task bench`, one per version,
 * cannot tell a few per cent apart. This runs both versions in one process instead: it boots the
 * IDE driver on each host with this checkout's code and with the code of the checkout at `DIR`
 * (say, made with `git worktree add --detach DIR REV`), and reads with each in turn, round after
 * round, so that whatever the machine does hits both alike.
 *
 * Each tree runs two rigs per host, booted this, base, base, this (where a rig's boot falls moved
 * its rate by 2-15 % on the 2-vCPU VM; this order cancels such a drift), and a tree's rate is the
 * geometric mean of its two. The ratio of this tree's two worker rigs, booted first and last, is
 * the run's noise floor: what two copies of the same code differ by here. A difference within its
 * spread says nothing.
 *
 *     deno task bench:compare --base ../mungi-base [--sizes 512,64k] [--depth 8] [--rounds 20]
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { fromFileUrl, join, resolve, toFileUrl } from "@std/path";
import { prepareImage } from "./disk.ts";
import { intOption, requestSizeOption } from "./options.ts";
import { formatSize } from "./results.ts";
import { summarize } from "./stats.ts";
import type { Host } from "./study.ts";
import { tableLines } from "./table.ts";

const USAGE = `Usage: deno task bench:compare --base DIR [options]

  Reads with the IDE driver on both hosts with this checkout's code and with the code of the
  checkout at DIR, in one process, trials of each interleaved round by round: the ratios say
  whether a change made reads faster, on a machine too noisy for two separate runs to tell.

  --base DIR       the other checkout (required; e.g. git worktree add --detach DIR REV)
  --sizes LIST     request sizes, e.g. 512,64k,1m (default 512,64k,1m)
  --depth N        requests in flight (default 8)
  --rounds N       rounds; each reads once with every rig (default 20)
  --trial-ms MS    length of one read (default 200)
  --warmup-ms MS   untimed reads of each rig before the rounds (default 1000: V8 compiles a
                   driver's path for seconds, longer on the worker host)
  --data DIR       the data directory holding the bench disk image (default ./.mungi)
  --image-mib N    size of the bench image (default 256, as deno task bench)
  --help           this text`;

/** What one rig of a tree must offer (`bench/study.ts`'s `Rig`). */
interface RigLike {
  read(size: number, ms: number, minRequests: number): Promise<number>;
  close(): Promise<void>;
}

/** `bench/study.ts` of a tree, as far as this needs it. */
interface StudyModule {
  Rig: { open(host: Host, image: string, depth: number, bufferBytes: number): Promise<RigLike> };
}

/** Options of {@link runCompare}. */
export interface CompareOptions {
  /** The other checkout's root directory. */
  readonly base: string;
  readonly sizes: readonly number[];
  readonly depth: number;
  readonly rounds: number;
  readonly trialMs: number;
  /** Untimed reads of each rig before the first round, in ms (default 1000). */
  readonly warmupMs?: number;
  /** The bench image both trees read. */
  readonly image: string;
}

/** The medians (and quartiles) of one size's per-round ratios. */
export interface CompareRow {
  readonly size: number;
  /** This tree over the base tree, per host (requests per second). */
  readonly kernel: Ratio;
  readonly worker: Ratio;
  /** User level over in-kernel, in each tree. */
  readonly ukBase: Ratio;
  readonly ukThis: Ratio;
  /** This tree's worker rig booted last over the one booted first: the noise floor. */
  readonly same: Ratio;
  /** Requests per second of this tree's rigs, medians. */
  readonly kernelRate: number;
  readonly workerRate: number;
}

/** A ratio's median and interquartile range over the rounds. */
export interface Ratio {
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
}

function ratio(values: readonly number[]): Ratio {
  const s = summarize(values);
  return { median: s.median, q1: s.q1, q3: s.q3 };
}

/** Loads `bench/study.ts` of the tree at `root`; says what is missing if it is not usable. */
async function loadStudy(root: string): Promise<StudyModule> {
  const url = toFileUrl(join(root, "bench", "study.ts")).href;
  let module: Partial<StudyModule>;
  try {
    module = await import(url);
  } catch (error) {
    throw new Error(`Cannot load ${url}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof module.Rig?.open !== "function") {
    throw new Error(`${url} has no Rig.open(host, image, depth, bytes): too old a checkout`);
  }
  return module as StudyModule;
}

/** Requests per second of one read of `ms`. */
async function rate(rig: RigLike, size: number, ms: number): Promise<number> {
  const t0 = performance.now();
  const n = await rig.read(size, ms, 20);
  return n / ((performance.now() - t0) / 1000);
}

/** Runs the comparison; `progress` hears of each size as it starts. */
export async function runCompare(
  options: CompareOptions,
  progress: (size: number) => void = () => {},
): Promise<CompareRow[]> {
  const here = fromFileUrl(new URL("../", import.meta.url));
  if (resolve(options.base) === resolve(here)) {
    // The same modules would be shared, not compared.
    throw new Error(`--base ${options.base} is this checkout: give another one`);
  }
  const base = await loadStudy(options.base);
  const mine = await loadStudy(here);
  const rows: CompareRow[] = [];
  for (const size of options.sizes) {
    progress(size);
    const open = (m: StudyModule, host: Host) =>
      m.Rig.open(host, options.image, options.depth, size);
    const rigs: RigLike[] = [];
    try {
      // Two rigs of each tree per host, booted this, base, base, this: where a rig's boot falls
      // moves its rate (by 2-15 % on the 2-vCPU VM), and this order cancels a drift along it.
      const boot = async (m: StudyModule, host: Host) => {
        const rig = await open(m, host);
        rigs.push(rig);
        return rig;
      };
      const w = [await boot(mine, "worker"), await boot(base, "worker")];
      w.push(await boot(base, "worker"), await boot(mine, "worker"));
      const k = [await boot(mine, "kernel"), await boot(base, "kernel")];
      k.push(await boot(base, "kernel"), await boot(mine, "kernel"));
      // JIT warm-up: V8 tiers the hot path up by how often it ran; on the worker host, with two
      // threads polling, its compile jobs take seconds to settle (session 14).
      for (const rig of rigs) await rig.read(size, options.warmupMs ?? 1000, 20);
      const v = { k: [] as number[], w: [] as number[], ub: [] as number[], ut: [] as number[] };
      const same: number[] = [], kernelRates: number[] = [], workerRates: number[] = [];
      for (let round = 0; round < options.rounds; round++) {
        // Every rig reads first in turn.
        const order = [...rigs];
        const turn = order.splice(round % order.length).concat(order);
        const got = new Map<RigLike, number>();
        for (const rig of turn) got.set(rig, await rate(rig, size, options.trialMs));
        // Each tree's rate on a host: the geometric mean of its two rigs.
        const of = (pair: [RigLike, RigLike]) => Math.sqrt(got.get(pair[0])! * got.get(pair[1])!);
        const thisW = of([w[0]!, w[3]!]), baseW = of([w[1]!, w[2]!]);
        const thisK = of([k[0]!, k[3]!]), baseK = of([k[1]!, k[2]!]);
        v.k.push(thisK / baseK);
        v.w.push(thisW / baseW);
        v.ub.push(baseW / baseK);
        v.ut.push(thisW / thisK);
        same.push(got.get(w[3]!)! / got.get(w[0]!)!);
        kernelRates.push(thisK);
        workerRates.push(thisW);
      }
      rows.push({
        size,
        kernel: ratio(v.k),
        worker: ratio(v.w),
        ukBase: ratio(v.ub),
        ukThis: ratio(v.ut),
        same: ratio(same),
        kernelRate: summarize(kernelRates).median,
        workerRate: summarize(workerRates).median,
      });
    } finally {
      for (const rig of rigs) await rig.close();
    }
  }
  return rows;
}

function fmtRatio(r: Ratio): string {
  return `${r.median.toFixed(3)} (${r.q1.toFixed(3)}..${r.q3.toFixed(3)})`;
}

function fmtRate(n: number): string {
  return n >= 1e6
    ? `${(n / 1e6).toFixed(2)}M`
    : n >= 1e3
    ? `${(n / 1e3).toFixed(1)}k`
    : n.toFixed(0);
}

/** The table of a comparison, with how to read it. */
export function formatCompare(rows: readonly CompareRow[], options: CompareOptions): string {
  const head = [
    "size",
    "this/base in-kernel",
    "this/base user-level",
    "U/K base",
    "U/K this",
    "noise floor",
    "req/s (this)",
  ];
  const body = rows.map((r) => [
    formatSize(r.size),
    fmtRatio(r.kernel),
    fmtRatio(r.worker),
    fmtRatio(r.ukBase),
    fmtRatio(r.ukThis),
    fmtRatio(r.same),
    `${fmtRate(r.kernelRate)} / ${fmtRate(r.workerRate)}`,
  ]);
  return [
    `This checkout against ${options.base}: disk reads at queue depth ${options.depth}, ` +
    `${options.rounds} rounds of ${options.trialMs} ms per rig`,
    "",
    ...tableLines(head, body),
    "",
    "Medians of the per-round ratios (interquartile range in brackets). this/base: requests per",
    "second of this checkout's code over the base's, per host; U/K: user level over in-kernel in",
    "each tree. A tree's rate on a host is the geometric mean of its two rigs (booted this, base,",
    "base, this). Noise floor: this tree's last worker rig over its first, the same code (a ratio",
    "within its spread of 1 is no difference). req/s: this tree's in-kernel / user-level rates.",
    "Eight kernels share this process, and U/K runs lower here than in deno task bench: compare",
    "the trees with each other, not with the study's numbers.",
  ].join("\n");
}

/** Parses the command line; returns the options, or the message to print and exit with. */
export function parseCompareArgs(
  args: readonly string[],
): CompareOptions & { imageMib: number; data: string } | { exit: number; message: string } {
  const flags = parseArgs([...args], {
    string: ["base", "sizes", "depth", "rounds", "trial-ms", "warmup-ms", "data", "image-mib"],
    boolean: ["help"],
    unknown: (arg: string) => {
      if (arg.startsWith("-")) throw new TypeError(`unknown option ${arg}`);
      throw new TypeError(`unexpected argument ${arg}`);
    },
  });
  if (flags.help) return { exit: 0, message: USAGE };
  if (!flags.base) return { exit: 2, message: `bench:compare: --base DIR is required\n\n${USAGE}` };
  const sizes = (flags.sizes ?? "512,64k,1m").split(",").map((s: string) =>
    requestSizeOption("sizes", s)
  );
  const data = flags.data ?? "./.mungi";
  const imageMib = intOption("image-mib", flags["image-mib"], 256, 1);
  return {
    base: resolve(flags.base),
    sizes,
    depth: intOption("depth", flags.depth, 8, 1),
    rounds: intOption("rounds", flags.rounds, 20, 3),
    trialMs: intOption("trial-ms", flags["trial-ms"], 200, 10),
    warmupMs: intOption("warmup-ms", flags["warmup-ms"], 1000, 0),
    image: join(data, "bench", "disk.img"),
    data,
    imageMib,
  };
}

async function main(args: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseCompareArgs>;
  try {
    parsed = parseCompareArgs(args);
  } catch (error) {
    console.error(`bench:compare: ${(error as Error).message}`);
    return 2;
  }
  if ("exit" in parsed) {
    (parsed.exit === 0 ? console.log : console.error)(parsed.message);
    return parsed.exit;
  }
  try {
    // Before the image is made: a checkout that cannot be compared says so at once.
    await loadStudy(parsed.base);
  } catch (error) {
    console.error(`bench:compare: --base ${parsed.base}: ${(error as Error).message}`);
    return 2;
  }
  await Deno.mkdir(join(parsed.data, "bench"), { recursive: true });
  console.error(`bench image ${parsed.image} (${parsed.imageMib} MiB)...`);
  if (await prepareImage(parsed.image, parsed.imageMib << 20)) {
    console.error("  created and filled");
  }
  const rows = await runCompare(parsed, (size) => console.error(`${formatSize(size)}...`));
  console.log(formatCompare(rows, parsed));
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main(Deno.args);
  } catch (error) {
    console.error(`bench:compare: ${(error as Error).message}`);
    Deno.exitCode = 1;
  }
}
