import { assert, assertEquals, assertMatch } from "@std/assert";
import { fromFileUrl } from "@std/path";
import { boot } from "../kernel/boot.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { RateLimit } from "../kernel/interrupt_router.ts";
import { createProbeDevice, probeIdentity } from "./fixtures/probe_device.ts";
import { waitFor } from "./_wait.ts";

const HOSTILE_DRIVERS = fromFileUrl(new URL("./fixtures/drivers", import.meta.url));

/** Boots a machine with an IDE disk and one probe device whose id selects the attack. */
async function withHostile(
  deviceId: number,
  fn: (kernel: Kernel, probe: ReturnType<typeof createProbeDevice>) => Promise<void>,
  irqRate?: RateLimit,
): Promise<void> {
  const kernel = await boot({
    names: ":memory:",
    drivers: HOSTILE_DRIVERS,
    machine: { ide: false },
    ...(irqRate ? { irqRate } : {}),
  });
  try {
    // Another device first, so that foreign interrupt lines exist.
    await kernel.machine.attachPci(probeIdentity(0), createProbeDevice("other0"));
    const probe = createProbeDevice(`probe${deviceId}`);
    await kernel.machine.attachPci(probeIdentity(deviceId), probe);
    await kernel.drivers.settled();
    await fn(kernel, probe);
    // Whatever the driver did, the kernel still serves.
    assertEquals(
      await kernel.invoke(kernel.naming, "INaming.lookup", ["svc/naming"]),
      await kernel.names.lookup("svc/naming"),
    );
  } finally {
    await kernel.shutdown();
  }
}

async function probeCall(
  kernel: Kernel,
  device: string,
  method: string,
  args: unknown[] = [],
): Promise<unknown> {
  const address = await kernel.names.lookup(`dev/${device}`);
  return await kernel.invoke(kernel.mint(address), method, args);
}

function deniedEvents(kernel: Kernel, source: string): string[] {
  return kernel.events.recent({ kind: "driver.denied", source }).map((e) => e.message);
}

const attacks: [number, string, RegExp][] = [
  [1, "reads /etc/passwd", /Deno\.readTextFile\("\/etc\/passwd"\)/],
  [2, "opens a socket", /Deno\.connect/],
  [3, "reads an environment variable", /Deno\.env\.get\("HOME"\)/],
  [4, "spawns a process", /Deno\.Command\.output/],
  [5, "opens a KV database file", /Deno\.openKv\("\/tmp\/mungi-hostile\.kv"\)/],
];

for (const [id, what, pattern] of attacks) {
  Deno.test(`a driver that ${what} is refused and logged as a denied access of its instance`, async () => {
    await withHostile(id, async (kernel) => {
      const device = `probe${id}`;
      assertEquals(await probeCall(kernel, device, "IProbe.attempt"), "NotCapable");
      const denied = deniedEvents(kernel, device);
      assert(
        denied.some((m) => pattern.test(m)),
        `no matching denied event in ${JSON.stringify(denied)}`,
      );
      assert(kernel.drivers.instance(device)!.counters.denied >= 1);
    });
  });
}

Deno.test("a driver that imports a file outside its package does not start, and the log names it", async () => {
  await withHostile(6, async (kernel) => {
    assertEquals(kernel.drivers.instance("probe6"), undefined);
    assertEquals(await kernel.names.tryLookup("dev/probe6"), undefined);
    assert(deniedEvents(kernel, "probe6").some((m) => /kernel\/kernel\.ts/.test(m)));
    const faults = kernel.events.recent({ kind: "driver.fault", source: "probe6" }).map((e) =>
      e.message
    );
    assert(
      faults.some((m) => /failed to start: Requires read access/.test(m)),
      JSON.stringify(faults),
    );
  });
});

Deno.test("a driver that programs DMA to an address it never mapped faults without harm", async () => {
  await withHostile(7, async (kernel) => {
    const faults = kernel.events.recent({ kind: "iommu.fault", source: "probe7" });
    assertEquals(faults.length, 1);
    assertMatch(faults[0]!.message, /probe7 write of 16 bytes at 0x0000000070000000/);
    assertEquals(kernel.machine.iommu.faults.at(-1)?.device, "probe7");
    // The driver's device is still usable, and its interrupt came (the device reports the fault).
    await probeCall(kernel, "probe7", "IProbe.poke", [3, 0, 0n]);
    await waitFor(
      async () => (await probeCall(kernel, "probe7", "IProbe.interrupts") as number) >= 1,
      "probe7's interrupt",
    );
  });
});

Deno.test("a driver that registers another device's interrupt line is refused", async () => {
  await withHostile(8, async (kernel) => {
    const results = (await probeCall(kernel, "probe8", "IProbe.attempt") as string).split(",");
    assert(results.every((r) => r === "PermissionDeniedError"), results.join(","));
    const denied = deniedEvents(kernel, "probe8");
    assert(denied.some((m) => /belongs to other0/.test(m)), JSON.stringify(denied));
    // Its own line still works.
    await probeCall(kernel, "probe8", "IProbe.poke", [3, 0, 0n]);
    const interrupts = () => probeCall(kernel, "probe8", "IProbe.interrupts");
    await waitFor(async () => (await interrupts() as number) >= 1, "probe8's interrupt");
    assertEquals(await interrupts(), 1);
  });
});

