import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { parseIdl } from "../idl/mod.ts";
import { DriverFaultError, MethodNotFoundError, PermissionDeniedError } from "../kernel/errors.ts";
import { Kernel } from "../kernel/kernel.ts";

const schema = parseIdl(`
  struct point { i32 x; i32 y; };
  interface IEcho {
    string echo(string text);
    i32 add(i32 a, i32 b);
    u64 big(u64 v);
    i32 norm(point p);
  };
  interface IAdmin { void reset(); i32 add(i32 a, i32 b); };
  interface IUnexported { void hidden(); };
`);

function echoKernel() {
  const kernel = new Kernel();
  const c = kernel.createComponent({
    className: "echo",
    schema,
    provides: ["IEcho", "IAdmin", "IUnexported"],
    label: "echo0",
  });
  let resets = 0;
  c.export("IEcho", {
    echo: (t: string) => t,
    add: (a: number, b: number) => a + b,
    big: (v: bigint) => v + 1n,
    norm: (p: { x: number; y: number }) => Math.abs(p.x) + Math.abs(p.y),
  });
  c.export("IAdmin", { reset: () => void resets++, add: () => -1 });
  const cap = kernel.mint(c.address);
  return { kernel, c, cap, resets: () => resets };
}

Deno.test("invoke runs the exported method with positional or named arguments", async () => {
  const { kernel, cap } = echoKernel();
  assertEquals(await kernel.invoke(cap, "IEcho.echo", ["hi"]), "hi");
  assertEquals(await kernel.invoke(cap, "echo", { text: "named" }), "named");
  assertEquals(await kernel.invoke(cap, "IEcho.big", [41n]), 42n);
  assertEquals(await kernel.invoke(cap, "IEcho.norm", [{ x: -2, y: 3 }]), 5);
  assertEquals(kernel.component(cap.address)!.stats.calls, 4);
});

Deno.test("invoke validates arguments before the target runs", async () => {
  const { kernel, cap, c } = echoKernel();
  await assertRejects(() => kernel.invoke(cap, "IEcho.add", [1]), TypeError, '"b"');
  await assertRejects(() => kernel.invoke(cap, "IEcho.add", [1, 2, 3]), TypeError, "extra");
  await assertRejects(() => kernel.invoke(cap, "IEcho.add", [1, "2"]), TypeError, '"b"');
  await assertRejects(() => kernel.invoke(cap, "IEcho.big", [1]), TypeError, "u64");
  await assertRejects(
    () => kernel.invoke(cap, "IEcho.norm", [{ x: 1 }]),
    TypeError,
    'argument "p" is missing field "y" (i32)',
  );
  await assertRejects(
    () => kernel.invoke(cap, "IEcho.echo", { text: "a", other: 1 }),
    TypeError,
    "other",
  );
  assertEquals(c.stats.calls, 0);
});

Deno.test("a bare method name shared by two interfaces is ambiguous", async () => {
  const { kernel, cap } = echoKernel();
  await assertRejects(
    () => kernel.invoke(cap, "add", [1, 2]),
    MethodNotFoundError,
    "IEcho.add or IAdmin.add",
  );
  assertEquals(await kernel.invoke(cap, "IAdmin.add", [1, 2]), -1);
});

Deno.test("unknown and unexported methods are refused, naming what is provided", async () => {
  const { kernel, cap } = echoKernel();
  await assertRejects(
    () => kernel.invoke(cap, "IEcho.nope"),
    MethodNotFoundError,
    "IEcho (echo, add, big, norm)",
  );
  await assertRejects(() => kernel.invoke(cap, "IUnexported.hidden"), MethodNotFoundError);
  await assertRejects(() => kernel.invoke(cap, "toString"), MethodNotFoundError);
  await assertRejects(() => kernel.invoke(cap, "__proto__"), MethodNotFoundError);
});

