/**
 * Boot: the order in which a node comes up, one step per line.
 *
 * @module
 */

import { join } from "@std/path";
import { DiskImage } from "../machine/disk_image.ts";
import { createIdeController, IDE_PCI_IDENTITY } from "../machine/ide_controller.ts";
import { Machine } from "../machine/machine.ts";
import { createXhciController } from "../machine/usb/xhci_controller.ts";
import { XHCI_PCI_IDENTITY } from "../machine/usb/xhci_registers.ts";
import { NameService } from "../naming/name_service.ts";
import { createNamingComponent } from "../naming/naming_component.ts";
import { defaultDriversDir, scanDriverPackages } from "./driver_package.ts";
import { DriverManager } from "./driver_manager.ts";
import type { HostKind } from "./hosts/driver_host.ts";
import type { RateLimit } from "./interrupt_router.ts";
import { Kernel } from "./kernel.ts";

/** The IDE disk of a machine. */
export interface IdeDiskConfig {
  /** Raw image file; default `<data>/disks/ide0.img`. */
  readonly image?: string;
  /** Size of a new image in bytes (default 64 MiB); an existing image keeps its size. */
  readonly size?: number;
  /** Keep the disk in memory (tests); `image` is ignored. */
  readonly memory?: boolean;
  /**
   * Hold the image file in memory, writing through to it: a disk as fast as memory (at most
   * 1 GiB; `DiskImageOpenOptions.cache`). Default false.
   */
  readonly cache?: boolean;
  /** Simulated latency of each disk step in ms (default 0). */
  readonly latencyMs?: number;
}

/** What hardware the machine has. */
export interface MachineConfig {
  /** The IDE disk (`dev/ide0`), or false for none. Default: a disk. */
  readonly ide?: IdeDiskConfig | false;
  /** A USB host controller (`dev/xhci0`) with 4 empty ports, or false for none. Default: true. */
  readonly usb?: boolean;
}

/** Options for {@link boot}. */
export interface BootOptions {
  /** The data directory (name database, disk images, history, logs). Default `./.mungi`. */
  readonly data?: string;
  /** The name database: a KV file path or `:memory:`. Default `<data>/names.kv`. */
  readonly names?: string;
  /** This node's id (top 16 bits of its addresses). Default 0. */
  readonly node?: number;
  /** Bytes of address space this node manages. Default the whole node (2^48). */
  readonly addressSpaceBytes?: bigint;
  /** The machine: `none` for a kernel without hardware. Default: the default machine. */
  readonly machine?: MachineConfig | "none";
  /** Where drivers run unless their manifest insists: `worker` (default) or `kernel`. */
  readonly host?: HostKind;
  /** Per-device host overrides, by device name. */
  readonly hostFor?: Readonly<Record<string, HostKind>>;
  /** The drivers folder. Default: this project's `drivers/`. */
  readonly drivers?: string;
  /** Interrupt rate limit of each driver instance. */
  readonly irqRate?: RateLimit;
  /**
   * Lets drivers in the worker host profile their own threads (`DriverManager.profile`), for
   * `deno task bench --cpu-profile`: their workers then also get the `sys` permission, which
   * V8's inspector needs. Default false; never for a machine that runs untrusted drivers.
   */
  readonly profileDrivers?: boolean;
  /**
   * Gives the channel of every driver in the worker host a timeline (`kernel/timeline.ts`;
   * `DriverManager.timeline`), for `deno task bench --timeline`. Default false: while recording,
   * both threads read the clock for every message.
   */
  readonly timeline?: boolean;
}

/** The name the name service binds itself under. */
export const NAMING_NAME = "svc/naming";

/**
 * Boots a node: kernel, name service, INaming bound as `svc/naming`, the machine and a driver for
 * each of its devices (named `dev/<device>`).
 *
 * @example
 * ```ts ignore
 * const kernel = await boot({ names: ":memory:", machine: { ide: { memory: true } } });
 * await kernel.shutdown();
 * ```
 */
