import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { join } from "@std/path";
import { DmaFaultError } from "../machine/iommu.ts";
import { bootShell } from "../shell/testing.ts";
import { waitFor } from "./_wait.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mungi-shell-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("help lists every command, shows one, and says when there is no such command", async () => {
  await using h = await bootShell();
  const list = await h.json("help") as { name: string; plugin: string }[];
  for (
    const c of [
      "help",
      "exit",
      "devices",
      "drivers",
      "blk",
      "caps",
      "irq",
      "iommu",
      "monitor",
      "names",
      "plug",
      "unplug",
      "type",
      "keys",
      "jobs",
      "wait",
    ]
  ) assert(list.some((x) => x.name === c), c);
  assertEquals(list.find((x) => x.name === "blk")?.plugin, "blk");
  assertEquals(list.find((x) => x.name === "plug")?.plugin, "usb");
  const one = await h.json("help caps") as { usage: string[]; example: string };
  assertEquals(one.usage, [
    "caps [--json]",
    "caps derive <name|address|capability> <right...>",
    "caps revoke <capability>",
  ]);
  const r = await h.run("help nothing");
  assertStringIncludes(r.err, 'help nothing: no command "nothing"; type "help" for the list');
});

Deno.test("exit asks the shell to stop and takes no arguments", async () => {
  await using h = await bootShell();
  assertEquals((await h.run("exit now")).ok, false);
  assertEquals(h.shell.exitRequested, false);
  assert((await h.run("exit")).ok);
  assertEquals(h.shell.exitRequested, true);
});

Deno.test("names, lookup, bind and unbind, with their errors", async () => {
  await using h = await bootShell();
  assertEquals(
    (await h.json("names dev/") as { name: string }[]).map((b) => b.name),
    ["dev/ide0", "dev/xhci0", "dev/xhci0.root"],
  );
  assertEquals((await h.run("bind home/disk 0x2000")).out, "home/disk -> 0x0000000000002000");
  const again = await h.run("bind home/disk 0x3000");
  assertStringIncludes(again.err, "NameExistsError");
  assert((await h.run("bind home/disk 0x3000 --replace")).ok);
  assertEquals(await h.json("lookup home/disk"), {
    name: "home/disk",
    address: "0x0000000000003000",
  });
  assertStringIncludes((await h.run("bind home/x zz")).err, 'Cannot parse address "zz"');
  assertStringIncludes((await h.run("bind home/x 0x1 --force")).err, "unknown option --force");
  assertEquals((await h.run("unbind home/disk")).out, "home/disk unbound (was 0x0000000000003000)");
  assertStringIncludes((await h.run("unbind home/disk")).err, "NameNotFoundError");
  assertEquals((await h.run("names home/")).out, 'no names start with "home/"');
});

Deno.test("ifaces and call introspect and invoke, parsing arguments by IDL type", async () => {
  await using h = await bootShell();
  const d = await h.json("ifaces dev/ide0") as { host: string; interfaces: { name: string }[] };
  assertEquals(d.interfaces.map((i) => i.name), ["IBlock", "IIde"]);
  assertEquals(d.host, "worker");
  assertEquals((await h.run("call dev/ide0 IBlock.get_block_size")).out, "512");
  assertEquals(await h.json("call dev/ide0 get_block_count"), 2048);
  const wrong = await h.run("call dev/ide0 IBlock.get_block_size 1");
  assertStringIncludes(wrong.err, "IBlock.get_block_size takes 0 arguments");
  const none = await h.run("call dev/ide0 IBlock.erase");
  assertStringIncludes(none.err, "MethodNotFoundError");
  assertStringIncludes(none.err, 'hint: type "ifaces <name>"');
});