Deno.test("forged, revoked and too-narrow capabilities get the same PermissionDeniedError", async () => {
  const { kernel, cap, resets } = echoKernel();
  const narrow = kernel.derive(cap, ["IEcho.echo"]);
  const revoked = kernel.derive(cap, null);
  kernel.revoke(revoked);
  const forged = { address: cap.address, password: cap.password + 1n };
  const messages = new Set<string>();
  for (const bad of [forged, revoked, narrow]) {
    const e = await assertRejects(() => kernel.invoke(bad, "IAdmin.reset"), PermissionDeniedError);
    messages.add(e.message.replace(/on 0x[0-9a-f]+/, ""));
  }
  // A narrow capability also learns nothing about methods that do not exist.
  const e = await assertRejects(
    () => kernel.invoke(narrow, "IAdmin.nothing"),
    PermissionDeniedError,
  );
  assertEquals(e.message.includes("IAdmin.nothing"), true);
  assertEquals([...messages], ["Permission denied: IAdmin.reset "]);
  assertEquals(resets(), 0);
  assertEquals(await kernel.invoke(narrow, "echo", ["ok"]), "ok");
  assertEquals(kernel.events.recent({ kind: "invoke.denied" }).length, 4);
});

Deno.test("derive by interface name grants all of its methods and nothing else", async () => {
  const { kernel, cap } = echoKernel();
  const echoOnly = kernel.derive(cap, ["IEcho"]);
  assertEquals(await kernel.invoke(echoOnly, "IEcho.add", [2, 2]), 4);
  await assertRejects(() => kernel.invoke(echoOnly, "IAdmin.reset"), PermissionDeniedError);
  assertThrows(() => kernel.derive(cap, ["INope"]), TypeError, "Unknown right");
  assertThrows(() => kernel.derive(echoOnly, ["IAdmin"]), PermissionDeniedError);
});

Deno.test("revoking a capability cascades through invocation", async () => {
  const { kernel, cap } = echoKernel();
  const a = kernel.derive(cap, null);
  const b = kernel.derive(a, ["IEcho"]);
  const c = kernel.derive(b, ["IEcho.echo"]);
  assertEquals(kernel.revoke(a), 3);
  for (const x of [a, b, c]) {
    await assertRejects(() => kernel.invoke(x, "IEcho.echo", ["x"]), PermissionDeniedError);
  }
  assertEquals(await kernel.invoke(cap, "IEcho.echo", ["still"]), "still");
});

Deno.test("a component that returns a bad result gets DriverFaultError, the caller a clear error", async () => {
  const kernel = new Kernel();
  const c = kernel.createComponent({ className: "bad", schema, provides: ["IEcho"] });
  c.export("IEcho", { echo: () => 42, add: () => 1.5, big: () => -1n, norm: () => 0 });
  const cap = kernel.mint(c.address);
  await assertRejects(
    () => kernel.invoke(cap, "IEcho.echo", ["x"]),
    DriverFaultError,
    "bad result",
  );
  await assertRejects(() => kernel.invoke(cap, "IEcho.add", [1, 1]), DriverFaultError);
  await assertRejects(() => kernel.invoke(cap, "IEcho.big", [1n]), DriverFaultError);
  assertEquals(c.stats.errors, 3);
});

Deno.test("errors thrown by the target reach the caller unchanged", async () => {
  const kernel = new Kernel();
  const c = kernel.createComponent({ className: "t", schema, provides: ["IEcho"] });
  c.export("IEcho", {
    echo: () => {
      throw new RangeError("boom");
    },
    add: () => Promise.reject(new TypeError("async boom")),
    big: (v: bigint) => v,
    norm: () => 0,
  });
  const cap = kernel.mint(c.address);
  await assertRejects(() => kernel.invoke(cap, "echo", ["x"]), RangeError, "boom");
  await assertRejects(() => kernel.invoke(cap, "add", [1, 2]), TypeError, "async boom");
});

