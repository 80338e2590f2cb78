/**
 * The mungi IDL: a small C/CORBA-like interface definition language (the paper's Figure 1
 * compiles as printed), its compiler to a runtime schema and to TypeScript, and the runtime checks
 * the kernel applies to every invocation.
 *
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatSignature, parseIdl, validateArgs } from "./mod.ts";
 * const schema = parseIdl(`
 * interface IBlock {
 *     int write (cap_t notify, block_seq data);
 *     int read (cap_t notify, block_seq data);
 *     int get_block_count ();
 *     int get_block_size ();
 * };`);
 * const read = schema.interfaces.IBlock!.methods[1]!;
 * assertEquals(formatSignature(read), "int read(cap_t notify, block_seq data)");
 * const buffer = { address: 1n, password: 2n };
 * validateArgs(schema, read, [{ address: 1n, password: 2n }, { blocks: [0n], addr: 0x1000n, buffer }], "IBlock.read");
 * ```
 *
 * @module
 */

export type * from "./types.ts";
export * from "./idl_syntax_error.ts";
export * from "./prelude.ts";
export * from "./check_idl.ts";
export * from "./parse_idl.ts";
export * from "./compile_idl_to_ts.ts";
export * from "./format_type.ts";
export * from "./format_signature.ts";
export * from "./format_check_report.ts";
export * from "./validate_args.ts";
export * from "./validate_result.ts";
export * from "./named_args.ts";
export * from "./parse_value.ts";
export * from "./to_json_value.ts";
