/**
 * The report of `mungi idl check FILE`.
 *
 * @module
 */

import type { IdlSchema, TypeDef } from "./types.ts";
import { checkIdl, type IdlCheckResult } from "./check_idl.ts";
import { formatSignature } from "./format_signature.ts";
import { formatType } from "./format_type.ts";

/** The printed report and whether the file was free of errors. */
export interface CheckReport {
  /** The lines to print, without a trailing newline. */
  readonly text: string;
  /** Whether the file had no errors (the CLI's exit status). */
  readonly ok: boolean;
}

/**
 * Formats the result of `checkIdl` for the command line. On success: `FILE: ok`, then each
 * interface with its method signatures indented below it (inherited ones included), then each
 * named type (those from the prelude marked so). On failure: one `FILE:LINE:COL: message` line
 * per error.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkIdl } from "./check_idl.ts";
 * import { formatCheckReport } from "./format_check_report.ts";
 * const good = formatCheckReport("a.idl", checkIdl("interface I { int get_block_size(); };"));
 * assertEquals(good.ok, true);
 * assertEquals(good.text.split("\n").slice(0, 3), ["a.idl: ok", "interface I", "  int get_block_size()"]);
 * const bad = formatCheckReport("b.idl", checkIdl("interface I { blk f(); };"));
 * assertEquals(bad, { text: 'b.idl:1:15: Unknown type "blk"', ok: false });
 * ```
 */
export function formatCheckReport(file: string, result: IdlCheckResult): CheckReport {
  if (result.errors.length > 0 || result.schema === undefined) {
    const lines = result.errors.map((e) => `${file}:${e.line}:${e.column}: ${e.reason}`);
    if (lines.length === 0) lines.push(`${file}: no schema was produced`);
    return { text: lines.join("\n"), ok: false };
  }
  return { text: describeSchema(file, result.schema).join("\n"), ok: true };
}

function describeSchema(file: string, schema: IdlSchema): string[] {
  const lines = [`${file}: ok`];
  for (const iface of Object.values(schema.interfaces)) {
    const bases = iface.extends.length > 0 ? ` : ${iface.extends.join(", ")}` : "";
    lines.push(`interface ${iface.name}${bases}`);
    for (const m of iface.methods) lines.push(`  ${formatSignature(m)}`);
  }
  for (const def of Object.values(schema.types)) {
    lines.push(describeType(def) + (isPreludeName(def.name) ? "  // prelude" : ""));
  }
  return lines;
}

function describeType(def: TypeDef): string {
  switch (def.kind) {
    case "struct": {
      const fields = def.fields.map((f) => ` ${formatType(f.type)} ${f.name};`).join("");
      return `struct ${def.name} {${fields} }`;
    }
    case "enum":
      return `enum ${def.name} { ${def.values.map((v) => `${v.name} = ${v.value}`).join(", ")} }`;
    case "alias":
      return `typedef ${formatType(def.type)} ${def.name}`;
  }
}

let preludeNames: ReadonlySet<string> | undefined;

function isPreludeName(name: string): boolean {
  // An empty unit compiles to exactly the prelude.
  preludeNames ??= new Set(Object.keys(checkIdl("").schema?.types ?? {}));
  return preludeNames.has(name);
}
