/**
 * `irq`: the machine's interrupt lines as the kernel's router sees them (paper §2.1): which device
 * raises each line, which driver instance registered for it, and how many raises were delivered,
 * coalesced while the driver was still serving one, or held back by the rate limit.
 *
 * @module
 */

import { type ShellPlugin, table } from "../shell/shell.ts";
import { expectArgs } from "./_util.ts";

/**
 * The interrupt plugin.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [irqPlugin()] });
 * ```
 */
export function irqPlugin(): ShellPlugin {
  return {
    name: "irq",
    commands: [{
      name: "irq",
      summary: "interrupt lines: device, owner, raised, delivered, coalesced, rate-limited",
      usage: "irq [--json]",
      details: [
        "line          the line number (0 is never assigned)",
        "device        the device that raises it; owner: the driver instance registered for it",
        "raised        times the device raised it; delivered: times the owner's entry ran",
        "coalesced     raises folded into one pending delivery while the line was in service",
        "rate-limited  deliveries the per-driver rate limit held back (delivered later, merged)",
        "unhandled     raises while no driver was registered",
        "--json        an array of { line, device, owner, raised, delivered, ... }",
      ],
      example: "irq",
      run(args, ctx) {
        expectArgs(args, 0, 0, "irq");
        const lines = ctx.kernel.drivers.router.stats();
        const state = (l: (typeof lines)[number]) =>
          l.inService ? "in service" : l.pending ? "pending" : l.owner === "-" ? "free" : "idle";
        return {
          text: lines.length === 0 ? "no interrupt line has been registered or raised yet" : table(
            [
              "line",
              "device",
              "owner",
              "raised",
              "delivered",
              "coalesced",
              "rate-limited",
              "unhandled",
              "state",
            ],
            lines.map((l) => [
              String(l.line),
              l.device,
              l.owner,
              String(l.raised),
              String(l.delivered),
              String(l.coalesced),
              String(l.rateLimited),
              String(l.unhandled),
              state(l),
            ]),
            { header: ctx.style.bold },
          ),
          json: lines,
        };
      },
    }],
  };
}
