import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { cpuSpec, renderSvg, throughputSpec } from "../bench/plot.ts";
import { analyze } from "../bench/results.ts";
import type { Trial } from "../bench/study.ts";

function trials(): Trial[] {
  const out: Trial[] = [];
  for (let round = 0; round < 3; round++) {
    for (const size of [512, 4096, 1 << 20]) {
      const t = (series: Trial["series"], ms: number): Trial => ({
        series,
        size,
        round,
        ops: (1 << 24) / size,
        bytes: 1 << 24,
        wallMs: ms * (1 + round / 20),
        cpuUs: ms * 900,
      });
      out.push(t("kernel", 20), t("worker", 30), t("copy", 2));
    }
  }
  return out;
}

/**
 * Checks that `svg` is well-formed XML with an `<svg>` root in the SVG namespace: every tag
 * closes in order, attributes are quoted, nothing but whitespace follows the root.
 */
function assertWellFormedSvg(svg: string): void {
  const token =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<|[^<]+/g;
  const open: string[] = [];
  let root: string | undefined;
  let closedRoot = false;
  for (const m of svg.matchAll(token)) {
    const [text, slash, name, attrs, selfClosing] = m;
    if (text === "<") {
      throw new Error(`Malformed tag at ${m.index}: ${svg.slice(m.index, m.index + 40)}`);
    }
    if (name === undefined) {
      if (closedRoot && text.trim() !== "" && !text.startsWith("<!--")) {
        throw new Error(`Text after the root element: ${text.slice(0, 40)}`);
      }
      continue;
    }
    assert(!closedRoot, `element <${name}> after the root element closed`);
    if (slash) {
      assertEquals(open.pop(), name, `</${name}> closes the wrong element`);
      if (open.length === 0) closedRoot = true;
      continue;
    }
    if (root === undefined) {
      root = name;
      assertStringIncludes(attrs ?? "", 'xmlns="http://www.w3.org/2000/svg"');
    }
    if (selfClosing) {
      if (open.length === 0) closedRoot = true;
    } else open.push(name);
  }
  assertEquals(root, "svg");
  assertEquals(open, [], "unclosed elements");
  assert(closedRoot);
}

Deno.test("the throughput plot is a well-formed SVG with every series and the goals", async () => {
  const svg = await renderSvg(throughputSpec(analyze(trials()), "test run, queue depth 1"));
  assertWellFormedSvg(svg);
  for (const text of ["in-kernel", "user-level", "memcpy", "MiB/s", "512 B", "1 MiB"]) {
    assertStringIncludes(svg, `>${text}<`);
  }
  assertStringIncludes(svg, "goal at 512 B: 0.90");
  assertStringIncludes(svg, "test run, queue depth 1");
  // One line per series in the throughput panel, one in the ratio panel.
  assert((svg.match(/class="mark-line role-mark/g) ?? []).length >= 2);
});

Deno.test("the CPU plot is a well-formed SVG with both hosts and no copy series", async () => {
  const svg = await renderSvg(cpuSpec(analyze(trials()), "test run"));
  assertWellFormedSvg(svg);
  for (const text of ["in-kernel", "user-level", "ms/MiB", "% of one core"]) {
    assertStringIncludes(svg, `>${text}<`);
  }
  assert(!svg.includes(">memcpy<"));
});

Deno.test("the SVG check itself catches broken markup", () => {
  let failed = 0;
  for (const bad of ["<svg></g>", '<svg xmlns="http://www.w3.org/2000/svg"><g>', "<div></div>"]) {
    try {
      assertWellFormedSvg(bad);
    } catch {
      failed++;
    }
  }
  assertEquals(failed, 3);
});
