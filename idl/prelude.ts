/**
 * The IDL prelude: definitions every unit gets without writing them.
 *
 * @module
 */

/**
 * IDL source implicitly included in every compile. `block_seq` is the `data` argument of the
 * paper's IBlock (§3.1): "a list of blocks on the device to be accessed, and a destination or
 * source memory address", plus the capability of the memory object holding that address.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { PRELUDE } from "./prelude.ts";
 * import { parseIdl } from "./parse_idl.ts";
 * assertEquals(Object.keys(parseIdl("").types), ["block_seq"]);
 * assertEquals(PRELUDE.includes("struct block_seq"), true);
 * ```
 */
export const PRELUDE: string = `// The mungi IDL prelude, included in every unit.

// A block list plus a memory address (paper §3.1): the blocks to transfer and where in memory.
// An address alone is no authority in Mungi, so the password capability of the memory object
// that holds addr travels with it: the driver presents it to map the buffer for DMA.
struct block_seq {
    sequence<u64> blocks;
    u64 addr;
    cap_t buffer;
};
`;
