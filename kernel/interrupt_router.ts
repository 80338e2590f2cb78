/**
 * Interrupt routing (paper §2.1): a driver instance registers for its own device's lines only; the
 * kernel delivers an interrupt by invoking the driver's interrupt entry; the driver acknowledges to
 * re-arm the line (seL4 style). While a line is in service, further raises are coalesced into one
 * pending delivery; a per-instance token bucket bounds the delivery rate, so an interrupt storm
 * reaches the driver as a bounded trickle. Everything is counted.
 *
 * @module
 */

import type { InterruptBus } from "../machine/interrupt_bus.ts";
import { PermissionDeniedError } from "./errors.ts";
import type { EventLog } from "./event_log.ts";

/** Delivery rate limit of one driver instance. */
export interface RateLimit {
  /** Sustained deliveries per second. */
  readonly perSecond: number;
  /** Deliveries allowed in a burst above the sustained rate. */
  readonly burst: number;
}

/** The default limit: generous enough for a disk at full speed, far below a storm. */
export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 100_000, burst: 1_000 };

/** Counters of one line, for the shell's `irq` command. */
export interface LineStats {
  readonly line: number;
  readonly device: string;
  readonly owner: string;
  /** Times the device raised the line. */
  readonly raised: number;
  /** Times the owner's interrupt entry was invoked. */
  readonly delivered: number;
  /** Raises folded into a pending delivery because the line was in service. */
  readonly coalesced: number;
  /** Deliveries held back by the rate limit (each later delivered, coalesced). */
  readonly rateLimited: number;
  /** Raises with no registered owner. */
  readonly unhandled: number;
  readonly inService: boolean;
  readonly pending: boolean;
}

/** A registered receiver of interrupts. */
export interface InterruptOwner {
  /** The instance label, shown in listings and events. */
  readonly label: string;
  /** The device whose lines this owner may register. */
  readonly device: string;
  /** Invokes the driver's interrupt entry. Must not throw; failures are the host's to report. */
  deliver(line: number): void;
  /** Its rate limit (shared across its lines). */
  readonly rate: RateLimit;
}

interface Bucket {
  tokens: number;
  last: number;
}

interface LineState {
  owner: InterruptOwner | undefined;
  bucket: Bucket | undefined;
  raised: number;
  delivered: number;
  coalesced: number;
  rateLimited: number;
  unhandled: number;
  inService: boolean;
  pending: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Routes machine interrupt lines to registered driver instances.
 *
 * @example
 * ```ts ignore
 * const router = new InterruptRouter(machine.irq, kernel.events);
 * router.register(line, { label: "ide0", device: "ide0", deliver: (l) => {}, rate: DEFAULT_RATE_LIMIT });
 * router.ack(line, "ide0");
 * ```
 */
export class InterruptRouter {
  #bus: InterruptBus;
  #events: EventLog;
  #lines = new Map<number, LineState>();
  #buckets = new Map<InterruptOwner, Bucket>();

  constructor(bus: InterruptBus, events: EventLog) {
    this.#bus = bus;
    this.#events = events;
    bus.connect((line) => this.#raise(line));
  }

  /**
   * Registers `owner` for `line`. Refused (PermissionDeniedError, and a `driver.denied` event) when
   * the line belongs to another device or is already registered.
   */
  register(line: number, owner: InterruptOwner): void {
    const device = this.#bus.owner(line);
    const state = this.#state(line);
    if (device !== owner.device || (state.owner && state.owner !== owner)) {
      const why = device === undefined
        ? "no device has it"
        : device !== owner.device
        ? `it belongs to ${device}`
        : `it is registered by ${state.owner!.label}`;
      this.#events.emit(
        "driver.denied",
        owner.label,
        `denied registering interrupt line ${line}: ${why}`,
        {
          line,
        },
      );
      throw new PermissionDeniedError(
        `Permission denied: ${owner.label} cannot register interrupt line ${line}: ${why}`,
      );
    }
    let bucket = this.#buckets.get(owner);
    if (!bucket) {
      this.#buckets.set(owner, bucket = { tokens: owner.rate.burst, last: performance.now() });
    }
    state.owner = owner;
    state.bucket = bucket;
    state.inService = false;
    state.pending = false;
  }