for (const host of ["worker", "kernel"] as const) {
  Deno.test(`devices shows the PCI slots, the devices and their drivers in the ${host} host`, async () => {
    await using h = await bootShell({
      boot: { names: ":memory:", host, machine: { ide: { memory: true, size: 1 << 20 } } },
    });
    const r = await h.run("devices");
    assertStringIncludes(r.out, "pci: 2 devices in 32 slots");
    assertMatch(
      r.out,
      /├─ slot 0 {2}ide0 {2}8086:7010 {2}IDE controller \(class 01\.01\.80\) {2}irq 1/,
    );
    assertMatch(
      r.out,
      new RegExp(`│  └─ driver ide, ${host} host, dev/ide0 at 0x[0-9a-f]{16}, running`),
    );
    assertMatch(
      r.out,
      /└─ slot 1 {2}xhci0 {2}1b36:000d {2}USB controller \(class 0c\.03\.30\) {2}irq 2/,
    );
    const json = await h.json("devices") as {
      buses: {
        bus: string;
        devices: {
          device: string;
          driver: { host: string; name: string; address: string };
          children?: { device: string; ports: unknown[] }[];
        }[];
      }[];
    };
    assertEquals(json.buses[0]?.bus, "pci");
    assertEquals(json.buses[0]?.devices.map((d) => d.device), ["ide0", "xhci0"]);
    assertEquals(json.buses[0]?.devices[0]?.driver, {
      driver: "ide",
      name: "dev/ide0",
      address: json.buses[0]!.devices[0]!.driver.address,
      host,
      state: "running",
    } as unknown);
    const root = json.buses[0]?.devices[1]?.children?.[0];
    assertEquals(root?.device, "xhci0.root");
    assertEquals(root?.ports, [1, 2, 3, 4].map((port) => ({ port, device: null })));
    assertStringIncludes((await h.run("devices all")).err, "expected devices, got 1 argument");
  });
}

Deno.test("drivers lists classes (loaded or not) and instances with their counters", async () => {
  await using h = await bootShell();
  assert((await h.run("blk read dev/ide0 0 4")).ok);
  const r = await h.run("drivers");
  assertStringIncludes(r.out, "driver classes");
  assertMatch(r.out, /\nide +yes +IBlock, IIde +pci classCode=01 subclass=01/);
  assertMatch(r.out, /\nide0 +ide +dev\/ide0 +0x[0-9a-f]{16} +worker +running +\d+ +\d+ +0 +0/);
  const json = await h.json("drivers") as {
    classes: { name: string; loaded: boolean }[];
    instances: { device: string; calls: number; interrupts: number; denied: number }[];
  };
  assertEquals(json.classes.find((c) => c.name === "ide")?.loaded, true);
  assert(json.classes.some((c) => !c.loaded), "a class with no device stays unloaded");
  const ide = json.instances.find((i) => i.device === "ide0")!;
  assert(ide.calls >= 3, `calls ${ide.calls}`); // geometry twice and the read
  assert(ide.interrupts >= 1, `interrupts ${ide.interrupts}`);
  assertEquals(ide.denied, 0);
});

Deno.test("blk write then blk read round trip, padding a partial block with zeros", async () => {
  await withTempDir(async (dir) => {
    await using h = await bootShell();
    const text = "hello, mungi\n";
    await Deno.writeTextFile(join(dir, "in.txt"), text);
    const w = await h.run(`blk write dev/ide0 8 --in ${dir}/in.txt`);
    assert(w.ok, w.err);
    assertEquals(
      w.out,
      `note: ${dir}/in.txt is 13 bytes, not whole 512-byte blocks: padded with 499 zero bytes\n` +
        `wrote 1 block (512 bytes) to dev/ide0 at lba 8 from ${dir}/in.txt`,
    );
    const r = await h.run("blk read dev/ide0 8 2");
    assertEquals(
      r.out,
      [
        "00001000  68 65 6c 6c 6f 2c 20 6d  75 6e 67 69 0a 00 00 00  |hello, mungi....|",
        "00001010  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|",
        "*",
        "00001400",
      ].join("\n"),
    );
    const out = await h.run(`blk read dev/ide0 8 1 --out ${dir}/block.bin`);
    assertEquals(out.out, `read 1 block (512 bytes) from dev/ide0 at lba 8 into ${dir}/block.bin`);
    const bytes = await Deno.readFile(join(dir, "block.bin"));
    assertEquals(new TextDecoder().decode(bytes.subarray(0, 13)), text);
    assertEquals(bytes.length, 512);
    const copy = await h.json(`blk write dev/ide0 0x10 --in ${dir}/block.bin`);
    assertEquals(copy, {
      device: "dev/ide0",
      lba: "0x0000000000000010",
      count: 1,
      blockSize: 512,
      file: `${dir}/block.bin`,
      fileBytes: 512,
      padding: 0,
    });
    const read = await h.json("blk read dev/ide0 16 1") as { bytes: string; count: number };
    assertEquals(read.bytes.slice(0, 26), "68656c6c6f2c206d756e67690a");
    assertEquals(read.bytes.length, 1024);
  });
});

