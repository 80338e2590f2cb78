/**
 * Password capabilities (Mungi, paper §2.3): a capability is an object's address plus an unguessable
 * 64-bit password. The kernel keeps, per object, the passwords it has issued and what each grants:
 * every right of the object, or a named subset. A capability can be narrowed into a new one
 * (derive) and revoked; revoking a capability revokes every capability derived from it.
 *
 * Rights are plain strings: for components, qualified method names (`IBlock.read`); for memory
 * objects, `read` and `write`.
 *
 * @module
 */

import type { Capability } from "../idl/types.ts";
import type { Address } from "./address.ts";
import { PermissionDeniedError } from "./errors.ts";

export type { Capability };

/** What the kernel knows of one issued capability. */
export interface CapabilityRecord {
  readonly address: Address;
  readonly password: bigint;
  /** The rights granted, or null for every right of the object. */
  readonly rights: ReadonlySet<string> | null;
  readonly parent: CapabilityRecord | null;
  readonly children: Set<CapabilityRecord>;
  /** A note for listings: who it was made for. */
  readonly label: string;
}

const U64 = new BigUint64Array(1);

function randomPassword(): bigint {
  // Zero is never issued, so an all-zero capability is always a forgery.
  do crypto.getRandomValues(U64); while (U64[0] === 0n);
  return U64[0]!;
}

/**
 * The kernel's table of issued capabilities.
 *
 * @example
 * ```ts
 * import { CapabilityTable } from "./capability.ts";
 * const table = new CapabilityTable();
 * const master = table.mint(0x1000n, null, "owner");
 * const narrow = table.derive(master, new Set(["IBlock.read"]), "client");
 * table.check(narrow, "IBlock.read", "IBlock.read"); // ok
 * table.revoke(master); // narrow stops working too
 * ```
 */
export class CapabilityTable {
  #objects = new Map<Address, Map<bigint, CapabilityRecord>>();

  /** Issues a fresh capability for an object; `rights` null grants everything. */
  mint(address: Address, rights: ReadonlySet<string> | null, label: string): Capability {
    return this.#add(address, rights, null, label);
  }

  /**
   * The record of a capability if it is valid (issued and not revoked), else undefined. Constant
   * work whatever is wrong with a forgery: two map lookups.
   */
  lookup(cap: unknown): CapabilityRecord | undefined {
    if (typeof cap !== "object" || cap === null) return undefined;
    const { address, password } = cap as Partial<Capability>;
    if (typeof address !== "bigint" || typeof password !== "bigint") return undefined;
    return this.#objects.get(address)?.get(password);
  }

  /**
   * Checks that `cap` grants `right`; returns its record or throws `PermissionDeniedError` naming
   * `what` (the method as the caller wrote it), the same error whatever was wrong.
   */
  check(cap: unknown, right: string, what: string): CapabilityRecord {
    const record = this.lookup(cap);
    if (record && (record.rights === null || record.rights.has(right))) return record;
    throw denied(what);
  }

  /** Whether a valid capability's record grants `right`. */
  grants(record: CapabilityRecord, right: string): boolean {
    return record.rights === null || record.rights.has(right);
  }

  /**
   * Derives a new capability from a valid one, granting `rights` (null: the same as the parent).
   * Every requested right must already be granted by the parent, or `PermissionDeniedError`.
   */
  derive(cap: unknown, rights: ReadonlySet<string> | null, label: string): Capability {
    const parent = this.lookup(cap);
    if (!parent) throw denied("derive");
    if (rights !== null && parent.rights !== null) {
      for (const r of rights) {
        if (!parent.rights.has(r)) {
          throw new PermissionDeniedError(
            `Permission denied: cannot derive a capability granting ${r}: the capability it is derived from does not grant it`,
          );
        }
      }
    }
    return this.#add(parent.address, rights ?? parent.rights, parent, label);
  }

  /**
   * Revokes a valid capability and, transitively, every capability derived from it. Returns how
   * many capabilities stopped working.
   */
  revoke(cap: unknown): number {
    const record = this.lookup(cap);
    if (!record) throw denied("revoke");
    record.parent?.children.delete(record);
    let n = 0;
    const stack = [record];
    while (stack.length > 0) {
      const r = stack.pop()!;
      this.#objects.get(r.address)?.delete(r.password);
      n++;
      for (const c of r.children) stack.push(c);
      r.children.clear();
    }
    return n;
  }

  /** Drops every capability of an object that no longer exists. */
  dropObject(address: Address): void {
    this.#objects.delete(address);
  }

  /** Every valid capability of an object (or of all objects). */
  list(address?: Address): CapabilityRecord[] {
    if (address !== undefined) return [...(this.#objects.get(address)?.values() ?? [])];
    const all: CapabilityRecord[] = [];
    for (const m of this.#objects.values()) all.push(...m.values());
    return all;
  }

  /** The number of valid capabilities in the table. */
  get size(): number {
    let n = 0;
    for (const m of this.#objects.values()) n += m.size;
    return n;
  }

  #add(
    address: Address,
    rights: ReadonlySet<string> | null,
    parent: CapabilityRecord | null,
    label: string,
  ): Capability {
    let passwords = this.#objects.get(address);
    if (!passwords) this.#objects.set(address, passwords = new Map());
    let password = randomPassword();
    while (passwords.has(password)) password = randomPassword();
    const record: CapabilityRecord = {
      address,
      password,
      rights: rights === null ? null : new Set(rights),
      parent,
      children: new Set(),
      label,
    };
    passwords.set(password, record);
    parent?.children.add(record);
    return Object.freeze({ address, password });
  }
}

function denied(what: string): PermissionDeniedError {
  return new PermissionDeniedError(`Permission denied: ${what}`);
}

/**
 * Prints a capability as `0x<address>:0x<password>`, the form the shell reads back.
 *
 * @example
 * ```ts
 * import { formatCapability } from "./capability.ts";
 * formatCapability({ address: 1n, password: 2n }); // "0x0000000000000001:0x0000000000000002"
 * ```
 */
export function formatCapability(cap: Capability): string {
  const hex = (v: bigint) => "0x" + v.toString(16).padStart(16, "0");
  return `${hex(cap.address)}:${hex(cap.password)}`;
}

/**
 * Parses `0x<address>:0x<password>` (the form {@link formatCapability} prints).
 *
 * @example
 * ```ts
 * import { parseCapability } from "./capability.ts";
 * parseCapability("0x1:0x2"); // { address: 1n, password: 2n }
 * ```
 */
export function parseCapability(text: string): Capability {
  const m = /^\s*0x([0-9a-fA-F]{1,16}):0x([0-9a-fA-F]{1,16})\s*$/.exec(text);
  if (!m) {
    throw new SyntaxError(
      `Cannot parse capability "${text}": expected 0x<address>:0x<password>, 1-16 hex digits each`,
    );
  }
  return Object.freeze({ address: BigInt("0x" + m[1]), password: BigInt("0x" + m[2]) });
}