  /** Removes whatever registration `owner` holds on its lines (on destroy). */
  unregisterAll(owner: InterruptOwner): void {
    for (const state of this.#lines.values()) {
      if (state.owner !== owner) continue;
      if (state.timer !== undefined) clearTimeout(state.timer);
      state.owner = undefined;
      state.bucket = undefined;
      state.timer = undefined;
      state.inService = false;
      state.pending = false;
    }
    this.#buckets.delete(owner);
  }

  /**
   * Acknowledges a delivered interrupt and re-arms the line; a raise that came meanwhile is
   * delivered now (or when the rate limit allows).
   */
  ack(line: number, owner: InterruptOwner): void {
    const state = this.#lines.get(line);
    if (!state || state.owner !== owner) {
      throw new PermissionDeniedError(
        `Permission denied: ${owner.label} cannot acknowledge line ${line}`,
      );
    }
    state.inService = false;
    if (state.pending) {
      state.pending = false;
      this.#tryDeliver(line, state);
    }
  }

  /** Counters for every line that has been raised or registered. */
  stats(): LineStats[] {
    return [...this.#lines.entries()].sort((a, b) => a[0] - b[0]).map(([line, s]) => ({
      line,
      device: this.#bus.owner(line) ?? "-",
      owner: s.owner?.label ?? "-",
      raised: s.raised,
      delivered: s.delivered,
      coalesced: s.coalesced,
      rateLimited: s.rateLimited,
      unhandled: s.unhandled,
      inService: s.inService,
      pending: s.pending,
    }));
  }

  /** Stops pending timers (kernel shutdown). */
  close(): void {
    for (const s of this.#lines.values()) {
      if (s.timer !== undefined) clearTimeout(s.timer);
      s.timer = undefined;
    }
    this.#bus.connect(undefined);
  }

  #state(line: number): LineState {
    let s = this.#lines.get(line);
    if (!s) {
      s = {
        owner: undefined,
        bucket: undefined,
        raised: 0,
        delivered: 0,
        coalesced: 0,
        rateLimited: 0,
        unhandled: 0,
        inService: false,
        pending: false,
        timer: undefined,
      };
      this.#lines.set(line, s);
    }
    return s;
  }

  #raise(line: number): void {
    const state = this.#state(line);
    state.raised++;
    if (!state.owner) {
      state.unhandled++;
      return;
    }
    if (state.inService || state.pending) {
      state.coalesced++;
      state.pending = true;
      return;
    }
    this.#tryDeliver(line, state);
  }

  #tryDeliver(line: number, state: LineState): void {
    const owner = state.owner;
    const bucket = state.bucket;
    if (!owner || !bucket) return;
    const now = performance.now();
    bucket.tokens = Math.min(
      owner.rate.burst,
      bucket.tokens + ((now - bucket.last) * owner.rate.perSecond) / 1000,
    );
    bucket.last = now;
    if (bucket.tokens < 1) {
      state.rateLimited++;
      state.pending = true;
      if (state.timer === undefined) {
        const wait = Math.max(1, Math.ceil(((1 - bucket.tokens) * 1000) / owner.rate.perSecond));
        if (state.rateLimited === 1 || state.rateLimited % 1000 === 0) {
          this.#events.emit(
            "irq.coalesced",
            owner.label,
            `interrupt line ${line} rate-limited (${state.rateLimited} held back so far)`,
            { line },
          );
        }
        state.timer = setTimeout(() => {
          state.timer = undefined;
          if (state.pending && !state.inService) {
            state.pending = false;
            this.#tryDeliver(line, state);
          }
        }, wait);
      }
      return;
    }
    bucket.tokens -= 1;
    state.inService = true;
    state.delivered++;
    owner.deliver(line);
  }
}
