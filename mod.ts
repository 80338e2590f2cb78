/**
 * mungi: the Mungi operating system's user-level device-driver framework (Leslie, FitzRoy-Dale,
 * Heiser, 2004), simulated in Deno.
 *
 * This module is the public API for scripts and tests: boot a node, then work with it through
 * capabilities, invocation and the name service. Run it (`deno run mod.ts`) for the CLI.
 *
 * @example
 * ```ts ignore
 * import { boot } from "./mod.ts";
 * const kernel = await boot({ names: ":memory:" });
 * console.log(await kernel.names.list());
 * await kernel.shutdown();
 * ```
 *
 * @module
 */

export {
  boot,
  type BootOptions,
  type IdeDiskConfig,
  type MachineConfig,
  NAMING_NAME,
} from "./kernel/boot.ts";
export { type PlugOptions, type PlugResult, USB_MODELS, type UsbModel } from "./kernel/hotplug.ts";
export { BlockClient, BlockIoError } from "./clients/block_client.ts";
export type { DriverInstanceInfo } from "./kernel/driver_manager.ts";
export type { HostKind } from "./kernel/hosts/driver_host.ts";
export {
  type ComponentDescription,
  Kernel,
  type KernelOptions,
  MEMORY_RIGHTS,
} from "./kernel/kernel.ts";
export {
  Component,
  type ComponentOptions,
  type ComponentState,
  type Implementation,
} from "./kernel/component.ts";
export {
  type Address,
  formatAddress,
  makeAddress,
  nodeOf,
  offsetOf,
  PAGE_SIZE,
  parseAddress,
} from "./kernel/address.ts";
export { formatCapability, parseCapability } from "./kernel/capability.ts";
export type { EventKind, KernelEvent } from "./kernel/event_log.ts";
export { MemoryObject } from "./kernel/memory_object.ts";
export {
  DeviceRemovedError,
  DriverFaultError,
  MethodNotFoundError,
  NameExistsError,
  NameNotFoundError,
  PermissionDeniedError,
} from "./kernel/errors.ts";
export type { Capability, IdlSchema, InterfaceSchema, MethodSchema } from "./idl/types.ts";
export { checkIdl, parseIdl } from "./idl/mod.ts";

if (import.meta.main) {
  const { main } = await import("./cli/main.ts");
  Deno.exit(await main(Deno.args));
}
