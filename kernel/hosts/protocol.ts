/**
 * Messages between the kernel and a worker host. The per-request path (calls, results, register
 * side effects, interrupts, replies) runs on the shared-memory rings; postMessage carries only
 * control (init, SharedArrayBuffers for DMA memory, stop).
 *
 * The `sync` words (an Int32Array over a small SharedArrayBuffer) let the driver block for the
 * few things that must be synchronous for it: a register read with side effects, and the fence
 * that makes a plain register read wait until its posted writes have reached the device.
 *
 * @module
 */

import type { IdlSchema } from "../../idl/types.ts";
import type { SerializedError } from "../errors.ts";
import type { DeviceInfo } from "../../driver.ts";
import type { Channel } from "../ring.ts";
import type { CpuProfile, HeapProfile } from "../profiler.ts";
import type { CallMapRule } from "../call_maps.ts";

/** Index of the count of posted register writes the kernel has applied. */
export const SYNC_APPLIED = 0;
/** Index of the sequence number of the last answered side-effect read. */
export const SYNC_READ_SEQ = 1;
/** Index of the value of that read. */
export const SYNC_READ_VALUE = 2;
/** 1 while the driver's thread holds a token to poll for long (see `PollGate` in ring.ts). */
export const SYNC_POLLING = 3;
/** Words in the sync buffer. */
export const SYNC_WORDS = 4;

/** A register window as the worker receives it. */
export interface WindowInit {
  readonly name: string;
  readonly buffer: SharedArrayBuffer;
  readonly writes: readonly number[];
  readonly reads: readonly number[];
}

/** The control message that starts a worker host. */
export interface InitMessage {
  readonly t: "init";
  readonly entryUrl: string;
  readonly label: string;
  readonly channel: Channel;
  readonly sync: SharedArrayBuffer;
  /** The process's count of poll tokens out, and how many threads may hold one (`PollGate`). */
  readonly pollTokens: SharedArrayBuffer;
  readonly pollLimit: number;
  readonly windows: readonly WindowInit[];
  readonly lines: readonly number[];
  readonly device: DeviceInfo;
  /**
   * The interfaces of the driver's component: the worker checks the arguments of every call of
   * the driver's own methods against them (the kernel leaves that to it, see `checksArgs`).
   */
  readonly schema: IdlSchema;
  /**
   * The component's class and the interfaces it declares: the worker refuses an export as the
   * kernel would (`checkExport` in `component.ts`), synchronously, with the same error.
   */
  readonly className: string;
  readonly provides: readonly string[];
  /** The package's declared maps made with a call (`kernel/call_maps.ts`), by method. */
  readonly callMaps: Readonly<Record<string, CallMapRule>>;
}

/**
 * One entry of a `mmio_wb` batch is two numbers: a descriptor, then the value (a u32). The
 * descriptor of a posted register write is `window << 24 | width << 16 | offset`, the window as
 * its index in {@link InitMessage.windows}; the descriptor {@link ACK_ENTRY} instead acknowledges
 * the interrupt line given as the value, in order with the writes around it (the interrupt entry's
 * writes and its acknowledgement travel as one message).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ACK_ENTRY, writeEntry } from "./protocol.ts";
 * assertEquals(writeEntry(2, 7, 1), 0x0201_0007); // window 2, 1 byte at offset 7
 * assertEquals(ACK_ENTRY >>> 24, 0x7f); // no window has that index
 * ```
 */
export function writeEntry(window: number, offset: number, width: number): number {
  return (window << 24) | (width << 16) | offset;
}

/** The descriptor of an interrupt acknowledgement in a `mmio_wb` batch (see {@link writeEntry}). */
export const ACK_ENTRY = 0x7f00_0000;

/** What a worker asks the kernel for (each answered by a reply with the same id). */
export type RequestOp =
  | "invoke"
  | "map"
  | "unmap"
  | "alloc"
  | "irq_register"
  | "object_create"
  | "object_destroy"
  | "bus_add"
  | "bus_remove";

/** The id of a request that wants no reply (`DriverContext.post`); real ids count from 1. */
export const POSTED = 0;

