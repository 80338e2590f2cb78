// The IOMMU (machine/iommu.ts): a device reaches exactly the memory mapped for it, in the mapped
// direction, and nothing past a mapping's edges; the mapping its last access hit (tried first)
// never outlives its unmap.
import { assertEquals, assertThrows } from "@std/assert";
import { DmaFaultError, Iommu } from "../machine/iommu.ts";

const A = 0x0001_0000_0000_0000n;
const B = A + 4096n; // right after A: adjacent, not overlapping

function setup() {
  const iommu = new Iommu();
  const port = iommu.port("dev0");
  const a = new Uint8Array(4096).fill(1), b = new Uint8Array(4096).fill(2);
  iommu.map("dev0", { address: A, length: 4096, bytes: a, writable: true, label: "a" });
  iommu.map("dev0", { address: B, length: 4096, bytes: b, writable: false, label: "b" });
  return { iommu, port, a, b };
}

Deno.test("an access lands inside one mapping, up to its last byte and not past it", () => {
  const { iommu, port, a } = setup();
  port.write(A + 4095n, new Uint8Array([9]));
  assertEquals(a[4095], 9);
  assertEquals(port.read(A + 4094n, 2), new Uint8Array([1, 9]));
  assertEquals(port.view(A, 4096, "read").length, 4096);
  // Straddling two adjacent mappings is outside every mapping.
  assertThrows(() => port.read(A + 4095n, 2), DmaFaultError, "outside its mappings");
  assertThrows(() => port.read(A - 1n, 1), DmaFaultError);
  assertThrows(() => port.read(B + 4096n, 1), DmaFaultError);
  assertEquals(iommu.faults.length, 3);
  assertEquals(iommu.faults[0], {
    device: "dev0",
    address: A + 4095n,
    length: 2,
    direction: "read",
    time: iommu.faults[0]!.time,
  });
});

Deno.test("a read-only mapping refuses the device's writes, however it was hit before", () => {
  const { iommu, port, b } = setup();
  assertEquals(port.read(B + 10n, 1), new Uint8Array([2])); // B is now the last hit
  const seen: bigint[] = [];
  iommu.onFault((f) => seen.push(f.address));
  assertThrows(() => port.write(B + 10n, new Uint8Array([7])), DmaFaultError, "write of 1 bytes");
  assertThrows(() => port.view(B, 16, "write"), DmaFaultError);
  assertEquals(b[10], 2);
  assertEquals(seen, [B + 10n, B]);
});

Deno.test("alternating between mappings finds each, and an unmapped one faults at once", () => {
  const { iommu, port, a, b } = setup();
  for (let i = 0; i < 3; i++) {
    assertEquals(port.read(A + 7n, 1), new Uint8Array([a[7]!]));
    assertEquals(port.read(B + 7n, 1), new Uint8Array([b[7]!]));
  }
  // B was hit last; once unmapped it is not reached, and the address can be mapped again.
  assertEquals(iommu.unmap("dev0", B), true);
  assertThrows(() => port.read(B + 7n, 1), DmaFaultError);
  const c = new Uint8Array(4096).fill(3);
  iommu.map("dev0", { address: B, length: 4096, bytes: c, writable: true, label: "c" });
  assertEquals(port.read(B + 7n, 1), new Uint8Array([3]));
  assertEquals(iommu.unmap("dev0", A), true);
  assertEquals(iommu.unmap("dev0", A), false);
  assertThrows(() => port.read(A, 1), DmaFaultError);
  assertEquals(iommu.mappings("dev0").map((m) => m.mapping.label), ["c"]);
  assertThrows(
    () =>
      iommu.map("dev0", { address: B + 4095n, length: 2, bytes: c, writable: true, label: "d" }),
    RangeError,
    "overlaps mapping of c",
  );
  // Another device's domain sees none of it.
  assertThrows(() => iommu.port("dev1").read(B, 1), DmaFaultError);
});
