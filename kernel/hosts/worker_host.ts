/**
 * The worker host (the default): the driver runs in a Deno Worker that may read its own package
 * and nothing else: no other files, no network, no environment, no processes, no FFI. Calls,
 * results, register side effects and interrupts travel on shared-memory rings; postMessage carries
 * only control. Every refused access inside the worker is reported and logged as a denied access
 * of the instance.
 *
 * Deno 2.9 does not refuse `npm:`/remote imports or `Deno.openKv()` at its default location in
 * such a worker, and `terminate()` does not stop a spinning one: see the README's security notes.
 *
 * @module
 */

import type { Capability } from "../../idl/types.ts";
import { deserializeError, type SerializedError, serializeError } from "../errors.ts";
import { validateArgs } from "../../idl/validate_args.ts";
import { IdTable } from "../id_table.ts";
import { createChannel, Endpoint, PollGate } from "../ring.ts";
import { createTimeline, Timeline, type TimelineChannel } from "../timeline.ts";
import type { DriverHost, HostOptions } from "./driver_host.ts";
import {
  ACK_ENTRY,
  type AllocReply,
  type InitMessage,
  MESSAGE_KINDS,
  POSTED,
  type ProfileAnswer,
  type ProfileControl,
  SELF,
  SYNC_APPLIED,
  SYNC_POLLING,
  SYNC_READ_SEQ,
  SYNC_READ_VALUE,
  SYNC_WORDS,
  type ToKernel,
  type ToWorker,
} from "./protocol.ts";
import { LayoutTable } from "./layout.ts";
import { callMapOf, type CallMapRule, callMapRules } from "../call_maps.ts";
import type { ProfilerOptions, ThreadProfile } from "../profiler.ts";
import type { MemoryObject } from "../memory_object.ts";
import { POSTED_TYPES, wireCodec } from "./wire.ts";
import type { TypeRef } from "../../idl/types.ts";

/** Per post of a kind 10 message, the types its arguments are values of (see `POSTED_TYPES`). */
type PostedTypes = readonly (readonly TypeRef[] | null)[];

let liveWorkers = 0;

/**
 * The poll tokens of every driver thread of the process: at most one thread per CPU but one (the
 * kernel's own thread polls too) polls for long at a time; see `PollGate` in ring.ts.
 */
const POLL_TOKENS = PollGate.createTokens();
const POLL_LIMIT = Math.max(1, (navigator.hardwareConcurrency || 2) - 1);

/** How long a driver gets to start, and to stop, before it is treated as hung. */
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 2_000;
/** How long the driver's thread may take to start or stop its profile (it polls its ring). */
const PROFILE_CONTROL_TIMEOUT_MS = 10_000;
/** Failed map ids remembered for the writes that depend on them (see `#failedMaps`). */
const FAILED_MAPS_KEPT = 256;
/** Ring size each way. */
const RING_BYTES = 1 << 20;
/**
 * How long the kernel's side polls for an answer the driver owes, and keeps polling after the
 * driver's last message, in microseconds. Sleeping costs more than polling saves: a wake-up from
 * `Atomics.waitAsync` takes 25-125 µs when a CPU is free, and a scheduler slice (up to several ms)
 * when both of a 2-vCPU machine's CPUs are busy; with a 100-200 µs poll, 3-4 % of 512 B requests
 * at queue depth 1 took 0.3-4 ms and made 40 % of the wall time. Polling 5 ms after the last
 * message keeps a stream of requests from ever sleeping (512 B, depth 1, same VM: 20k req/s and a
 * p99 of 920 µs with 200 µs; 34k and 142 µs with 5 ms); the loop yields to the event loop every
 * few ms meanwhile, and an idle driver costs 5 ms of polling after its last message.
 */
const KERNEL_SPIN_MICROS = 5000;
/** See {@link KERNEL_SPIN_MICROS}. */
const KERNEL_LINGER_MICROS = 5000;

/**
 * Runs a driver in a permission-restricted Worker.
 *
 * @example
 * ```ts ignore
 * const host = new WorkerHost({ pkg, services, device });
 * await host.start();
 * ```
 */
export class WorkerHost implements DriverHost {
  /** Workers running now, over all kernels of this process (tests check that none leak). */
  static get live(): number {
    return liveWorkers;
  }

