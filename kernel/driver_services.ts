/**
 * The kernel's side of one driver instance's context: its register windows, interrupt
 * registration, DMA mappings, exports and invocations, every one checked. Hosts expose these to
 * the driver: the kernel host directly, the worker host over its shared-memory rings.
 *
 * @module
 */

import type { Capability, TypeRef } from "../idl/types.ts";
import type { SideEffectRegister } from "../machine/device_model.ts";
import type { Machine } from "../machine/machine.ts";
import { formatAddress } from "./address.ts";
import type { Component, Dispatch } from "./component.ts";
import type { DeviceNode } from "./device_node.ts";
import { PermissionDeniedError } from "./errors.ts";
import {
  DEFAULT_RATE_LIMIT,
  type InterruptOwner,
  type InterruptRouter,
  type RateLimit,
} from "./interrupt_router.ts";
import type { Kernel } from "./kernel.ts";
import type { MemoryObject } from "./memory_object.ts";

/** Whether `length` bytes from `start` lie inside `obj`. */
function fits(obj: MemoryObject, start: bigint, length: number): boolean {
  return start >= obj.address && start + BigInt(length) <= obj.address + BigInt(obj.size);
}

/** Unmapped entries kept in an instance's mapping table are pruned past this many entries. */
const PRUNE_MAPPINGS = 64;

/** What the driver manager does for an instance (objects, bus children). */
export interface ManagerHooks {
  createObject(iface: string, dispatch: Dispatch): Capability;
  destroyObject(cap: Capability): void;
  announce(child: Omit<DeviceNode, "parent" | "windows" | "line" | "model" | "dmaDomain">): void;
  withdraw(name: string): void;
}

/** Counters of one driver instance (the shell's `drivers` command shows them). */
export interface DriverCounters {
  interrupts: number;
  denied: number;
  faults: number;
  dmaMaps: number;
  /** Of those, maps the worker host's kernel made with a call (`kernel/call_maps.ts`). */
  callMaps: number;
}

/**
 * Checked kernel services for one driver instance.
 *
 * @example
 * ```ts ignore
 * const services = new DriverServices(kernel, machine, router, component, node, rate);
 * await services.mapDma(cap, true);
 * ```
 */
export class DriverServices {
  readonly kernel: Kernel;
  readonly machine: Machine;
  readonly component: Component;
  readonly node: DeviceNode;
  readonly counters: DriverCounters = {
    interrupts: 0,
    denied: 0,
    faults: 0,
    dmaMaps: 0,
    callMaps: 0,
  };
  #router: InterruptRouter;
  #owner: InterruptOwner;
  /**
   * DMA mappings by the memory object's address. An entry whose count fell to 0 is unmapped but
   * kept (a buffer mapped per request would otherwise add and delete an entry each time: a `Map`'s
   * churn keeps young objects alive through GCs, see `id_table.ts`); they are pruned when they
   * outnumber the live ones past {@link PRUNE_MAPPINGS}.
   */
  #mappings = new Map<bigint, { count: number; writable: boolean }>();
  /** Entries of `#mappings` with a count above 0. */
  #liveMappings = 0;
  #owned: Capability[] = [];
  #stopRevoking: () => void;
  #manager: ManagerHooks | undefined;
  #deliver: (line: number) => void = () => {};
  #sideReads: Map<string, Set<number>>;
  #sideWrites: Map<string, Set<number>>;

