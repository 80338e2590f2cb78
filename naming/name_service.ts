/**
 * The name service: maps strings to 64-bit addresses (paper §2.4). Drivers are named by the
 * address of their instance data; the name service lets clients find them by a string such as
 * `dev/ide0` instead.
 *
 * Bindings live in Deno KV, under `["names", name]` with the address as a bigint value, next to a
 * schema version `["meta", "version"]` = 1.
 *
 * @module
 */

import { NameExistsError, NameNotFoundError } from "../kernel/errors.ts";
import { formatAddress } from "../kernel/address.ts";
import { validateName } from "./validate_name.ts";
import type { NameEvent, NameEventKind, NameWatch } from "./name_watch.ts";
import { WatchChannel } from "./_watch_channel.ts";
import {
  describeValue,
  NAME_MAX_BYTES,
  quoteName,
  retryWhenLocked,
  utf8Length,
  validateAddress,
  validatePrefix,
} from "./_util.ts";

const SCHEMA_VERSION = 1;
const VERSION_KEY: Deno.KvKey = ["meta", "version"];
const NAMES: Deno.KvKey = ["names"];

/**
 * Options for {@linkcode NameService.prototype.bind}.
 *
 * @example
 * ```ts
 * import type { NameBindOptions } from "./name_service.ts";
 * const options: NameBindOptions = { replace: true };
 * ```
 */
export interface NameBindOptions {
  /** Bind even if the name is bound already, replacing the old address. Default false. */
  replace?: boolean;
}

/**
 * One name and the address it is bound to, as {@linkcode NameService.prototype.list} returns.
 *
 * @example
 * ```ts
 * import type { NameBinding } from "./name_service.ts";
 * const binding: NameBinding = { name: "dev/ide0", address: 0x1000n };
 * ```
 */
export interface NameBinding {
  /** The name. */
  name: string;
  /** The address it is bound to (never 0n). */
  address: bigint;
}

/**
 * A name service backed by a Deno KV store.
 *
 * Names follow {@linkcode validateName}; addresses are bigints in 1..2^64-1 (0 means "unbound").
 * Every method validates its arguments and throws `TypeError`/`RangeError` on bad ones.
 *
 * Changes are atomic: `bind` and `unbind` commit only if the name's entry is unchanged since they
 * read it, so of two concurrent binds of one unbound name exactly one wins, even when they come
 * from different processes sharing the KV file. Changes made through one `NameService` object are
 * also serialised among themselves, so its watches see them in commit order. Watches see only
 * changes made through the same object (see {@linkcode NameWatch}).
 *
 * After {@linkcode NameService.prototype.close} every method throws an `Error` saying the name
 * service is closed. Writes still queued behind earlier writes reject the same way; a read or
 * write already sent to the store either completes or rejects the same way.
 *
 * @example
 * ```ts
 * import { NameService } from "./name_service.ts";
 * import { assertEquals } from "@std/assert";
 *
 * using names = await NameService.open(":memory:");
 * await names.bind("dev/ide0", 0x0001_0000_0000_1000n);
 * assertEquals(await names.lookup("dev/ide0"), 0x0001_0000_0000_1000n);
 * assertEquals(await names.unbind("dev/ide0"), 0x0001_0000_0000_1000n);
 * assertEquals(await names.tryLookup("dev/ide0"), undefined);
 * ```
 */
export class NameService implements Disposable {
  #kv: Deno.Kv;
  #path: string;
  #closed = false;
  #watches = new Set<WatchChannel>();
  /** The tail of the chain that serialises this object's writes. */
  #writes: Promise<void> = Promise.resolve();

  private constructor(kv: Deno.Kv, path: string) {
    this.#kv = kv;
    this.#path = path;
  }

  /**
   * Opens (creating if needed) the name service stored in the KV file at `path`, or a fresh
   * in-memory one for `":memory:"`. Fails if the store has a schema version other than 1.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * const names = await NameService.open(":memory:");
   * names.close();
   * ```
   */
  static async open(path: string): Promise<NameService> {
    if (typeof path !== "string" || path === "") {
      throw new TypeError(
        `Cannot open name service: path must be a non-empty string, got ${describeValue(path)}`,
      );
    }
    const kv = await Deno.openKv(path);
    try {
      await ensureSchema(kv, path);
    } catch (error) {
      kv.close();
      throw error;
    }
    return new NameService(kv, path);
  }