Deno.test("components serve only declared interfaces, with every method implemented", () => {
  const kernel = new Kernel();
  assertThrows(
    () => kernel.createComponent({ className: "x", schema, provides: ["INope"] }),
    TypeError,
    "declares interface INope",
  );
  const c = kernel.createComponent({ className: "x", schema, provides: ["IEcho"] });
  assertThrows(
    () => c.export("IAdmin", { reset: () => {}, add: () => 0 }),
    TypeError,
    "does not declare",
  );
  assertThrows(() => c.export("IEcho", { echo: () => "" }), TypeError, "method add is missing");
});

Deno.test("describe answers interfaces and signatures of any component", () => {
  const { kernel, cap } = echoKernel();
  const d = kernel.describe(cap.address);
  assertEquals(d.className, "echo");
  assertEquals(d.interfaces.map((i) => i.name), ["IEcho", "IAdmin"]);
  assertEquals(d.interfaces[0]!.methods[0], {
    name: "echo",
    signature: "string echo(string text)",
  });
  assertThrows(() => kernel.describe(0x999000n), RangeError, "No component");
});

Deno.test("memory objects: allocate, reach by capability, narrow, free", () => {
  const kernel = new Kernel({ addressSpaceBytes: 1n << 24n });
  const { address, capability } = kernel.allocate(10_000, "buf");
  const m = kernel.memory(capability, "write");
  assertEquals(m.size, 10_000);
  m.bytes[9_999] = 7;
  const ro = kernel.derive(capability, ["read"]);
  assertEquals(kernel.memory(ro, "read").bytes[9_999], 7);
  assertThrows(() => kernel.memory(ro, "write"), PermissionDeniedError);
  assertEquals(kernel.resolveMemory(address + 100n, 10)?.label, "buf");
  assertEquals(kernel.resolveMemory(address + 9_999n, 2), undefined);
  assertThrows(() => kernel.free(ro), PermissionDeniedError);
  kernel.free(capability);
  assertThrows(() => kernel.memory(capability, "read"), PermissionDeniedError);
  assertEquals(kernel.resolveMemory(address, 1), undefined);
});

Deno.test("memory: bad sizes and exhausted space are RangeErrors with the numbers", () => {
  const kernel = new Kernel({ addressSpaceBytes: 1n << 16n });
  for (const bad of [0, -5, 1.5, 2 ** 31]) {
    assertThrows(() => kernel.allocate(bad), RangeError, `${bad} bytes`);
  }
  kernel.allocate(40_000);
  assertThrows(() => kernel.allocate(40_000), RangeError, "address space exhausted");
});

Deno.test("invokeTyped skips the argument check only for the very scalar types the method has", async () => {
  const { kernel, cap } = echoKernel();
  const i32 = { kind: "int", name: "i32" } as const;
  // Arguments a layout decoded as (i32, i32) for a method of (i32, i32): not checked again. (A
  // caller that lies about them hands the method what it gave: the kernel's own code only.)
  assertEquals(await kernel.invokeTyped(cap, "IEcho.add", [2, 3], [i32, i32]), 5);
  await assertRejects(
    () => kernel.invokeTyped(cap, "IEcho.add", ["2", 3], [i32, i32]),
    DriverFaultError,
    'returned a bad result from IEcho.add: IEcho.add: result must be i32 (an integer number in -2147483648..2147483647), got string "23"',
  );
  // Any other claim leaves the check in place.
  for (
    const types of [
      [i32],
      [i32, { kind: "int", name: "u32" } as const],
      [i32, { kind: "string" } as const],
      [i32, { kind: "named", name: "point" } as const],
    ]
  ) {
    await assertRejects(() => kernel.invokeTyped(cap, "IEcho.add", ["2", 3], types), TypeError);
  }
  await assertRejects(
    () =>
      kernel.invokeTyped(cap, "IEcho.norm", [{ x: "a", y: 1 }], [{ kind: "named", name: "point" }]),
    TypeError,
  );
  // The capability and the method are checked as ever.
  await assertRejects(
    () =>
      kernel.invokeTyped({ ...cap, password: cap.password ^ 1n }, "IEcho.add", [1, 2], [i32, i32]),
    PermissionDeniedError,
  );
});
