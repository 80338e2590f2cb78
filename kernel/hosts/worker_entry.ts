/// <reference lib="deno.worker" />
/**
 * The worker host's side: runs inside a Deno Worker whose permissions allow reading the driver's
 * package and nothing else. It builds the driver context over the shared-memory rings, wraps the
 * Deno APIs so that every refused access is reported to the kernel as a denied access of this
 * instance, imports the driver module and serves it.
 *
 * This module and its imports are loaded with the kernel's permissions before the driver runs; a
 * driver can reach them (they are the driver API) but nothing else of the kernel.
 *
 * @module
 */

import "../../driver.ts";
import "../../regs/runtime.ts";
import type {
  Capability,
  DriverContext,
  DriverInstance,
  DriverModule,
  MapOptions,
  MethodTable,
} from "../../driver.ts";
import type { RegisterWindow } from "../../regs/runtime.ts";
import { DeviceWindow } from "../device_window.ts";
import { deserializeError, serializeError } from "../errors.ts";
import type { InterfaceSchema, MethodSchema } from "../../idl/types.ts";
import { checkExport, checkObjectImplementation } from "../component.ts";
import { validateArgs } from "../../idl/validate_args.ts";
import { IdTable } from "../id_table.ts";
import { Endpoint, PollGate, waitClock } from "../ring.ts";
import {
  ACK_ENTRY,
  type AllocReply,
  type InitMessage,
  POSTED,
  type ProfileAnswer,
  type ProfileControl,
  type RequestOp,
  SELF,
  SYNC_APPLIED,
  SYNC_POLLING,
  SYNC_READ_SEQ,
  SYNC_READ_VALUE,
  type ToKernel,
  type ToWorker,
  writeEntry,
} from "./protocol.ts";
import { LayoutTable } from "./layout.ts";
import { wireCodec } from "./wire.ts";
import { ThreadProfiler } from "../profiler.ts";
import { MapMark } from "./map_mark.ts";
import { type CallMap, callMapOf, callMapRules } from "../call_maps.ts";

/**
 * How long the driver's thread polls for a message the kernel owes it, and after the last message
 * otherwise (an interrupt or a call may follow), in µs: long enough that a stream of requests
 * never puts it to sleep (see `KERNEL_SPIN_MICROS` in worker_host.ts for the measurements).
 */
const WORKER_SPIN_MICROS = 5000;
/** See {@link WORKER_SPIN_MICROS}. */
const WORKER_IDLE_SPIN_MICROS = 5000;
/**
 * How long it polls without a poll token (other driver threads hold them all), in µs: then it
 * blocks, and wakes within tens of µs of the kernel's next message when a CPU is free.
 */
const WORKER_SHORT_POLL_MICROS = 50;
/** How long it then blocks in Atomics.wait before it sleeps in the event loop, in µs. */
const WORKER_BLOCK_MICROS = 2000;
/**
 * How often it yields to its event loop while it polls with nothing owed to it (waiting for an
 * interrupt, say), in ms: the thread runs nothing else but the driver's timers and the kernel's
 * control messages, which can wait that long. Every 0.25 ms (the endpoints' default, for the
 * kernel's shared thread) a yield fell now and then just as the interrupt came: `bench:compare`
 * with 2 ms, 30 rounds, user level 512 B +5.8 % at depth 1 and +6.3 % at depth 8, 64 KiB +2.7 % and
 * +0.4 %; with 8 ms 512 B at depth 1 -0.6 %.
 */
const WORKER_IDLE_YIELD_MS = 2;

/** Longest a driver blocks on the device (a side-effect read, a fence) before giving up. */
const SYNC_TIMEOUT_MS = 5_000;

