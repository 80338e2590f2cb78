/**
 * Compiles every `drivers/**\/*.regs` register description (and the regs test fixtures in
 * `tests/fixtures/regs/`) to a sibling `*_regs.ts` (`drivers/ide/ata.regs` ->
 * `drivers/ide/ata_regs.ts`).
 *
 * ```sh
 * deno run --allow-read --allow-write regs/generate.ts          # write what changed
 * deno run --allow-read regs/generate.ts --check                # exit 1 listing stale files
 * ```
 *
 * @module
 */

import { checkRegs } from "./parse.ts";
import { compileRegsToTs } from "./compile_ts.ts";
import { formatRegsReport } from "./report.ts";

/** Options for {@linkcode generateRegsFiles}. */
export interface GenerateRegsOptions {
  /** Directories under the root to search; default `drivers` and `tests/fixtures/regs`. */
  dirs?: string[];
  /** Only compare: report stale outputs instead of writing them. */
  check?: boolean;
}

/** What {@linkcode generateRegsFiles} did, as paths relative to the root. */
export interface GenerateRegsResult {
  /** Every description found. */
  sources: string[];
  /** Outputs written (none with `check`). */
  written: string[];
  /** Outputs that differ from a fresh compile, or are missing (with `check`). */
  stale: string[];
  /** `FILE:LINE:COL: message` lines for descriptions that do not compile. */
  errors: string[];
}

/**
 * Where the TypeScript compiled from a description goes: beside it, `.regs` -> `_regs.ts`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { regsOutputPath } from "./generate.ts";
 * assertEquals(regsOutputPath("drivers/ide/ata.regs"), "drivers/ide/ata_regs.ts");
 * ```
 */
export function regsOutputPath(source: string): string {
  return source.replace(/\.regs$/, "_regs.ts");
}

/** The import specifier of root-relative `target` from root-relative directory `fromDir`. */
function relativeImport(fromDir: string, target: string): string {
  const from = fromDir.split("/").filter((p) => p !== "");
  const to = target.split("/");
  let common = 0;
  while (common < from.length && common < to.length - 1 && from[common] === to[common]) common++;
  const up = from.slice(common).map(() => "..");
  const path = [...up, ...to.slice(common)].join("/");
  return up.length === 0 ? `./${path}` : path;
}

async function findRegs(root: string, dir: string, out: string[]): Promise<void> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(`${root}/${dir}`)) entries.push(entry);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) await findRegs(root, path, out);
    else if (entry.isFile && entry.name.endsWith(".regs")) out.push(path);
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/**
 * Compiles every `.regs` file under `root/drivers` (and `root/tests/fixtures/regs`) to its
 * `_regs.ts`, importing the runtime from
 * `root/regs/runtime.ts`. Writes only outputs whose text changed; with `check`, writes nothing.
 *
 * @example
 * ```ts ignore
 * import { generateRegsFiles } from "./generate.ts";
 * const { stale } = await generateRegsFiles(".", { check: true });
 * if (stale.length > 0) console.error("stale:", stale);
 * ```
 */
export async function generateRegsFiles(
  root: string,
  options: GenerateRegsOptions = {},
): Promise<GenerateRegsResult> {
  const sources: string[] = [];
  for (const dir of options.dirs ?? ["drivers", "tests/fixtures/regs"]) {
    await findRegs(root, dir, sources);
  }
  const result: GenerateRegsResult = { sources, written: [], stale: [], errors: [] };
  for (const source of sources) {
    const checked = checkRegs(await Deno.readTextFile(`${root}/${source}`), { file: source });
    if (checked.desc === undefined) {
      result.errors.push(formatRegsReport(source, checked).text);
      continue;
    }
    const output = regsOutputPath(source);
    const dir = output.slice(0, output.lastIndexOf("/"));
    const text = compileRegsToTs(checked.desc, {
      source,
      runtimeImport: relativeImport(dir, "regs/runtime.ts"),
    });
    if (await readIfExists(`${root}/${output}`) === text) continue;
    if (options.check) result.stale.push(output);
    else {
      await Deno.writeTextFile(`${root}/${output}`, text);
      result.written.push(output);
    }
  }
  return result;
}

async function main(args: string[]): Promise<number> {
  const check = args.includes("--check");
  const unknown = args.filter((a) => a !== "--check");
  if (unknown.length > 0) {
    console.error(`Unknown argument "${unknown[0]}": usage: regs/generate.ts [--check]`);
    return 2;
  }
  const root = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
  const result = await generateRegsFiles(root, { check });
  for (const e of result.errors) console.error(e);
  for (const w of result.written) console.log(`wrote ${w}`);
  for (const s of result.stale) {
    console.error(`stale: ${s} (run: deno run --allow-read --allow-write regs/generate.ts)`);
  }
  return result.errors.length > 0 || result.stale.length > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
