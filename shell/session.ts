/**
 * The capabilities a shell session holds. The console acts with the owner's authority: the first
 * time the session needs a component it mints a capability for it; from those it can derive
 * narrower ones and revoke any it knows. Each held capability gets a short reference, `%1`,
 * `%2`, ..., that commands accept wherever a capability is expected (a script cannot know the
 * random password a derive printed).
 *
 * @module
 */

import type { Capability } from "../idl/types.ts";
import type { Address } from "../kernel/address.ts";
import { parseCapability } from "../kernel/capability.ts";
import type { Kernel } from "../kernel/kernel.ts";

/** One capability the session holds. */
export interface HeldCapability {
  /** `%1`, `%2`, ... in the order the session got them. */
  readonly ref: string;
  readonly capability: Capability;
  /** `minted` (the console's authority over the object) or `derived`. */
  readonly origin: "minted" | "derived";
  /** The reference of the capability it was derived from. */
  readonly parent?: string;
}

/** A session reference: `%1`, `%2`, ... */
const REF = /^%([1-9][0-9]*)$/;

/**
 * The capabilities of one shell session over one kernel.
 *
 * @example
 * ```ts ignore
 * const session = new ShellSession(kernel);
 * const master = session.master(address);
 * const narrow = session.derive(master, ["IBlock.read"]);
 * session.revoke(narrow.capability);
 * ```
 */
export class ShellSession {
  readonly kernel: Kernel;
  #held: HeldCapability[] = [];
  #next = 1;

  constructor(kernel: Kernel) {
    this.kernel = kernel;
  }

  /**
   * The session's full capability for the object at `address`, minted on first use (and again
   * after it was revoked).
   */
  master(address: Address): Capability {
    const live = this.#held.find((h) =>
      h.origin === "minted" && h.capability.address === address && this.#valid(h)
    );
    if (live) return live.capability;
    const capability = this.kernel.mint(address, null, "shell");
    this.#held.push({ ref: `%${this.#next++}`, capability, origin: "minted" });
    return capability;
  }

  /**
   * Derives a capability granting only `rights` (qualified methods such as `IBlock.read`, or
   * interface names) from one the session holds or was given, and keeps it.
   */
  derive(from: Capability, rights: readonly string[]): HeldCapability {
    const capability = this.kernel.derive(from, rights, "shell-derived");
    const parent = this.#held.find((h) => sameCapability(h.capability, from))?.ref;
    const held: HeldCapability = {
      ref: `%${this.#next++}`,
      capability,
      origin: "derived",
      ...(parent === undefined ? {} : { parent }),
    };
    this.#held.push(held);
    return held;
  }

  /**
   * Revokes a valid capability and every one derived from it. Returns how many stopped working
   * and the references of those the session held (which it forgets).
   */
  revoke(capability: Capability): { count: number; refs: string[] } {
    const count = this.kernel.revoke(capability);
    const gone = this.#held.filter((h) => !this.#valid(h));
    this.#held = this.#held.filter((h) => this.#valid(h));
    return { count, refs: gone.map((h) => h.ref) };
  }

  /** The valid capabilities the session holds, oldest first (forgets those that died). */
  list(): HeldCapability[] {
    this.#held = this.#held.filter((h) => this.#valid(h));
    return [...this.#held];
  }

  /** The held capability with this reference (`%2`), if still valid. */
  byRef(ref: string): HeldCapability | undefined {
    return this.list().find((h) => h.ref === ref);
  }

  /**
   * Reads a capability a user wrote: `0x<address>:0x<password>` or a session reference `%N`.
   * Returns undefined when `text` looks like neither (a name or an address, say).
   */
  parse(text: string): Capability | undefined {
    if (REF.test(text)) {
      const held = this.byRef(text);
      if (!held) {
        throw new RangeError(
          `${text} is not a capability this session holds (type "caps" for the list)`,
        );
      }
      return held.capability;
    }
    if (/^0x[0-9a-fA-F]+:/.test(text)) return parseCapability(text);
    return undefined;
  }

  #valid(h: HeldCapability): boolean {
    return this.kernel.caps.lookup(h.capability) !== undefined;
  }
}

function sameCapability(a: Capability, b: Capability): boolean {
  return a.address === b.address && a.password === b.password;
}
