// The implementation behind NameWatch: one buffer of events per watch, fed by the NameService
// that created it. Not re-exported from mod.ts; callers see only the NameWatch interface.

import type { NameEvent, NameWatch } from "./name_watch.ts";
import { quoteName } from "./_util.ts";

type Result = IteratorResult<NameEvent, undefined>;

const DONE: Result = Object.freeze({ done: true, value: undefined });

/** Compact the buffer once this many events have been read from its front. */
const COMPACT_AFTER = 1024;

/**
 * A NameWatch whose producer side (`push`, `end`) is public to the naming module. The service
 * calls `push` after each commit and `end` when it closes; `onClose` tells the service to forget
 * the watch.
 */
export class WatchChannel implements NameWatch, AsyncIterableIterator<NameEvent, undefined> {
  readonly prefix: string;
  #callback: ((event: NameEvent) => void) | undefined;
  #onClose: ((watch: WatchChannel) => void) | undefined;
  #buffer: NameEvent[] = [];
  #head = 0;
  #waiters: ((result: Result) => void)[] = [];
  #ended = false;

  constructor(
    prefix: string,
    callback: ((event: NameEvent) => void) | undefined,
    onClose: (watch: WatchChannel) => void,
  ) {
    this.prefix = prefix;
    this.#callback = callback;
    this.#onClose = onClose;
  }

  get closed(): boolean {
    return this.#ended;
  }

  /** Whether an event about `name` belongs to this watch. */
  matches(name: string): boolean {
    return !this.#ended && name.startsWith(this.prefix);
  }

  /** Delivers one event: to the callback, to a waiting reader, or into the buffer. */
  push(event: NameEvent): void {
    if (this.#ended) return;
    if (this.#callback) {
      try {
        this.#callback(event);
      } catch (error) {
        console.error(`Name watch ${quoteName(this.prefix)}: callback threw on`, event, error);
      }
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ done: false, value: event });
    else this.#buffer.push(event);
  }

  /** The producer is gone: no more events; readers get what is buffered, then the end. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#callback = undefined;
    this.#onClose = undefined;
    for (const waiter of this.#waiters.splice(0)) waiter(DONE);
  }

  close(): void {
    const onClose = this.#onClose;
    this.end();
    this.#buffer = [];
    this.#head = 0;
    onClose?.(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncIterator](): this {
    this.#assertIterable();
    return this;
  }

  next(): Promise<Result> {
    this.#assertIterable();
    if (this.#head < this.#buffer.length) {
      const event = this.#buffer[this.#head] as NameEvent;
      this.#head += 1;
      if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#buffer.length) {
        this.#buffer = this.#buffer.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ done: false, value: event });
    }
    if (this.#ended) return Promise.resolve(DONE);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  return(): Promise<Result> {
    this.close();
    return Promise.resolve(DONE);
  }

  #assertIterable(): void {
    if (this.#callback) {
      throw new TypeError(
        `Cannot iterate name watch ${quoteName(this.prefix)}: its events go to a callback`,
      );
    }
  }
}
