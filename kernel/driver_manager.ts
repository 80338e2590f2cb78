/**
 * The driver manager: hears the machine's attach and detach events and bus drivers' announcements,
 * matches devices to driver packages, imports a driver the first time a device needs it, makes one
 * instance per device in the chosen host, names it (`dev/<device>`), and tears it all down (its
 * child devices first) when the device goes away.
 *
 * @module
 */

import type { Capability } from "../idl/types.ts";
import type { Machine } from "../machine/machine.ts";
import { formatAddress } from "./address.ts";
import type { Component, Dispatch } from "./component.ts";
import { type DeviceNode, pciNode } from "./device_node.ts";
import { DeviceRemovedError } from "./errors.ts";
import { type DriverPackage, matches } from "./driver_package.ts";
import { type DriverCounters, DriverServices } from "./driver_services.ts";
import { DEFAULT_RATE_LIMIT, InterruptRouter, type RateLimit } from "./interrupt_router.ts";
import type { Kernel } from "./kernel.ts";
import type { Timeline } from "./timeline.ts";
import { deviceInfo, type DriverHost, type HostKind } from "./hosts/driver_host.ts";
import { KernelHost } from "./hosts/kernel_host.ts";
import { WorkerHost } from "./hosts/worker_host.ts";
import type { ProfilerOptions, ThreadProfile } from "./profiler.ts";

/** One driver instance as the manager lists it. */
export interface DriverInstanceInfo {
  readonly driver: string;
  readonly device: string;
  readonly bus: string;
  readonly name: string;
  readonly address: bigint;
  readonly host: HostKind;
  readonly state: string;
  readonly calls: number;
  readonly parent: string | undefined;
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
  /** Whether worker-hosted drivers may profile their threads (`BootOptions.profileDrivers`). */
  readonly profiling?: boolean;
  /** Whether worker hosts' channels get timelines (`BootOptions.timeline`). */
  readonly timeline?: boolean;
}

interface Instance {
  readonly pkg: DriverPackage;
  readonly node: DeviceNode;
  readonly component: Component;
  readonly services: DriverServices;
  readonly host: DriverHost;
  readonly name: string;
  /** Objects the instance created (`ctx.objects`), by address. */
  readonly objects: Set<bigint>;
}

