/**
 * The driver manager: hears the machine's attach and detach events, matches devices to driver
 * packages, imports a driver the first time a device needs it, makes one instance per device in
 * the chosen host, names it (`dev/<device>`), and tears it all down when the device goes away.
 *
 * @module
 */

import type { Machine } from "../machine/machine.ts";
import type { PciFunction } from "../machine/pci_bus.ts";
import { formatAddress } from "./address.ts";
import type { Component } from "./component.ts";
import { DeviceRemovedError } from "./errors.ts";
import { type DriverPackage, matchesPci } from "./driver_package.ts";
import { type DriverCounters, DriverServices } from "./driver_services.ts";
import { DEFAULT_RATE_LIMIT, InterruptRouter, type RateLimit } from "./interrupt_router.ts";
import type { Kernel } from "./kernel.ts";
import { type DriverHost, type HostKind, pciDeviceInfo } from "./hosts/driver_host.ts";
import { KernelHost } from "./hosts/kernel_host.ts";
import { WorkerHost } from "./hosts/worker_host.ts";

/** One driver instance as the manager lists it. */
export interface DriverInstanceInfo {
  readonly driver: string;
  readonly device: string;
  readonly name: string;
  readonly address: bigint;
  readonly host: HostKind;
  readonly state: string;
  readonly calls: number;
  readonly counters: Readonly<DriverCounters>;
}

/** Options for {@link DriverManager}. */
export interface DriverManagerOptions {
  /** The host for drivers whose manifest does not insist. Default `worker`. */
  readonly host?: HostKind;
  /** Per-device host overrides, by device name. */
  readonly hostFor?: Readonly<Record<string, HostKind>>;
  /** Interrupt rate limit of each instance. */
  readonly rate?: RateLimit;
}

interface Instance {
  readonly pkg: DriverPackage;
  readonly fn: PciFunction;
  readonly component: Component;
  readonly services: DriverServices;
  readonly host: DriverHost;
  readonly name: string;
}

/**
 * Matches, loads, instantiates and names drivers for the machine's devices.
 *
 * @example
 * ```ts ignore
 * const manager = new DriverManager(kernel, machine, await scanDriverPackages("drivers"));
 * await machine.attachPci(identity, model);
 * await manager.settled();
 * ```
 */
export class DriverManager {
  readonly router: InterruptRouter;
  readonly packages: readonly DriverPackage[];
  #kernel: Kernel;
  #machine: Machine;
  #options: DriverManagerOptions;
  #instances = new Map<string, Instance>();
  #loaded = new Set<string>();
  #queue: Promise<void> = Promise.resolve();
  #unsubscribe: () => void;

