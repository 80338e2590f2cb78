/**
 * The name service as a component (INaming), so that any component, local or on another node,
 * reaches it the same way it reaches a device: by capability and invocation.
 *
 * @module
 */

import type { Capability } from "../idl/types.ts";
import { schema as namingSchema } from "../interfaces/naming.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Component } from "../kernel/component.ts";
import type { NameService } from "./name_service.ts";

/**
 * Creates the INaming component over a name service; returns it and its master capability.
 *
 * @example
 * ```ts ignore
 * const { capability } = createNamingComponent(kernel, names);
 * await kernel.invoke(capability, "INaming.lookup", ["dev/ide0"]);
 * ```
 */
export function createNamingComponent(
  kernel: Kernel,
  names: NameService,
): { component: Component; capability: Capability } {
  const component = kernel.createComponent({
    className: "naming",
    schema: namingSchema,
    provides: ["INaming"],
    label: "naming",
  });
  const watches = new Set<{ close(): void }>();
  component.onDestroy(() => {
    for (const w of watches) w.close();
  });
  component.export("INaming", {
    bind: (name: string, address: bigint, replace: boolean) =>
      names.bind(name, address, { replace }),
    unbind: (name: string) => names.unbind(name),
    lookup: (name: string) => names.lookup(name),
    list: (prefix: string) => names.list(prefix),
    watch: (prefix: string, notify: Capability) => {
      const watch = names.watch(prefix, (event) => {
        kernel.invoke(notify, "INameWatcher.changed", [event.name, event.address, event.previous])
          .catch(() => {
            // The watcher went away or its capability was revoked: stop telling it.
            watch.close();
            watches.delete(watch);
          });
      });
      watches.add(watch);
    },
  });
  return { component, capability: kernel.mint(component.address, null, "kernel") };
}
