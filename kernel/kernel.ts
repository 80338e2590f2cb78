/**
 * The simulated microkernel: one node of the 64-bit single address space, its objects (component
 * instances and memory objects), the password-capability table, invocation and the event log.
 *
 * Every invocation is checked in this order: the capability (forged, revoked or too narrow all give
 * the same `PermissionDeniedError`), the method (exported by the target), the arguments (against the
 * IDL schema), and after the call the result (a component cannot hand back garbage).
 *
 * @module
 */

import { formatSignature, namedArgs, validateArgs, validateResult } from "../idl/mod.ts";
import type { Capability, MethodSchema, TypeRef } from "../idl/types.ts";
import { sameScalars } from "../idl/scalars.ts";
import { type Address, formatAddress, nodeOf } from "./address.ts";
import { AddressSpace } from "./address_space.ts";
import { CapabilityTable } from "./capability.ts";
import { Component, type ComponentOptions, type ResolvedMethod } from "./component.ts";
import {
  DeviceRemovedError,
  DriverFaultError,
  MethodNotFoundError,
  PermissionDeniedError,
} from "./errors.ts";
import { EventLog } from "./event_log.ts";
import { checkMemorySize, MemoryObject } from "./memory_object.ts";
import type { NameService } from "../naming/name_service.ts";
import type { Machine } from "../machine/machine.ts";
import type { DriverManager } from "./driver_manager.ts";
import type { PlugOptions, PlugResult } from "./hotplug.ts";

/** Rights of a memory object. */
export const MEMORY_RIGHTS: readonly string[] = ["read", "write"];

/** Options for a {@link Kernel}. */
export interface KernelOptions {
  /** This node's id, the top 16 bits of its addresses. Default 0. */
  readonly node?: number;
  /** Bytes of address space this node manages. Default the whole node (2^48). */
  readonly addressSpaceBytes?: bigint;
  /** Events the log keeps. Default 10,000. */
  readonly eventCapacity?: number;
}

/** What {@link Kernel.describe} answers: the interfaces and methods a component provides. */
export interface ComponentDescription {
  readonly address: string;
  readonly className: string;
  readonly label: string;
  readonly host: string;
  readonly state: string;
  readonly interfaces: readonly {
    readonly name: string;
    readonly extends: readonly string[];
    readonly methods: readonly { readonly name: string; readonly signature: string }[];
  }[];
}

/** Routes invocations of objects on other nodes (installed by the remote-node layer). */
export type RemoteRouter = (
  cap: Capability,
  method: string,
  args: readonly unknown[] | Readonly<Record<string, unknown>>,
) => Promise<unknown>;

/**
 * One node's kernel.
 *
 * @example
 * ```ts ignore
 * const kernel = new Kernel();
 * const { capability } = kernel.allocate(4096, "buffer");
 * kernel.memory(capability, "write").bytes[0] = 42;
 * ```
 */
export class Kernel {
  readonly node: number;
  readonly space: AddressSpace;
  readonly caps: CapabilityTable = new CapabilityTable();
  readonly events: EventLog;
  #objects = new Map<Address, Component | MemoryObject>();
  /** Memory objects sorted by address, for resolving an address inside one. */
  #memory: MemoryObject[] = [];
  /** Addresses of components that were removed, with what they were, for clear errors. */
  #removed = new Map<Address, string>();
  #remote: RemoteRouter | undefined;
  #shutdownHooks: (() => void | Promise<void>)[] = [];
  #freeHooks = new Set<(address: bigint) => void>();
  #down = false;
  #names: NameService | undefined;
  #naming: Capability | undefined;
  #machine: Machine | undefined;
  #drivers: DriverManager | undefined;

  constructor(options: KernelOptions = {}) {
    this.node = options.node ?? 0;
    this.space = new AddressSpace({
      node: this.node,
      ...(options.addressSpaceBytes === undefined ? {} : { bytes: options.addressSpaceBytes }),
    });
    this.events = new EventLog(options.eventCapacity);
  }

  // ---- naming -----------------------------------------------------------------------------

  /** Attaches the name service and the capability of its INaming component (done by boot). */
  attachNames(names: NameService, naming: Capability): void {
    this.#names = names;
    this.#naming = naming;
  }

