import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { join } from "@std/path";
import { formatCompare, parseCompareArgs, runCompare } from "../bench/compare.ts";
import { prepareImage } from "../bench/disk.ts";

const ROOT = new URL("../", import.meta.url).pathname;

Deno.test("bench:compare's arguments: --base is required, and bad values say which option and what it takes", () => {
  const exit = (args: string[]) => {
    const parsed = parseCompareArgs(args);
    if (!("exit" in parsed)) throw new Error(`parsed ${args.join(" ")}`);
    return parsed;
  };
  const missing = exit([]);
  assertEquals(missing.exit, 2);
  assertStringIncludes(missing.message, "--base DIR is required");
  const help = exit(["--help"]);
  assert(help.exit === 0 && help.message.startsWith("Usage:"));
  assertThrows(
    () => parseCompareArgs(["--base", "x", "--sizes", "500"]),
    RangeError,
    "--sizes 500",
  );
  assertThrows(() => parseCompareArgs(["--base", "x", "--depth", "0"]), RangeError, "--depth");
  assertThrows(() => parseCompareArgs(["--base", "x", "--rounds", "2"]), RangeError, ">= 3");
  assertThrows(() => parseCompareArgs(["--base", "x", "--fast"]), TypeError, "--fast");
  const ok = parseCompareArgs(["--base", "/tmp/b", "--sizes", "512,4k,1m", "--depth", "2"]);
  if ("exit" in ok) throw new Error(ok.message);
  assertEquals([ok.base, ok.sizes, ok.depth, ok.rounds], ["/tmp/b", [512, 4096, 1 << 20], 2, 20]);
  assertEquals(ok.warmupMs, 1000);
  assertThrows(
    () => parseCompareArgs(["--base", "x", "--warmup-ms", "soon"]),
    RangeError,
    "--warmup-ms",
  );
});

Deno.test("bench:compare reads with both trees' code in one process and reports their ratios and the noise floor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi-compare-" });
  try {
    // A copy of this checkout's code: other modules, so another kernel and other drivers.
    const base = join(dir, "base");
    await Deno.mkdir(base);
    for await (const entry of Deno.readDir(ROOT)) {
      if ([".git", ".mungi", "tests", "examples", "node_modules"].includes(entry.name)) continue;
      await copy(join(ROOT, entry.name), join(base, entry.name));
    }
    const image = join(dir, "disk.img");
    await prepareImage(image, 1 << 20);
    const options = { base, sizes: [512], depth: 2, rounds: 3, trialMs: 20, warmupMs: 20, image };
    const seen: number[] = [];
    const rows = await runCompare(options, (size) => seen.push(size));
    assertEquals(seen, [512]);
    assertEquals(rows.length, 1);
    const row = rows[0]!;
    for (const r of [row.kernel, row.worker, row.ukBase, row.ukThis, row.same]) {
      assert(r.q1 > 0 && r.q1 <= r.median && r.median <= r.q3 && Number.isFinite(r.q3), `${r}`);
    }
    assert(row.kernelRate > 0 && row.workerRate > 0);
    const table = formatCompare(rows, options);
    assertStringIncludes(table, "noise floor");
    assertStringIncludes(table, "512 B");
    await assertRejects(() => runCompare({ ...options, base: ROOT }), Error, "is this checkout");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function copy(from: string, to: string): Promise<void> {
  const stat = await Deno.stat(from);
  if (!stat.isDirectory) {
    await Deno.copyFile(from, to);
    return;
  }
  await Deno.mkdir(to);
  for await (const entry of Deno.readDir(from)) {
    await copy(join(from, entry.name), join(to, entry.name));
  }
}
