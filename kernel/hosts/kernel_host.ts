/**
 * The kernel host: the driver module is imported into the kernel's own isolate and called directly.
 * It is the unprotected baseline, like an in-kernel Linux driver: for the performance comparison
 * and for debugging. The driver module is the same one the worker host runs.
 *
 * @module
 */

import type { DriverContext, DriverInstance, DriverModule, MethodTable } from "../../driver.ts";
import type { RegisterWindow } from "../../regs/runtime.ts";
import { DeviceWindow } from "../device_window.ts";
import type { DriverServices } from "../driver_services.ts";
import type { DriverHost, HostOptions } from "./driver_host.ts";
import { checkObjectImplementation } from "../component.ts";
import { MapMark } from "./map_mark.ts";

/**
 * Runs a driver in the kernel's isolate.
 *
 * @example
 * ```ts ignore
 * const host = new KernelHost({ pkg, services, device });
 * await host.start();
 * ```
 */
export class KernelHost implements DriverHost {
  readonly kind = "kernel" as const;
  #options: HostOptions;
  #instance: DriverInstance | undefined;
  #stopped: Error | undefined;
  #stopping: Promise<void> | undefined;
  #handler: ((line: number) => void | Promise<void>) | undefined;

  constructor(options: HostOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    const { pkg, services, device } = this.#options;
    const mod = await import(pkg.entryUrl) as Partial<DriverModule>;
    if (typeof mod.start !== "function") {
      throw new TypeError(`Driver ${pkg.name}: ${pkg.entry} does not export a start(ctx) function`);
    }
    const ctx = makeContext(services, device, (handler) => this.#handler = handler);
    services.onInterrupt((line) => this.#interrupt(line));
    this.#instance = await mod.start(ctx);
  }

  stop(error: Error): Promise<void> {
    this.#stopping ??= this.#stop(error);
    return this.#stopping;
  }

  async #stop(error: Error): Promise<void> {
    this.#stopped = error;
    try {
      await this.#instance?.stop?.();
    } catch (e) {
      this.#options.services.fault(`stop() threw: ${(e as Error).message}`);
    }
  }

  #interrupt(line: number): void {
    const { services } = this.#options;
    const fail = (e: unknown) => {
      services.fault(`interrupt handler threw: ${e instanceof Error ? e.message : String(e)}`);
      try {
        services.ackIrq(line);
      } catch {
        // The line was released meanwhile.
      }
    };
    try {
      const r = this.#handler?.(line);
      if (r instanceof Promise) r.catch(fail);
    } catch (e) {
      fail(e);
    }
  }
}

/** The driver context over direct calls. */
function makeContext(
  services: DriverServices,
  device: HostOptions["device"],
  setHandler: (handler: (line: number) => void | Promise<void>) => void,
): DriverContext {
  /** While an `issueAfter` whose maps did not all succeed runs: its writes are not made. */
  let suppressed = false;
  /**
   * Whether one of the driver's methods runs now (its synchronous part), and the first refusal of
   * a map made with `failsCall` while it runs (which fails that call).
   */
  let serving = false;
  let refusal: { e: unknown } | undefined;
  const refused = (options: { failsCall?: boolean } | undefined, e: unknown): void => {
    if (options?.failsCall === true && serving) refusal ??= { e };
  };
  const windows: Record<string, RegisterWindow> = {};
  for (const w of services.node.windows) {
    const side = services.sideEffects(w.name);
    windows[w.name] = new DeviceWindow(w.buffer, side.writes, side.reads, {
      write: (offset, width, value) => {
        if (!suppressed) services.deviceWrite(w.name, offset, width, value);
      },
      read: (offset, width) => services.deviceRead(w.name, offset, width),
    });
  }
  /** Whether a promise `map` returned stands for a mapping made (maps here are synchronous). */
  const mapped = new MapMark("made", (v): v is boolean => typeof v === "boolean");
  return {
    device,
    windows: Object.freeze(windows),
    irq: {
      lines: services.node.line === 0 ? [] : [services.node.line],
      register: (handler, line) => {
        try {
          services.registerIrq(line);
          setHandler(handler);
          return Promise.resolve();
        } catch (e) {
          return Promise.reject(e);
        }
      },
      ack: (line) => services.ackIrq(line),
    },
    dma: {
      map: (memory, options) => {
        try {
          const address = services.mapDma(memory, options?.writable ?? false, options);
          return mapped.set(Promise.resolve(address), true);
        } catch (e) {
          refused(options, e);
          return mapped.set(Promise.reject(e), false);
        }
      },
      issueAfter: (maps, issue) => {
        let ok = true;
        for (const m of maps) {
          const outcome = mapped.get(m);
          if (outcome === undefined) {
            throw new TypeError("issueAfter takes the promises that ctx.dma.map returned");
          }
          ok &&= outcome;
        }
        const outer = suppressed;
        suppressed = outer || !ok;
        try {
          issue();
        } finally {
          suppressed = outer;
        }
      },
      mapThen: (memory, options, issue) => {
        let address: bigint;
        try {
          address = services.mapDma(memory, options?.writable ?? false, options);
        } catch (e) {
          refused(options, e);
          return Promise.reject(e);
        }
        try {
          issue();
        } catch (e) {
          services.unmapDma(address);
          return Promise.reject(e);
        }
        return Promise.resolve(address);
      },
      unmap: (address) => {
        try {
          services.unmapDma(address);
          return Promise.resolve();
        } catch (e) {
          return Promise.reject(e);
        }
      },
      release: (address) => services.releaseDma(address),
      allocate: (size) => {
        try {
          const m = services.allocateDma(size);
          return Promise.resolve({ address: m.address, bytes: m.bytes });
        } catch (e) {
          return Promise.reject(e);
        }
      },
    },
    export: (iface, implementation) => {
      // Each method runs as "the call being served", for maps that fail it (failsCall).
      const served: MethodTable = {};
      for (const [name, fn] of Object.entries(implementation)) {
        if (typeof fn !== "function") continue;
        served[name] = (...args: unknown[]) => {
          const outerServing = serving, outerRefusal = refusal;
          serving = true;
          refusal = undefined;
          let result: unknown, failure: { e: unknown } | undefined;
          try {
            result = fn(...args);
          } finally {
            // (set by `refused` while `fn` ran: flow analysis cannot see that)
            failure = refusal as { e: unknown } | undefined;
            serving = outerServing;
            refusal = outerRefusal;
          }
          if (failure !== undefined) {
            if (result instanceof Promise) result.catch(() => {});
            throw failure.e;
          }
          return result;
        };
      }
      services.component.export(iface, served);
    },
    objects: {
      create: (iface, implementation) =>
        settle(() => {
          checkObjectImplementation(services.component.schema, iface, implementation);
          return services.createObject(iface, (_iface, method, args) => {
            try {
              return Promise.resolve(implementation[method]!(...args));
            } catch (error) {
              return Promise.reject(error);
            }
          });
        }),
      destroy: (cap) => settle(() => services.destroyObject(cap)),
    },
    bus: {
      add: (child) => settle(() => services.announce({ ...child, config: child.config.slice() })),
      remove: (name) => settle(() => services.withdraw(name)),
    },
    invoke: (cap, method, args) => services.invoke(cap, method, args ?? []),
    post: (cap, method, args) => services.post(cap, method, args ?? []),
    log: (message) => services.log(message),
  };
}

/** Runs `fn` and turns its result or throw into a promise (the context's methods are async). */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}