  /** The name service (direct calls, for the kernel and its plug-in layers). */
  get names(): NameService {
    if (!this.#names) throw new Error("This kernel was booted without a name service");
    return this.#names;
  }

  /** The master capability of the INaming component. */
  get naming(): Capability {
    if (!this.#naming) throw new Error("This kernel was booted without a name service");
    return this.#naming;
  }

  /** The data directory this node was booted on (undefined: everything in memory). */
  dataDir: string | undefined;

  /**
   * Plugs a device model into a hot-plug port (`plug("usb", 1, "storage", { size })`) and
   * resolves when its driver is ready and named `dev/usb<port>`.
   */
  async plug(
    bus: string,
    port: number,
    model: string,
    options: PlugOptions = {},
  ): Promise<PlugResult> {
    const { plug } = await import("./hotplug.ts");
    return await plug(this, bus, port, model, options);
  }

  /** Pulls a device out of a hot-plug port; its outstanding requests fail with DeviceRemovedError. */
  async unplug(bus: string, port: number): Promise<void> {
    const { unplug } = await import("./hotplug.ts");
    await unplug(this, bus, port);
  }

  /** Types text into a USB keyboard device (`dev/usb<port>`). */
  async type(name: string, text: string): Promise<void> {
    const { typeText } = await import("./hotplug.ts");
    typeText(this, name, text);
  }

  /** Attaches the machine and its driver manager (done by boot). */
  attachMachine(machine: Machine, drivers: DriverManager): void {
    this.#machine = machine;
    this.#drivers = drivers;
  }

  /** The simulated machine. */
  get machine(): Machine {
    if (!this.#machine) throw new Error("This kernel was booted without a machine");
    return this.#machine;
  }

  /** The driver manager. */
  get drivers(): DriverManager {
    if (!this.#drivers) throw new Error("This kernel was booted without a machine");
    return this.#drivers;
  }

  // ---- components -------------------------------------------------------------------------

  /** Creates a component instance at a fresh address. Its master capability comes from {@link mint}. */
  createComponent(options: ComponentOptions): Component {
    this.#checkUp();
    const address = this.space.allocate(1);
    let component: Component;
    try {
      component = new Component(address, options);
    } catch (error) {
      this.space.free(address);
      throw error;
    }
    this.#objects.set(address, component);
    this.events.emit(
      "component.create",
      component.label,
      `created ${component.className} instance ${component.label} at ${formatAddress(address)}`,
      { address, host: component.host },
    );
    return component;
  }

  /**
   * Destroys a component: runs its clean-ups, drops its capabilities and frees its address.
   * Later invocations through old capabilities fail with `DeviceRemovedError` when `removed` is
   * given (a device that went away), else with `PermissionDeniedError`.
   */
  destroyComponent(address: Address, options: { removed?: string } = {}): void {
    const obj = this.#objects.get(address);
    if (!obj || obj.kind !== "component") {
      throw new RangeError(`Cannot destroy ${formatAddress(address)}: no component there`);
    }
    obj.destroy();
    this.#objects.delete(address);
    this.caps.dropObject(address);
    this.space.free(address);
    if (options.removed !== undefined) {
      this.#removed.set(address, options.removed);
      if (this.#removed.size > 4096) this.#removed.delete(this.#removed.keys().next().value!);
    }
    this.events.emit(
      "component.destroy",
      obj.label,
      `destroyed ${obj.label} at ${formatAddress(address)}`,
      { address },
    );
  }

  /** The component at an address, if any (kernel-internal: callers outside use capabilities). */
  component(address: Address): Component | undefined {
    const obj = this.#objects.get(address);
    return obj?.kind === "component" ? obj : undefined;
  }

  /** Every live component, in address order. */
  components(): Component[] {
    return [...this.#objects.values()].filter((o): o is Component => o.kind === "component")
      .sort((a, b) => (a.address < b.address ? -1 : 1));
  }

  /**
   * Introspection (paper §2.2): which interfaces and methods the component at `address` provides.
   * Needs no capability: knowing what a component offers grants nothing.
   */
  describe(address: Address): ComponentDescription {
    const c = this.component(address);
    if (!c) {
      const gone = this.#removed.get(address);
      throw new RangeError(
        gone
          ? `No component at ${formatAddress(address)}: ${gone} was removed`
          : `No component at ${formatAddress(address)}`,
      );
    }
    return {
      address: formatAddress(c.address),
      className: c.className,
      label: c.label,
      host: c.host,
      state: c.state,
      interfaces: c.exported.map((name) => {
        const iface = c.declared.get(name)!;
        return {
          name,
          extends: iface.extends,
          methods: iface.methods.map((m) => ({ name: m.name, signature: formatSignature(m) })),
        };
      }),
    };
  }

  // ---- capabilities -----------------------------------------------------------------------

  /**
   * Issues a capability for an object this kernel holds (privileged: the kernel hands these to
   * whoever creates the object). `rights` null or absent grants everything; interface names
   * expand to all their methods.
   */
  mint(address: Address, rights: readonly string[] | null = null, label = "owner"): Capability {
    const obj = this.#objects.get(address);
    if (!obj) {
      throw new RangeError(
        `Cannot mint a capability for ${formatAddress(address)}: no object there`,
      );
    }
    return this.caps.mint(address, rights === null ? null : this.#expandRights(obj, rights), label);
  }

  /**
   * Derives a narrower capability from one the caller holds. `rights` are qualified method names
   * (`IBlock.read`), interface names (all of its methods), or for memory `read`/`write`.
   */
  derive(cap: Capability, rights: readonly string[] | null, label = "derived"): Capability {
    const record = this.caps.lookup(cap);
    const obj = record && this.#objects.get(record.address);
    if (!record || !obj) throw new PermissionDeniedError("Permission denied: derive");
    return this.caps.derive(cap, rights === null ? null : this.#expandRights(obj, rights), label);
  }

  /** Revokes a capability the caller holds, and every capability derived from it. */
  revoke(cap: Capability): number {
    const n = this.caps.revoke(cap);
    this.events.emit(
      "cap.revoke",
      formatAddress(cap.address),
      `revoked ${n} capabilit${n === 1 ? "y" : "ies"} of ${formatAddress(cap.address)}`,
    );
    return n;
  }

  /** The rights a valid capability grants (null: all), or PermissionDeniedError. */
  rightsOf(cap: Capability): readonly string[] | null {
    const record = this.caps.lookup(cap);
    if (!record) throw new PermissionDeniedError("Permission denied: rights");
    return record.rights === null ? null : [...record.rights];
  }

  #expandRights(obj: Component | MemoryObject, rights: readonly string[]): Set<string> {
    const out = new Set<string>();
    for (const r of rights) {
      if (obj.kind === "memory") {
        if (!MEMORY_RIGHTS.includes(r)) {
          throw new TypeError(`Unknown right "${r}" for memory: expected read or write`);
        }
        out.add(r);
        continue;
      }
      const iface = obj.declared.get(r);
      if (iface) {
        for (const m of iface.methods) out.add(`${r}.${m.name}`);
        continue;
      }
      const dot = r.indexOf(".");
      const m = dot > 0
        ? obj.declared.get(r.slice(0, dot))?.methods.find((x) => x.name === r.slice(dot + 1))
        : undefined;
      if (!m) {
        throw new TypeError(
          `Unknown right "${r}" for ${obj.label}: expected an interface (${
            [...obj.declared.keys()].join(", ")
          }) or Interface.method`,
        );
      }
      out.add(r);
    }
    return out;
  }

  // ---- invocation -------------------------------------------------------------------------

  /** Installs the router for addresses of other nodes. */
  setRemoteRouter(router: RemoteRouter | undefined): void {
    this.#remote = router;
  }

  /**
   * Invokes `method` (`Interface.method`, or a bare method name that one exported interface has)
   * on the object `cap` names. `args` are positional, or a record by parameter name.
   */
  invoke(
    cap: Capability,
    method: string,
    args: readonly unknown[] | Readonly<Record<string, unknown>> = [],
  ): Promise<unknown> {
    return this.#invoke(cap, method, args, undefined);
  }

  /**
   * {@link invoke} with positional arguments that are values of the parameter types `types` by
   * construction (decoded from a method's layout, `kernel/hosts/layout.ts`, whose `scalars` these
   * are): if the method has exactly those parameter types (`sameScalars`), the arguments are not
   * checked again. Privileged: a caller that passes types its arguments are not of hands the
   * component values outside its IDL.
   */
  invokeTyped(
    cap: Capability,
    method: string,
    args: readonly unknown[],
    types: readonly TypeRef[],
  ): Promise<unknown> {
    return this.#invoke(cap, method, args, types);
  }

  #invoke(
    cap: Capability,
    method: string,
    args: readonly unknown[] | Readonly<Record<string, unknown>>,
    types: readonly TypeRef[] | undefined,
  ): Promise<unknown> {
    try {
      if (this.#down) throw new Error("Cannot invoke: the kernel is shut down");
      if (cap && typeof cap.address === "bigint" && nodeOf(cap.address) !== this.node) {
        if (!this.#remote) {
          throw new Error(
            `Cannot invoke ${method} on ${formatAddress(cap.address)}: no route to node ${
              nodeOf(cap.address)
            }`,
          );
        }
        return this.#remote(cap, method, args);
      }
      const { component, resolved } = this.#checkInvoke(cap, method);
      const positional = Array.isArray(args)
        ? [...args]
        : namedArgs(resolved.method, args as Readonly<Record<string, unknown>>, {
          where: resolved.qualified,
        });
      // A driver's worker checks its own arguments (on its thread, which has time to spare).
      if (
        !resolved.checksArgs &&
        (types === undefined || !sameScalars(types, resolved.method.params))
      ) {
        validateArgs(component.schema, resolved.method, positional, resolved.qualified);
      }
      return this.#call(component, resolved, positional);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Capability and method checks of an invocation; throws what the caller should see. */
  #checkInvoke(
    cap: Capability,
    method: string,
  ): { component: Component; resolved: ResolvedMethod } {
    const record = this.caps.lookup(cap);
    const obj = record ? this.#objects.get(record.address) : undefined;
    if (!record || !obj || obj.kind !== "component") {
      const gone = cap && typeof cap.address === "bigint"
        ? this.#removed.get(cap.address)
        : undefined;
      if (gone) throw new DeviceRemovedError(`Cannot invoke ${method}: ${gone} was removed`);
      this.#denied(cap, method);
    }
    const component = obj as Component;
    const found = component.resolve(method);
    if (found === undefined || Array.isArray(found)) {
      // A narrow capability learns nothing about what exists.
      if (record.rights !== null) this.#denied(cap, method, component);
      if (found === undefined) {
        throw new MethodNotFoundError(
          `${component} provides no method ${method}; it provides ${
            component.exported.map((i) =>
              `${i} (${component.declared.get(i)!.methods.map((m) => m.name).join(", ")})`
            )
              .join("; ") || "no interfaces"
          }`,
        );
      }
      throw new MethodNotFoundError(
        `Method ${method} of ${component} is ambiguous: say ${
          found.map((f) => f.qualified).join(" or ")
        }`,
      );
    }
    if (!this.caps.grants(record, found.qualified)) this.#denied(cap, method, component);
    return { component, resolved: found };
  }

  #denied(cap: Capability, method: string, component?: Component): never {
    if (component) component.stats.denied++;
    const where = cap && typeof cap.address === "bigint"
      ? formatAddress(cap.address)
      : "an invalid capability";
    this.events.emit("invoke.denied", component?.label ?? where, `denied ${method} on ${where}`);
    throw new PermissionDeniedError(`Permission denied: ${method} on ${where}`);
  }

  async #call(component: Component, resolved: ResolvedMethod, args: unknown[]): Promise<unknown> {
    component.stats.calls++;
    let result: unknown;
    try {
      result = await component.dispatch(resolved, args);
    } catch (error) {
      component.stats.errors++;
      throw error;
    }
    try {
      validateResult(component.schema, resolved.method, result, resolved.qualified);
    } catch (error) {
      component.stats.errors++;
      const message = `${component} returned a bad result from ${resolved.qualified}: ${
        (error as Error).message
      }`;
      this.events.emit("invoke.error", component.label, message);
      throw new DriverFaultError(message);
    }
    return result;
  }

  /** The schema of a method a capability may invoke (for shells that parse arguments by type). */
  methodSchema(cap: Capability, method: string): { qualified: string; method: MethodSchema } {
    const { resolved } = this.#checkInvoke(cap, method);
    return { qualified: resolved.qualified, method: resolved.method };
  }

  // ---- memory -----------------------------------------------------------------------------

  /** Allocates a memory object; returns its address and master capability (read and write). */
  allocate(size: number, label = "memory"): { address: Address; capability: Capability } {
    this.#checkUp();
    checkMemorySize(size);
    const address = this.space.allocate(size);
    const mem = new MemoryObject(address, size, label);
    this.#objects.set(address, mem);
    let i = this.#memory.length;
    while (i > 0 && this.#memory[i - 1]!.address > address) i--;
    this.#memory.splice(i, 0, mem);
    return { address, capability: this.caps.mint(address, null, label) };
  }

  /** The memory object a capability names, if it grants `right`; else PermissionDeniedError. */
  memory(cap: Capability, right: "read" | "write"): MemoryObject {
    const record = this.caps.check(cap, right, `${right} memory`);
    const obj = this.#objects.get(record.address);
    if (!obj || obj.kind !== "memory") {
      throw new PermissionDeniedError(`Permission denied: ${right} memory`);
    }
    return obj;
  }

  /**
   * The memory object holding [address, address+length), or undefined (kernel-internal: the
   * IOMMU uses it to translate device addresses).
   */
  resolveMemory(address: Address, length: number): MemoryObject | undefined {
    let lo = 0, hi = this.#memory.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = this.#memory[mid]!;
      if (address < m.address) hi = mid - 1;
      else if (address >= m.address + BigInt(m.size)) lo = mid + 1;
      else return m.contains(address, length) ? m : undefined;
    }
    return undefined;
  }

  /** Frees a memory object; needs a capability granting both read and write. */
  free(cap: Capability): void {
    const record = this.caps.check(cap, "write", "free memory");
    if (!this.caps.grants(record, "read")) {
      throw new PermissionDeniedError("Permission denied: free memory");
    }
    const obj = this.#objects.get(record.address);
    if (!obj || obj.kind !== "memory") {
      throw new PermissionDeniedError("Permission denied: free memory");
    }
    this.#objects.delete(obj.address);
    this.#memory.splice(this.#memory.indexOf(obj), 1);
    this.caps.dropObject(obj.address);
    this.space.free(obj.address);
    for (const hook of this.#freeHooks) hook(obj.address);
  }

  /**
   * Runs `fn` with the address of every memory object freed from now on (after it is gone): how
   * the driver instances revoke the DMA mappings of a freed object. `fn` must not throw (the
   * other hooks would not run). Returns the unsubscriber.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { boot } from "./boot.ts";
   * const kernel = await boot({ names: ":memory:", machine: { ide: false } });
   * const freed: bigint[] = [];
   * const stop = kernel.onFree((address) => freed.push(address));
   * const memory = kernel.allocate(4096, "scratch");
   * kernel.free(memory.capability);
   * stop();
   * assertEquals(freed, [memory.address]);
   * await kernel.shutdown();
   * ```
   */
  onFree(fn: (address: bigint) => void): () => void {
    this.#freeHooks.add(fn);
    return () => this.#freeHooks.delete(fn);
  }

  /** Live memory objects, in address order. */
  memoryObjects(): readonly MemoryObject[] {
    return this.#memory;
  }

  // ---- life cycle -------------------------------------------------------------------------

  /** Runs `fn` at shutdown, newest first. */
  onShutdown(fn: () => void | Promise<void>): void {
    this.#shutdownHooks.push(fn);
  }

  /** Whether {@link shutdown} has run. */
  get isDown(): boolean {
    return this.#down;
  }

  /** Destroys every component, runs shutdown hooks and refuses further work. Idempotent. */
  async shutdown(): Promise<void> {
    if (this.#down) return;
    for (const hook of this.#shutdownHooks.reverse()) {
      try {
        await hook();
      } catch (error) {
        this.events.emit("shutdown", "kernel", `shutdown hook failed: ${(error as Error).message}`);
      }
    }
    this.#shutdownHooks = [];
    for (const c of this.components().reverse()) this.destroyComponent(c.address);
    this.#down = true;
    this.events.emit("shutdown", "kernel", "kernel shut down");
  }

  #checkUp(): void {
    if (this.#down) throw new Error("The kernel is shut down");
  }
}
