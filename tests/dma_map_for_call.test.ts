// A map made for a call (MapOptions.failsCall) settles in the driver, with the object's address or the
// refusal, and a refusal fails the call, on both hosts.
import { assertEquals, assertRejects } from "@std/assert";
import { PermissionDeniedError } from "../kernel/errors.ts";
import { withProbe } from "./_probe_harness.ts";

for (const host of ["kernel", "worker"] as const) {
  Deno.test(`a map made for a call settles with no other traffic, or fails the call (${host} host)`, async () => {
    await withProbe(host, 16, async (kernel, probe) => {
      const { capability } = kernel.allocate(4096, "map-for-call");
      // Nothing else flows between the kernel and the driver: the promise must still settle.
      assertEquals(await kernel.invoke(probe, "IProbe.mapFor", [capability]), "queued");
      assertEquals(await kernel.invoke(probe, "IProbe.mapped", []), `mapped ${capability.address}`);
      const mappings = () =>
        kernel.machine.iommu.mappings().filter((m) => m.mapping.address === capability.address)
          .length;
      assertEquals(mappings(), 1);
      // Several in a row settle in order.
      for (let i = 0; i < 5; i++) await kernel.invoke(probe, "IProbe.mapFor", [capability]);
      assertEquals(await kernel.invoke(probe, "IProbe.mapped", []), `mapped ${capability.address}`);
      // A forged capability: the call fails with the kernel's refusal, and so does the map.
      const forged = { address: capability.address, password: capability.password ^ 1n };
      await assertRejects(
        () => kernel.invoke(probe, "IProbe.mapFor", [forged]),
        PermissionDeniedError,
      );
      assertEquals(await kernel.invoke(probe, "IProbe.mapped", []), "PermissionDeniedError");
      // A good one after the refusal still maps.
      await kernel.invoke(probe, "IProbe.mapFor", [capability]);
      assertEquals(await kernel.invoke(probe, "IProbe.mapped", []), `mapped ${capability.address}`);
    });
  });
}