Deno.test("blk says what was wrong and how to do it right", async () => {
  await withTempDir(async (dir) => {
    await using h = await bootShell();
    await Deno.writeFile(join(dir, "empty"), new Uint8Array());
    const cases: [string, string][] = [
      [
        "blk read dev/ide0 x 1",
        'blk read dev/ide0 x 1: <lba> must be a whole number (decimal, or hex as 0x...), got "x"\n' +
        "  usage: blk read <name> <lba> <count> [--out FILE] [--json]",
      ],
      ["blk read dev/ide0 0 0", "<count> must be at least 1, got 0"],
      ["blk read dev/ide0 0 70000", "<count> must be at most 65536, got 70000"],
      [
        "blk read dev/ide0 2047 2",
        "2 blocks at <lba> 2047 run past the end of dev/ide0: it has 2048 blocks of 512 bytes (lba 0 to 2047)",
      ],
      ["blk read dev/ide0 0", "expected blk read <name> <lba> <count>, got 2 arguments"],
      [
        "blk read svc/naming 0 1",
        "svc/naming is not a block device: it provides INaming, not IBlock",
      ],
      ["blk read dev/none 0 1", "NameNotFoundError"],
      ["blk read dev/ide0 0 1 --out", "--out needs a value: --out FILE"],
      ["blk read dev/ide0 0 1 --in x", "unknown option --in; this command takes --out FILE"],
      [
        "blk write dev/ide0 0",
        "blk write needs --in FILE: the bytes to write\n  usage: blk write <name> <lba> --in FILE [--json]",
      ],
      [
        `blk write dev/ide0 0 --in ${dir}/empty`,
        `${dir}/empty is empty: there is nothing to write`,
      ],
      [
        `blk write dev/ide0 0 --in ${dir}/missing`,
        `cannot read ${dir}/missing: no such file or directory`,
      ],
      ["blk format dev/ide0", 'unknown subcommand "format": expected read or write'],
      ["blk", "expected read or write"],
    ];
    for (const [line, message] of cases) {
      const r = await h.run(line);
      assertEquals(r.ok, false, line);
      assertStringIncludes(r.err, message, line);
    }
    assert((await h.run("blk read dev/ide0 2047 1")).ok, "the shell goes on");
  });
});

Deno.test("caps lists, derives and revokes the session's capabilities", async () => {
  await using h = await bootShell();
  assertStringIncludes((await h.run("caps")).out, "this session holds no capabilities yet");
  const d = await h.run("caps derive dev/ide0 IBlock.read get_block_size");
  assert(d.ok, d.err);
  const [capText, note] = d.out.split("\n");
  assertMatch(capText!, /^0x0000000000002000:0x[0-9a-f]{16}$/);
  assertEquals(note, "  %2: IBlock.read, IBlock.get_block_size on dev/ide0, derived from %1");
  const list = await h.json("caps") as {
    ref: string;
    capability: string;
    rights: string[] | null;
    parent: string | null;
  }[];
  assertEquals(list.map((c) => [c.ref, c.rights, c.parent]), [
    ["%1", null, null],
    ["%2", ["IBlock.read", "IBlock.get_block_size"], "%1"],
  ]);
  assertEquals(list[1]?.capability, capText);

  // The narrow capability works for what it grants, and only that.
  assertEquals((await h.run(`call ${capText} IBlock.get_block_size`)).out, "512");
  const denied = await h.run("call %2 IBlock.get_block_count");
  assertStringIncludes(denied.err, "PermissionDeniedError: Permission denied");
  assertStringIncludes(denied.err, 'hint: type "caps"');

  // Narrowing further, then revoking the middle one takes its child too.
  const child = await h.json("caps derive %2 IBlock.read") as { ref: string; parent: string };
  assertEquals([child.ref, child.parent], ["%3", "%2"]);
  assertEquals((await h.run("caps revoke %2")).out, "revoked 2 capabilities: %2, %3");
  assertEquals((await h.json("caps") as { ref: string }[]).map((c) => c.ref), ["%1"]);
  const gone = await h.run(`caps revoke ${capText}`);
  assertStringIncludes(
    gone.err,
    "is not a valid capability: never issued, forged, or already revoked",
  );
  assertStringIncludes((await h.run(`call ${capText} IBlock.read`)).err, "PermissionDeniedError");
});

