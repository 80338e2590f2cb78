/**
 * The events a name service reports to watchers, and the handle a watcher holds.
 *
 * @module
 */

/**
 * What happened to a name: it was bound while unbound (`bind`), bound again over an existing
 * binding with `replace` (`rebind`), or unbound (`unbind`).
 *
 * @example
 * ```ts
 * import type { NameEventKind } from "./name_watch.ts";
 * const kind: NameEventKind = "rebind";
 * ```
 */
export type NameEventKind = "bind" | "rebind" | "unbind";

/**
 * One committed change to one name. Addresses use 0n for "unbound": `address` is 0n for an
 * `unbind`, and `previous` is 0n for a `bind`. Events are frozen; every watch that matches gets
 * the same object.
 *
 * @example
 * ```ts
 * import type { NameEvent } from "./name_watch.ts";
 * const event: NameEvent = { kind: "bind", name: "dev/ide0", address: 0x1000n, previous: 0n };
 * ```
 */
export interface NameEvent {
  /** What happened. */
  readonly kind: NameEventKind;
  /** The name that changed. */
  readonly name: string;
  /** The address the name is bound to now, or 0n after an unbind. */
  readonly address: bigint;
  /** The address the name was bound to before, or 0n if it was unbound. */
  readonly previous: bigint;
}

/**
 * A watch on every name that starts with `prefix` (a plain string prefix: "dev/" matches
 * "dev/ide0" but not "devices"; "" matches everything).
 *
 * A watch sees the changes made through the `NameService` object that created it, in the order
 * they were committed, and nothing else: not changes made by other processes or by other
 * `NameService` objects on the same store.
 *
 * Without a callback the watch buffers events until they are read with `for await`; the iterator
 * is the watch itself, so events are consumed once, and leaving the loop early (`break`) closes
 * the watch. With a callback every event goes to the callback, synchronously, before the `bind`
 * or `unbind` that caused it resolves; such a watch buffers nothing and cannot be iterated (a
 * `TypeError`). A callback that throws is logged with `console.error` and otherwise ignored.
 *
 * `close()` (or `using`) stops the events and frees the buffer; iteration then ends. When the
 * service is closed the watch ends too, after yielding the events it had already buffered.
 *
 * @example
 * ```ts
 * import { NameService } from "./name_service.ts";
 * import { assertEquals } from "@std/assert";
 *
 * using names = await NameService.open(":memory:");
 * const watch = names.watch("dev/");
 * await names.bind("dev/ide0", 0x1000n);
 * await names.unbind("dev/ide0");
 * names.close();
 * const kinds = [];
 * for await (const event of watch) kinds.push(event.kind);
 * assertEquals(kinds, ["bind", "unbind"]);
 * ```
 */
export interface NameWatch extends AsyncIterable<NameEvent>, Disposable {
  /** The prefix the watched names start with. */
  readonly prefix: string;
  /** True once no more events will be delivered (closed, or the service was closed). */
  readonly closed: boolean;
  /** Stops the watch and discards any buffered events. Idempotent. */
  close(): void;
}