export async function boot(options: BootOptions = {}): Promise<Kernel> {
  if (
    options.profileDrivers === true &&
    Deno.permissions.querySync({ name: "sys" }).state !== "granted"
  ) {
    // A worker cannot get a permission its parent lacks: every driver would fail to start.
    throw new TypeError(
      "Cannot boot with profileDrivers: the drivers' profilers need the sys permission, and " +
        "this process lacks it (--allow-sys)",
    );
  }
  const data = options.data ?? "./.mungi";
  const namesPath = options.names ?? join(data, "names.kv");
  const config = options.machine ?? {};
  const kernel = new Kernel({
    ...(options.node === undefined ? {} : { node: options.node }),
    ...(options.addressSpaceBytes === undefined
      ? {}
      : { addressSpaceBytes: options.addressSpaceBytes }),
  });
  if (namesPath !== ":memory:") await Deno.mkdir(data, { recursive: true }); // data directory
  const names = await NameService.open(namesPath); // persistent names
  kernel.onShutdown(() => names.close());
  const naming = createNamingComponent(kernel, names); // INaming, reachable by capability
  kernel.attachNames(names, naming.capability);
  await names.bind(NAMING_NAME, naming.component.address, { replace: true });
  kernel.dataDir = namesPath === ":memory:" && options.data === undefined ? undefined : data;
  kernel.events.emit("boot", "kernel", `node ${kernel.node} up, names in ${namesPath}`);
  if (config === "none") return kernel;

  const machine = new Machine(); // PCI bus, interrupt lines, IOMMU
  const packages = await scanDriverPackages(options.drivers ?? defaultDriversDir()); // manifests only
  const drivers = new DriverManager(kernel, machine, packages, {
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.hostFor === undefined ? {} : { hostFor: options.hostFor }),
    ...(options.irqRate === undefined ? {} : { rate: options.irqRate }),
    ...(options.profileDrivers === true ? { profiling: true } : {}),
    ...(options.timeline === true ? { timeline: true } : {}),
  });
  kernel.attachMachine(machine, drivers);
  kernel.onShutdown(async () => {
    await drivers.shutdown(); // instances stop before their devices go
    await machine.stop(); // flushes disk images
  });
  if (config.ide !== false) await attachIde(machine, data, config.ide ?? {}); // dev/ide0
  if (config.usb !== false) {
    await machine.attachPci(XHCI_PCI_IDENTITY, createXhciController({ name: "xhci0" })); // dev/xhci0
  }
  await drivers.settled(); // drivers matched, loaded, started and named
  await dropStaleDeviceNames(kernel); // names a killed run left behind
  return kernel;
}

/** Unbinds `dev/` names that point at no live component (a previous run was killed). */
async function dropStaleDeviceNames(kernel: Kernel): Promise<void> {
  for (const { name, address } of await kernel.names.list("dev/")) {
    if (!kernel.component(address)) {
      await kernel.names.unbind(name);
      kernel.events.emit("name.unbind", "kernel", `${name} unbound: stale from an earlier run`);
    }
  }
}

async function attachIde(machine: Machine, data: string, disk: IdeDiskConfig): Promise<void> {
  let image: DiskImage;
  if (disk.memory) image = DiskImage.memory(disk.size ?? 64 * 1024 * 1024);
  else {
    const path = disk.image ?? join(data, "disks", "ide0.img");
    if (disk.image === undefined) await Deno.mkdir(join(data, "disks"), { recursive: true });
    image = await DiskImage.open(path, {
      ...(disk.size === undefined ? {} : { size: disk.size }),
      ...(disk.cache === true ? { cache: true } : {}),
    });
  }
  await machine.attachPci(
    IDE_PCI_IDENTITY,
    createIdeController({
      name: "ide0",
      image,
      ...(disk.latencyMs === undefined ? {} : { latencyMs: disk.latencyMs }),
    }),
  );
}