  constructor(
    kernel: Kernel,
    machine: Machine,
    router: InterruptRouter,
    component: Component,
    node: DeviceNode,
    rate: RateLimit = DEFAULT_RATE_LIMIT,
  ) {
    this.kernel = kernel;
    this.machine = machine;
    this.#router = router;
    this.component = component;
    this.node = node;
    this.#owner = {
      label: component.label,
      device: node.name,
      rate,
      deliver: (line) => {
        this.counters.interrupts++;
        this.#deliver(line);
      },
    };
    this.#sideReads = indexSideEffects(node.model?.sideEffects ?? [], "read");
    this.#sideWrites = indexSideEffects(node.model?.sideEffects ?? [], "write");
    this.#stopRevoking = kernel.onFree((address) => this.#revoke(address));
  }

  /**
   * A memory object was freed: its mapping for the device (if any) goes, whatever the driver's
   * count, so the device cannot reach memory that is no longer the object's (its DMA faults
   * instead), and the address can be mapped again once reused. The driver's later unmap of it
   * fails as for any address it has not mapped (a release is logged).
   */
  #revoke(address: bigint): void {
    const m = this.#mappings.get(address);
    if (m === undefined || m.count === 0) return;
    m.count = 0;
    this.#unmapped(address);
    this.kernel.events.emit(
      "iommu.revoke",
      this.label,
      `memory at ${
        formatAddress(address)
      } was freed while mapped for ${this.node.name}: mapping revoked`,
    );
  }

  /** Connects the manager's hooks (done once, by the manager). */
  attachManager(hooks: ManagerHooks): void {
    this.#manager = hooks;
  }

  #hooks(): ManagerHooks {
    if (!this.#manager) throw new Error(`${this.label}: no driver manager`);
    return this.#manager;
  }

  /** Creates an object (a component of its own) served by this instance; returns its capability. */
  createObject(iface: string, dispatch: Dispatch): Capability {
    return this.#hooks().createObject(iface, dispatch);
  }

  /** Destroys an object this instance created. */
  destroyObject(cap: Capability): void {
    this.#hooks().destroyObject(cap);
  }

  /** Announces a child device on a bus this driver serves (the USB core announces USB devices). */
  announce(child: Omit<DeviceNode, "parent" | "windows" | "line" | "model" | "dmaDomain">): void {
    this.#hooks().announce(child);
  }

  /** Withdraws a child device this instance announced (it was unplugged). */
  withdraw(name: string): void {
    this.#hooks().withdraw(name);
  }

  /** The instance label (`ide0`). */
  get label(): string {
    return this.component.label;
  }

  /** Sets how interrupts reach the driver (the host's interrupt entry). */
  onInterrupt(deliver: (line: number) => void): void {
    this.#deliver = deliver;
  }

  /** Offsets of a window whose reads and writes the device model must see. */
  sideEffects(window: string): { reads: ReadonlySet<number>; writes: ReadonlySet<number> } {
    return {
      reads: this.#sideReads.get(window) ?? new Set(),
      writes: this.#sideWrites.get(window) ?? new Set(),
    };
  }

  /** A driver's write to a side-effect register: the device model acts on it. */
  deviceWrite(window: string, offset: number, width: 1 | 2 | 4, value: number): void {
    try {
      this.node.model?.write(window, offset, width, value);
    } catch (error) {
      this.kernel.events.emit(
        "device.log",
        this.node.name,
        `model failed on write: ${(error as Error).message}`,
      );
    }
  }

  /** A driver's read of a side-effect register (a FIFO). */
  deviceRead(window: string, offset: number, width: 1 | 2 | 4): number {
    try {
      return this.node.model?.read?.(window, offset, width) ?? 0;
    } catch (error) {
      this.kernel.events.emit(
        "device.log",
        this.node.name,
        `model failed on read: ${(error as Error).message}`,
      );
      return 0;
    }
  }

  /** Registers for an interrupt line; only the device's own lines are accepted. */
  registerIrq(line: number | undefined): void {
    const l = line ?? this.node.line;
    try {
      this.#router.register(l, this.#owner);
    } catch (error) {
      if (error instanceof PermissionDeniedError) this.counters.denied++;
      throw error;
    }
  }

  /** Acknowledges and re-arms a line. */
  ackIrq(line: number | undefined): void {
    this.#router.ack(line ?? this.node.line, this.#owner);
  }

  /**
   * The memory object `memory` names if {@link mapDma} would map it (a good capability with the
   * right, the range inside the object, a device with a DMA domain) without changing a mapping the
   * object already has (a read-only one would become writable); found without side effects:
   * nothing is mapped, logged or counted. Map it with {@link mapCheckedDma}.
   */
  checkDmaMap(
    memory: Capability,
    writable: boolean,
    range: { address: bigint; length: number },
  ): MemoryObject | undefined {
    if (!this.node.dmaDomain) return undefined;
    let obj;
    try {
      obj = this.kernel.memory(memory, writable ? "write" : "read");
    } catch {
      return undefined;
    }
    const existing = this.#mappings.get(obj.address);
    if (existing !== undefined && existing.count > 0 && existing.writable !== writable) {
      return undefined;
    }
    return fits(obj, range.address, range.length) ? obj : undefined;
  }

  /**
   * Maps a memory object (by capability) into the device's IOMMU domain, checking that the range
   * the driver names lies inside it. Counted: the mapping stays until every map is unmapped.
   */
  mapDma(
    memory: Capability,
    writable: boolean,
    range?: { address?: bigint; length?: number },
  ): bigint {
    const domain = this.#domain();
    let obj;
    try {
      obj = this.kernel.memory(memory, writable ? "write" : "read");
    } catch (error) {
      this.denied(
        `map memory ${formatCapabilityAddress(memory)} for DMA (${writable ? "write" : "read"})`,
      );
      throw error;
    }
    if (range?.address !== undefined || range?.length !== undefined) {
      const start = range.address ?? obj.address;
      const length = range.length ?? 0;
      if (!fits(obj, start, length)) {
        throw new RangeError(
          `Buffer too small: ${length} bytes at ${
            formatAddress(start)
          } do not fit in the memory object at ${formatAddress(obj.address)} (${obj.size} bytes)`,
        );
      }
    }
    return this.#map(domain, obj, writable);
  }

  /** Maps, as {@link mapDma} does, an object {@link checkDmaMap} has just found good. */
  mapCheckedDma(obj: MemoryObject, writable: boolean): bigint {
    return this.#map(this.#domain(), obj, writable);
  }

  #map(domain: string, obj: MemoryObject, writable: boolean): bigint {
    const existing = this.#mappings.get(obj.address);
    if (existing && existing.count > 0) {
      existing.count++;
      if (writable && !existing.writable) {
        this.machine.iommu.unmap(domain, obj.address);
        this.#iommuMap(domain, obj, true);
        existing.writable = true;
      }
      return obj.address;
    }
    this.#iommuMap(domain, obj, writable);
    if (existing) {
      existing.count = 1;
      existing.writable = writable;
    } else this.#mappings.set(obj.address, { count: 1, writable });
    this.#liveMappings++;
    this.counters.dmaMaps++;
    return obj.address;
  }

  #domain(): string {
    if (!this.node.dmaDomain) {
      throw new TypeError(`${this.label}: device ${this.node.name} does no DMA of its own`);
    }
    return this.node.dmaDomain;
  }

  #iommuMap(
    domain: string,
    obj: { address: bigint; size: number; bytes: Uint8Array; label: string },
    writable: boolean,
  ): void {
    this.machine.iommu.map(domain, {
      address: obj.address,
      length: obj.size,
      bytes: obj.bytes,
      writable,
      label: obj.label,
    });
  }

  /** Drops one count of a DMA mapping; the last one removes it from the IOMMU. */
  unmapDma(address: bigint): void {
    const m = this.#mappings.get(address);
    if (!m || m.count === 0) {
      throw new RangeError(
        `Cannot unmap ${formatAddress(address)}: ${this.label} has no mapping there`,
      );
    }
    if (--m.count > 0) return;
    this.#unmapped(address);
  }

  /**
   * The mapping at `address` lost its last count (unmapped, or revoked): it leaves the IOMMU, and
   * once spent entries outnumber the live ones they are dropped.
   */
  #unmapped(address: bigint): void {
    this.#liveMappings--;
    this.machine.iommu.unmap(this.#domain(), address);
    if (this.#mappings.size > PRUNE_MAPPINGS && this.#liveMappings * 2 < this.#mappings.size) {
      for (const [a, e] of this.#mappings) if (e.count === 0) this.#mappings.delete(a);
    }
  }

  /**
   * Allocates memory shared by the driver and its device (descriptor tables), owned by the
   * instance and freed with it, mapped for the device to read and write.
   */
  allocateDma(size: number): { address: bigint; bytes: Uint8Array; buffer: SharedArrayBuffer } {
    const { capability } = this.kernel.allocate(size, `${this.label}-dma`);
    const mem = this.kernel.memory(capability, "write");
    this.#owned.push(capability);
    this.mapDma(capability, true);
    return { address: mem.address, bytes: mem.bytes, buffer: mem.buffer };
  }

  /** Unmaps without answering (`DriverDma.release`): a failure goes to the event log. */
  releaseDma(address: bigint): void {
    try {
      this.unmapDma(address);
    } catch (error) {
      this.log(`unmap (posted) failed: ${(error as Error).message}`);
    }
  }

  /** Invokes another component on the driver's behalf. */
  invoke(cap: Capability, method: string, args: readonly unknown[]): Promise<unknown> {
    return this.kernel.invoke(cap, method, args);
  }

  /**
   * Invokes another component and does not wait: a failure goes to the event log. `types`: the
   * parameter types the arguments are values of by construction (`Kernel.invokeTyped`).
   */
  post(
    cap: Capability,
    method: string,
    args: readonly unknown[],
    types?: readonly TypeRef[],
  ): void {
    let result: Promise<unknown>;
    try {
      // Arguments the ring decoded in a layout of scalars are values of those types already.
      result = types === undefined
        ? this.kernel.invoke(cap, method, args)
        : this.kernel.invokeTyped(cap, method, args, types);
    } catch (error) {
      result = Promise.reject(error);
    }
    result.catch((error) => this.log(`${method} (posted) failed: ${(error as Error).message}`));
  }

  /** Records a denied access of this instance (a sandbox refusal, a foreign line, ...). */
  denied(what: string): void {
    this.counters.denied++;
    this.component.stats.denied++;
    this.kernel.events.emit("driver.denied", this.label, `denied: ${what}`);
  }

  /** Records a driver fault (a throw in its interrupt entry, a crash). */
  fault(what: string): void {
    this.counters.faults++;
    this.kernel.events.emit("driver.fault", this.label, what);
  }

  /** A log line from the driver. */
  log(message: string): void {
    this.kernel.events.emit("device.log", this.label, message);
  }

  /** Releases lines and mappings (the instance is going away). */
  release(): void {
    this.#stopRevoking();
    this.#router.unregisterAll(this.#owner);
    const domain = this.node.dmaDomain;
    for (const [address, m] of this.#mappings) {
      if (domain && m.count > 0) this.machine.iommu.unmap(domain, address);
    }
    this.#mappings.clear();
    this.#liveMappings = 0;
    for (const cap of this.#owned) {
      try {
        this.kernel.free(cap);
      } catch {
        // Already gone with the kernel.
      }
    }
    this.#owned = [];
  }

  /** Live DMA mappings of this instance. */
  get mappingCount(): number {
    return this.#liveMappings;
  }
}

function indexSideEffects(
  list: readonly SideEffectRegister[],
  kind: "read" | "write",
): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const r of list) {
    if (!r[kind]) continue;
    let s = out.get(r.window);
    if (!s) out.set(r.window, s = new Set());
    s.add(r.offset);
  }
  return out;
}

function formatCapabilityAddress(cap: Capability): string {
  return cap && typeof cap.address === "bigint" ? formatAddress(cap.address) : "(not a capability)";
}