/** The object id of the driver instance itself (objects it creates count from 1). */
export const SELF = 0;

/** Kernel -> worker, on the ring. */
export type ToWorker =
  /**
   * `checked`: the arguments were checked against the method's IDL types as they were encoded (a
   * call in its compiled layout, see `layout.ts`); the worker need not check them again.
   */
  | {
    t: "call";
    id: number;
    o: number;
    i: string;
    m: string;
    a: unknown[];
    checked?: true;
    /**
     * The map the manifest declares for this method (`kernel/call_maps.ts`). Kernel side: a
     * function the encoder calls once the arguments proved to be of the method's types (the call
     * travels in its layout); it says whether the kernel will make the map (the same answer if
     * called again), which the kernel then does as soon as the call is sent. Worker side: `true`
     * when the kernel makes it.
     */
    pm?: true | (() => boolean);
  }
  | { t: "irq"; line: number }
  | { t: "reply"; id: number; ok: true; v: unknown }
  | { t: "reply"; id: number; ok: false; e: SerializedError };

/** Worker -> kernel, on the ring. */
export type ToKernel =
  | { t: "started" }
  | { t: "start_failed"; e: SerializedError }
  | { t: "export"; i: string; m: string[] }
  | { t: "result"; id: number; ok: true; v: unknown }
  | { t: "result"; id: number; ok: false; e: SerializedError }
  /**
   * Posted register writes and acknowledgements, batched: pairs of numbers, see
   * {@link writeEntry}. `g`: the ids of the map requests the writes depend on
   * (`DriverDma.issueAfter`): the kernel applies them only if none of those maps failed.
   */
  | { t: "mmio_wb"; b: number[]; g?: number[] }
  | { t: "mmio_r"; w: string; o: number; n: 1 | 2 | 4; s: number }
  /**
   * `c`: the call (a `call` message's id) that a refused map fails (`MapOptions.failsCall`): the
   * kernel rejects it with the refusal and discards the result the driver sends for it. Posts
   * (`id` {@link POSTED}, `invoke`) whose methods have layouts travel in them (`wire.ts`, kind
   * 10), and the kernel need not check arguments its decoder typed (`POSTED_TYPES`).
   */
  | { t: "req"; id: number; op: RequestOp; a: unknown[]; c?: number }
  /** Sent only when the interrupt entry failed (`e`) or returned without acknowledging. */
  | { t: "irq_done"; line: number; e?: SerializedError }
  | { t: "denied"; what: string }
  | { t: "log"; msg: string }
  | { t: "stopped" };

/**
 * The `t` of every ring message either way, as a channel's timeline tells them apart
 * (`kernel/timeline.ts`).
 */
export const MESSAGE_KINDS: readonly string[] = [
  "call",
  "irq",
  "reply",
  "result",
  "mmio_wb",
  "mmio_r",
  "req",
  "irq_done",
  "export",
  "started",
  "start_failed",
  "denied",
  "log",
  "stopped",
];

/** Kernel -> worker over postMessage: the SharedArrayBuffer of DMA memory just allocated. */
export interface AllocReply {
  readonly t: "alloc";
  readonly id: number;
  readonly address: bigint;
  readonly buffer: SharedArrayBuffer;
}

/**
 * Kernel -> worker over postMessage: start or stop a CPU profile of the driver's thread (only a
 * worker allowed `sys`, `BootOptions.profileDrivers`, can).
 */
export type ProfileControl =
  | {
    readonly t: "profile_start";
    readonly interval: number;
    /** Also sample allocations, every this many bytes (`ProfilerOptions.allocationBytes`). */
    readonly allocationBytes?: number;
  }
  | { readonly t: "profile_stop" };

/** Worker -> kernel over postMessage: the answer to a {@link ProfileControl}. */
export type ProfileAnswer =
  | { readonly t: "profile_started" }
  | {
    readonly t: "profile";
    readonly profile: CpuProfile;
    readonly allocations?: HeapProfile;
    readonly waitedMs: number;
  }
  | { readonly t: "profile_failed"; readonly e: SerializedError };
