/**
 * The kernel's event log: a bounded ring of structured events (boot, components, faults, denied
 * accesses, plug and unplug, interrupts) that listeners can follow live.
 *
 * @module
 */

/** The kinds of event the kernel records. */
export type EventKind =
  | "boot"
  | "shutdown"
  | "component.create"
  | "component.destroy"
  | "cap.revoke"
  | "invoke.denied"
  | "invoke.error"
  | "name.bind"
  | "name.unbind"
  | "driver.load"
  | "driver.fault"
  | "driver.denied"
  | "driver.restart"
  | "irq"
  | "irq.coalesced"
  | "iommu.fault"
  | "iommu.revoke"
  | "device.plug"
  | "device.unplug"
  | "device.enumerate"
  | "device.log";

/** One recorded event. */
export interface KernelEvent {
  /** Increasing sequence number, from 1 at boot. */
  readonly seq: number;
  /** Milliseconds since boot. */
  readonly time: number;
  readonly kind: EventKind;
  /** Who caused it or is concerned: a component, device or driver label. */
  readonly source: string;
  readonly message: string;
  /** Extra structured data (plain, JSON-friendly apart from bigints). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/**
 * A bounded log of kernel events with live subscribers.
 *
 * @example
 * ```ts
 * import { EventLog } from "./event_log.ts";
 * const log = new EventLog(100);
 * const stop = log.subscribe((e) => console.log(e.kind, e.message));
 * log.emit("boot", "kernel", "booted");
 * stop();
 * ```
 */
export class EventLog {
  readonly capacity: number;
  #ring: KernelEvent[] = [];
  #seq = 0;
  #start = performance.now();
  #listeners = new Set<(e: KernelEvent) => void>();

  constructor(capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Cannot create an event log of capacity ${capacity}: must be >= 1`);
    }
    this.capacity = capacity;
  }

  /** Records an event and hands it to every listener. A listener that throws is dropped. */
  emit(
    kind: EventKind,
    source: string,
    message: string,
    data?: Readonly<Record<string, unknown>>,
  ): KernelEvent {
    const event: KernelEvent = {
      seq: ++this.#seq,
      time: Math.round((performance.now() - this.#start) * 1000) / 1000,
      kind,
      source,
      message,
      ...(data === undefined ? {} : { data }),
    };
    if (this.#ring.length >= this.capacity) this.#ring.shift();
    this.#ring.push(event);
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        this.#listeners.delete(listener);
      }
    }
    return event;
  }

  /** Follows new events; returns the function that stops following. */
  subscribe(listener: (e: KernelEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Recorded events, oldest first, optionally only those matching. */
  recent(filter?: { kind?: EventKind | string; source?: string; since?: number }): KernelEvent[] {
    return this.#ring.filter((e) =>
      (filter?.kind === undefined || e.kind === filter.kind ||
        (filter.kind.endsWith(".") && e.kind.startsWith(filter.kind))) &&
      (filter?.source === undefined || e.source === filter.source) &&
      (filter?.since === undefined || e.seq > filter.since)
    );
  }

  /** The sequence number of the last event. */
  get lastSeq(): number {
    return this.#seq;
  }
}