  readonly kind = "worker" as const;
  #options: HostOptions;
  #worker: Worker | undefined;
  #endpoint: Endpoint | undefined;
  #sync = new Int32Array(new SharedArrayBuffer(SYNC_WORDS * 4));
  #calls = new IdTable<PromiseWithResolvers<unknown>>();
  #nextCall = 1;
  #started = Promise.withResolvers<void>();
  #stoppedAck: PromiseWithResolvers<void> | undefined;
  #stopped: Error | undefined;
  #stopping: Promise<void> | undefined;
  #applied = 0;
  /** Interrupts delivered and not yet acknowledged (or finished) by the driver. */
  #irqOut = 0;
  /**
   * The ids of the driver's latest failed maps, for the register writes that depend on them
   * (`DriverDma.issueAfter`). A driver learns of a failure from the map's answer, so only the
   * writes it posted before that answer arrived can name it: a few hundred ids are plenty.
   */
  #failedMaps = new Set<number>();
  /** Window names by the index the worker uses in posted writes (the init message's order). */
  #windowNames: string[] = [];

  /** The package's maps made with a call, by interface and method (`callMapRules`). */
  #callMaps: (iface: string, method: string) => CallMapRule | undefined;
  #timeline: Timeline | undefined;
  #timelineChannel: TimelineChannel | undefined;

  /** The channel's timeline, if the kernel was booted with one (`BootOptions.timeline`). */
  get timeline(): Timeline | undefined {
    return this.#timeline;
  }

  constructor(options: HostOptions) {
    this.#options = options;
    if (options.timeline === true) {
      // Made with the host, so that it can be asked for before the driver has started.
      this.#timelineChannel = createTimeline(MESSAGE_KINDS);
      this.#timeline = new Timeline(this.#timelineChannel);
    }
    this.#callMaps = callMapRules(options.pkg.callMaps);
  }

  /**
   * The permissions the worker gets: read its package, nothing else; and `sys` when `profiling`
   * (V8's inspector needs it: `BootOptions.profileDrivers`, never on a normal boot).
   */
  static permissions(pkgDir: string, profiling = false): Deno.PermissionOptionsObject {
    return {
      read: [pkgDir],
      write: false,
      net: false,
      env: false,
      run: false,
      ffi: false,
      sys: profiling,
      import: false,
    };
  }

  /**
   * Starts a CPU profile of the driver's thread (it profiles itself; see `kernel/profiler.ts`).
   * Refused unless the kernel was booted with `profileDrivers`.
   */
  async startProfile(intervalUs: number, options: ProfilerOptions = {}): Promise<void> {
    const answer = await this.#control({ t: "profile_start", interval: intervalUs, ...options });
    if (answer.t === "profile_failed") throw deserializeError(answer.e);
  }

  /** Stops the profile {@link startProfile} began and returns it. */
  async stopProfile(): Promise<ThreadProfile> {
    const answer = await this.#control({ t: "profile_stop" });
    if (answer.t === "profile_failed") throw deserializeError(answer.e);
    if (answer.t !== "profile") throw new Error(`${this.#options.services.label}: no profile came`);
    return {
      profile: answer.profile,
      waitedMs: answer.waitedMs,
      ...(answer.allocations ? { allocations: answer.allocations } : {}),
    };
  }

