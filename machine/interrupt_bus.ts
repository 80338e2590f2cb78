/**
 * The machine's interrupt lines. A device raises a line; whoever is connected (the kernel's
 * interrupt router) hears it. The bus knows nothing of drivers.
 *
 * @module
 */

/**
 * Numbered interrupt lines.
 *
 * @example
 * ```ts
 * import { InterruptBus } from "./interrupt_bus.ts";
 * const bus = new InterruptBus(16);
 * bus.connect((line) => console.log("irq", line));
 * bus.raise(bus.allocate("ide0"));
 * ```
 */
export class InterruptBus {
  readonly count: number;
  #owners: (string | undefined)[];
  #raised: number[];
  #handler: ((line: number) => void) | undefined;

  constructor(count = 64) {
    this.count = count;
    this.#owners = new Array(count).fill(undefined);
    this.#raised = new Array(count).fill(0);
  }

  /** Assigns a free line to a device; RangeError when none is free. */
  allocate(device: string): number {
    // Line 0 is never assigned, so 0 can mean "no line" in configuration space.
    for (let line = 1; line < this.count; line++) {
      if (this.#owners[line] === undefined) {
        this.#owners[line] = device;
        this.#raised[line] = 0;
        return line;
      }
    }
    throw new RangeError(
      `Cannot assign an interrupt line to ${device}: all ${this.count - 1} are in use`,
    );
  }

  /** Frees a device's line. */
  release(line: number): void {
    this.#owners[line] = undefined;
  }

  /** The device a line belongs to. */
  owner(line: number): string | undefined {
    return this.#owners[line];
  }

  /** Times each line was raised since it was assigned. */
  raisedCount(line: number): number {
    return this.#raised[line] ?? 0;
  }

  /** Connects the one listener (the kernel). */
  connect(handler: ((line: number) => void) | undefined): void {
    this.#handler = handler;
  }

  /** Raises a line: the listener is told synchronously. */
  raise(line: number): void {
    if (this.#owners[line] === undefined) return;
    this.#raised[line]!++;
    this.#handler?.(line);
  }
}