Deno.test("caps refuses bad rights, references and forms with a clear message", async () => {
  await using h = await bootShell();
  const cases: [string, string][] = [
    ["caps derive dev/ide0", "a target and at least one right"],
    ["caps derive dev/ide0 IBlock.erase", 'Unknown right "IBlock.erase" for ide0'],
    ["caps derive dev/ide0 INaming", 'Unknown right "INaming" for ide0'],
    ["caps revoke %9", "%9 is not a capability this session holds"],
    [
      "caps revoke dev/ide0",
      'expected a capability 0x<address>:0x<password> or a session reference %N, got "dev/ide0"',
    ],
    ["caps revoke 0x2000:zz", "Cannot parse capability"],
    ["caps revoke 0x2000:0x1234", "is not a valid capability"],
    ["caps list", 'unknown subcommand "list"'],
  ];
  for (const [line, message] of cases) {
    const r = await h.run(line);
    assertEquals(r.ok, false, line);
    assertStringIncludes(r.err, message, line);
  }
});

Deno.test("irq counts raised and delivered interrupts, and what the rate limit held back", async () => {
  await using h = await bootShell({
    boot: {
      names: ":memory:",
      machine: { ide: { memory: true, size: 1 << 20 } },
      irqRate: { perSecond: 20, burst: 1 },
    },
  });
  for (let i = 0; i < 3; i++) assert((await h.run(`blk read dev/ide0 ${i} 1`)).ok);
  const lines = await h.json("irq") as {
    line: number;
    device: string;
    owner: string;
    raised: number;
    delivered: number;
    rateLimited: number;
  }[];
  const ide = lines.find((l) => l.device === "ide0")!;
  assertEquals(ide.owner, "ide0");
  assert(ide.raised >= 3 && ide.delivered === ide.raised, JSON.stringify(ide));
  assert(ide.rateLimited >= 1, `the limit held some back: ${JSON.stringify(ide)}`);
  const text = (await h.run("irq")).out;
  assertMatch(text, /^line +device +owner +raised +delivered +coalesced +rate-limited/);
  assertMatch(text, new RegExp(`\\n${ide.line} +ide0 +ide0 +${ide.raised} +${ide.delivered} `));
  assertStringIncludes((await h.run("irq 1")).err, "expected irq, got 1 argument");
});

Deno.test("iommu lists each device's mappings and the DMA faults recorded", async () => {
  await using h = await bootShell();
  const before = await h.json("iommu") as {
    devices: { device: string; mappings: { writable: boolean; label: string }[] }[];
    faults: unknown[];
  };
  assertEquals(before.devices.map((d) => d.device), ["ide0", "xhci0"]);
  assert(before.devices[0]!.mappings.some((m) => m.label === "ide0-dma" && m.writable));
  assertEquals(before.faults, []);
  assertStringIncludes((await h.run("iommu")).out, "no DMA faults recorded");
  // A device reaching outside its domain: the access fails, is recorded, harms nothing.
  try {
    h.kernel.machine.iommu.port("ide0").read(0xdead_0000n, 16);
    throw new Error("the IOMMU let a stray DMA through");
  } catch (error) {
    assert(error instanceof DmaFaultError);
  }
  const after = await h.json("iommu") as { faults: { device: string; direction: string }[] };
  assertEquals(after.faults.map((f) => [f.device, f.direction]), [["ide0", "read"]]);
  const text = (await h.run("iommu")).out;
  assertStringIncludes(text, "faults (1)");
  assertMatch(text, /ide0 +read +0x00000000dead0000 +16/);
  assert((await h.run("blk read dev/ide0 0 1")).ok, "the disk still works");
});

