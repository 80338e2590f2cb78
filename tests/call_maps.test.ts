// Maps made with a call (kernel/call_maps.ts): the manifest's rules, and in both hosts the same
// results, with the worker host's kernel making the declared map itself.
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { fromFileUrl, join } from "@std/path";
import { BlockClient } from "../clients/block_client.ts";
import { boot } from "../kernel/boot.ts";
import { callMapOf, type CallMapRule, parseCallMaps } from "../kernel/call_maps.ts";
import { loadDriverPackage } from "../kernel/driver_package.ts";
import { PermissionDeniedError } from "../kernel/errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { createProbeDevice } from "./fixtures/probe_device.ts";

const DRIVERS = fromFileUrl(new URL("./fixtures/drivers", import.meta.url));

const SCHEMA = {
  types: {},
  interfaces: {
    IBlock: {
      name: "IBlock",
      extends: [],
      methods: [{
        name: "read",
        params: [{ name: "notify", type: "cap_t" }, { name: "data", type: "block_seq" }],
        returns: "int",
      }],
    },
  },
} as unknown as Parameters<typeof parseCallMaps>[1];

const RULE = {
  arg: 1,
  memory: "buffer",
  address: "addr",
  count: "blocks",
  unit: 512,
  writable: true,
};

Deno.test("callMaps rules parse, and garbage is refused naming the rule and the field", () => {
  assertEquals(parseCallMaps({ "IBlock.read": RULE }, SCHEMA, ["IBlock"]), { "IBlock.read": RULE });
  const bad: [unknown, string][] = [
    [[], "must be an object"],
    [null, "must be an object"],
    [{ "IBlock.write": RULE }, "names IBlock.write"],
    [{ "IBlock": RULE }, "names IBlock"],
    [{ ".read": RULE }, "names .read"],
    [{ "IBlock.read": 5 }, "IBlock.read must be an object"],
    [{ "IBlock.read": { ...RULE, arg: 2 } }, "IBlock.read.arg"],
    [{ "IBlock.read": { ...RULE, arg: -1 } }, "IBlock.read.arg"],
    [{ "IBlock.read": { ...RULE, arg: 0.5 } }, "IBlock.read.arg"],
    [{ "IBlock.read": { ...RULE, memory: "" } }, "IBlock.read.memory"],
    [{ "IBlock.read": { ...RULE, address: 3 } }, "IBlock.read.address"],
    [{ "IBlock.read": { ...RULE, count: undefined } }, "IBlock.read.count"],
    [{ "IBlock.read": { ...RULE, unit: 0 } }, "IBlock.read.unit"],
    [{ "IBlock.read": { ...RULE, unit: 2 ** 21 } }, "IBlock.read.unit"],
    [{ "IBlock.read": { ...RULE, writable: "yes" } }, "IBlock.read.writable"],
    [{ "IBlock.read": { ...RULE, extra: 1 } }, 'unknown field "extra"'],
  ];
  for (const [raw, message] of bad) {
    assertThrows(() => parseCallMaps(raw, SCHEMA, ["IBlock"]), TypeError, message);
  }
  // An interface the driver does not provide.
  assertThrows(() => parseCallMaps({ "IBlock.read": RULE }, SCHEMA, []), TypeError, "IBlock.read");
});