/**
 * Matches, loads, instantiates and names drivers for the machine's devices and for the devices
 * bus drivers announce.
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
  /** Live instances by device name. */
  #instances = new Map<string, Instance>();
  /** Devices known (driven or not), by name. */
  #devices = new Map<string, DeviceNode>();
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
      if (e.kind === "attach") this.#add(pciNode(e.fn));
      else if (e.kind === "detach") this.#remove(e.fn.model.name, "removed");
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

  /** Resolves when every probe and teardown so far has finished. */
  async settled(): Promise<void> {
    let last: Promise<void> | undefined;
    while (last !== this.#queue) {
      last = this.#queue;
      await last;
    }
  }

  /** Driver packages whose code has been imported (first device seen). */
  get loaded(): ReadonlySet<string> {
    return this.#loaded;
  }

  /** Every known device, driven or not. */
  devices(): DeviceNode[] {
    return [...this.#devices.values()];
  }

  /** Every live instance. */
  instances(): DriverInstanceInfo[] {
    return [...this.#instances.values()].map((i) => ({
      driver: i.pkg.name,
      device: i.node.name,
      bus: i.node.bus,
      name: i.name,
      address: i.component.address,
      host: i.host.kind,
      state: i.component.state,
      calls: i.component.stats.calls,
      parent: i.node.parent,
      counters: { ...i.services.counters },
    }));
  }

  /** The instance serving a device. */
  instance(device: string): DriverInstanceInfo | undefined {
    return this.instances().find((i) => i.device === device);
  }

  /**
   * Starts a CPU profile of the thread of the driver serving `device` (kernel booted with
   * `profileDrivers`, driver in the worker host) and resolves with the function that stops it
   * and returns the profile (`kernel/profiler.ts`; `options.allocationBytes` samples the
   * thread's allocations too).
   */
  async profile(
    device: string,
    intervalUs: number,
    options: ProfilerOptions = {},
  ): Promise<() => Promise<ThreadProfile>> {
    const inst = this.#instances.get(device);
    if (!inst) throw new TypeError(`Cannot profile the driver of ${device}: no driver serves it`);
    const host = inst.host;
    if (!host.startProfile || !host.stopProfile) {
      throw new TypeError(
        `Cannot profile the driver of ${device}: it runs in the ${host.kind} host, on the ` +
          `kernel's own thread (profile that instead)`,
      );
    }
    await host.startProfile(intervalUs, options);
    return () => host.stopProfile!();
  }

  /**
   * The timeline of the channel to the driver serving `device` (kernel booted with `timeline`,
   * driver in the worker host): start it, read requests, stop it (`kernel/timeline.ts`).
   */
  timeline(device: string): Timeline {
    const inst = this.#instances.get(device);
    if (!inst) throw new TypeError(`Cannot time the driver of ${device}: no driver serves it`);
    const timeline = inst.host.timeline;
    if (timeline === undefined) {
      throw new TypeError(
        inst.host.kind === "worker"
          ? `Cannot time the driver of ${device}: the kernel was not booted with timeline`
          : `Cannot time the driver of ${device}: it runs in the ${inst.host.kind} host, on the ` +
            `kernel's own thread, with no channel to time`,
      );
    }
    return timeline;
  }

  /** Stops every instance and the router (kernel shutdown). */
  async shutdown(): Promise<void> {
    this.#unsubscribe();
    await this.settled();
    const error = new Error("the system is shutting down");
    for (const inst of [...this.#instances.values()].reverse()) {
      await this.#teardown(inst, error, false);
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

  #add(node: DeviceNode): void {
    this.#devices.set(node.name, node);
    this.#enqueue(() => this.#probe(node));
  }

  /** A device went away: its instance (and its children's) fail their requests at once. */
  #remove(name: string, why: "removed" | "withdrawn"): void {
    const node = this.#devices.get(name);
    if (!node) return;
    this.#devices.delete(name);
    const inst = this.#instances.get(name);
    if (!inst) return;
    const error = new DeviceRemovedError(`dev/${name} was ${why}`);
    // Stop first (outside the queue), so that requests in flight fail before the model closes.
    void inst.host.stop(error);
    this.#enqueue(() => this.#teardown(inst, error, true));
  }

  #hostFor(pkg: DriverPackage, device: string): HostKind {
    return this.#options.hostFor?.[device] ?? pkg.host ?? this.#options.host ?? "worker";
  }

  async #probe(node: DeviceNode): Promise<void> {
    if (this.#devices.get(node.name) !== node) return; // gone before its turn
    const pkg = this.packages.find((p) => p.match.some((r) => matches(r, node)));
    if (!pkg) {
      this.#kernel.events.emit(
        "device.log",
        node.name,
        `no driver matches ${node.bus} device ${node.name} (${JSON.stringify(node.ids)})`,
      );
      return;
    }
    const missing = pkg.windows.filter((w) => !node.windows.some((x) => x.name === w));
    if (missing.length > 0 || pkg.lines > (node.line === 0 ? 0 : 1)) {
      this.#kernel.events.emit(
        "driver.fault",
        pkg.name,
        `cannot drive ${node.name}: it lacks ${missing.join(", ") || "interrupt lines"}`,
      );
      return;
    }
    const kind = this.#hostFor(pkg, node.name);
    const component = this.#kernel.createComponent({
      className: pkg.name,
      schema: pkg.schema,
      provides: pkg.provides,
      label: node.name,
      host: kind,
    });
    const services = new DriverServices(
      this.#kernel,
      this.#machine,
      this.router,
      component,
      node,
      this.#options.rate ?? DEFAULT_RATE_LIMIT,
    );
    const inst: Instance = {
      pkg,
      node,
      component,
      services,
      host: undefined as unknown as DriverHost,
      name: `dev/${node.name}`,
      objects: new Set(),
    };
    services.attachManager({
      createObject: (iface, dispatch) => this.#createObject(inst, iface, dispatch),
      destroyObject: (cap) => this.#destroyObject(inst, cap),
      announce: (child) => this.#announce(inst, child),
      withdraw: (name) => this.#withdraw(inst, name),
    });
    const options = {
      pkg,
      services,
      device: deviceInfo(services),
      profiling: this.#options.profiling === true,
      timeline: this.#options.timeline === true,
    };
    const host: DriverHost = kind === "kernel" ? new KernelHost(options) : new WorkerHost(options);
    (inst as { host: DriverHost }).host = host;
    this.#instances.set(node.name, inst);
    const first = !this.#loaded.has(pkg.name);
    this.#loaded.add(pkg.name);
    this.#kernel.events.emit(
      "driver.load",
      node.name,
      `${first ? "loading" : "starting"} driver ${pkg.name} for ${node.name} in the ${kind} host`,
    );
    try {
      await host.start();
    } catch (error) {
      services.fault(`driver ${pkg.name} failed to start: ${(error as Error).message}`);
      await this.#teardown(inst, error as Error, false);
      return;
    }
    if (this.#instances.get(node.name) !== inst) return; // removed while starting
    await this.#kernel.names.bind(inst.name, component.address, { replace: true });
    this.#kernel.events.emit(
      "name.bind",
      node.name,
      `${inst.name} -> ${formatAddress(component.address)}`,
    );
  }

  async #teardown(inst: Instance, error: Error, removed: boolean): Promise<void> {
    if (this.#instances.get(inst.node.name) === inst) this.#instances.delete(inst.node.name);
    // Children first: a bus driver's devices go with it.
    for (const child of [...this.#devices.values()].filter((d) => d.parent === inst.node.name)) {
      this.#devices.delete(child.name);
      const c = this.#instances.get(child.name);
      if (c) await this.#teardown(c, new DeviceRemovedError(`dev/${child.name} was removed`), true);
    }
    try {
      const bound = await this.#kernel.names.tryLookup(inst.name);
      if (bound === inst.component.address) {
        await this.#kernel.names.unbind(inst.name);
        this.#kernel.events.emit("name.unbind", inst.node.name, `${inst.name} unbound`);
      }
    } catch {
      // The name service is closing; nothing to unbind.
    }
    await inst.host.stop(error);
    inst.services.release();
    const gone = removed ? { removed: `${inst.name} (${inst.node.name})` } : {};
    for (const address of inst.objects) {
      if (this.#kernel.component(address)) this.#kernel.destroyComponent(address, gone);
    }
    inst.objects.clear();
    if (this.#kernel.component(inst.component.address)) {
      this.#kernel.destroyComponent(inst.component.address, gone);
    }
  }

  #createObject(inst: Instance, iface: string, dispatch: Dispatch): Capability {
    if (!inst.pkg.objects.includes(iface) && !inst.pkg.provides.includes(iface)) {
      throw new TypeError(
        `${inst.node.name}: driver ${inst.pkg.name} may not serve ${iface} from objects (its manifest's "objects" lists ${
          inst.pkg.objects.join(", ") || "nothing"
        })`,
      );
    }
    const c = this.#kernel.createComponent({
      className: `${inst.pkg.name}.${iface}`,
      schema: inst.pkg.schema,
      provides: [iface],
      label: `${inst.node.name}.${iface}`,
      host: inst.host.kind,
    });
    c.exportDispatch(iface, dispatch);
    inst.objects.add(c.address);
    return this.#kernel.mint(c.address, null, inst.node.name);
  }

  #destroyObject(inst: Instance, cap: Capability): void {
    const record = this.#kernel.caps.lookup(cap);
    if (!record || !inst.objects.has(record.address)) {
      throw new RangeError(`${inst.node.name}: not an object of this driver instance`);
    }
    inst.objects.delete(record.address);
    this.#kernel.destroyComponent(record.address, { removed: `an object of ${inst.node.name}` });
  }

  #announce(
    inst: Instance,
    child: Omit<DeviceNode, "parent" | "windows" | "line" | "model" | "dmaDomain">,
  ): void {
    if (!inst.pkg.announces.includes(child.bus)) {
      inst.services.denied(`announce a ${child.bus} device`);
      throw new TypeError(
        `${inst.node.name}: driver ${inst.pkg.name} may not announce ${child.bus} devices`,
      );
    }
    if (!/^[a-z][a-z0-9_.-]{0,31}$/.test(child.name)) {
      throw new TypeError(
        `Cannot announce device "${child.name}": a name is 1-32 lower-case letters, digits, _ . -`,
      );
    }
    if (this.#devices.has(child.name)) {
      throw new RangeError(`Cannot announce device ${child.name}: a device of that name exists`);
    }
    this.#kernel.events.emit(
      "device.enumerate",
      child.name,
      `${inst.node.name} announced ${child.bus} device ${child.name} ${JSON.stringify(child.ids)}`,
    );
    this.#add({ ...child, windows: [], line: 0, parent: inst.node.name });
  }

  #withdraw(inst: Instance, name: string): void {
    const node = this.#devices.get(name);
    if (!node || node.parent !== inst.node.name) {
      throw new RangeError(`${inst.node.name}: no device ${name} announced by this instance`);
    }
    this.#remove(name, "removed");
  }
}
