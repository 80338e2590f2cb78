/**
 * The name service (paper §2.4): strings such as `dev/ide0` bound to 64-bit addresses, stored in
 * Deno KV, with prefix listing, reverse lookup and in-process watches.
 *
 * The errors it throws for callers to catch, `NameNotFoundError` and `NameExistsError`, come
 * from `kernel/errors.ts`.
 *
 * @example
 * ```ts
 * import { NameService } from "./mod.ts";
 * import { assertEquals } from "@std/assert";
 *
 * using names = await NameService.open(":memory:");
 * await names.bind("dev/ide0", 0x1000n);
 * assertEquals(await names.lookup("dev/ide0"), 0x1000n);
 * ```
 *
 * @module
 */

export * from "./validate_name.ts";
export * from "./name_service.ts";
export * from "./name_watch.ts";