  /** Posts a control message to the worker and waits for its profile_* answer. */
  #control(message: ProfileControl): Promise<ProfileAnswer> {
    const worker = this.#worker;
    const label = this.#options.services.label;
    if (!worker || this.#stopped) {
      return Promise.reject(new Error(`${label}: the driver's worker is not running`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.removeEventListener("message", onMessage);
        reject(new Error(`${label}: the driver's thread did not answer ${message.t}`));
      }, PROFILE_CONTROL_TIMEOUT_MS);
      const onMessage = (e: MessageEvent) => {
        const t = (e.data as { t?: unknown } | null)?.t;
        if (t !== "profile_started" && t !== "profile" && t !== "profile_failed") return;
        clearTimeout(timer);
        worker.removeEventListener("message", onMessage);
        resolve(e.data as ProfileAnswer);
      };
      worker.addEventListener("message", onMessage);
      worker.postMessage(message);
    });
  }

  async start(): Promise<void> {
    const { pkg, services, device } = this.#options;
    const channel = createChannel(
      RING_BYTES,
      this.#timelineChannel ? { timeline: this.#timelineChannel } : {},
    );
    // The main thread never blocks: it polls briefly while an answer is due (a call or an
    // interrupt is with the driver) or the driver just spoke, and otherwise sleeps in
    // Atomics.waitAsync.
    this.#endpoint = new Endpoint(channel, "kernel", {
      spinMicros: KERNEL_SPIN_MICROS,
      maxBatch: 1,
      idleSpinMicros: KERNEL_LINGER_MICROS,
      // Calls of the driver's methods in their compiled layouts (the worker builds the same
      // table from the schema of the init message).
      codec: wireCodec(LayoutTable.fromSchema(services.component.schema)),
      expecting: () => this.#calls.size > 0 || this.#irqOut > 0,
    });
    const worker = new Worker(new URL("./worker_entry.ts", import.meta.url), {
      type: "module",
      name: `driver ${pkg.name} for ${device.name}`,
      deno: { permissions: WorkerHost.permissions(pkg.dir, this.#options.profiling === true) },
    });
    this.#worker = worker;
    liveWorkers++;
    worker.addEventListener("error", (e) => {
      e.preventDefault();
      services.component.state = "failed";
      services.fault(`worker error: ${e.message}`);
      this.#fail(new Error(`${services.label}: the driver's worker failed: ${e.message}`));
    });
    void this.#endpoint.start((m) => this.#onMessage(m as ToKernel)).catch((error) => {
      services.fault(`ring from the worker is corrupt: ${(error as Error).message}`);
      this.#fail(new Error(`${services.label}: the driver broke its ring`));
    });
    const init: InitMessage = {
      t: "init",
      entryUrl: pkg.entryUrl,
      label: services.label,
      channel,
      sync: this.#sync.buffer as SharedArrayBuffer,
      pollTokens: POLL_TOKENS,
      pollLimit: POLL_LIMIT,
      windows: services.node.windows.map((w) => {
        const side = services.sideEffects(w.name);
        return { name: w.name, buffer: w.buffer, writes: [...side.writes], reads: [...side.reads] };
      }),
      lines: services.node.line === 0 ? [] : [services.node.line],
      device,
      schema: services.component.schema,
      className: services.component.className,
      provides: [...services.component.declared.keys()],
      callMaps: pkg.callMaps,
    };
    this.#windowNames = init.windows.map((w) => w.name);
    worker.postMessage(init);
    services.onInterrupt((line) => {
      this.#irqOut++;
      this.#send({ t: "irq", line });
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`driver ${pkg.name} did not start within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([this.#started.promise, timeout]);
    } catch (error) {
      this.#kill();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  stop(error: Error): Promise<void> {
    this.#stopping ??= this.#stop(error);
    return this.#stopping;
  }

  async #stop(error: Error): Promise<void> {
    this.#stopped = error;
    for (const call of this.#calls.drain()) call.reject(error);
    if (this.#worker) {
      this.#stoppedAck = Promise.withResolvers<void>();
      this.#worker.postMessage({ t: "stop" });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#stoppedAck.promise,
        new Promise<void>((resolve) => timer = setTimeout(resolve, STOP_TIMEOUT_MS)),
      ]);
      clearTimeout(timer);
      // Let the driver's last sends (failed notifies of queued requests) reach the kernel.
      await new Promise((r) => setTimeout(r, 0));
    }
    this.#kill();
  }

  /**
   * A call from the kernel to a method the driver (or one of its objects) exported. The
   * arguments of the driver's own methods are checked in the worker (see `checksArgs`); a value
   * the ring cannot carry fails the call here, with the error the check would have given.
   */
  call(object: number, iface: string, method: string, args: unknown[]): Promise<unknown> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    const id = this.#nextCall++;
    const p = Promise.withResolvers<unknown>();
    this.#calls.set(id, p);
    try {
      if (!this.#endpoint) throw new Error("the driver's ring is not open");
      const rule = object === SELF ? this.#callMaps(iface, method) : undefined;
      const map = rule && callMapOf(rule, args);
      if (map === undefined) {
        this.#endpoint.send({ t: "call", id, o: object, i: iface, m: method, a: args });
      } else {
        // The map the method makes as it starts (its manifest says so), made here so that it
        // and its answer need not cross; only for a call whose arguments the encoder found of
        // the method's types, and a map that will succeed (otherwise the driver's own map meets
        // the refusal after its own checks, as in the kernel host).
        const services = this.#options.services;
        const range = { address: map.address, length: map.length };
        // The object to map, once the encoder asked (null: it may not be mapped).
        let checked: MemoryObject | null | undefined;
        const pm = () =>
          (checked ??= services.checkDmaMap(map.memory, map.writable, range) ?? null) !== null;
        this.#endpoint.send({ t: "call", id, o: object, i: iface, m: method, a: args, pm });
        // Mapped once the call is on its way (the driver works meanwhile): this thread handles
        // nothing the driver sends before this returns, so the map exists before any DMA.
        if (checked) {
          services.mapCheckedDma(checked, map.writable);
          services.counters.callMaps++;
        }
      }
    } catch (error) {
      this.#calls.take(id);
      const schema = this.#options.services.component.schema;
      const m = schema.interfaces[iface]?.methods.find((x) => x.name === method);
      if (m) validateArgs(schema, m, args, `${iface}.${method}`);
      throw error;
    }
    return p.promise;
  }

  /** Calls of `object`'s methods, as the component dispatches them (failures as rejections). */
  #dispatcher(
    object: number,
  ): (iface: string, method: string, args: unknown[]) => Promise<unknown> {
    return (iface, method, args) => {
      try {
        return this.call(object, iface, method, args);
      } catch (error) {
        return Promise.reject(error);
      }
    };
  }

  #send(m: ToWorker): void {
    try {
      this.#endpoint?.send(m);
    } catch (error) {
      this.#options.services.fault(`cannot send to the worker: ${(error as Error).message}`);
    }
  }

  #fail(error: Error): void {
    this.#started.reject(error);
    for (const call of this.#calls.drain()) call.reject(error);
  }

  #kill(): void {
    this.#endpoint?.stop();
    if (this.#worker) {
      this.#worker.terminate();
      liveWorkers--;
      // A thread stopped while it polled cannot give its token back itself.
      PollGate.reclaim(POLL_TOKENS, new Int32Array(this.#sync.buffer, SYNC_POLLING * 4, 1));
    }
    this.#worker = undefined;
  }

  #reply(id: number, result: Promise<unknown>): void {
    result.then(
      (v) => this.#send({ t: "reply", id, ok: true, v }),
      (error) => this.#send({ t: "reply", id, ok: false, e: serializeError(error) }),
    );
  }

  #onMessage(m: ToKernel): void {
    const { services } = this.#options;
    switch (m.t) {
      case "mmio_wb": {
        // Posted register writes and acknowledgements, batched per microtask (see protocol.ts).
        const b = m.b;
        if (!Array.isArray(b) || b.length % 2 !== 0) {
          services.denied("a malformed batch of register writes");
          return;
        }
        if (m.g !== undefined && this.#dependsOnFailed(m.g)) {
          // Writes that depend on a map that failed (DriverDma.issueAfter): dropped (but
          // counted, for the driver's fences); an acknowledgement among them still counts.
          for (let i = 0; i < b.length; i += 2) {
            if (b[i] === ACK_ENTRY) this.#ack(b[i + 1] as number);
            else this.#applied++;
          }
          this.#storeApplied();
          return;
        }
        const names = this.#windowNames;
        for (let i = 0; i < b.length; i += 2) {
          const entry = b[i], value = b[i + 1];
          if (typeof entry !== "number" || typeof value !== "number") {
            services.denied("a malformed register write");
            break;
          }
          if (entry === ACK_ENTRY) {
            this.#ack(value);
            continue;
          }
          const w = names[entry >>> 24];
          const n = (entry >>> 16) & 0xff;
          if (w === undefined || (n !== 1 && n !== 2 && n !== 4)) {
            services.denied("a malformed register write");
            break;
          }
          services.deviceWrite(w, entry & 0xffff, n, value >>> 0);
          this.#applied++;
        }
        this.#storeApplied();
        return;
      }
      case "mmio_r": {
        const value = services.deviceRead(m.w, m.o, m.n);
        Atomics.store(this.#sync, SYNC_READ_VALUE, value | 0);
        Atomics.store(this.#sync, SYNC_READ_SEQ, m.s);
        Atomics.notify(this.#sync, SYNC_READ_SEQ);
        return;
      }
      case "result": {
        const call = this.#calls.take(m.id);
        if (!call) return;
        if (m.ok) call.resolve(m.v);
        else call.reject(deserializeError(m.e));
        return;
      }
      case "req":
        this.#request(m.id, m.op, m.a, m.c, (m as { [POSTED_TYPES]?: PostedTypes })[POSTED_TYPES]);
        return;
      case "irq_done":
        if (this.#irqOut > 0) this.#irqOut--;
        if (m.e) {
          services.fault(`interrupt handler threw: ${m.e.message}`);
          try {
            services.ackIrq(m.line);
          } catch {
            // Released meanwhile.
          }
        }
        return;
      case "export":
        try {
          services.component.exportDispatch(
            m.i,
            this.#dispatcher(SELF),
            { checksArgs: true },
          );
        } catch (error) {
          services.fault(`export ${m.i} refused: ${(error as Error).message}`);
        }
        return;
      case "denied":
        services.denied(m.what);
        return;
      case "log":
        services.log(m.msg);
        return;
      case "started":
        this.#started.resolve();
        return;
      case "start_failed":
        this.#started.reject(deserializeError(m.e as SerializedError));
        return;
      case "stopped":
        this.#stoppedAck?.resolve();
        return;
    }
  }

  #dependsOnFailed(guards: number[]): boolean {
    const failed = this.#failedMaps;
    if (failed.size === 0) return false;
    for (let i = 0; i < guards.length; i++) if (failed.has(guards[i]!)) return true;
    return false;
  }

  #storeApplied(): void {
    Atomics.store(this.#sync, SYNC_APPLIED, this.#applied);
    Atomics.notify(this.#sync, SYNC_APPLIED);
  }

  #ack(line: number): void {
    if (this.#irqOut > 0) this.#irqOut--;
    try {
      this.#options.services.ackIrq(line);
    } catch (error) {
      this.#options.services.denied(`acknowledge line ${line}: ${(error as Error).message}`);
    }
  }

  /** Answers a request at once (no promise turn) with what `fn` returns or throws. */
  #answer(id: number, fn: () => unknown): void {
    let v: unknown;
    try {
      v = fn();
    } catch (error) {
      this.#send({ t: "reply", id, ok: false, e: serializeError(error) });
      return;
    }
    if (v instanceof Promise) this.#reply(id, v);
    else this.#send({ t: "reply", id, ok: true, v });
  }

  #request(id: number, op: string, a: unknown[], call?: number, types?: PostedTypes): void {
    const { services } = this.#options;
    switch (op) {
      case "invoke":
        if (id === POSTED) {
          // The posts of one turn of the driver's: capability, method, arguments each; in
          // layouts, with the types their arguments are values of (only the wire's decoder of
          // posts in layouts can say so, under a symbol: see `POSTED_TYPES`).
          for (let i = 0; i + 2 < a.length; i += 3) {
            services.post(
              a[i] as Capability,
              a[i + 1] as string,
              a[i + 2] as unknown[],
              types?.[i / 3] ?? undefined,
            );
          }
        } else {this.#reply(
            id,
            services.invoke(a[0] as Capability, a[1] as string, a[2] as unknown[]),
          );}
        return;
      case "map": {
        const range: { address?: bigint; length?: number } = {};
        if (typeof a[2] === "bigint") range.address = a[2];
        if (typeof a[3] === "number") range.length = a[3];
        let address: bigint;
        try {
          address = services.mapDma(a[0] as Capability, a[1] === true, range);
        } catch (error) {
          const failed = this.#failedMaps;
          failed.add(id);
          if (failed.size > FAILED_MAPS_KEPT) failed.delete(failed.values().next().value!);
          // The call the map was made for fails with the refusal (MapOptions.failsCall); the
          // result the driver sends for it finds no call and is dropped.
          if (call !== undefined) this.#calls.take(call)?.reject(error);
          this.#send({ t: "reply", id, ok: false, e: serializeError(error) });
          return;
        }
        this.#send({ t: "reply", id, ok: true, v: address });
        return;
      }
      case "unmap":
        if (id === POSTED) {
          // Posted unmaps (DriverDma.release) of one turn of the driver's, together.
          for (let i = 0; i < a.length; i++) services.releaseDma(a[i] as bigint);
        } else this.#answer(id, () => services.unmapDma(a[0] as bigint));
        return;
      case "object_create": {
        const object = a[1] as number;
        this.#answer(id, () =>
          services.createObject(
            a[0] as string,
            this.#dispatcher(object),
          ));
        return;
      }
      case "object_destroy":
        this.#answer(id, () => services.destroyObject(a[0] as Capability));
        return;
      case "bus_add":
        this.#answer(id, () => services.announce(a[0] as Parameters<typeof services.announce>[0]));
        return;
      case "bus_remove":
        this.#answer(id, () => services.withdraw(a[0] as string));
        return;
      case "irq_register":
        this.#answer(id, () => services.registerIrq(typeof a[0] === "number" ? a[0] : undefined));
        return;
      case "alloc":
        try {
          const m = services.allocateDma(a[0] as number);
          const reply: AllocReply = { t: "alloc", id, address: m.address, buffer: m.buffer };
          this.#worker?.postMessage(reply);
        } catch (error) {
          this.#reply(id, Promise.reject(error));
        }
        return;
      default:
        services.denied(`unknown request ${op}`);
    }
  }
}
