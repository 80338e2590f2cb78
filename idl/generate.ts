/**
 * Compiles every `interfaces/*.idl` to the `.ts` module next to it.
 *
 * ```sh
 * deno run --allow-read --allow-write idl/generate.ts          # write the .ts files
 * deno run --allow-read idl/generate.ts --check                # exit 1 if any is stale
 * ```
 *
 * @module
 */

import { checkIdl } from "./check_idl.ts";
import { compileIdlToTs } from "./compile_idl_to_ts.ts";
import { formatCheckReport } from "./format_check_report.ts";

/** The directory holding the `.idl` files and their generated modules. */
export const INTERFACES_DIR: URL = new URL("../interfaces/", import.meta.url);

/** One IDL file and the module generated from it. */
export interface GeneratedModule {
  /** The IDL file's name inside `interfaces/`, e.g. `"block.idl"`. */
  readonly idlName: string;
  /** The generated module's name inside `interfaces/`, e.g. `"block.ts"`. */
  readonly tsName: string;
  /** The module's text, or `undefined` if the IDL has errors. */
  readonly text?: string;
  /** The `FILE:LINE:COL: message` lines of the IDL's errors, if any. */
  readonly errors?: string;
}

/**
 * Compiles the text of `interfaces/<idlName>` the way this script does; the same function serves
 * the test that the committed modules are up to date.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { generateModule } from "./generate.ts";
 * const out = generateModule("x.idl", "interface IX { void ping(); };");
 * assertStringIncludes(out.text ?? "", "from interfaces/x.idl. DO NOT EDIT.");
 * ```
 */
export function generateModule(idlName: string, idlText: string): GeneratedModule {
  const file = `interfaces/${idlName}`;
  const tsName = idlName.replace(/\.idl$/, ".ts");
  const result = checkIdl(idlText, { file });
  if (result.schema === undefined) {
    return { idlName, tsName, errors: formatCheckReport(file, result).text };
  }
  const text = compileIdlToTs(result.schema, {
    source: file,
    kernelTypesImport: "../idl/types.ts",
  });
  return { idlName, tsName, text };
}

/**
 * Reads and compiles every `.idl` file in `dir`, in name order.
 *
 * @example
 * ```ts ignore
 * import { generateAll, INTERFACES_DIR } from "./generate.ts";
 * for (const m of await generateAll(INTERFACES_DIR)) console.log(m.tsName);
 * ```
 */
export async function generateAll(dir: URL): Promise<GeneratedModule[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".idl")) names.push(entry.name);
  }
  names.sort();
  return await Promise.all(
    names.map(async (name) => generateModule(name, await Deno.readTextFile(new URL(name, dir)))),
  );
}

async function readOrUndefined(url: URL): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(url);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

async function main(args: readonly string[]): Promise<number> {
  const check = args.includes("--check");
  let failed = false;
  for (const m of await generateAll(INTERFACES_DIR)) {
    if (m.text === undefined) {
      console.error(m.errors);
      failed = true;
      continue;
    }
    const target = new URL(m.tsName, INTERFACES_DIR);
    const current = await readOrUndefined(target);
    if (current === m.text) continue;
    if (check) {
      console.error(
        `interfaces/${m.tsName} differs from a fresh compile of interfaces/${m.idlName}`,
      );
      failed = true;
    } else {
      await Deno.writeTextFile(target, m.text);
      console.log(`wrote interfaces/${m.tsName}`);
    }
  }
  if (check && failed) console.error("run: deno run --allow-read --allow-write idl/generate.ts");
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