Deno.test("an interrupt storm reaches the driver as a rate-limited trickle", async () => {
  const rate = { perSecond: 200, burst: 5 };
  await withHostile(9, async (kernel, probe) => {
    const started = performance.now();
    for (let burst = 0; burst < 20; burst++) {
      await probeCall(kernel, "probe9", "IProbe.poke", [2, 5000, 0n]);
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 50));
    const elapsed = (performance.now() - started) / 1000;
    const seen = await probeCall(kernel, "probe9", "IProbe.interrupts") as number;
    const line = kernel.drivers.router.stats().find((s) => s.owner === "probe9")!;
    assertEquals(probe.raised, 100_000);
    assertEquals(line.raised, 100_000);
    assertEquals(line.delivered, seen);
    assert(seen >= 1);
    assert(
      seen <= rate.burst + Math.ceil(rate.perSecond * elapsed) + 1,
      `${seen} deliveries in ${elapsed}s`,
    );
    assert(line.coalesced > 99_000);
    assert(
      kernel.events.recent({ kind: "irq.coalesced", source: "probe9" }).length >= 1 ||
        line.rateLimited === 0,
    );
  }, rate);
});

Deno.test("a driver that throws in its interrupt handler is logged, and its line is re-armed", async () => {
  await withHostile(10, async (kernel) => {
    const recent = () =>
      kernel.events.recent({ kind: "driver.fault", source: "probe10" }).map((e) => e.message);
    await probeCall(kernel, "probe10", "IProbe.poke", [3, 0, 0n]);
    await waitFor(() => recent().length >= 1, "the first handler's fault");
    await probeCall(kernel, "probe10", "IProbe.poke", [3, 0, 0n]);
    await waitFor(() => recent().length >= 2, "the second handler's fault");
    const faults = recent();
    assertEquals(faults.length, 2, JSON.stringify(faults));
    assertMatch(faults[0]!, /interrupt handler threw: hostile handler blew up/);
    assertEquals(await probeCall(kernel, "probe10", "IProbe.interrupts"), 2);
  });
});

Deno.test("a driver that announces devices without being a bus driver is refused and logged", async () => {
  await withHostile(11, async (kernel) => {
    assertEquals(await probeCall(kernel, "probe11", "IProbe.attempt"), "TypeError");
    assert(deniedEvents(kernel, "probe11").some((m) => /announce a usb device/.test(m)));
    assertEquals(kernel.drivers.devices().some((d) => d.name === "fake1"), false);
  });
});

Deno.test("a driver cannot serve an interface its manifest does not list as an object", async () => {
  await withHostile(12, async (kernel) => {
    assertEquals(await probeCall(kernel, "probe12", "IProbe.attempt"), "TypeError");
  });
});

Deno.test("a driver is handed its own device's register windows and no others", async () => {
  await withHostile(13, async (kernel) => {
    assertEquals(await probeCall(kernel, "probe13", "IProbe.attempt"), "only its own");
  });
});

Deno.test("posts of one turn travel together; one the ring cannot carry is logged, not the others lost", async () => {
  await withHostile(15, async (kernel) => {
    assertEquals(await probeCall(kernel, "probe15", "IProbe.attempt"), "RangeError");
    const logged = kernel.events.recent({ source: "probe15" }).map((e) => e.message);
    const text = logged.join("\n");
    // The kernel refused the forged capability of the first and the third...
    assert(logged.some((m) => /INotify\.first \(posted\) failed/.test(m)), text);
    assert(logged.some((m) => /INotify\.third \(posted\) failed/.test(m)), text);
    // ...and the second never left the driver's side: its framework said why.
    assert(logged.some((m) => /post of INotify\.second failed: .*not supported/.test(m)), text);
  });
});

Deno.test("a driver that releases a mapping it never made is logged; unmap says so", async () => {
  await withHostile(14, async (kernel) => {
    // The awaited unmap fails with an error; it went on the ring after the send-only release,
    // so by now the kernel has logged the release's failure too.
    assertEquals(await probeCall(kernel, "probe14", "IProbe.attempt"), "RangeError");
    const logged = kernel.events.recent({ source: "probe14" }).map((e) => e.message);
    assert(logged.some((m) => /unmap \(posted\) failed: Cannot unmap/.test(m)), logged.join("\n"));
  });
});

Deno.test("a driver cannot connect to V8's inspector unless the kernel lets drivers profile themselves", async () => {
  await withHostile(16, async (kernel) => {
    assertEquals(await probeCall(kernel, "probe16", "IProbe.attempt"), "NotCapable");
    // Nor can the kernel make it profile itself.
    const error = await kernel.drivers.profile("probe16", 100).then(() => undefined, (e) => e);
    assertMatch(String(error), /sys permission/);
  });
  // BootOptions.profileDrivers is what opens it (and only it): sys, for the inspector.
  const kernel = await boot({
    names: ":memory:",
    drivers: HOSTILE_DRIVERS,
    machine: { ide: false },
    profileDrivers: true,
  });
  try {
    await kernel.machine.attachPci(probeIdentity(16), createProbeDevice("probe16"));
    await kernel.drivers.settled();
    assertEquals(await probeCall(kernel, "probe16", "IProbe.attempt"), "allowed");
  } finally {
    await kernel.shutdown();
  }
});