Deno.test("monitor streams binds, faults and a per-second interrupt summary for --for MS", async () => {
  await using h = await bootShell();
  const running = h.run("monitor --for 1300");
  // It subscribes as it prints its first line.
  await waitFor(
    () => h.transcript.includes("monitoring kernel events for 1300 ms"),
    "the monitor to start",
  );
  await h.kernel.names.bind("home/watched", 0x2000n);
  await h.kernel.names.unbind("home/watched");
  try {
    h.kernel.machine.iommu.port("ide0").write(0xbad_0000n, new Uint8Array(8));
  } catch {
    // recorded as a fault
  }
  // Interrupts from block I/O while the monitor runs (through the kernel, not the shell).
  const { BlockClient } = await import("../clients/block_client.ts");
  const disk = await BlockClient.open(
    h.kernel,
    h.kernel.mint(await h.kernel.names.lookup("dev/ide0")),
  );
  for (let i = 0; i < 5; i++) await disk.read(BigInt(i), 1);
  disk.close();
  const r = await running;
  assert(r.ok, r.err);
  const lines = r.out.split("\n");
  assertEquals(lines[0], "monitoring kernel events for 1300 ms");
  assertMatch(
    r.out,
    /\d\d:\d\d:\d\d\.\d{3} {2}name\.bind +home\/watched: home\/watched -> 0x0000000000002000/,
  );
  assertMatch(r.out, /name\.unbind +home\/watched: home\/watched unbound/);
  assertMatch(r.out, /iommu\.fault +ide0: DMA fault: ide0 write of 8 bytes/);
  // Summarised per line once a second (twice at most in 1.3 s), not one line per interrupt.
  const irq = lines.filter((l) => / irq +ide0: line \d+: /.test(l));
  assert(irq.length >= 1 && irq.length <= 2, `summaries:\n${r.out}`);
  for (const l of irq) {
    assertMatch(l, /: \d+ raised, \d+ delivered, \d+ coalesced, \d+ rate-limited in \d\.\d s$/);
  }
  const raised = irq.map((l) => Number(/: (\d+) raised/.exec(l)![1])).reduce((a, b) => a + b);
  assertEquals(raised, 5);
  assertMatch(lines[lines.length - 1]!, /^monitor stopped after 1\.\d s: \d+ events$/);
});

Deno.test("monitor --json prints one JSON object per line", async () => {
  await using h = await bootShell();
  const running = h.run("monitor --for 200 --json");
  await new Promise((r) => setTimeout(r, 20));
  await h.kernel.names.bind("home/j", 0x2000n);
  const r = await running;
  const events = r.out.split("\n").map((l) => JSON.parse(l));
  assertEquals(events[0].kind, "name.bind");
  assertEquals(events[0].source, "home/j");
  assertEquals(events[events.length - 1].kind, "monitor.end");
});

Deno.test("monitor needs --for outside a terminal, and stops on Ctrl-C in one", async () => {
  await using h = await bootShell();
  const r = await h.run("monitor");
  assertStringIncludes(r.err, "outside an interactive shell monitor needs --for MS");
  assertStringIncludes((await h.run("monitor --for soon")).err, "--for MS must be a whole number");
  assertStringIncludes((await h.run("monitor --for 0")).err, "--for MS must be at least 1");

  await using live = await bootShell({ interactive: true });
  const running = live.run("monitor");
  await waitFor(
    () => live.transcript.includes("monitoring kernel events; Ctrl-C to stop"),
    "the monitor to start",
  );
  assert(live.shell.busy);
  assert(live.shell.interrupt(), "Ctrl-C reaches the running command");
  const stopped = await running;
  assert(stopped.ok);
  assertMatch(stopped.out, /monitor interrupted after 0\.\d s: 0 events$/);
  assertEquals(live.shell.interrupt(), false, "nothing runs now");
  assert((await live.run("names")).ok, "the shell goes on");
});
