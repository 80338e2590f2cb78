// The study end to end, tiny: both hosts and the copy series at two sizes, over a file-backed and
// a cached disk, through the same analysis the bench prints.
import { assert, assertEquals } from "@std/assert";
import { join } from "@std/path";
import { prepareImage } from "../bench/disk.ts";
import { analyze } from "../bench/results.ts";
import { type DiskBacking, PRIME_SLICE_MS, primeRig, runStudy } from "../bench/study.ts";

for (const disk of ["file", "cached"] as DiskBacking[]) {
  Deno.test(`a tiny study runs every series at every size and reads the image's pattern (${disk} disk)`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "mungi-study-" });
    try {
      const image = join(dir, "disk.img");
      await prepareImage(image, 1 << 20);
      const steps: number[] = [];
      const { trials, interrupts } = await runStudy(
        {
          sizes: [512, 4096],
          trials: 2,
          trialMs: 5,
          minRequests: 3,
          warmupMs: 1,
          depth: 2,
          image,
          disk,
        },
        1 << 20,
        { step: (done) => steps.push(done) },
      );
      const seen = new Set(trials.map((t) => `${t.series}/${t.size}/${t.round}`));
      for (const series of ["kernel", "worker", "copy", "shared"]) {
        for (const size of [512, 4096]) {
          for (const round of [0, 1]) {
            assert(seen.has(`${series}/${size}/${round}`), `${series} ${size} ${round}`);
          }
        }
      }
      assert(trials.every((t) => t.ops >= 3 && t.bytes === t.ops * t.size));
      assert(interrupts.kernel.delivered > 0 && interrupts.worker.delivered > 0);
      const analysis = analyze(trials);
      assertEquals(analysis.ratios.map((r) => r.size), [512, 4096]);
      assert(analysis.ratios.every((r) => r.mibps.median > 0));
      assertEquals(steps.at(-1), steps.length); // the progress counted every step
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("priming reads every size in turn, pass after pass, until its time is up", async () => {
  const reads: [number, number][] = [];
  const rig = {
    read(size: number, ms: number, minRequests: number): Promise<number> {
      reads.push([size, ms]);
      assertEquals(minRequests, 3);
      return new Promise((resolve) => setTimeout(() => resolve(minRequests), 2));
    },
  };
  await primeRig(rig, [512, 4096, 65536], 30);
  const sizes = reads.map(([size]) => size);
  assert(sizes.length >= 6 && sizes.length % 3 === 0, `whole passes: ${sizes}`);
  sizes.forEach((size, i) => assertEquals(size, [512, 4096, 65536][i % 3]));
  assert(reads.every(([, ms]) => ms === Math.min(PRIME_SLICE_MS, 30)));
  reads.length = 0;
  await primeRig(rig, [512, 4096], 0); // one pass even with no time
  assertEquals(reads.map(([size]) => size), [512, 4096]);
});
