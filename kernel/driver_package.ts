/**
 * Driver packages: a folder with a manifest (`manifest.json`: name, what it matches, the interfaces
 * it exports, the windows and lines it needs), its code and its register description. The kernel
 * reads manifests at boot (cheap) and imports a driver's code only when the first matching device
 * appears.
 *
 * @module
 */

import { dirname, fromFileUrl, join, resolve, toFileUrl } from "@std/path";
import { checkIdl } from "../idl/mod.ts";
import type { IdlSchema, InterfaceSchema, TypeDef } from "../idl/types.ts";

/** One match rule: every field given must equal the device's. */
export interface MatchRule {
  readonly bus: "pci" | "usb";
  readonly vendorId?: number;
  readonly deviceId?: number;
  readonly classCode?: number;
  readonly subclass?: number;
  readonly progIf?: number;
}

/** A loaded (not yet imported) driver package. */
export interface DriverPackage {
  readonly name: string;
  readonly description: string;
  /** The package folder (absolute path). */
  readonly dir: string;
  /** The entry module, relative to the folder. */
  readonly entry: string;
  /** file: URL of the entry module. */
  readonly entryUrl: string;
  readonly match: readonly MatchRule[];
  readonly provides: readonly string[];
  /** The compiled IDL of every file the manifest names. */
  readonly schema: IdlSchema;
  /** Register windows it needs (must all exist on the device). */
  readonly windows: readonly string[];
  /** Interrupt lines it needs. */
  readonly lines: number;
  /** Prefix of instance names (`ide` gives `dev/ide0` ... by device name). */
  readonly host?: "kernel" | "worker";
}

const MATCH_KEYS = ["vendorId", "deviceId", "classCode", "subclass", "progIf"] as const;

/**
 * Reads and checks a package's manifest and compiles its IDL files. Errors name the manifest and
 * the field.
 *
 * @example
 * ```ts ignore
 * const pkg = await loadDriverPackage("drivers/ide");
 * pkg.provides; // ["IBlock", "IIde"]
 * ```
 */
export async function loadDriverPackage(dir: string): Promise<DriverPackage> {
  const abs = resolve(dir);
  const file = join(abs, "manifest.json");
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(file));
  } catch (error) {
    throw new TypeError(
      `Driver package ${dir}: cannot read manifest.json: ${(error as Error).message}`,
    );
  }
  const bad = (what: string): never => {
    throw new TypeError(`Driver package ${file}: ${what}`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad("must be a JSON object");
  const m = raw as Record<string, unknown>;
  const str = (key: string): string =>
    typeof m[key] === "string" && m[key] !== ""
      ? m[key] as string
      : bad(`"${key}" must be a non-empty string`);
  const strList = (key: string): string[] =>
    Array.isArray(m[key]) && (m[key] as unknown[]).every((x) => typeof x === "string")
      ? m[key] as string[]
      : bad(`"${key}" must be a list of strings`);
  const name = str("name");
  const entry = str("entry");
  if (entry.includes("..") || entry.startsWith("/")) {
    bad(`"entry" must be a file inside the package`);
  }
  const provides = strList("provides");
  const windows = m.windows === undefined ? [] : strList("windows");
  const lines = m.lines === undefined ? 0 : m.lines;
  if (typeof lines !== "number" || !Number.isInteger(lines) || lines < 0) {
    bad(`"lines" must be a whole number`);
  }
  if (!Array.isArray(m.match) || m.match.length === 0) {
    bad(`"match" must be a non-empty list of rules`);
  }
  const match = (m.match as unknown[]).map((r, i): MatchRule => {
    if (typeof r !== "object" || r === null) return bad(`match[${i}] must be an object`);
    const rule = r as Record<string, unknown>;
    if (rule.bus !== "pci" && rule.bus !== "usb") {
      return bad(`match[${i}].bus must be "pci" or "usb"`);
    }
    const out: Record<string, unknown> = { bus: rule.bus };
    for (const k of MATCH_KEYS) {
      if (rule[k] === undefined) continue;
      if (typeof rule[k] !== "number") return bad(`match[${i}].${k} must be a number`);
      out[k] = rule[k];
    }
    return out as unknown as MatchRule;
  });
  const host = m.host;
  if (host !== undefined && host !== "kernel" && host !== "worker") {
    bad(`"host" must be "kernel" or "worker"`);
  }
  const schema = await compileIdlFiles(abs, strList("idl"), file);
  for (const p of provides) {
    if (!schema.interfaces[p]) bad(`provides ${p}, but no IDL file it names defines it`);
  }
  return {
    name,
    description: typeof m.description === "string" ? m.description : "",
    dir: abs,
    entry,
    entryUrl: toFileUrl(join(abs, entry)).href,
    match,
    provides,
    schema,
    windows,
    lines: lines as number,
    ...(host === undefined ? {} : { host: host as "kernel" | "worker" }),
  };
}

async function compileIdlFiles(dir: string, files: string[], manifest: string): Promise<IdlSchema> {
  const types: Record<string, TypeDef> = {};
  const interfaces: Record<string, InterfaceSchema> = {};
  for (const f of files) {
    const path = resolve(dir, f);
    const source = await Deno.readTextFile(path).catch((e: Error) => {
      throw new TypeError(`Driver package ${manifest}: cannot read IDL file ${f}: ${e.message}`);
    });
    const result = checkIdl(source, { file: path });
    if (!result.schema || result.errors.length > 0) {
      const first = result.errors[0];
      throw new TypeError(
        `Driver package ${manifest}: IDL file ${f} has errors: ${
          first ? first.message : "unknown"
        }`,
      );
    }
    Object.assign(types, result.schema.types);
    Object.assign(interfaces, result.schema.interfaces);
  }
  return { types, interfaces };
}

/**
 * Reads every package under a drivers folder (each subfolder with a manifest.json).
 *
 * @example
 * ```ts ignore
 * const packages = await scanDriverPackages("drivers");
 * ```
 */
export async function scanDriverPackages(root: string): Promise<DriverPackage[]> {
  const out: DriverPackage[] = [];
  const names: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    if (entry.isDirectory) names.push(entry.name);
  }
  for (const n of names.sort()) {
    try {
      await Deno.stat(join(root, n, "manifest.json"));
    } catch {
      continue;
    }
    out.push(await loadDriverPackage(join(root, n)));
  }
  return out;
}

/** The drivers folder of this project. */
export function defaultDriversDir(): string {
  return join(dirname(fromFileUrl(import.meta.url)), "..", "drivers");
}

/**
 * Whether a rule matches a PCI function's identity.
 *
 * @example
 * ```ts
 * import { matchesPci } from "./driver_package.ts";
 * matchesPci({ bus: "pci", classCode: 1 }, { vendorId: 1, deviceId: 2, classCode: 1, subclass: 1, progIf: 0 }); // true
 * ```
 */
export function matchesPci(rule: MatchRule, ids: Readonly<Record<string, number>>): boolean {
  if (rule.bus !== "pci") return false;
  for (const k of MATCH_KEYS) {
    if (rule[k] !== undefined && rule[k] !== ids[k]) return false;
  }
  return true;
}