  constructor(
    kernel: Kernel,
    machine: Machine,
    packages: readonly DriverPackage[],
    options: DriverManagerOptions = {},
  ) {
    this.#kernel = kernel;
    this.#machine = machine;
    this.packages = packages;
    this.#options = options;
    this.router = new InterruptRouter(machine.irq, kernel.events);
    this.#unsubscribe = machine.onEvent((e) => {
      if (e.kind === "attach") this.#enqueue(() => this.#probe(e.fn));
      else if (e.kind === "detach") this.#removeNow(e.fn);
      else kernel.events.emit("device.log", e.device, e.message);
    });
    machine.iommu.onFault((f) =>
      kernel.events.emit(
        "iommu.fault",
        f.device,
        `DMA fault: ${f.device} ${f.direction} of ${f.length} bytes at ${
          formatAddress(f.address)
        } outside its mappings`,
        { address: f.address, length: f.length, direction: f.direction },
      )
    );
  }

  /** Resolves when every probe so far has finished. */
  settled(): Promise<void> {
    return this.#queue;
  }

  /** Driver packages whose code has been imported (first device seen). */
  get loaded(): ReadonlySet<string> {
    return this.#loaded;
  }

  /** Every live instance. */
  instances(): DriverInstanceInfo[] {
    return [...this.#instances.values()].map((i) => ({
      driver: i.pkg.name,
      device: i.fn.model.name,
      name: i.name,
      address: i.component.address,
      host: i.host.kind,
      state: i.component.state,
      calls: i.component.stats.calls,
      counters: { ...i.services.counters },
    }));
  }

  /** The instance serving a device. */
  instance(device: string): DriverInstanceInfo | undefined {
    return this.instances().find((i) => i.device === device);
  }

  /** Stops every instance and the router (kernel shutdown). */
  async shutdown(): Promise<void> {
    this.#unsubscribe();
    await this.#queue;
    for (const inst of [...this.#instances.values()].reverse()) {
      await this.#teardown(inst, new Error(`${inst.name}: the system is shutting down`), false);
    }
    this.router.close();
  }

  #enqueue(job: () => Promise<void>): void {
    this.#queue = this.#queue.then(job).catch((error) => {
      this.#kernel.events.emit(
        "driver.fault",
        "kernel",
        `driver manager: ${(error as Error).message}`,
      );
    });
  }

  #hostFor(pkg: DriverPackage, device: string): HostKind {
    return this.#options.hostFor?.[device] ?? pkg.host ?? this.#options.host ?? "worker";
  }

  async #probe(fn: PciFunction): Promise<void> {
    const ids = pciDeviceInfo({ fn } as DriverServices).ids;
    const pkg = this.packages.find((p) => p.match.some((r) => matchesPci(r, ids)));
    const device = fn.model.name;
    if (!pkg) {
      this.#kernel.events.emit(
        "device.log",
        device,
        `no driver matches PCI ${hex(fn.identity.vendorId)}:${hex(fn.identity.deviceId)}`,
      );
      return;
    }
    const missing = pkg.windows.filter((w) => !fn.windows.some((x) => x.name === w));
    if (missing.length > 0 || pkg.lines > (fn.line === 0 ? 0 : 1)) {
      this.#kernel.events.emit(
        "driver.fault",
        pkg.name,
        `cannot drive ${device}: it lacks ${missing.join(", ") || "interrupt lines"}`,
      );
      return;
    }
    const kind = this.#hostFor(pkg, device);
    const component = this.#kernel.createComponent({
      className: pkg.name,
      schema: pkg.schema,
      provides: pkg.provides,
      label: device,
      host: kind,
    });
    const services = new DriverServices(
      this.#kernel,
      this.#machine,
      this.router,
      component,
      fn,
      this.#options.rate ?? DEFAULT_RATE_LIMIT,
    );
    const options = { pkg, services, device: pciDeviceInfo(services) };
    const host: DriverHost = kind === "kernel" ? new KernelHost(options) : new WorkerHost(options);
    const name = `dev/${device}`;
    const inst: Instance = { pkg, fn, component, services, host, name };
    this.#instances.set(device, inst);
    const first = !this.#loaded.has(pkg.name);
    this.#loaded.add(pkg.name);
    this.#kernel.events.emit(
      "driver.load",
      device,
      `${first ? "loading" : "starting"} driver ${pkg.name} for ${device} in the ${kind} host`,
    );
    try {
      await host.start();
    } catch (error) {
      services.fault(`driver ${pkg.name} failed to start: ${(error as Error).message}`);
      await this.#teardown(inst, error as Error, false);
      return;
    }
    if (this.#instances.get(device) !== inst) return; // removed while starting
    await this.#kernel.names.bind(name, component.address, { replace: true });
    this.#kernel.events.emit("name.bind", device, `${name} -> ${formatAddress(component.address)}`);
  }

  /** Detach is synchronous with the machine: requests fail before the model closes. */
  #removeNow(fn: PciFunction): void {
    const inst = this.#instances.get(fn.model.name);
    if (!inst || inst.fn !== fn) return;
    const error = new DeviceRemovedError(`${inst.name} (${fn.model.name}) was removed`);
    this.#enqueue(() => this.#teardown(inst, error, true));
  }

  async #teardown(inst: Instance, error: Error, removed: boolean): Promise<void> {
    if (this.#instances.get(inst.fn.model.name) === inst) {
      this.#instances.delete(inst.fn.model.name);
    }
    try {
      const bound = await this.#kernel.names.tryLookup(inst.name);
      if (bound === inst.component.address) {
        await this.#kernel.names.unbind(inst.name);
        this.#kernel.events.emit("name.unbind", inst.fn.model.name, `${inst.name} unbound`);
      }
    } catch {
      // The name service is closing; nothing to unbind.
    }
    await inst.host.stop(error);
    inst.services.release();
    if (this.#kernel.component(inst.component.address)) {
      this.#kernel.destroyComponent(
        inst.component.address,
        removed ? { removed: `${inst.name} (${inst.fn.model.name})` } : {},
      );
    }
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(4, "0");
}
