/**
 * The seam every driver host fits: the kernel host (same isolate, direct calls), the worker host
 * (a permission-restricted Worker), and later a process host or a remote node.
 *
 * @module
 */

import type { Timeline } from "../timeline.ts";
import type { DeviceInfo } from "../../driver.ts";
import type { DriverServices } from "../driver_services.ts";
import type { DriverPackage } from "../driver_package.ts";
import type { ProfilerOptions, ThreadProfile } from "../profiler.ts";

/** Where a driver instance runs. */
export type HostKind = "kernel" | "worker";

/** A running driver instance's host. */
export interface DriverHost {
  readonly kind: HostKind;
  /** Loads the driver module and runs its `start(ctx)`; resolves when it has returned. */
  start(): Promise<void>;
  /**
   * Fails every call in flight with `error`, runs the driver's `stop()` (bounded in time), and
   * releases the host (the worker is terminated).
   */
  stop(error: Error): Promise<void>;
  /**
   * Starts a CPU profile of the driver's own thread (the worker host of a kernel booted with
   * `profileDrivers`); the kernel host has none: its drivers run on the kernel's thread.
   */
  startProfile?(intervalUs: number, options?: ProfilerOptions): Promise<void>;
  /** Stops the profile {@link startProfile} began and returns it. */
  stopProfile?(): Promise<ThreadProfile>;
  /** The timeline of the driver's channel (worker host, `BootOptions.timeline`). */
  readonly timeline?: Timeline | undefined;
}

/** What a host needs to make a driver instance. */
export interface HostOptions {
  readonly pkg: DriverPackage;
  readonly services: DriverServices;
  readonly device: DeviceInfo;
  /**
   * Whether the driver's thread may profile itself (`BootOptions.profileDrivers`): its worker
   * then also gets the `sys` permission, which V8's inspector needs. Never on a normal boot.
   */
  readonly profiling?: boolean;
  /** Whether the host's channel gets a timeline (`BootOptions.timeline`). */
  readonly timeline?: boolean;
}

/** The {@link DeviceInfo} a driver gets for its device. */
export function deviceInfo(services: DriverServices): DeviceInfo {
  const { node } = services;
  return {
    name: node.name,
    bus: node.bus,
    ids: { ...node.ids },
    config: node.config.slice(),
    caps: { ...node.caps },
  };
}