let endpoint: Endpoint | undefined;
/** E4: posted register writes (and acknowledgements) not yet sent: pairs, see protocol.ts. */
let writes: number[] = [];
function postWrite(entry: number, value: number): void {
  if (writes.length === 0) queueMicrotask(flushWrites);
  writes.push(entry, value);
}
/** The ids of the maps the running `issueAfter` depends on (its writes do), or none. */
let guard: number[] | undefined;
function flushWrites(): void {
  if (writes.length === 0) return;
  // A post or release batch made before these writes goes first: the ring keeps the order.
  flushPosted();
  const batch = writes;
  writes = [];
  endpoint?.send(
    guard === undefined ? { t: "mmio_wb", b: batch } : { t: "mmio_wb", b: batch, g: guard },
  );
}
/** Sends every write, post and release held back, in the driver's order. */
function flushAll(): void {
  flushWrites();
  flushPosted();
}
function send(message: ToKernel): void {
  flushAll();
  endpoint?.send(message);
}
/**
 * Send-only requests of one microtask turn (`DriverContext.post`, `DriverDma.release`): runs of
 * the same kind leave as one message, at the end of the turn or before any other message, so the
 * kernel's loop takes one turn for a command's completions. At most one kind is pending: adding
 * the other sends the first.
 */
let posts: unknown[] = [];
let releases: bigint[] = [];
function flushPosted(): void {
  if (posts.length > 0) {
    const a = posts;
    posts = [];
    sendPosts(a);
  }
  if (releases.length > 0) {
    const a = releases;
    releases = [];
    endpoint?.send({ t: "req", id: POSTED, op: "unmap", a });
  }
}
/** Posts (capability, method, arguments each); one the ring cannot carry is logged, not sent. */
function sendPosts(a: unknown[]): void {
  try {
    endpoint?.send({ t: "req", id: POSTED, op: "invoke", a });
    return;
  } catch {
    // One of them cannot travel: send them one by one.
  }
  for (let i = 0; i + 2 < a.length; i += 3) {
    try {
      endpoint?.send({ t: "req", id: POSTED, op: "invoke", a: [a[i], a[i + 1], a[i + 2]] });
    } catch (error) {
      endpoint?.send({
        t: "log",
        msg: `post of ${String(a[i + 1])} failed: ${(error as Error).message}`,
      });
    }
  }
}
function post(cap: Capability, method: string, args: readonly unknown[]): void {
  flushWrites();
  if (releases.length > 0) flushPosted();
  if (posts.length === 0) queueMicrotask(flushPosted);
  posts.push(cap, method, args);
}
function release(address: bigint): void {
  flushWrites();
  if (posts.length > 0) flushPosted();
  if (releases.length === 0) queueMicrotask(flushPosted);
  releases.push(address);
}

function isRefusal(error: unknown): boolean {
  if (error instanceof Deno.errors.NotCapable) return true;
  return error instanceof Error && /^Requires \w+ access/.test(error.message);
}

function describeCall(name: string, args: unknown[]): string {
  const first = args[0];
  const shown = typeof first === "string" || first instanceof URL
    ? JSON.stringify(String(first))
    : first === undefined
    ? ""
    : "...";
  return `${name}(${shown})`;
}

/** Wraps a function so that a refusal (thrown or rejected) is reported before it propagates. */
// deno-lint-ignore no-explicit-any
function watch<F extends (...args: any[]) => any>(name: string, fn: F, self: unknown): F {
  return function (this: unknown, ...args: unknown[]) {
    const report = (error: unknown) => {
      if (isRefusal(error)) {
        send({ t: "denied", what: `${describeCall(name, args)}: ${(error as Error).message}` });
      }
      throw error;
    };
    try {
      const result = fn.apply(this ?? self, args);
      if (result instanceof Promise) return result.catch(report);
      return result;
    } catch (error) {
      return report(error);
    }
  } as F;
}

