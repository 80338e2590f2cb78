import { assert, assertEquals, assertMatch, assertStringIncludes, assertThrows } from "@std/assert";
import { fromFileUrl, join } from "@std/path";
import { formatSize, parseSize, unescapeText } from "../plugins/usb_plugin.ts";
import { runScript } from "../shell/script.ts";
import { UsageError } from "../shell/shell.ts";
import { bootShell } from "../shell/testing.ts";
import { waitFor } from "./_wait.ts";

const ROOT = fromFileUrl(new URL("..", import.meta.url));
const SMALL_IDE = { memory: true, size: 1 << 20 } as const;

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mungi-shell-usb-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseSize reads bytes and K, M, G sizes that are whole 512-byte blocks", () => {
  assertEquals(parseSize("16M"), 16 << 20);
  assertEquals(parseSize("512K"), 512 << 10);
  assertEquals(parseSize("1G"), 1 << 30);
  assertEquals(parseSize("16MiB"), 16 << 20);
  assertEquals(parseSize("64k"), 64 << 10);
  assertEquals(parseSize("1048576"), 1 << 20);
  assertThrows(
    () => parseSize("1000"),
    UsageError,
    "not a multiple of 512 (the block size): try 512 or 1024",
  );
  assertThrows(() => parseSize("100"), UsageError, "try 512");
  assertThrows(() => parseSize("0"), UsageError, "must be more than 0");
  assertThrows(() => parseSize("16X"), UsageError, 'with K, M or G (16M, 512K, 1G), got "16X"');
  assertThrows(() => parseSize("-1M"), UsageError, 'got "-1M"');
  assertThrows(() => parseSize("4096G"), UsageError, "at most 2048G");
  assertEquals(formatSize(16 << 20), "16 MiB");
  assertEquals(formatSize(1536), "1536 bytes");
  assertEquals(formatSize(3 << 29), "1536 MiB");
});

Deno.test("unescapeText reads \\n, \\t, \\b, \\e and \\\\, and refuses any other escape", () => {
  assertEquals(unescapeText(String.raw`a\nb\tc\\d\be\e`), "a\nb\tc\\d\be\x1b");
  assertEquals(unescapeText("plain"), "plain");
  assertThrows(() => unescapeText(String.raw`a\q`), UsageError, String.raw`unknown escape \q`);
  assertThrows(() => unescapeText("a\\"), UsageError, "a \\ at the end");
});

Deno.test("plug usb <port> storage --size plugs a disk, names it, and unplug removes it", async () => {
  await using h = await bootShell();
  const r = await h.run("plug usb 2 storage --size 1M");
  assert(r.ok, r.err);
  assertMatch(r.out, /^usb2: storage \(1 MiB, in memory\) is dev\/usb2 at 0x[0-9a-f]{16}$/);
  assertEquals(
    (await h.json("names dev/usb") as { name: string }[]).map((b) => b.name),
    ["dev/usb2"],
  );
  assertEquals(await h.json("call dev/usb2 IBlock.get_block_count"), 2048);
  const u = await h.run("unplug usb 2");
  assert(u.ok, u.err);
  assertEquals(u.out, "usb2: storage unplugged; dev/usb2 is gone");
  assertEquals(await h.kernel.names.tryLookup("dev/usb2"), undefined);
  assert((await h.run("plug usb 2 storage --size 64K")).ok, "the port is free again");
});