Deno.test("a manifest with a bad callMaps rule does not load, and says which file and rule", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi-callmaps-" });
  try {
    const src = join(DRIVERS, "callmap");
    for (const f of ["callmap.idl", "driver.ts"]) {
      await Deno.copyFile(join(src, f), join(dir, f));
    }
    const manifest = JSON.parse(await Deno.readTextFile(join(src, "manifest.json")));
    manifest.callMaps["ICallMap.claim"].unit = -1;
    await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest));
    const error = await loadDriverPackage(dir).then(() => undefined, (e: Error) => e);
    if (!(error instanceof TypeError)) throw new Error(`loaded, or failed otherwise: ${error}`);
    assert(error.message.includes(join(dir, "manifest.json")), error.message);
    assert(error.message.includes("ICallMap.claim.unit"), error.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("what a call maps comes from its argument's fields, or nothing if they are not there", () => {
  const rule: CallMapRule = RULE;
  const buffer = { address: 0x4000n, password: 9n };
  const data = { blocks: new BigUint64Array(3), addr: 0x4200n, buffer };
  assertEquals(callMapOf(rule, [buffer, data]), {
    memory: buffer,
    writable: true,
    address: 0x4200n,
    length: 1536,
  });
  for (
    const args of [
      [],
      [buffer],
      [buffer, null],
      [buffer, 7],
      [buffer, { ...data, buffer: undefined }],
      [buffer, { ...data, buffer: { address: 1n } }],
      [buffer, { ...data, buffer: { address: 1, password: 2n } }],
      [buffer, { ...data, addr: 5 }],
      [buffer, { ...data, blocks: 3 }],
      [buffer, { ...data, blocks: null }],
    ]
  ) {
    assertEquals(callMapOf(rule, args), undefined, Deno.inspect(args));
  }
});

async function withCallMap(
  host: "kernel" | "worker",
  fn: (
    kernel: Kernel,
    invoke: (method: string, args: unknown[]) => Promise<unknown>,
  ) => Promise<void>,
): Promise<void> {
  const kernel = await boot({ names: ":memory:", drivers: DRIVERS, machine: { ide: false }, host });
  try {
    await kernel.machine.attachPci(
      { vendorId: 0x1235, deviceId: 1, classCode: 0xff, subclass: 0, progIf: 0 },
      createProbeDevice("cm0"),
    );
    await kernel.drivers.settled();
    const device = kernel.mint(await kernel.names.lookup("dev/cm0"));
    await fn(kernel, (method, args) => kernel.invoke(device, `ICallMap.${method}`, args));
  } finally {
    await kernel.shutdown();
  }
}

for (const host of ["kernel", "worker"] as const) {
  Deno.test(`maps declared for a call: claimed, skipped, refused, mismatched (${host} host)`, async () => {
    await withCallMap(host, async (kernel, invoke) => {
      const { capability: memory } = kernel.allocate(4096, "region");
      const region = (units: number, at = memory.address) => ({
        memory,
        at,
        units: Array.from({ length: units }, (_, i) => BigInt(i)),
      });
      const mappings = () =>
        kernel.machine.iommu.mappings().filter((m) => m.mapping.address === memory.address);
      const counters = () => kernel.drivers.instance("cm0")!.counters;
      // Claimed: mapped once, writable, until the driver releases it.
      assertEquals(await invoke("claim", [region(4)]), `mapped ${memory.address}`);
      assertEquals(mappings().length, 1);
      await invoke("release", [memory.address]);
      await kernel.drivers.settled();
      await invoke("skip", [region(1)]); // a turn later the release has been handled
      // Skipped, or the method threw: nothing stays mapped.
      assertEquals(await invoke("skip", [region(2)]), "skipped");
      await assertRejects(() => invoke("fail", [region(2)]), RangeError, "refuses every region");
      await invoke("skip", [region(1)]);
      assertEquals(mappings().length, 0);
      // A range past the object, a forged capability: the map is refused, so is the call, the
      // same in both hosts (the driver's own map meets the refusal).
      await assertRejects(() => invoke("claim", [region(17)]), RangeError, "Buffer too small");
      const forged = { ...region(1), memory: { ...memory, password: memory.password ^ 1n } };
      await assertRejects(() => invoke("claim", [forged]), PermissionDeniedError);
      // Mapped otherwise than declared (read-only): the driver's own map, nothing else.
      assertEquals(await invoke("other", [region(1)]), `mapped ${memory.address}`);
      assertEquals(mappings().map((m) => m.mapping.writable), [false]);
      // A declared map would make that mapping writable: the kernel leaves it to the driver.
      assertEquals(await invoke("skip", [region(1)]), "skipped");
      assertEquals(mappings().map((m) => m.mapping.writable), [false]);
      // The worker host's kernel made the declared maps itself: claim, skip x3, fail, other.
      assertEquals(counters().callMaps, host === "worker" ? 6 : 0);
    });
  });
}

Deno.test("the IDE driver's reads and writes travel with their maps made by the kernel (worker host)", async () => {
  const kernel = await boot({
    names: ":memory:",
    machine: { ide: { memory: true, size: 1 << 20 }, usb: false },
    host: "worker",
  });
  try {
    const disk = await BlockClient.open(kernel, kernel.mint(await kernel.names.lookup("dev/ide0")));
    const { capability } = kernel.allocate(4096, "io");
    kernel.memory(capability, "write").bytes.fill(7);
    await disk.transfer("write", 8n, 8, capability);
    kernel.memory(capability, "write").bytes.fill(0);
    for (let i = 0; i < 10; i++) await disk.transfer("read", 8n, 8, capability);
    assertEquals(kernel.memory(capability, "read").bytes, new Uint8Array(4096).fill(7));
    assertEquals(kernel.drivers.instance("ide0")!.counters.callMaps, 11);
    // Every one released after its request (the last release travels behind its completion).
    await disk.transfer("read", 0n, 1, capability);
    const left = kernel.machine.iommu.mappings().filter((m) =>
      m.mapping.address === capability.address
    );
    assertEquals(left.length, 0);
    disk.close();
  } finally {
    await kernel.shutdown();
  }
});
