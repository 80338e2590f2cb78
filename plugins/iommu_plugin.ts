/**
 * `iommu`: DMA protection (paper §2.1). Each device reaches memory only through its IOMMU domain;
 * this lists every device's mappings (address, length, direction, which memory object) and the
 * faults recorded when a device reached outside them.
 *
 * @module
 */

import { formatAddress } from "../kernel/address.ts";
import { type ShellPlugin, table } from "../shell/shell.ts";
import { expectArgs, plural } from "./_util.ts";

/**
 * The IOMMU plugin.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [iommuPlugin()] });
 * ```
 */
export function iommuPlugin(): ShellPlugin {
  return {
    name: "iommu",
    commands: [{
      name: "iommu",
      summary: "IOMMU mappings per device and the DMA faults recorded",
      usage: "iommu [--json]",
      details: [
        "mappings  per device: device address, length, access (r: the device may read memory,",
        "          rw: also write it), the memory object mapped",
        "faults    each DMA that reached outside its device's mappings: when (ms since boot),",
        "          device, direction, address, length; the transfer failed, nothing else was hurt",
        "--json    { devices: [{ device, mappings: [...] }], faults: [...] }",
      ],
      example: "iommu",
      run(args, ctx) {
        expectArgs(args, 0, 0, "iommu");
        const iommu = ctx.kernel.machine.iommu;
        const all = iommu.mappings();
        const names = [
          ...new Set([
            ...ctx.kernel.machine.pciFunctions().map((f) => f.model.name),
            ...all.map((m) => m.device),
          ]),
        ];
        const devices = names.map((device) => ({
          device,
          mappings: all.filter((m) => m.device === device).map(({ mapping: m }) => ({
            address: m.address,
            length: m.length,
            writable: m.writable,
            label: m.label,
          })),
        }));
        const faults = iommu.faults.map((f) => ({ ...f }));
        const { bold, red } = ctx.style;
        const rows = devices.flatMap((d) =>
          d.mappings.length === 0
            ? [[d.device, "-", "-", "-", "(no mappings)"]]
            : d.mappings.map((m) => [
              d.device,
              formatAddress(m.address),
              String(m.length),
              m.writable ? "rw" : "r",
              m.label,
            ])
        );
        const text = [
          bold("mappings"),
          rows.length === 0
            ? "  no devices"
            : table(["device", "address", "length", "access", "memory"], rows),
          "",
          bold(`faults (${faults.length})`),
          faults.length === 0 ? "  no DMA faults recorded" : red(table(
            ["time ms", "device", "direction", "address", "length"],
            faults.map((f) => [
              String(f.time),
              f.device,
              f.direction,
              formatAddress(f.address),
              String(f.length),
            ]),
          )),
        ];
        if (faults.length > 0) {
          text.push(
            ctx.style.dim(
              `  ${
                plural(faults.length, "transfer")
              } failed at the IOMMU; memory outside the mappings was not touched`,
            ),
          );
        }
        return { text: text.join("\n"), json: { devices, faults } };
      },
    }],
  };
}
