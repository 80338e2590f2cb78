/**
 * `drivers`: the driver classes the kernel knows (packages: loaded on first use or not yet) and
 * the instances running, with their state, host and counters.
 *
 * @module
 */

import { formatAddress } from "../kernel/address.ts";
import type { MatchRule } from "../kernel/driver_package.ts";
import { type ShellPlugin, table } from "../shell/shell.ts";
import { expectArgs } from "./_util.ts";

function hex(n: number, digits: number): string {
  return n.toString(16).padStart(digits, "0");
}

/** A match rule as people read it: `pci classCode=01 subclass=01`. */
function formatRule(r: MatchRule): string {
  const fields = Object.entries(r.fields).map(([k, v]) => `${k}=${hex(v, /Id$/.test(k) ? 4 : 2)}`);
  return [r.bus, ...fields].join(" ");
}

/**
 * The drivers plugin.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [driversPlugin()] });
 * ```
 */
export function driversPlugin(): ShellPlugin {
  return {
    name: "drivers",
    commands: [{
      name: "drivers",
      summary: "driver classes (loaded or not) and instances with state, host and counters",
      usage: "drivers [--json]",
      details: [
        "classes:    every driver package found at boot; loaded once a matching device appeared",
        "            (--json adds each package's description and host)",
        "instances:  one per device: state, host (kernel or worker), calls, interrupts",
        "            delivered, denied accesses, faults, DMA mappings made",
        "--json      { classes: [...], instances: [...] }",
      ],
      example: "drivers",
      run(args, ctx) {
        expectArgs(args, 0, 0, "drivers");
        const manager = ctx.kernel.drivers;
        const classes = manager.packages.map((p) => ({
          name: p.name,
          loaded: manager.loaded.has(p.name),
          provides: p.provides,
          match: p.match.map(formatRule),
          host: p.host ?? "any",
          description: p.description,
        }));
        const instances = manager.instances().map((i) => ({
          device: i.device,
          driver: i.driver,
          name: i.name,
          address: i.address,
          host: i.host,
          state: i.state,
          calls: i.calls,
          interrupts: i.counters.interrupts,
          denied: i.counters.denied,
          faults: i.counters.faults,
          dmaMaps: i.counters.dmaMaps,
        }));
        const { bold } = ctx.style;
        const text = [
          bold("driver classes"),
          classes.length === 0 ? "  no driver packages" : table(
            ["name", "loaded", "provides", "matches"],
            classes.map((c) => [
              c.name,
              c.loaded ? "yes" : "no",
              c.provides.join(", ") || "-",
              c.match.join("; "),
            ]),
          ),
          "",
          bold("instances"),
          instances.length === 0 ? "  no driver instances" : table(
            [
              "device",
              "driver",
              "name",
              "address",
              "host",
              "state",
              "calls",
              "irqs",
              "denied",
              "faults",
              "dma maps",
            ],
            instances.map((i) => [
              i.device,
              i.driver,
              i.name,
              formatAddress(i.address),
              i.host,
              i.state,
              String(i.calls),
              String(i.interrupts),
              String(i.denied),
              String(i.faults),
              String(i.dmaMaps),
            ]),
          ),
        ].join("\n");
        return { text, json: { classes, instances } };
      },
    }],
  };
}
