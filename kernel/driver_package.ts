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
import type { BusKind, DeviceNode } from "./device_node.ts";
import { type CallMapRule, parseCallMaps } from "./call_maps.ts";

/**
 * One match rule: the bus, and numeric fields that must all equal the device's ids. PCI ids:
 * vendorId, deviceId, classCode, subclass, progIf. USB ids: vendorId, productId, deviceClass,
 * interfaceClass, interfaceSubclass, interfaceProtocol.
 */
export interface MatchRule {
  readonly bus: BusKind;
  readonly fields: Readonly<Record<string, number>>;
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
  /** Interfaces the driver may serve from objects it creates (`ctx.objects`). */
  readonly objects: readonly string[];
  /** Buses whose devices this driver may announce (a bus driver: the USB core announces `usb`). */
  readonly announces: readonly BusKind[];
  /** The compiled IDL of every file the manifest names. */
  readonly schema: IdlSchema;
  /** Register windows it needs (must all exist on the device). */
  readonly windows: readonly string[];
  /** Interrupt lines it needs. */
  readonly lines: number;
  /**
   * Maps its methods make with each call, by method (`kernel/call_maps.ts`): the worker host's
   * kernel makes them as it sends the call.
   */
  readonly callMaps: Readonly<Record<string, CallMapRule>>;
  /** Prefix of instance names (`ide` gives `dev/ide0` ... by device name). */
  readonly host?: "kernel" | "worker";
}

const MATCH_KEYS: Readonly<Record<BusKind, readonly string[]>> = {
  pci: ["vendorId", "deviceId", "classCode", "subclass", "progIf"],
  usb: [
    "vendorId",
    "productId",
    "deviceClass",
    "interfaceClass",
    "interfaceSubclass",
    "interfaceProtocol",
  ],
  usbhost: [],
};
const BUSES = Object.keys(MATCH_KEYS) as BusKind[];

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
    const bus = rule.bus as BusKind;
    if (!BUSES.includes(bus)) return bad(`match[${i}].bus must be one of ${BUSES.join(", ")}`);
    const fields: Record<string, number> = {};
    for (const [k, v] of Object.entries(rule)) {
      if (k === "bus") continue;
      if (!MATCH_KEYS[bus].includes(k)) {
        return bad(
          `match[${i}].${k} is not a ${bus} id (expected ${MATCH_KEYS[bus].join(", ") || "none"})`,
        );
      }
      if (typeof v !== "number" || !Number.isInteger(v)) {
        return bad(`match[${i}].${k} must be a whole number`);
      }
      fields[k] = v;
    }
    return { bus, fields };
  });
  const objects = m.objects === undefined ? [] : strList("objects");
  const announces = m.announces === undefined ? [] : strList("announces");
  for (const b of announces) {
    if (!BUSES.includes(b as BusKind)) {
      bad(`"announces" lists ${b}, not a bus (${BUSES.join(", ")})`);
    }
  }
  const host = m.host;
  if (host !== undefined && host !== "kernel" && host !== "worker") {
    bad(`"host" must be "kernel" or "worker"`);
  }
  const schema = await compileIdlFiles(abs, strList("idl"), file);
  for (const p of [...provides, ...objects]) {
    if (!schema.interfaces[p]) bad(`names interface ${p}, but no IDL file it lists defines it`);
  }
  let callMaps: Readonly<Record<string, CallMapRule>> = {};
  if (m.callMaps !== undefined) {
    try {
      callMaps = parseCallMaps(m.callMaps, schema, provides);
    } catch (error) {
      bad((error as Error).message);
    }
  }
  return {
    name,
    description: typeof m.description === "string" ? m.description : "",
    dir: abs,
    entry,
    entryUrl: toFileUrl(join(abs, entry)).href,
    match,
    provides,
    objects,
    announces: announces as BusKind[],
    callMaps,
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
 * Whether a rule matches a device: same bus, and every field of the rule equals the device's id.
 *
 * @example
 * ```ts ignore
 * matches({ bus: "pci", fields: { classCode: 1 } }, node); // true for an IDE controller
 * ```
 */
export function matches(rule: MatchRule, node: Pick<DeviceNode, "bus" | "ids">): boolean {
  if (rule.bus !== node.bus) return false;
  for (const [k, v] of Object.entries(rule.fields)) {
    if (node.ids[k] !== v) return false;
  }
  return true;
}
