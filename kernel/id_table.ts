/** The most slots an {@link IdTable}'s arrays grow to. */
const MAX_SLOTS = 1 << 16;
/** An empty slot's id: NaN equals no id, so lookups need no extra test. */
const EMPTY = NaN;

/**
 * A table of in-flight entries by integer id (calls, requests): what a `Map` does for the few
 * entries a hot path keeps for microseconds, without a `Map`'s churn. A `Map` that is added to
 * and deleted from at every request replaces its hash table every few operations, and V8 links
 * each replaced table to its successor; once one of them has reached the old generation, every
 * later table (and every value in it) survives the young-generation collections until the next
 * full one. Under load that made 5 % of everything the kernel's thread allocated survive, and
 * its young-generation pauses 4-5 ms long (`--v8-flags=--trace-gc-nvp`, 512 B reads at queue
 * depth 8 on the worker host). This table is two plain arrays indexed by the id's low bits; it
 * grows (doubling, up to 65536 slots) only when two live ids share a slot, and keeps the ids that
 * still collide then (only ids chosen to collide, by a hostile driver say) in a `Map` aside.
 *
 * Ids are non-negative safe integers (sequence numbers in practice).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { IdTable } from "./id_table.ts";
 * const t = new IdTable<string>();
 * t.set(7, "seven");
 * t.set(8, "eight");
 * assertEquals(t.take(7), "seven");
 * assertEquals(t.take(7), undefined);
 * assertEquals(t.size, 1);
 * ```
 */
export class IdTable<V> {
  #ids: number[];
  #values: (V | undefined)[];
  #mask: number;
  #size = 0;
  /** Ids that collide even in the largest arrays. */
  #overflow: Map<number, V> | undefined;

  /** A table with room for `capacity` ids (rounded up to a power of two) before it must grow. */
  constructor(capacity = 64) {
    let n = 8;
    while (n < capacity) n *= 2;
    this.#ids = new Array<number>(n).fill(EMPTY);
    this.#values = new Array<V | undefined>(n).fill(undefined);
    this.#mask = n - 1;
  }

  /** Entries in the table. */
  get size(): number {
    return this.#size;
  }

  /** The entry of `id`, or undefined. */
  get(id: number): V | undefined {
    const slot = id & this.#mask;
    return this.#ids[slot] === id ? this.#values[slot] : this.#overflow?.get(id);
  }

  /** Whether `id` has an entry. */
  has(id: number): boolean {
    return this.#ids[id & this.#mask] === id || this.#overflow?.has(id) === true;
  }

  /** Sets the entry of `id` (replacing one it had). Throws `RangeError` for a bad id. */
  set(id: number, value: V): void {
    if (!Number.isSafeInteger(id) || id < 0) {
      throw new RangeError(`Cannot use ${id} as an id: expected a non-negative integer`);
    }
    for (;;) {
      const slot = id & this.#mask;
      const held = this.#ids[slot]!;
      if (held !== held || held === id) {
        if (held !== held && this.#overflow?.delete(id) !== true) this.#size++;
        this.#ids[slot] = id;
        this.#values[slot] = value;
        return;
      }
      if (this.#ids.length >= MAX_SLOTS || !this.#grow()) {
        this.#overflow ??= new Map();
        if (!this.#overflow.has(id)) this.#size++;
        this.#overflow.set(id, value);
        return;
      }
    }
  }

  /** Removes the entry of `id` and returns it (undefined if it had none). */
  take(id: number): V | undefined {
    const slot = id & this.#mask;
    if (this.#ids[slot] !== id) {
      const overflow = this.#overflow;
      if (overflow === undefined || !overflow.has(id)) return undefined;
      const value = overflow.get(id);
      overflow.delete(id);
      this.#size--;
      return value;
    }
    const value = this.#values[slot];
    this.#ids[slot] = EMPTY;
    this.#values[slot] = undefined;
    this.#size--;
    return value;
  }

  /** Removes every entry and returns them, in no particular order. */
  drain(): V[] {
    const out: V[] = [];
    for (let slot = 0; slot < this.#ids.length; slot++) {
      if (this.#ids[slot] !== this.#ids[slot]) continue;
      out.push(this.#values[slot] as V);
      this.#ids[slot] = EMPTY;
      this.#values[slot] = undefined;
    }
    if (this.#overflow) out.push(...this.#overflow.values());
    this.#overflow = undefined;
    this.#size = 0;
    return out;
  }

  /**
   * Doubles the arrays (up to {@link MAX_SLOTS}) until every live id has a slot of its own;
   * returns false, changing nothing, if none of those sizes does.
   */
  #grow(): boolean {
    for (let n = this.#ids.length * 2; n <= MAX_SLOTS; n *= 2) {
      const ids = new Array<number>(n).fill(EMPTY);
      const values = new Array<V | undefined>(n).fill(undefined);
      const mask = n - 1;
      let ok = true;
      for (let slot = 0; slot < this.#ids.length && ok; slot++) {
        const id = this.#ids[slot]!;
        if (id !== id) continue;
        const to = id & mask;
        if (ids[to] === ids[to]) ok = false;
        ids[to] = id;
        values[to] = this.#values[slot];
      }
      if (ok) {
        this.#ids = ids;
        this.#values = values;
        this.#mask = mask;
        return true;
      }
    }
    return false;
  }
}