Deno.test("plug --size with a data directory makes an image file in <data>/disks; --image serves it again", async () => {
  await withTempDir(async (dir) => {
    await using h = await bootShell({
      boot: { data: dir, names: ":memory:", machine: { ide: SMALL_IDE } },
    });
    const plugged = await h.json("plug usb 1 storage --size 64K") as Record<string, unknown>;
    const image = plugged.image as string;
    assertMatch(image, new RegExp(`^${dir}/disks/usb1-[0-9a-z]+\\.img$`));
    assertEquals(plugged, {
      port: 1,
      model: "storage",
      device: "usb1",
      name: "dev/usb1",
      address: plugged.address,
      image,
    });
    assertMatch(plugged.address as string, /^0x[0-9a-f]{16}$/);
    assertEquals((await Deno.stat(image)).size, 64 * 1024);
    await Deno.writeTextFile(join(dir, "note.txt"), "kept on the stick\n");
    assert((await h.run(`blk write dev/usb1 3 --in ${dir}/note.txt`)).ok);
    assert((await h.run("unplug usb 1")).ok);

    // The image file keeps what was written; plugged again (in another port) it serves it.
    const again = await h.run(`plug usb 4 storage --image ${image}`);
    assertEquals(
      again.out.replace(/0x[0-9a-f]{16}/, "ADDR"),
      `usb4: storage (64 KiB, ${image}) is dev/usb4 at ADDR`,
    );
    const read = await h.json("blk read dev/usb4 3 1") as { bytes: string };
    assertEquals(read.bytes.slice(0, 34), "6b657074206f6e2074686520737469636b");
    const keyboard = await h.json("plug usb 2 keyboard");
    assertEquals(keyboard, {
      port: 2,
      model: "keyboard",
      device: "usb2",
      name: "dev/usb2",
      address: (keyboard as { address: string }).address,
    });
    assertEquals(await h.json("unplug usb 2"), {
      port: 2,
      device: "usb2",
      name: "dev/usb2",
      model: "keyboard",
    });
    assert((await h.run("plug usb 1 storage --size 64K --memory")).ok);
    let files = 0;
    for await (const _ of Deno.readDir(join(dir, "disks"))) files++;
    assertEquals(files, 1, "--memory writes no image file");
  });
});

Deno.test("plug, unplug and type say what was wrong and how to do it right; the shell goes on", async () => {
  await using h = await bootShell();
  assert((await h.run("plug usb 2 keyboard")).ok);
  const cases: [string, string][] = [
    ["unplug usb 7", "unplug usb 7: no port 7; ports are 1-4\n  usage: unplug usb <port> [--json]"],
    ["unplug usb 0", "no port 0; ports are 1-4"],
    ["unplug usb 3", "unplug usb 3: nothing is plugged into port 3; only port 2 has a device"],
    ["unplug usb two", '<port> must be a port number, 1-4, got "two"'],
    ["unplug pci 1", 'unknown bus "pci": the only hot-plug bus is usb (unplug usb <port>)'],
    ["unplug usb", "expected a port: unplug usb <port>"],
    ["unplug", "expected unplug usb <port>"],
    ["unplug usb 2 now", "expected unplug usb <port>, got 3 arguments"],
    ["plug usb 5 keyboard", "plug usb 5 keyboard: no port 5; ports are 1-4"],
    [
      "plug usb 2 storage --size 1M",
      'port 2 is in use by keyboard "Mungi USB Keyboard" (dev/usb2); unplug usb 2 first, or use a free port: 1, 3, 4',
    ],
    ["plug usb 1 printer", 'unknown model "printer"; models are storage, keyboard'],
    ["plug usb 1", "expected a model after the port: storage or keyboard"],
    [
      "plug usb 1 storage",
      "storage needs --image PATH (an existing raw image) or --size SIZE (a new one, e.g. 16M)\n" +
      "  usage: plug usb <port> storage --image PATH [--json]\n" +
      "         plug usb <port> storage --size SIZE [--json]",
    ],
    [
      "plug usb 1 storage --size 1000",
      "--size 1000 is 1000 bytes, not a multiple of 512 (the block size): try 512 or 1024\n" +
      "  usage: plug usb <port> storage --size SIZE [--json]",
    ],
    ["plug usb 1 storage --size 2M --image x.img", "give --image PATH or --size SIZE, not both"],
    ["plug usb 1 storage --size", "--size needs a value: --size SIZE"],
    [
      "plug usb 1 storage --size 2G --memory",
      "--memory keeps the whole disk in memory: at most 1G",
    ],
    [
      "plug usb 1 storage --image /nonexistent/x.img",
      "cannot use image /nonexistent/x.img: no such file or directory",
    ],
    ["plug usb 1 storage --image /", "cannot use image /: it is not a file"],
    [
      "plug usb 1 storage --image ODD",
      "cannot use image ODD: it is 1000 bytes, not whole 512-byte blocks (pad it: truncate -s 1024 ODD)",
    ],
    [
      "plug usb 1 keyboard --size 1M",
      "a keyboard takes no --size: plug usb <port> keyboard [--json]",
    ],
    ["plug usb 1 keyboard extra", "expected plug usb <port> keyboard [--json], got 4 arguments"],
    [
      "plug usb 1 mouse --fast",
      "unknown option --fast; this command takes --image PATH, --size SIZE, --memory",
    ],
    ["type dev/usb2", "expected type <name> <text>, got 1 argument"],
    ["type dev/usb2 ''", "<text> is empty: there is nothing to type"],
    ["type dev/usb2 'a\\q'", "unknown escape \\q in <text>: use \\n (Enter)"],
    ["type dev/usb2 café", 'cannot type "é": a US keyboard has no key for it'],
    [
      "type dev/ide0 hello",
      "dev/ide0 is not a keyboard: it provides IBlock, IIde, not IKeyboard (keyboards: dev/usb2)",
    ],
    ["type dev/usb3 hello", "NameNotFoundError"],
    ["keys dev/usb2", "outside an interactive shell keys needs --for MS"],
    ["keys dev/ide0 --for 10", "dev/ide0 is not a keyboard"],
    ["keys dev/usb2 --for 0", "--for MS must be at least 1"],
  ];
  const odd = await Deno.makeTempFile({ prefix: "mungi-odd-", suffix: ".img" });
  await Deno.writeFile(odd, new Uint8Array(1000));
  try {
    for (const [line, message] of cases) {
      const r = await h.run(line.replace("ODD", odd));
      assertEquals(r.ok, false, line);
      assertStringIncludes(r.err, message.replaceAll("ODD", odd), line);
    }
  } finally {
    await Deno.remove(odd);
  }
  assert((await h.run("unplug usb 2")).ok, "the shell goes on");
  assertStringIncludes(
    (await h.run("unplug usb 2")).err,
    "nothing is plugged into port 2; every port is empty",
  );
});

