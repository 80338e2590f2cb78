// A kernel with the test fixture drivers and one probe device (tests/fixtures/probe_device.ts),
// whose PCI device id selects what the hostile fixture driver does.
import { fromFileUrl } from "@std/path";
import type { Capability } from "../idl/types.ts";
import { boot } from "../kernel/boot.ts";
import type { HostKind } from "../kernel/hosts/driver_host.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { createProbeDevice, probeIdentity } from "./fixtures/probe_device.ts";

/** The fixture driver packages (hostile, callmap). */
export const FIXTURE_DRIVERS = fromFileUrl(new URL("./fixtures/drivers", import.meta.url));

/**
 * Boots a kernel whose drivers run on `host`, with the probe device `probe<deviceId>` attached and
 * its driver started; runs `fn` with the kernel and a capability to the device, then shuts down.
 */
export async function withProbe<T>(
  host: HostKind,
  deviceId: number,
  fn: (kernel: Kernel, device: Capability) => Promise<T>,
): Promise<T> {
  const kernel = await boot({
    names: ":memory:",
    drivers: FIXTURE_DRIVERS,
    machine: { ide: false },
    host,
  });
  try {
    await kernel.machine.attachPci(probeIdentity(deviceId), createProbeDevice(`probe${deviceId}`));
    await kernel.drivers.settled();
    return await fn(kernel, kernel.mint(await kernel.names.lookup(`dev/probe${deviceId}`)));
  } finally {
    await kernel.shutdown();
  }
}
