/**
 * The plugins `mungi shell` registers, in the order `help` lists their commands' origins. A new
 * plugin is added here.
 *
 * @module
 */

import { blkPlugin } from "../plugins/blk_plugin.ts";
import { capsPlugin } from "../plugins/caps_plugin.ts";
import { componentPlugin } from "../plugins/component_plugin.ts";
import { corePlugin } from "../plugins/core_plugin.ts";
import { devicesPlugin } from "../plugins/devices_plugin.ts";
import { driversPlugin } from "../plugins/drivers_plugin.ts";
import { iommuPlugin } from "../plugins/iommu_plugin.ts";
import { irqPlugin } from "../plugins/irq_plugin.ts";
import { monitorPlugin } from "../plugins/monitor_plugin.ts";
import { namingPlugin } from "../plugins/naming_plugin.ts";
import { usbPlugin } from "../plugins/usb_plugin.ts";
import type { ShellPlugin } from "./shell.ts";

/**
 * Every plugin of the standard shell.
 *
 * @example
 * ```ts
 * import { defaultPlugins } from "./default_plugins.ts";
 * defaultPlugins().map((p) => p.name).includes("usb"); // true
 * ```
 */
export function defaultPlugins(): ShellPlugin[] {
  return [
    corePlugin(),
    namingPlugin(),
    componentPlugin(),
    devicesPlugin(),
    driversPlugin(),
    blkPlugin(),
    usbPlugin(),
    capsPlugin(),
    irqPlugin(),
    iommuPlugin(),
    monitorPlugin(),
  ];
}
