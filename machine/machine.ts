/**
 * The simulated machine: a PCI bus with device functions, interrupt lines and an IOMMU. It knows
 * nothing of drivers: it tells whoever listens that a device appeared or went away.
 *
 * @module
 */

import { type DeviceEnv, type DeviceModel, WINDOW_PAGE } from "./device_model.ts";
import { InterruptBus } from "./interrupt_bus.ts";
import { Iommu } from "./iommu.ts";
import { buildConfigSpace, type PciFunction, type PciIdentity } from "./pci_bus.ts";

/** Something that happened on the machine's buses. */
export type MachineEvent =
  | { readonly kind: "attach"; readonly fn: PciFunction }
  | { readonly kind: "detach"; readonly fn: PciFunction }
  | { readonly kind: "log"; readonly device: string; readonly message: string };

/** Where BARs are placed in the (simulated) physical address space. */
const MMIO_BASE = 0xfe00_0000n;

/**
 * The machine.
 *
 * @example
 * ```ts ignore
 * const machine = new Machine();
 * machine.onEvent((e) => console.log(e.kind));
 * await machine.attachPci(identity, model);
 * ```
 */
export class Machine {
  readonly irq: InterruptBus = new InterruptBus(64);
  readonly iommu: Iommu = new Iommu();
  readonly slots: number;
  #pci: (PciFunction | undefined)[];
  #nextMmio = MMIO_BASE;
  #listeners = new Set<(e: MachineEvent) => void>();

  constructor(options: { pciSlots?: number } = {}) {
    this.slots = options.pciSlots ?? 32;
    this.#pci = new Array(this.slots).fill(undefined);
  }

  /** Follows attach, detach and device log events. */
  onEvent(listener: (e: MachineEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every PCI function, in slot order. */
  pciFunctions(): PciFunction[] {
    return this.#pci.filter((f): f is PciFunction => f !== undefined);
  }

  /** The function in a slot. */
  pci(slot: number): PciFunction | undefined {
    return this.#pci[slot];
  }

  /** The function whose model is named `name`. */
  find(name: string): PciFunction | undefined {
    return this.pciFunctions().find((f) => f.model.name === name);
  }

  /**
   * Puts a device model in the first free PCI slot (or `slot`): allocates its windows (whole pages
   * of shared memory), an interrupt line and an IOMMU domain, writes its configuration space, and
   * tells listeners.
   */
  async attachPci(identity: PciIdentity, model: DeviceModel, slot?: number): Promise<PciFunction> {
    if (this.find(model.name)) {
      throw new RangeError(`Cannot attach ${model.name}: a device of that name is attached`);
    }
    const s = slot ?? this.#pci.findIndex((f) => f === undefined);
    if (s < 0 || s >= this.slots) {
      throw new RangeError(`Cannot attach ${model.name}: no free PCI slot (0-${this.slots - 1})`);
    }
    if (this.#pci[s]) {
      throw new RangeError(
        `Cannot attach ${model.name}: PCI slot ${s} holds ${this.#pci[s]!.model.name}`,
      );
    }
    const windows = model.windows.map((w) => {
      if (!Number.isInteger(w.size) || w.size <= 0 || w.size % WINDOW_PAGE !== 0) {
        throw new RangeError(
          `Cannot attach ${model.name}: window ${w.name} is ${w.size} bytes, not whole pages`,
        );
      }
      const base = this.#nextMmio;
      this.#nextMmio += BigInt(w.size);
      return { name: w.name, buffer: new SharedArrayBuffer(w.size), base };
    });
    const line = model.lines > 0 ? this.irq.allocate(model.name) : 0;
    const fn: PciFunction = {
      slot: s,
      identity,
      model,
      config: buildConfigSpace(identity, windows.map((w) => w.base), line),
      line,
      windows,
    };
    const env: DeviceEnv = {
      windows: Object.fromEntries(windows.map((w) => [w.name, w.buffer])),
      raise: () => {
        if (line !== 0) this.irq.raise(line);
      },
      dma: this.iommu.port(model.name),
      log: (message) => this.#emit({ kind: "log", device: model.name, message }),
    };
    this.#pci[s] = fn;
    try {
      await model.attach(env);
    } catch (error) {
      this.#pci[s] = undefined;
      if (line !== 0) this.irq.release(line);
      this.iommu.removeDomain(model.name);
      throw error;
    }
    this.#emit({ kind: "attach", fn });
    return fn;
  }

  /** Removes the device in a slot: listeners hear of it first, then the model is closed. */
  async detachPci(slot: number): Promise<void> {
    const fn = this.#pci[slot];
    if (!fn) throw new RangeError(`Cannot detach PCI slot ${slot}: it is empty`);
    this.#emit({ kind: "detach", fn });
    this.#pci[slot] = undefined;
    if (fn.line !== 0) this.irq.release(fn.line);
    this.iommu.removeDomain(fn.model.name);
    await fn.model.close();
  }

  /** Closes every device model (flushes disk images). */
  async stop(): Promise<void> {
    for (const fn of this.pciFunctions().reverse()) await this.detachPci(fn.slot);
  }

  #emit(e: MachineEvent): void {
    for (const l of this.#listeners) l(e);
  }
}
