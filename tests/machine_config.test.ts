import { assertEquals, assertThrows } from "@std/assert";
import { boot } from "../kernel/boot.ts";
import { parseMachineDescription } from "../kernel/machine_config.ts";
import { runShellCli } from "../shell/cli.ts";

Deno.test("a machine description sets the hardware and the hosts", () => {
  const d = parseMachineDescription(
    '{ "ide": { "image": "disk.img", "size": 1048576 }, "usb": false, "host": "kernel", "hostFor": { "usb1": "worker" } }',
    "/tmp/m/machine.json",
  );
  assertEquals(d, {
    machine: { ide: { image: "/tmp/m/disk.img", size: 1048576 }, usb: false },
    host: "kernel",
    hostFor: { usb1: "worker" },
  });
  assertEquals(parseMachineDescription("{}", "m.json"), { machine: {} });
  assertEquals(parseMachineDescription('{ "ide": false }', "m.json").machine, { ide: false });
  assertEquals(
    parseMachineDescription('{ "ide": { "cache": true } }', "m.json").machine,
    { ide: { cache: true } },
  );
});

Deno.test("a bad machine description names the file and the field", () => {
  const cases: [string, string][] = [
    ["{", "m.json: not JSON"],
    ["[]", "m.json: expected a JSON object"],
    ['{ "disk": 1 }', 'm.json: unknown field "disk"; the fields are ide, usb, host, hostFor'],
    ['{ "ide": 3 }', 'm.json: "ide" must be false or an object'],
    [
      '{ "ide": { "size": 1000 } }',
      'm.json: "ide.size" must be a positive whole number of bytes, a multiple of 512',
    ],
    ['{ "ide": { "speed": 1 } }', 'm.json: unknown field "ide.speed"'],
    ['{ "ide": { "cache": "yes" } }', 'm.json: "ide.cache" must be true or false'],
    ['{ "usb": "yes" }', 'm.json: "usb" must be true or false'],
    ['{ "host": "process" }', 'm.json: "host" must be "kernel" or "worker"'],
    ['{ "hostFor": { "ide0": "gpu" } }', 'm.json: "hostFor.ide0" must be "kernel" or "worker"'],
  ];
  for (const [text, message] of cases) {
    assertThrows(() => parseMachineDescription(text, "m.json"), TypeError, message);
  }
});

Deno.test("boot takes a machine description: no disk, USB, drivers in the kernel host", async () => {
  const d = parseMachineDescription('{ "ide": false, "usb": true, "host": "kernel" }', "m.json");
  const kernel = await boot({ names: ":memory:", ...d });
  try {
    assertEquals(kernel.drivers.instances().map((i) => [i.device, i.host]), [
      ["xhci0", "kernel"],
      ["xhci0.root", "kernel"],
    ]);
  } finally {
    await kernel.shutdown();
  }
});

Deno.test("mungi shell --machine FILE boots that machine, and refuses a bad one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi-machine-" });
  const error = console.error;
  const log = console.log;
  const err: string[] = [];
  const out: string[] = [];
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  try {
    await Deno.writeTextFile(`${dir}/good.json`, '{ "ide": false, "usb": false }');
    await Deno.writeTextFile(`${dir}/bad.json`, '{ "ide": { "size": 7 } }');
    await Deno.writeTextFile(`${dir}/script.mungi`, "devices\n");
    const good = await runShellCli([
      "--data",
      dir,
      "--machine",
      `${dir}/good.json`,
      "--script",
      `${dir}/script.mungi`,
    ]);
    assertEquals(good, 0);
    assertEquals(out.some((l) => l.includes("ide0")), false);
    const bad = await runShellCli([
      "--data",
      dir,
      "--machine",
      `${dir}/bad.json`,
      "--script",
      `${dir}/script.mungi`,
    ]);
    assertEquals(bad, 1);
    assertEquals(
      err.at(-1),
      `shell: --machine: ${dir}/bad.json: "ide.size" must be a positive whole number of bytes, a multiple of 512`,
    );
  } finally {
    console.error = error;
    console.log = log;
    await Deno.remove(dir, { recursive: true });
  }
});
