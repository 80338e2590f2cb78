/**
 * `devices`: the bus tree, built from the devices the driver manager knows. Each root bus (PCI)
 * lists its devices; under each device, the driver instance serving it (driver class, kernel or
 * worker host, name, address), then the devices that driver announced (a USB host controller's
 * root hub, the devices on its ports), and so on down.
 *
 * @module
 */

import { formatAddress } from "../kernel/address.ts";
import type { DeviceNode } from "../kernel/device_node.ts";
import type { DriverInstanceInfo } from "../kernel/driver_manager.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Styles } from "../shell/style.ts";
import type { ShellPlugin } from "../shell/shell.ts";
import { expectArgs, plural } from "./_util.ts";

/** The driver instance serving a device. */
export interface DriverEntry {
  readonly driver: string;
  readonly name: string;
  readonly address: string;
  readonly host: string;
  readonly state: string;
}

/** One device on a bus. */
export interface DeviceEntry {
  /** Where it sits: `slot 0`, `port 2`. */
  readonly location: string;
  /** The device name (`ide0`). */
  readonly device: string;
  /** Its ids as the bus writes them (`8086:7010`). */
  readonly ids: string;
  /** What kind of device it is (`IDE controller`). */
  readonly kind: string;
  /** Its interrupt line, if it has one. */
  readonly line?: number;
  readonly driver: DriverEntry | null;
  /** Devices behind it (the ports of a hub or host controller). */
  readonly children?: readonly DeviceEntry[];
}

/** One root bus and its devices. */
export interface BusTree {
  readonly bus: string;
  /** `1 device in 32 slots` */
  readonly summary: string;
  readonly devices: readonly DeviceEntry[];
}

const PCI_CLASSES: Readonly<Record<string, string>> = {
  "01.01": "IDE controller",
  "01.06": "SATA controller",
  "01": "mass storage controller",
  "02.00": "Ethernet controller",
  "02": "network controller",
  "03.00": "VGA controller",
  "03": "display controller",
  "07.00": "serial controller",
  "07": "communication controller",
  "09.00": "keyboard controller",
  "0c.03": "USB controller",
  "0c": "serial bus controller",
};

const USB_CLASSES: Readonly<Record<number, string>> = {
  0x01: "audio",
  0x02: "communications",
  0x03: "HID",
  0x07: "printer",
  0x08: "mass storage",
  0x09: "hub",
  0x0e: "video",
  0xe0: "wireless",
  0xff: "vendor specific",
};

function hex(n: number | undefined, digits: number): string {
  return n === undefined ? "?".repeat(digits) : n.toString(16).padStart(digits, "0");
}

function toDriverEntry(i: DriverInstanceInfo): DriverEntry {
  return {
    driver: i.driver,
    name: i.name,
    address: formatAddress(i.address),
    host: i.host,
    state: i.state,
  };
}

/** Where a device sits, its ids and kind, as its bus describes them. */
function describeNode(node: DeviceNode, kernel: Kernel): Omit<DeviceEntry, "driver" | "device"> {
  const ids = node.ids;
  if (node.bus === "pci") {
    const fn = kernel.machine.pciFunctions().find((f) => f.model.name === node.name);
    const cls = `${hex(ids.classCode, 2)}.${hex(ids.subclass, 2)}`;
    const name = PCI_CLASSES[cls] ?? PCI_CLASSES[hex(ids.classCode, 2)] ?? "device";
    return {
      location: fn ? `slot ${fn.slot}` : "pci",
      ids: `${hex(ids.vendorId, 4)}:${hex(ids.deviceId, 4)}`,
      kind: `${name} (class ${cls}.${hex(ids.progIf, 2)})`,
      ...(node.line === 0 ? {} : { line: node.line }),
    };
  }
  if (node.bus === "usb") {
    const cls = ids.interfaceClass ?? ids.deviceClass;
    return {
      location: ids.port === undefined ? "usb" : `port ${ids.port}`,
      ids: `${hex(ids.vendorId, 4)}:${hex(ids.productId, 4)}`,
      kind: `USB ${cls === undefined ? "device" : USB_CLASSES[cls] ?? `class ${hex(cls, 2)}`}`,
    };
  }
  return {
    location: node.bus,
    ids: Object.entries(ids).map(([k, v]) => `${k}=${v}`).join(" ") || "-",
    kind: node.bus === "usbhost" ? "USB root hub" : `${node.bus} device`,
    ...(node.line === 0 ? {} : { line: node.line }),
  };
}

