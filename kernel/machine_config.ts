/**
 * Machine descriptions: a JSON file saying what hardware a machine has and where its drivers run,
 * for `mungi shell --machine FILE`.
 *
 * ```json
 * {
 *   "ide": { "image": "disks/ide0.img", "size": 67108864, "latencyMs": 0 },
 *   "usb": true,
 *   "host": "worker",
 *   "hostFor": { "ide0": "kernel" }
 * }
 * ```
 *
 * `ide` may be `false` (no disk); a relative `image` is relative to the description's folder;
 * `"cache": true` holds the image in memory (writing through to the file).
 *
 * @module
 */

import { dirname, isAbsolute, join } from "@std/path";
import type { IdeDiskConfig, MachineConfig } from "./boot.ts";
import type { HostKind } from "./hosts/driver_host.ts";

/** A parsed machine description: the machine, and the hosts its drivers run in. */
export interface MachineDescription {
  readonly machine: MachineConfig;
  readonly host?: HostKind;
  readonly hostFor?: Readonly<Record<string, HostKind>>;
}

const HOSTS: readonly HostKind[] = ["kernel", "worker"];

/**
 * Parses and checks a machine description. Every error is a `TypeError` naming the file and the
 * field, and saying what was expected.
 *
 * @example
 * ```ts
 * import { parseMachineDescription } from "./machine_config.ts";
 * const d = parseMachineDescription('{ "ide": false, "usb": true }', "m.json");
 * d.machine.usb; // true
 * ```
 */
export function parseMachineDescription(text: string, file: string): MachineDescription {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new TypeError(`${file}: not JSON: ${(error as Error).message}`);
  }
  const bad = (what: string): never => {
    throw new TypeError(`${file}: ${what}`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) bad("expected a JSON object");
  const d = raw as Record<string, unknown>;
  for (const key of Object.keys(d)) {
    if (!["ide", "usb", "host", "hostFor"].includes(key)) {
      bad(`unknown field "${key}"; the fields are ide, usb, host, hostFor`);
    }
  }
  let ide: IdeDiskConfig | false | undefined;
  if (d.ide === false) ide = false;
  else if (d.ide !== undefined) {
    if (typeof d.ide !== "object" || d.ide === null || Array.isArray(d.ide)) {
      bad(`"ide" must be false or an object { image?, size?, latencyMs?, cache? }`);
    }
    const o = d.ide as Record<string, unknown>;
    const out: { image?: string; size?: number; latencyMs?: number; cache?: boolean } = {};
    for (const [k, v] of Object.entries(o)) {
      if (k === "image") {
        if (typeof v !== "string" || v === "") bad(`"ide.image" must be a file path`);
        out.image = isAbsolute(v as string) ? v as string : join(dirname(file), v as string);
      } else if (k === "size") {
        if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0 || v % 512 !== 0) {
          bad(`"ide.size" must be a positive whole number of bytes, a multiple of 512`);
        }
        out.size = v as number;
      } else if (k === "latencyMs") {
        if (typeof v !== "number" || !(v >= 0) || v > 10_000) {
          bad(`"ide.latencyMs" must be 0 to 10000`);
        }
        out.latencyMs = v as number;
      } else if (k === "cache") {
        if (typeof v !== "boolean") bad(`"ide.cache" must be true or false`);
        out.cache = v as boolean;
      } else bad(`unknown field "ide.${k}"; the fields are image, size, latencyMs, cache`);
    }
    ide = out;
  }
  if (d.usb !== undefined && typeof d.usb !== "boolean") bad(`"usb" must be true or false`);
  if (d.host !== undefined && !HOSTS.includes(d.host as HostKind)) {
    bad(`"host" must be "kernel" or "worker"`);
  }
  let hostFor: Record<string, HostKind> | undefined;
  if (d.hostFor !== undefined) {
    if (typeof d.hostFor !== "object" || d.hostFor === null || Array.isArray(d.hostFor)) {
      bad(`"hostFor" must map device names to "kernel" or "worker"`);
    }
    hostFor = {};
    for (const [device, host] of Object.entries(d.hostFor as Record<string, unknown>)) {
      if (!HOSTS.includes(host as HostKind)) {
        bad(`"hostFor.${device}" must be "kernel" or "worker"`);
      }
      hostFor[device] = host as HostKind;
    }
  }
  const machine: MachineConfig = {
    ...(ide === undefined ? {} : { ide }),
    ...(d.usb === undefined ? {} : { usb: d.usb as boolean }),
  };
  return {
    machine,
    ...(d.host === undefined ? {} : { host: d.host as HostKind }),
    ...(hostFor === undefined ? {} : { hostFor }),
  };
}