/** Wraps the Deno namespace and fetch so refused accesses are seen by the kernel. */
function watchDenoApis(): void {
  const deno = Deno as unknown as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(deno)) {
    if (/^[A-Z]/.test(key)) continue;
    // Unstable APIs (openKv, ...) are getters: read the function once and redefine it.
    const value = deno[key];
    if (typeof value !== "function") continue;
    try {
      Object.defineProperty(Deno, key, {
        value: watch(`Deno.${key}`, value as (...a: unknown[]) => unknown, Deno),
        writable: true,
        configurable: true,
        enumerable: true,
      });
    } catch {
      // Not configurable: left as it is.
    }
  }
  const env = Deno.env as unknown as Record<string, unknown>;
  for (const key of ["get", "set", "delete", "has", "toObject"]) {
    const fn = env[key];
    if (typeof fn === "function") {
      env[key] = watch(`Deno.env.${key}`, fn as (...a: unknown[]) => unknown, Deno.env);
    }
  }
  const command = Deno.Command.prototype as unknown as Record<string, unknown>;
  for (const key of ["output", "outputSync", "spawn"]) {
    const fn = command[key];
    if (typeof fn === "function") {
      command[key] = watch(`Deno.Command.${key}`, fn as (...a: unknown[]) => unknown, undefined);
    }
  }
  globalThis.fetch = watch("fetch", globalThis.fetch, globalThis);
}

/** Calls the kernel and waits for its reply. */
let nextRequest = 1;
const replies = new IdTable<PromiseWithResolvers<unknown>>();
/** Calls of the driver's methods whose result is not sent yet. */
let callsRunning = 0;
/** The id of the call whose method runs now (its synchronous part), or 0. */
let servingCall = 0;
/**
 * The map the kernel made with the call being served (`kernel/call_maps.ts`), and whether the
 * driver has asked for it (`claimed`); released when the method returns without asking.
 */
let callMap: { readonly map: CallMap; claimed: boolean } | undefined;
const allocs = new Map<number, PromiseWithResolvers<AllocReply>>();

function request(op: RequestOp, args: unknown[]): Promise<unknown> {
  const id = nextRequest++;
  const p = Promise.withResolvers<unknown>();
  replies.set(id, p);
  send({ t: "req", id, op, a: args });
  return p.promise;
}

