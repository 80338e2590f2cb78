/**
 * The IOMMU (paper §2.1): one domain per device. A device model reaches memory only through its
 * domain; the kernel maps memory into a domain for a driver that presented a capability for it.
 * Device addresses are single-address-space addresses, so a mapped buffer has the same address for
 * the device as for its owner. An access outside every mapping (or against its direction) is a
 * recorded fault that fails the transfer and harms nothing else.
 *
 * @module
 */

import { copyBytes } from "./memory_copy.ts";

/** Direction of a DMA access, from the device's point of view. */
export type DmaDirection = "read" | "write";

/** A recorded DMA fault. */
export interface DmaFault {
  readonly device: string;
  readonly address: bigint;
  readonly length: number;
  readonly direction: DmaDirection;
  readonly time: number;
}

/** One mapping in a domain. */
export interface DmaMapping {
  readonly address: bigint;
  readonly length: number;
  /** The memory the range maps to. */
  readonly bytes: Uint8Array;
  readonly writable: boolean;
  readonly label: string;
}

/** A mapping with its end, as a domain keeps it. */
interface Entry {
  readonly mapping: DmaMapping;
  /** `mapping.address + mapping.length`. */
  readonly end: bigint;
}

/**
 * A device's mappings, and the one its last access hit: a transfer's accesses mostly land in the
 * mapping the previous one did (a PRD table, then its buffer), so that one is tried first.
 */
interface Domain {
  readonly entries: Entry[];
  last: Entry | undefined;
}

/** Thrown to a device model whose access faulted; the model fails the transfer. */
export class DmaFaultError extends Error {
  override name = "DmaFaultError";
  readonly fault: DmaFault;
  constructor(fault: DmaFault) {
    super(
      `DMA fault: ${fault.device} ${fault.direction} of ${fault.length} bytes at 0x${
        fault.address.toString(16).padStart(16, "0")
      } is outside its mappings`,
    );
    this.fault = fault;
  }
}

/** A device's view of memory. */
export interface DmaPort {
  /** Copies `length` bytes at `address` out of memory (the device reads memory). */
  read(address: bigint, length: number): Uint8Array;
  /** Copies bytes at `address` into `target` (the device reads memory), without allocating. */
  readInto(address: bigint, target: Uint8Array): void;
  /** Copies `data` into memory at `address` (the device writes memory). */
  write(address: bigint, data: Uint8Array): void;
  /**
   * The mapped memory itself, for a device that fills or drains it in place (a disk reading its
   * image straight into the buffer). Checked like any access; `direction` is the device's.
   */
  view(address: bigint, length: number, direction: DmaDirection): Uint8Array;
}

/**
 * The machine's IOMMU.
 *
 * @example
 * ```ts
 * import { Iommu } from "./iommu.ts";
 * const iommu = new Iommu();
 * const port = iommu.port("ide0");
 * const mem = new Uint8Array(4096);
 * iommu.map("ide0", { address: 0x1000n, length: 4096, bytes: mem, writable: true, label: "buf" });
 * port.write(0x1000n, new Uint8Array([1, 2, 3]));
 * ```
 */
export class Iommu {
  #domains = new Map<string, Domain>();
  #faults: DmaFault[] = [];
  #listeners = new Set<(f: DmaFault) => void>();
  #start = performance.now();

  /** Creates (or returns) the DMA port of a device's domain. */
  port(device: string): DmaPort {
    if (!this.#domains.has(device)) this.#domains.set(device, { entries: [], last: undefined });
    return {
      read: (address, length) => {
        const out = new Uint8Array(length);
        this.#access(device, address, length, "read", (src) => copyBytes(out, src));
        return out;
      },
      readInto: (address, target) => {
        this.#access(device, address, target.length, "read", (src) => copyBytes(target, src));
      },
      write: (address, data) => {
        this.#access(device, address, data.length, "write", (dst) => copyBytes(dst, data));
      },
      view: (address, length, direction) => {
        let out: Uint8Array | undefined;
        this.#access(device, address, length, direction, (v) => out = v);
        return out!;
      },
    };
  }

  /** Adds a mapping to a device's domain. Overlapping an existing mapping is a RangeError. */
  map(device: string, mapping: DmaMapping): void {
    const domain = this.#domains.get(device);
    if (!domain) throw new RangeError(`Cannot map for ${device}: no such IOMMU domain`);
    if (mapping.length <= 0 || mapping.length > mapping.bytes.length) {
      throw new RangeError(`Cannot map ${mapping.length} bytes for ${device}: bad length`);
    }
    const end = mapping.address + BigInt(mapping.length);
    for (const { mapping: m, end: mEnd } of domain.entries) {
      if (mapping.address < mEnd && m.address < end) {
        throw new RangeError(
          `Cannot map 0x${
            mapping.address.toString(16)
          } for ${device}: overlaps mapping of ${m.label}`,
        );
      }
    }
    domain.entries.push({ mapping, end });
  }

  /** Removes the mapping at `address` from a device's domain; returns whether there was one. */
  unmap(device: string, address: bigint): boolean {
    const domain = this.#domains.get(device);
    const i = domain?.entries.findIndex((e) => e.mapping.address === address) ?? -1;
    if (i < 0) return false;
    const [gone] = domain!.entries.splice(i, 1);
    if (domain!.last === gone) domain!.last = undefined;
    return true;
  }

  /** Drops a device's whole domain (on detach). */
  removeDomain(device: string): void {
    this.#domains.delete(device);
  }

  /** The mappings of one device, or of all. */
  mappings(device?: string): { device: string; mapping: DmaMapping }[] {
    const out: { device: string; mapping: DmaMapping }[] = [];
    for (const [d, domain] of this.#domains) {
      if (device !== undefined && d !== device) continue;
      for (const { mapping } of domain.entries) out.push({ device: d, mapping });
    }
    return out;
  }

  /** Faults recorded so far (oldest first, at most the last 1,000). */
  get faults(): readonly DmaFault[] {
    return this.#faults;
  }

  /** Follows faults as they happen. */
  onFault(listener: (f: DmaFault) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #access(
    device: string,
    address: bigint,
    length: number,
    direction: DmaDirection,
    use: (view: Uint8Array) => void,
  ): void {
    const domain = this.#domains.get(device);
    if (domain !== undefined) {
      // Mappings never overlap: the one that holds the whole range, if any, is the only one.
      const end = address + BigInt(length);
      let hit = domain.last;
      if (hit === undefined || address < hit.mapping.address || end > hit.end) {
        hit = undefined;
        for (const e of domain.entries) {
          if (address >= e.mapping.address && end <= e.end) {
            hit = e;
            break;
          }
        }
      }
      if (hit !== undefined && (direction === "read" || hit.mapping.writable)) {
        domain.last = hit;
        const o = Number(address - hit.mapping.address);
        use(hit.mapping.bytes.subarray(o, o + length));
        return;
      }
    }
    const fault: DmaFault = {
      device,
      address,
      length,
      direction,
      time: Math.round(performance.now() - this.#start),
    };
    this.#faults.push(fault);
    if (this.#faults.length > 1000) this.#faults.shift();
    for (const l of this.#listeners) l(fault);
    throw new DmaFaultError(fault);
  }
}
