/**
 * Waiting in tests for what happens asynchronously (a worker's message, an interrupt, a release)
 * without guessing how long it takes: a fixed sleep is either slow or, on a loaded machine, flaky.
 *
 * @module
 */

/**
 * Resolves once `condition` holds (it may be async), checking every `everyMs`; rejects after
 * `timeoutMs` saying what it waited for.
 *
 * @example
 * ```ts
 * import { waitFor } from "./_wait.ts";
 * let done = false;
 * setTimeout(() => done = true, 10);
 * await waitFor(() => done, "the timer");
 * ```
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  { timeoutMs = 5_000, everyMs = 5 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