Deno.test("type reaches a keys client in the background, line by line and in order", async () => {
  await using h = await bootShell();
  assert((await h.run("plug usb 3 keyboard")).ok);
  const started = await h.run("keys dev/usb3 --for 20000 &");
  assertEquals(started.out.split("\n").slice(0, 1), ["[1] keys dev/usb3 --for 20000"]);
  assertMatch(
    started.out,
    /\nlistening to dev\/usb3 for 20000 ms \(IKeyListener at 0x[0-9a-f]{16}\)$/,
  );
  const typed = await h.run('type dev/usb3 "Hello, World!\\n"');
  assert(typed.ok, typed.err);
  assertEquals(typed.out, "dev/usb3: Hello, World!\ntyped 14 characters into dev/usb3");
  // A line without Enter is shown when type returns; words are joined by a space; Backspace
  // takes back a character.
  assertEquals(
    (await h.run(String.raw`type dev/usb3 'ls -lx\b' /dev`)).out,
    "dev/usb3: ls -l /dev\ntyped 12 characters into dev/usb3",
  );
  const json = await h.run("type dev/usb3 ok --json");
  assertEquals(json.out.split("\n")[0], "dev/usb3: ok", "the job's line, then the JSON document");
  assertEquals(JSON.parse(json.out.slice(json.out.indexOf("{"))), {
    name: "dev/usb3",
    device: "usb3",
    text: "ok",
    characters: 2,
    reports: 4,
  });
  // Unplugging the keyboard ends the client.
  assert((await h.run("unplug usb 3")).ok);
  const waited = await h.json("wait") as { id: number; line: string; state: string }[];
  assertEquals(waited.map((j) => [j.id, j.line, j.state]), [[
    1,
    "keys dev/usb3 --for 20000",
    "done",
  ]]);
  const all = h.transcript.join("\n");
  assertMatch(
    all,
    /keys ended after \d+\.\d s: dev\/usb3 was unplugged; 28 characters\n\[1\] done {2}keys/,
  );
  assertEquals(h.kernel.components().filter((c) => c.className === "shell-keys"), []);
});