  /**
   * The path the service was opened with.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * import { assertEquals } from "@std/assert";
   * using names = await NameService.open(":memory:");
   * assertEquals(names.path, ":memory:");
   * ```
   */
  get path(): string {
    return this.#path;
  }

  /**
   * Whether {@linkcode NameService.prototype.close} has been called.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * import { assertEquals } from "@std/assert";
   * const names = await NameService.open(":memory:");
   * names.close();
   * assertEquals(names.closed, true);
   * ```
   */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Binds `name` to `address`. Refuses a name that is bound already with `NameExistsError`,
   * unless `options.replace` is true.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * import { NameExistsError } from "../kernel/errors.ts";
   * import { assertEquals, assertRejects } from "@std/assert";
   *
   * using names = await NameService.open(":memory:");
   * await names.bind("dev/ide0", 0x1000n);
   * await assertRejects(() => names.bind("dev/ide0", 0x2000n), NameExistsError);
   * await names.bind("dev/ide0", 0x2000n, { replace: true });
   * assertEquals(await names.lookup("dev/ide0"), 0x2000n);
   * ```
   */
  async bind(name: string, address: bigint, options: NameBindOptions = {}): Promise<void> {
    validateName(name);
    const action = `Cannot bind ${quoteName(name)}`;
    validateAddress(address, action);
    const replace = options.replace ?? false;
    if (typeof replace !== "boolean") {
      throw new TypeError(`${action}: replace must be a boolean, got ${describeValue(replace)}`);
    }
    await this.#write(action, async () => {
      const key = nameKey(name);
      for (;;) {
        const { ok, previous } = await retryWhenLocked(async () => {
          const entry = await this.#kv.get(key);
          const previous = entry.versionstamp === null ? 0n : decodeAddress(name, entry.value);
          if (previous !== 0n && !replace) {
            throw new NameExistsError(
              `${action}: name is already bound to ${formatAddress(previous)}`,
            );
          }
          const result = await this.#kv.atomic().check(entry).set(key, address).commit();
          return { ok: result.ok, previous };
        });
        if (ok) {
          this.#notify(previous === 0n ? "bind" : "rebind", name, address, previous);
          return;
        }
        // Someone else changed the name between our read and our commit: look again.
      }
    });
  }

  /**
   * Unbinds `name` and returns the address it was bound to. Throws `NameNotFoundError` if the
   * name is not bound.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * import { assertEquals } from "@std/assert";
   *
   * using names = await NameService.open(":memory:");
   * await names.bind("dev/ide0", 0x1000n);
   * assertEquals(await names.unbind("dev/ide0"), 0x1000n);
   * ```
   */
  async unbind(name: string): Promise<bigint> {
    validateName(name);
    const action = `Cannot unbind ${quoteName(name)}`;
    return await this.#write(action, async () => {
      const key = nameKey(name);
      for (;;) {
        const { ok, previous } = await retryWhenLocked(async () => {
          const entry = await this.#kv.get(key);
          if (entry.versionstamp === null) {
            throw new NameNotFoundError(`${action}: name is not bound`);
          }
          const previous = decodeAddress(name, entry.value);
          const result = await this.#kv.atomic().check(entry).delete(key).commit();
          return { ok: result.ok, previous };
        });
        if (ok) {
          this.#notify("unbind", name, 0n, previous);
          return previous;
        }
      }
    });
  }

  /**
   * Returns the address `name` is bound to. Throws `NameNotFoundError` if it is not bound.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * import { NameNotFoundError } from "../kernel/errors.ts";
   * import { assertRejects } from "@std/assert";
   *
   * using names = await NameService.open(":memory:");
   * await assertRejects(
   *   () => names.lookup("dev/ide9"),
   *   NameNotFoundError,
   *   'Cannot look up "dev/ide9": name is not bound',
   * );
   * ```
   */
  async lookup(name: string): Promise<bigint> {
    validateName(name);
    const action = `Cannot look up ${quoteName(name)}`;
    const address = await this.#read(action, () => this.#get(name));
    if (address === undefined) throw new NameNotFoundError(`${action}: name is not bound`);
    return address;
  }

  /**
   * Returns the address `name` is bound to, or `undefined` if it is not bound.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * import { assertEquals } from "@std/assert";
   *
   * using names = await NameService.open(":memory:");
   * assertEquals(await names.tryLookup("dev/ide9"), undefined);
   * ```
   */
  async tryLookup(name: string): Promise<bigint | undefined> {
    validateName(name);
    return await this.#read(`Cannot look up ${quoteName(name)}`, () => this.#get(name));
  }

  /**
   * Lists the bindings whose names start with the string `prefix` ("" lists all), sorted by
   * name in Unicode code point order (the byte order of UTF-8, which is KV's key order; for
   * ASCII names this is the same as `Array.prototype.sort`). The prefix is a plain string
   * prefix: "dev/" matches "dev/ide0" but not "devices". Only the matching range is read.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * import { assertEquals } from "@std/assert";
   *
   * using names = await NameService.open(":memory:");
   * await names.bind("devices", 0x3000n);
   * await names.bind("dev/usb1", 0x2000n);
   * await names.bind("dev/ide0", 0x1000n);
   * assertEquals(await names.list("dev/"), [
   *   { name: "dev/ide0", address: 0x1000n },
   *   { name: "dev/usb1", address: 0x2000n },
   * ]);
   * ```
   */
  async list(prefix: string = ""): Promise<NameBinding[]> {
    validatePrefix(prefix, "list names");
    return await this.#read(`Cannot list ${quoteName(prefix)}`, async () => {
      const bindings: NameBinding[] = [];
      // A prefix longer than any name matches nothing (and would be too long a KV key).
      if (utf8Length(prefix) > NAME_MAX_BYTES) return bindings;
      // Names with a given string prefix are contiguous in KV order and start at the prefix.
      const entries = this.#kv.list({ prefix: NAMES, start: nameKey(prefix) });
      for await (const entry of entries) {
        const name = entry.key[1];
        if (typeof name !== "string" || !name.startsWith(prefix)) break;
        bindings.push({ name, address: decodeAddress(name, entry.value) });
      }
      return bindings;
    });
  }

  /**
   * Reverse lookup: the names bound to `address`, sorted as {@linkcode NameService.prototype.list}
   * sorts them. Scans every binding.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * import { assertEquals } from "@std/assert";
   *
   * using names = await NameService.open(":memory:");
   * await names.bind("dev/ide0", 0x1000n);
   * await names.bind("disk/boot", 0x1000n);
   * assertEquals(await names.namesOf(0x1000n), ["dev/ide0", "disk/boot"]);
   * ```
   */
  async namesOf(address: bigint): Promise<string[]> {
    const action = `Cannot find names of ${String(address)}`;
    validateAddress(address, action);
    return await this.#read(`Cannot find names of ${formatAddress(address)}`, async () => {
      const found: string[] = [];
      for await (const entry of this.#kv.list({ prefix: NAMES })) {
        const name = entry.key[1];
        if (typeof name === "string" && decodeAddress(name, entry.value) === address) {
          found.push(name);
        }
      }
      return found;
    });
  }

  /**
   * Watches the names that start with `prefix`. Every later successful `bind` or `unbind`
   * through this object whose name matches is reported, in commit order, to `callback` if one
   * is given, otherwise to the returned watch's async iterator. Changes made by other processes
   * or other `NameService` objects are not seen. See {@linkcode NameWatch}.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * import type { NameEvent } from "./name_watch.ts";
   * import { assertEquals } from "@std/assert";
   *
   * using names = await NameService.open(":memory:");
   * const seen: NameEvent[] = [];
   * using _watch = names.watch("dev/", (event) => seen.push(event));
   * await names.bind("dev/ide0", 0x1000n);
   * await names.bind("net/eth0", 0x2000n);
   * assertEquals(seen, [{ kind: "bind", name: "dev/ide0", address: 0x1000n, previous: 0n }]);
   * ```
   */
  watch(prefix: string, callback?: (event: NameEvent) => void): NameWatch {
    validatePrefix(prefix, "watch names");
    if (callback !== undefined && typeof callback !== "function") {
      throw new TypeError(
        `Cannot watch ${quoteName(prefix)}: callback must be a function, got ${
          describeValue(callback)
        }`,
      );
    }
    this.#assertOpen(`Cannot watch ${quoteName(prefix)}`);
    const watch = new WatchChannel(prefix, callback, (closed) => this.#watches.delete(closed));
    this.#watches.add(watch);
    return watch;
  }

  /**
   * Closes the store and ends every watch. Idempotent. Operations still in flight reject with
   * an `Error` saying the name service is closed, unless the store had already done them.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * import { assertRejects } from "@std/assert";
   *
   * const names = await NameService.open(":memory:");
   * names.close();
   * names.close();
   * await assertRejects(() => names.lookup("dev/ide0"), Error, "name service is closed");
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#kv.close();
    for (const watch of this.#watches) watch.end();
    this.#watches.clear();
  }

  /**
   * Same as {@linkcode NameService.prototype.close}, for `using`.
   *
   * @example
   * ```ts
   * import { NameService } from "./name_service.ts";
   * {
   *   using names = await NameService.open(":memory:");
   *   await names.bind("dev/ide0", 0x1000n);
   * } // closed here
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  async #get(name: string): Promise<bigint | undefined> {
    const entry = await this.#kv.get(nameKey(name));
    return entry.versionstamp === null ? undefined : decodeAddress(name, entry.value);
  }

  #notify(kind: NameEventKind, name: string, address: bigint, previous: bigint): void {
    const event: NameEvent = Object.freeze({ kind, name, address, previous });
    // A callback may close watches (or the service) while we deliver: iterate over a copy.
    for (const watch of [...this.#watches]) {
      if (watch.matches(name)) watch.push(event);
    }
  }

  #assertOpen(action: string): void {
    if (this.#closed) throw new Error(`${action}: name service is closed`);
  }

  /** Runs a read, turning the KV's errors after close() into our closed error. */
  async #read<T>(action: string, task: () => Promise<T>): Promise<T> {
    this.#assertOpen(action);
    try {
      return await task();
    } catch (error) {
      if (this.#closed) throw new Error(`${action}: name service is closed`, { cause: error });
      throw error;
    }
  }

  /** Runs a write after every earlier write through this object has finished. */
  #write<T>(action: string, task: () => Promise<T>): Promise<T> {
    this.#assertOpen(action);
    const run = this.#writes.then(() => this.#read(action, task));
    this.#writes = run.then(ignore, ignore);
    return run;
  }
}

function ignore(): void {}

function nameKey(name: string): Deno.KvKey {
  return ["names", name];
}

function decodeAddress(name: string, value: unknown): bigint {
  if (typeof value !== "bigint") {
    throw new TypeError(
      `Corrupt name service entry for ${quoteName(name)}: expected a bigint address, got ${
        describeValue(value)
      }`,
    );
  }
  return value;
}

/** Writes the schema version into a new store, or checks the one an existing store has. */
async function ensureSchema(kv: Deno.Kv, path: string): Promise<void> {
  for (;;) {
    const ok = await retryWhenLocked(async () => {
      const entry = await kv.get(VERSION_KEY);
      if (entry.versionstamp !== null) {
        if (entry.value === SCHEMA_VERSION) return true;
        throw new Error(
          `Cannot open name service ${JSON.stringify(path)}: schema version ${
            describeValue(entry.value)
          } is not supported (expected ${SCHEMA_VERSION})`,
        );
      }
      const result = await kv.atomic().check(entry).set(VERSION_KEY, SCHEMA_VERSION).commit();
      return result.ok;
    });
    if (ok) return;
  }
}
