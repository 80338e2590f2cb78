/**
 * The seam every driver host fits: the kernel host (same isolate, direct calls), the worker host
 * (a permission-restricted Worker), and later a process host or a remote node.
 *
 * @module
 */

import type { DeviceInfo } from "../../driver.ts";
import type { DriverServices } from "../driver_services.ts";
import type { DriverPackage } from "../driver_package.ts";

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
}

/** What a host needs to make a driver instance. */
export interface HostOptions {
  readonly pkg: DriverPackage;
  readonly services: DriverServices;
  readonly device: DeviceInfo;
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