function start(init: InitMessage): void {
  const sync = new Int32Array(init.sync);
  const callMaps = callMapRules(init.callMaps);
  const declared = new Map<string, InterfaceSchema>();
  for (const name of init.provides) {
    const iface = init.schema.interfaces[name];
    if (iface) declared.set(name, iface);
  }
  // The driver's thread has nothing else to do: while the kernel owes it an answer it polls for the
  // next message, then blocks briefly (waking within microseconds of the kernel's publish), and
  // only then sleeps in Atomics.waitAsync so that timers and control messages run.
  endpoint = new Endpoint(init.channel, "worker", {
    spinMicros: WORKER_SPIN_MICROS,
    idleSpinMicros: WORKER_IDLE_SPIN_MICROS,
    // An answer is due while the kernel owes replies or a call is still being served.
    expecting: () => replies.size > 0 || allocs.size > 0 || callsRunning > 0,
    maxBatch: 1,
    blockMicros: WORKER_BLOCK_MICROS,
    codec: wireCodec(LayoutTable.fromSchema(init.schema)),
    pollGate: new PollGate(
      init.pollTokens,
      init.pollLimit,
      new Int32Array(init.sync, SYNC_POLLING * 4, 1),
    ),
    shortPollMicros: WORKER_SHORT_POLL_MICROS,
    idleYieldMs: WORKER_IDLE_YIELD_MS,
  });
  let posted = 0;
  let readSeq = 0;
  const blockUntil = (index: number, target: number, what: string) => {
    flushAll();
    endpoint!.flush();
    const deadline = performance.now() + SYNC_TIMEOUT_MS;
    let current = Atomics.load(sync, index);
    while (current < target) {
      if (performance.now() > deadline) {
        throw new Error(`${init.label}: the device did not answer (${what})`);
      }
      Atomics.wait(sync, index, current, 50);
      current = Atomics.load(sync, index);
    }
  };
  const windows: Record<string, RegisterWindow> = {};
  for (const [index, w] of init.windows.entries()) {
    windows[w.name] = new DeviceWindow(w.buffer, new Set(w.writes), new Set(w.reads), {
      write: (o, n, v) => {
        posted++;
        postWrite(writeEntry(index, o, n), v);
      },
      read: (o, n) => {
        const s = ++readSeq;
        send({ t: "mmio_r", w: w.name, o, n, s });
        blockUntil(SYNC_READ_SEQ, s, `read of ${w.name}+${o}`);
        return Atomics.load(sync, SYNC_READ_VALUE) >>> 0;
      },
      fence: () => {
        if (Atomics.load(sync, SYNC_APPLIED) < posted) {
          blockUntil(SYNC_APPLIED, posted, "posted writes");
        }
      },
    });
  }

  /** The request id of each promise `map` returned (for `issueAfter`). */
  const mapIds = new MapMark("id", (v): v is number => typeof v === "number");
  const map = (memory: Capability, options: MapOptions | undefined): Promise<bigint> => {
    const id = nextRequest++;
    const p = Promise.withResolvers<unknown>();
    const made = callMap;
    if (made !== undefined && !made.claimed && memory.address === made.map.memory.address) {
      made.claimed = true;
      const m = made.map;
      if (
        options?.failsCall === true && servingCall !== 0 && memory.password === m.memory.password &&
        (options.writable ?? false) === m.writable && options.address === m.address &&
        options.length === m.length
      ) {
        // The kernel made this very map with the call: its address is the object's.
        p.resolve(memory.address);
        return mapIds.set(p.promise as Promise<bigint>, id);
      }
      // The same memory mapped otherwise than declared: the kernel's map goes first (the
      // release leaves before this request), so the driver gets exactly what it asks for.
      release(m.memory.address);
    }
    replies.set(id, p);
    const a = [
      memory,
      options?.writable ?? false,
      options?.address ?? null,
      options?.length ?? null,
    ];
    // A refused map fails the call being served (the kernel discards its result).
    send(
      options?.failsCall === true && servingCall !== 0
        ? { t: "req", id, op: "map", a, c: servingCall }
        : { t: "req", id, op: "map", a },
    );
    return mapIds.set(p.promise as Promise<bigint>, id);
  };
  const issueAfter = (maps: readonly Promise<bigint>[], issue: () => void): void => {
    const ids: number[] = [];
    for (const m of maps) {
      const id = mapIds.get(m);
      if (id === undefined) {
        throw new TypeError("issueAfter takes the promises that ctx.dma.map returned");
      }
      ids.push(id);
    }
    // The writes posted so far do not depend on these maps; those `issue` posts do.
    flushWrites();
    const outer = guard;
    guard = ids.length === 0 ? outer : outer === undefined ? ids : [...outer, ...ids];
    try {
      issue();
    } finally {
      flushWrites();
      guard = outer;
    }
  };

  let instance: DriverInstance | undefined;
  /** Acknowledgements sent so far (an interrupt entry that acknowledged needs no irq_done). */
  let acks = 0;
  let irqHandler: ((line: number) => void | Promise<void>) | undefined;
  let nextObject = SELF + 1;
  const objectIds = new Map<bigint, string>();
  const exports = new Map<string, MethodTable>();
  const ctx: DriverContext = {
    device: init.device,
    windows: Object.freeze(windows),
    irq: {
      lines: init.lines,
      register: (handler, line) =>
        request("irq_register", [line ?? init.lines[0] ?? 0]).then(() => {
          irqHandler = handler;
        }),
      ack: (line) => {
        acks++;
        // In order with the posted writes, and sent with them.
        postWrite(ACK_ENTRY, line ?? init.lines[0] ?? 0);
      },
    },
    dma: {
      map: (memory, options) => map(memory, options),
      issueAfter: (maps, issue) => issueAfter(maps, issue),
      mapThen: (memory, options, issue) => {
        // The writes posted so far do not depend on this map; those `issue` posts do.
        const p = map(memory, options);
        let failure: { error: unknown } | undefined;
        try {
          issueAfter([p], issue);
        } catch (error) {
          failure = { error };
        }
        if (!failure) return p;
        return p.then(
          (address) =>
            request("unmap", [address]).then(
              () => Promise.reject(failure.error),
              () => Promise.reject(failure.error),
            ),
          () => Promise.reject(failure.error),
        );
      },
      unmap: (address) => request("unmap", [address]).then(() => {}),
      release: (address) => release(address),
      allocate: async (size) => {
        const id = nextRequest++;
        const p = Promise.withResolvers<AllocReply>();
        allocs.set(id, p);
        send({ t: "req", id, op: "alloc", a: [size] });
        const reply = await p.promise;
        // The buffer may be longer (whole WebAssembly pages, ../memory_object.ts).
        return { address: reply.address, bytes: new Uint8Array(reply.buffer, 0, size) };
      },
    },
    export: (iface, implementation) => {
      checkExport(init.label, init.className, declared, iface, implementation);
      exports.set(`${SELF}/${iface}`, implementation);
      send({ t: "export", i: iface, m: Object.keys(implementation) });
    },
    objects: {
      create: async (iface, implementation) => {
        checkObjectImplementation(init.schema, iface, implementation);
        const object = nextObject++;
        exports.set(`${object}/${iface}`, implementation);
        try {
          const cap = await request("object_create", [iface, object]) as Capability;
          objectIds.set(cap.address, `${object}/${iface}`);
          return cap;
        } catch (error) {
          exports.delete(`${object}/${iface}`);
          throw error;
        }
      },
      destroy: async (cap) => {
        await request("object_destroy", [cap]);
        const key = objectIds.get(cap.address);
        if (key) exports.delete(key);
        objectIds.delete(cap.address);
      },
    },
    bus: {
      add: (child) => request("bus_add", [child]).then(() => {}),
      remove: (name) => request("bus_remove", [name]).then(() => {}),
    },
    invoke: (cap, method, args) => request("invoke", [cap, method, args ?? []]),
    post: (cap, method, args) => post(cap, method, args ?? []),
    log: (msg) => send({ t: "log", msg }),
  };

  /**
   * The signatures of the driver's own methods, by `Interface.method`: the kernel leaves checking
   * their arguments to us (`checksArgs`), so the driver sees only values of its IDL types.
   */
  const signatures = new Map<string, Map<string, MethodSchema | null>>();
  const checkArgs = (iface: string, method: string, args: unknown[]): void => {
    let methods = signatures.get(iface);
    if (methods === undefined) signatures.set(iface, methods = new Map());
    let signature = methods.get(method);
    if (signature === undefined) {
      signature = init.schema.interfaces[iface]?.methods.find((x) => x.name === method) ?? null;
      methods.set(method, signature);
    }
    if (signature === null) {
      throw new TypeError(`${iface}.${method}: no such method in the driver's interfaces`);
    }
    validateArgs(init.schema, signature, args, `${iface}.${method}`);
  };

  const onMessage = (raw: unknown) => {
    const m = raw as ToWorker;
    switch (m.t) {
      case "call": {
        // The map the kernel made with this call, as it computed it from the same arguments.
        const rule = m.pm === true && m.o === SELF ? callMaps(m.i, m.m) : undefined;
        const made = rule && callMapOf(rule, m.a);
        const fn = exports.get(`${m.o}/${m.i}`)?.[m.m];
        if (!fn) {
          if (made) release(made.memory.address);
          send({
            t: "result",
            id: m.id,
            ok: false,
            e: { name: "MethodNotFoundError", message: `${m.i}.${m.m} is not exported` },
          });
          return;
        }
        let result: unknown;
        callMap = made ? { map: made, claimed: false } : undefined;
        try {
          // A call in its compiled layout was checked as the kernel encoded it.
          if (m.o === SELF && m.checked !== true) checkArgs(m.i, m.m, m.a);
          servingCall = m.id;
          result = fn(...m.a);
        } catch (error) {
          send({ t: "result", id: m.id, ok: false, e: serializeError(error) });
          return;
        } finally {
          servingCall = 0;
          // Not asked for while the method ran: the driver does not want it.
          if (callMap !== undefined && !callMap.claimed) release(callMap.map.memory.address);
          callMap = undefined;
        }
        if (result instanceof Promise) {
          callsRunning++;
          result.then(
            (v) => send({ t: "result", id: m.id, ok: true, v }),
            (error) => send({ t: "result", id: m.id, ok: false, e: serializeError(error) }),
          ).finally(() => callsRunning--);
        } else send({ t: "result", id: m.id, ok: true, v: result });
        return;
      }
      case "irq": {
        // The kernel hears of the end of the handler only if it failed or did not acknowledge.
        const before = acks;
        const done = (error?: unknown) => {
          if (error !== undefined) {
            send({ t: "irq_done", line: m.line, e: serializeError(error) });
          } else if (acks === before) send({ t: "irq_done", line: m.line });
        };
        try {
          const r = irqHandler?.(m.line);
          if (r instanceof Promise) r.then(() => done(), done);
          else done();
        } catch (error) {
          done(error);
        }
        return;
      }
      case "reply": {
        const p = (replies.take(m.id) ?? allocs.get(m.id)) as
          | PromiseWithResolvers<unknown>
          | undefined;
        if (!p) return;
        allocs.delete(m.id);
        if (m.ok) p.resolve(m.v);
        else p.reject(deserializeError(m.e));
        return;
      }
    }
  };
  endpoint.start(onMessage).catch((error) => {
    console.error(`${init.label}: worker ring failed: ${(error as Error).message}`);
  });

  watchDenoApis();
  (async () => {
    let mod: Partial<DriverModule>;
    try {
      mod = await import(init.entryUrl);
    } catch (error) {
      if (isRefusal(error)) {
        send({ t: "denied", what: `import of the driver: ${(error as Error).message}` });
      }
      send({ t: "start_failed", e: serializeError(error) });
      return;
    }
    if (typeof mod.start !== "function") {
      send({
        t: "start_failed",
        e: { name: "TypeError", message: "the driver module does not export start(ctx)" },
      });
      return;
    }
    try {
      instance = await mod.start(ctx);
      send({ t: "started" });
    } catch (error) {
      if (isRefusal(error)) send({ t: "denied", what: (error as Error).message });
      send({ t: "start_failed", e: serializeError(error) });
    }
  })();

  let profiler: ThreadProfiler | undefined;
  self.addEventListener("message", async (e: MessageEvent) => {
    const m = e.data as AllocReply | ProfileControl | { t: "stop" };
    if (m.t === "profile_start" || m.t === "profile_stop") {
      // A profile of this thread, by itself (kernel/profiler.ts): the kernel was booted with
      // profileDrivers, or the inspector refuses for want of the sys permission.
      try {
        if (m.t === "profile_start") {
          if (profiler) throw new TypeError("Cannot start a profile: one is running");
          profiler = await ThreadProfiler.start(
            m.interval,
            m.allocationBytes === undefined ? {} : { allocationBytes: m.allocationBytes },
          );
          waitClock.start();
          self.postMessage({ t: "profile_started" } satisfies ProfileAnswer);
        } else {
          if (!profiler) throw new TypeError("Cannot stop the profile: none is running");
          const running = profiler;
          profiler = undefined;
          const waitedMs = waitClock.stop();
          const { profile, allocations } = await running.stop();
          self.postMessage(
            {
              t: "profile",
              profile,
              waitedMs,
              ...(allocations ? { allocations } : {}),
            } satisfies ProfileAnswer,
          );
        }
      } catch (error) {
        self.postMessage({ t: "profile_failed", e: serializeError(error) } satisfies ProfileAnswer);
      }
      return;
    }
    if (m.t === "alloc") {
      const p = allocs.get(m.id);
      allocs.delete(m.id);
      p?.resolve(m);
    } else if (m.t === "stop") {
      try {
        await instance?.stop?.();
      } catch (error) {
        send({ t: "log", msg: `stop() threw: ${(error as Error).message}` });
      }
      send({ t: "stopped" });
      endpoint?.flush();
    }
  });
}

self.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  const error = e.reason;
  if (isRefusal(error)) send({ t: "denied", what: (error as Error).message });
  send({
    t: "log",
    msg: `unhandled rejection in the driver: ${
      error instanceof Error ? error.message : String(error)
    }`,
  });
});
self.addEventListener("error", (e) => {
  e.preventDefault();
  send({ t: "log", msg: `uncaught error in the driver: ${e.message}` });
});

self.addEventListener("message", (e: MessageEvent) => {
  if ((e.data as { t?: string })?.t === "init") start(e.data as InitMessage);
}, { once: true });
