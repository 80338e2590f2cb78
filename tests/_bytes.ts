/**
 * What the tests of the device models and the block path share: a byte pattern whose every
 * sector differs (a misplaced or shifted sector shows), and one turn of the event loop.
 *
 * @module
 */

/** `n` bytes of a recognisable pattern (`seed` tells patterns apart). */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 9)) & 0xff;
  return out;
}

/** One turn of the event loop. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