/**
 * The device tree of a kernel: root buses (PCI) with their devices, each device with the driver
 * instance serving it and the devices its driver announced (a USB host controller's root hub,
 * the devices on its ports).
 *
 * @example
 * ```ts ignore
 * deviceTree(kernel)[0]?.devices[0]?.device; // "ide0"
 * ```
 */
export function deviceTree(kernel: Kernel): BusTree[] {
  const manager = kernel.drivers;
  const nodes = manager.devices();
  const instances = new Map(manager.instances().map((i) => [i.device, i]));
  const known = new Set(nodes.map((n) => n.name));
  const entry = (node: DeviceNode): DeviceEntry => {
    const inst = instances.get(node.name);
    const children = nodes.filter((n) => n.parent !== undefined && n.parent === node.name);
    return {
      device: node.name,
      ...describeNode(node, kernel),
      driver: inst ? toDriverEntry(inst) : null,
      ...(children.length ? { children: children.map(entry) } : {}),
    };
  };
  // Roots: devices no driver announced (or whose announcer is gone), grouped by bus.
  const roots = nodes.filter((n) => n.parent === undefined || !known.has(n.parent));
  const buses = [...new Set(["pci", ...roots.map((n) => n.bus)])];
  return buses.map((bus) => {
    const devices = roots.filter((n) => n.bus === bus).map(entry);
    return {
      bus,
      summary: bus === "pci"
        ? `${plural(devices.length, "device")} in ${kernel.machine.slots} slots`
        : plural(devices.length, "device"),
      devices,
    };
  });
}

function render(buses: readonly BusTree[], style: Styles): string {
  const out: string[] = [];
  const walk = (devices: readonly DeviceEntry[], indent: string) => {
    devices.forEach((d, n) => {
      const last = n === devices.length - 1;
      out.push(
        `${indent}${last ? "└─ " : "├─ "}${d.location}  ${
          style.bold(d.device)
        }  ${d.ids}  ${d.kind}${d.line === undefined ? "" : `  irq ${d.line}`}`,
      );
      const inner = indent + (last ? "   " : "│  ");
      const kids = d.children ?? [];
      const drv = d.driver
        ? `driver ${style.cyan(d.driver.driver)}, ${d.driver.host} host, ${
          style.green(d.driver.name)
        } at ${d.driver.address}, ${d.driver.state}`
        : style.yellow("no driver");
      out.push(`${inner}${kids.length ? "├─ " : "└─ "}${drv}`);
      walk(kids, inner);
    });
  };
  for (const b of buses) {
    out.push(`${style.bold(b.bus)}: ${b.summary}`);
    walk(b.devices, "");
  }
  return out.join("\n");
}

/**
 * The devices plugin.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [devicesPlugin()] });
 * ```
 */
export function devicesPlugin(): ShellPlugin {
  return {
    name: "devices",
    commands: [{
      name: "devices",
      summary: "the bus tree: each device, its driver instance, host and name",
      usage: "devices [--json]",
      details: [
        "Each bus lists its devices (PCI slot or USB port, name, ids, kind, interrupt line),",
        "under each the driver instance serving it (driver class, kernel or worker host, name,",
        "address, state), then the devices that driver announced (a USB controller's ports).",
        "--json  { buses: [{ bus, summary, devices: [{ ..., driver, children }] }] }",
      ],
      example: "devices",
      run(args, ctx) {
        expectArgs(args, 0, 0, "devices");
        const buses = deviceTree(ctx.kernel);
        return { text: render(buses, ctx.style), json: { buses } };
      },
    }],
  };
}