Deno.test("keys --json prints each key event; keys stops after --for and unsubscribes", async () => {
  await using h = await bootShell({
    boot: { names: ":memory:", host: "kernel", machine: { ide: false } },
  });
  assert((await h.run("plug usb 1 keyboard")).ok);
  assert((await h.run("keys dev/usb1 --for 400 --json &")).ok);
  assert((await h.run("type dev/usb1 A")).ok);
  assert((await h.run("wait")).ok);
  const events = h.transcript.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  assertEquals(events.slice(0, 2), [
    { name: "dev/usb1", usage: 4, down: true, modifiers: 2, text: "A" },
    { name: "dev/usb1", usage: 4, down: false, modifiers: 0, text: "" },
  ]);
  assertEquals(events[2]?.kind, "keys.end");
  assertEquals([events[2]?.characters, events[2]?.why], [1, "stopped"]);
  // Nobody listens now: typing still works, and says nothing of a listener.
  assertEquals((await h.run("type dev/usb1 b")).out, "typed 1 character into dev/usb1");
  assertEquals(h.kernel.components().filter((c) => c.className === "shell-keys"), []);
});

Deno.test("keys in an interactive shell runs until Ctrl-C", async () => {
  await using h = await bootShell({
    interactive: true,
    boot: { names: ":memory:", host: "kernel", machine: { ide: false } },
  });
  assert((await h.run("plug usb 4 keyboard")).ok);
  const running = h.run("keys dev/usb4");
  await waitFor(
    () => h.transcript.some((l) => l.startsWith("listening to dev/usb4")),
    "the listener to start",
  );
  await h.kernel.type("dev/usb4", "hi\n");
  await waitFor(() => h.transcript.includes("dev/usb4: hi"), "the keyboard's line");
  assert(h.shell.interrupt(), "Ctrl-C reaches keys");
  const r = await running;
  assert(r.ok, r.err);
  assertMatch(
    r.out,
    /^listening to dev\/usb4 \(IKeyListener at 0x[0-9a-f]{16}\); Ctrl-C to stop\n/,
  );
  assertMatch(r.out, /\ndev\/usb4: hi\nkeys interrupted after \d+\.\d s: 3 characters$/);
});

Deno.test("Tab completes the bus, free and used ports, models, options, image paths and keyboards", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(join(dir, "stick.img"), new Uint8Array(4096));
    await using h = await bootShell();
    assert((await h.run("plug usb 2 keyboard")).ok);
    assertEquals(await h.shell.complete("pl"), ["plug"]);
    assertEquals(await h.shell.complete("plug "), ["usb"]);
    assertEquals(await h.shell.complete("plug usb "), ["1", "3", "4"]);
    assertEquals(await h.shell.complete("unplug usb "), ["2"]);
    assertEquals(await h.shell.complete("plug usb 1 "), ["keyboard", "storage"]);
    assertEquals(await h.shell.complete("plug usb 1 s"), ["storage"]);
    assertEquals(await h.shell.complete("plug usb 1 storage "), ["--image", "--size"]);
    assertEquals(await h.shell.complete("plug usb 1 storage --i"), ["--image"]);
    assertEquals(await h.shell.complete(`plug usb 1 storage --image ${dir}/st`), [
      `${dir}/stick.img`,
    ]);
    assertEquals(await h.shell.complete("plug usb 1 storage --size 16"), ["16M"]);
    assertEquals(await h.shell.complete("type "), ["dev/usb2"]);
    assertEquals(await h.shell.complete("keys dev/"), ["dev/usb2"]);
    assertEquals(await h.shell.complete("keys dev/usb2 --"), ["--for", "--json"]);
  });
});

