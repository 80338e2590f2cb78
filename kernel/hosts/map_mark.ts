/**
 * What a driver host writes on each promise `ctx.dma.map` returns, so that `issueAfter` knows
 * them: the map's request id (worker host) or whether the map was made (kernel host). A property
 * under a symbol of the host's, not a weak map (which cost 85 ns a map more, and ephemerons for
 * the scavenger). A driver that copies the mark onto another promise makes its own writes wait
 * on its own map: nothing it could not do otherwise.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MapMark } from "./map_mark.ts";
 * const mark = new MapMark("id", (v): v is number => typeof v === "number");
 * const p = mark.set(Promise.resolve(5n), 7);
 * assertEquals([mark.get(p), mark.get(Promise.resolve(5n)), mark.get(null)], [7, undefined, undefined]);
 * ```
 *
 * @module
 */

/** A mark of type `T` on promises. */
export class MapMark<T> {
  readonly #key: symbol;
  readonly #is: (value: unknown) => value is T;

  /** A mark named `description` whose values pass `is`. */
  constructor(description: string, is: (value: unknown) => value is T) {
    this.#key = Symbol(`mungi.map.${description}`);
    this.#is = is;
  }

  /** Marks `promise` with `value`; returns it. */
  set<P extends Promise<unknown>>(promise: P, value: T): P {
    (promise as unknown as Record<symbol, T>)[this.#key] = value;
    return promise;
  }

  /** The mark of `value`, if it is a marked object. */
  get(value: unknown): T | undefined {
    if (typeof value !== "object" || value === null) return undefined;
    const mark = (value as Record<symbol, unknown>)[this.#key];
    return this.#is(mark) ? mark : undefined;
  }
}
