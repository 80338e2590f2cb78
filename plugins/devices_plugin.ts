/**
 * `devices`: the bus tree, built from the devices the driver manager knows. Each root bus (PCI)
 * lists its devices; under each device, the driver instance serving it (driver class, kernel or
 * worker host, name, address), then the devices that driver announced: a USB host controller's
 * root hub, and under the root hub each of its ports, empty or with the device in it.
 *
 * @module
 */

import { formatAddress } from "../kernel/address.ts";
import type { DeviceNode } from "../kernel/device_node.ts";
import type { DriverInstanceInfo } from "../kernel/driver_manager.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { XhciController } from "../machine/usb/xhci_controller.ts";
import { XHCI_PORTS } from "../machine/usb/xhci_registers.ts";
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
  /** A USB root hub's ports, in order, each empty or with its device. */
  readonly ports?: readonly PortEntry[];
  /** Other devices its driver announced (a host controller's root hub). */
  readonly children?: readonly DeviceEntry[];
}

/** One port of a USB root hub. */
export interface PortEntry {
  /** 1-based, as `plug usb <port>` takes it. */
  readonly port: number;
  /** The device in the port, as the USB core announced it; null when there is none. */
  readonly device: DeviceEntry | null;
  /**
   * A device the hardware has in the port that no driver announced (yet): being enumerated,
   * or one the USB core gave up on. What it is, e.g. `keyboard "Mungi USB Keyboard"`.
   */
  readonly connected?: string;
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

/** HID boot interfaces (class 3, subclass 1) by protocol. */
const HID_PROTOCOLS: Readonly<Record<string, string>> = {
  "3.1.1": " keyboard",
  "3.1.2": " mouse",
};

/** xHCI port speed ids (PORTSC), as the USB core reports them. */
const USB_SPEEDS: Readonly<Record<number, string>> = {
  1: "full speed",
  2: "low speed",
  3: "high speed",
  4: "super speed",
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
    const speed = ids.speed === undefined ? undefined : USB_SPEEDS[ids.speed];
    return {
      location: ids.port === undefined ? "usb" : `port ${ids.port}`,
      ids: `${hex(ids.vendorId, 4)}:${hex(ids.productId, 4)}`,
      kind: `USB ${cls === undefined ? "device" : USB_CLASSES[cls] ?? `class ${hex(cls, 2)}`}${
        HID_PROTOCOLS[`${cls}.${ids.interfaceSubclass}.${ids.interfaceProtocol}`] ?? ""
      }${speed ? `, ${speed}` : ""}`,
    };
  }
  if (node.bus === "usbhost") {
    const ports = rootHubController(node, kernel) ? XHCI_PORTS : undefined;
    return {
      location: "root hub",
      ids: "-",
      kind: `USB root hub${ports === undefined ? "" : `, ${plural(ports, "port")}`}`,
    };
  }
  return {
    location: node.bus,
    ids: Object.entries(ids).map(([k, v]) => `${k}=${v}`).join(" ") || "-",
    kind: `${node.bus} device`,
    ...(node.line === 0 ? {} : { line: node.line }),
  };
}

/** The host controller model whose root hub `node` is (its parent is the controller's device). */
function rootHubController(node: DeviceNode, kernel: Kernel): XhciController | undefined {
  const fn = kernel.machine.pciFunctions().find((f) => f.model.name === node.parent);
  return fn?.model instanceof XhciController ? fn.model : undefined;
}

/**
 * The device tree of a kernel: root buses (PCI) with their devices, each device with the driver
 * instance serving it and the devices its driver announced: a USB host controller's root hub,
 * and the root hub's ports, each empty or with the device in it.
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
    let children = nodes.filter((n) => n.parent !== undefined && n.parent === node.name);
    let ports: PortEntry[] | undefined;
    const usb = node.bus === "usbhost" ? rootHubController(node, kernel) : undefined;
    if (usb) {
      ports = [];
      for (let port = 1; port <= XHCI_PORTS; port++) {
        const here = children.find((n) => n.bus === "usb" && n.ids.port === port);
        const model = usb.device(port);
        ports.push({
          port,
          device: here ? entry(here) : null,
          ...(!here && model ? { connected: model.name } : {}),
        });
      }
      children = children.filter((n) => !(n.bus === "usb" && n.ids.port !== undefined));
    }
    return {
      device: node.name,
      ...describeNode(node, kernel),
      driver: inst ? toDriverEntry(inst) : null,
      ...(ports ? { ports } : {}),
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

/** A line of the tree and the lines under it. */
interface Branch {
  readonly line: string;
  readonly under: readonly Branch[];
}

function deviceBranch(d: DeviceEntry, style: Styles): Branch {
  const ids = d.ids === "-" ? "" : `  ${d.ids}`;
  const drv = d.driver
    ? `driver ${style.cyan(d.driver.driver)}, ${d.driver.host} host, ${
      style.green(d.driver.name)
    } at ${d.driver.address}, ${d.driver.state}`
    : style.yellow("no driver");
  const ports = (d.ports ?? []).map((p): Branch =>
    p.device ? deviceBranch(p.device, style) : {
      line: `port ${p.port}  ${
        p.connected === undefined
          ? style.dim("empty")
          : style.yellow(`${p.connected}, not enumerated (no driver announced it)`)
      }`,
      under: [],
    }
  );
  return {
    line: `${d.location}  ${style.bold(d.device)}${ids}  ${d.kind}${
      d.line === undefined ? "" : `  irq ${d.line}`
    }`,
    under: [
      { line: drv, under: [] },
      ...ports,
      ...(d.children ?? []).map((c) => deviceBranch(c, style)),
    ],
  };
}

function render(buses: readonly BusTree[], style: Styles): string {
  const out: string[] = [];
  const walk = (branches: readonly Branch[], indent: string) => {
    branches.forEach((b, n) => {
      const last = n === branches.length - 1;
      out.push(`${indent}${last ? "└─ " : "├─ "}${b.line}`);
      walk(b.under, indent + (last ? "   " : "│  "));
    });
  };
  for (const b of buses) {
    out.push(`${style.bold(b.bus)}: ${b.summary}`);
    walk(b.devices.map((d) => deviceBranch(d, style)), "");
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
        "address, state), then the devices that driver announced: the USB controller's root",
        "hub, and under it each port, empty or with its device and that device's driver.",
        "--json  { buses: [{ bus, summary, devices: [{ device, location, ids, kind, line?,",
        "        driver, ports?: [{ port, device }], children? }] }] }",
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