Deno.test("devices nests USB devices under the root hub's ports; drivers loads class drivers on plug", async () => {
  await using h = await bootShell({
    boot: { names: ":memory:", host: "kernel", machine: { ide: SMALL_IDE } },
  });
  const before = await h.json("drivers") as { classes: { name: string; loaded: boolean }[] };
  const loaded = (json: typeof before) =>
    json.classes.filter((c) => c.loaded).map((c) => c.name).sort();
  assertEquals(loaded(before), ["ide", "usbcore", "xhci"]);
  assert((await h.run("plug usb 2 storage --size 1M")).ok);
  assert((await h.run("plug usb 4 keyboard")).ok);
  assertEquals(loaded(await h.json("drivers") as typeof before), [
    "ide",
    "usb_keyboard",
    "usb_storage",
    "usbcore",
    "xhci",
  ]);
  const text = (await h.run("devices")).out.replace(/0x[0-9a-f]{16}/g, "ADDR");
  assertStringIncludes(
    text,
    [
      "└─ slot 1  xhci0  1b36:000d  USB controller (class 0c.03.30)  irq 2",
      "   ├─ driver xhci, kernel host, dev/xhci0 at ADDR, running",
      "   └─ root hub  xhci0.root  USB root hub, 4 ports",
      "      ├─ driver usbcore, kernel host, dev/xhci0.root at ADDR, running",
      "      ├─ port 1  empty",
      "      ├─ port 2  usb2  1209:0002  USB mass storage, high speed",
      "      │  └─ driver usb_storage, kernel host, dev/usb2 at ADDR, running",
      "      ├─ port 3  empty",
      "      └─ port 4  usb4  1209:0001  USB HID keyboard, full speed",
      "         └─ driver usb_keyboard, kernel host, dev/usb4 at ADDR, running",
    ].join("\n"),
  );
  type Entry = {
    device: string;
    location: string;
    kind: string;
    driver: { driver: string; name: string; host: string } | null;
    ports?: { port: number; device: Entry | null }[];
    children?: Entry[];
  };
  const json = await h.json("devices") as { buses: { devices: Entry[] }[] };
  const root = json.buses[0]!.devices[1]!.children![0]!;
  assertEquals([root.device, root.location, root.driver?.driver], [
    "xhci0.root",
    "root hub",
    "usbcore",
  ]);
  assertEquals(
    root.ports!.map((p) => [p.port, p.device?.device ?? null, p.device?.driver?.name ?? null]),
    [[1, null, null], [2, "usb2", "dev/usb2"], [3, null, null], [4, "usb4", "dev/usb4"]],
  );
  assertEquals(root.ports![1]!.device!.location, "port 2");
  assertEquals(root.ports![1]!.device!.driver!.host, "kernel");
  assertEquals(root.children, undefined, "port devices are not listed twice");
});

Deno.test("on a machine without USB, plug says so and devices shows no controller", async () => {
  await using h = await bootShell({
    boot: { names: ":memory:", machine: { ide: SMALL_IDE, usb: false } },
  });
  const r = await h.run("plug usb 1 keyboard");
  assertStringIncludes(r.err, "plug usb 1 keyboard: this machine has no USB host controller");
  assertStringIncludes(
    (await h.run("unplug usb 1")).err,
    "this machine has no USB host controller",
  );
  assertStringIncludes((await h.run("devices")).out, "pci: 1 device in 32 slots");
  assertEquals(await h.shell.complete("plug usb "), []);
});

Deno.test("the hot-plug example script runs to the end", async () => {
  await withTempDir(async (dir) => {
    await using h = await bootShell({
      boot: { data: dir, names: ":memory:", machine: { ide: SMALL_IDE } },
    });
    const source = (await Deno.readTextFile(join(ROOT, "examples", "hotplug.mungi")))
      .replaceAll("examples/", join(ROOT, "examples") + "/");
    const status = await runScript(h.shell, source, { file: "hotplug.mungi" });
    const all = h.transcript.join("\n");
    assertEquals(status, 0, all);
    assertMatch(
      all,
      new RegExp(`usb1: storage \\(16 MiB, ${dir}/disks/usb1-[0-9a-z]+\\.img\\) is dev/usb1`),
    );
    assertStringIncludes(all, "|Hello from the m|");
    assertStringIncludes(all, "dev/usb2: Hello from a USB keyboard!\n");
    assertStringIncludes(all, "dev/usb2: ls -l /dev\n");
    assertStringIncludes(all, "keys ended after");
    assertStringIncludes(all, "usb1: storage unplugged; dev/usb1 is gone");
    assertEquals(
      (await h.kernel.names.list("dev/")).map((b) => b.name),
      ["dev/ide0", "dev/xhci0", "dev/xhci0.root"],
    );
  });
});
