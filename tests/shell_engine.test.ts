import { assert, assertEquals, assertMatch, assertStringIncludes, assertThrows } from "@std/assert";
import { join } from "@std/path";
import { corePlugin } from "../plugins/core_plugin.ts";
import { completePath } from "../shell/complete_path.ts";
import { hexdump } from "../shell/hexdump.ts";
import { createShell, type ShellPlugin, splitWords, table, UsageError } from "../shell/shell.ts";
import { bootShell } from "../shell/testing.ts";
import { waitFor } from "./_wait.ts";

const noMachine = { boot: { names: ":memory:", machine: "none" as const } };

Deno.test("splitWords groups quotes, escapes and stops at a comment", () => {
  assertEquals(splitWords(`call dev/ide0 "a b" 'c d' e\\ f # note`), [
    "call",
    "dev/ide0",
    "a b",
    "c d",
    "e f",
  ]);
  assertThrows(() => splitWords(`call "open`), UsageError, "unterminated");
});

Deno.test("splitWords keeps a backslash in double quotes unless it escapes a quote or a backslash", () => {
  assertEquals(splitWords(String.raw`type dev/usb1 "hi\n" 'a\b' c\d "q\"x\\"`), [
    "type",
    "dev/usb1",
    String.raw`hi\n`,
    String.raw`a\b`,
    "cd",
    'q"x\\',
  ]);
});

Deno.test("a line ending in & runs in the background; jobs lists it and wait waits for it", async () => {
  await using h = await bootShell(noMachine);
  const started = await h.run("monitor --for 300 &");
  assert(started.ok);
  assertEquals(started.out.split("\n")[0], "[1] monitor --for 300");
  assertEquals(h.shell.jobs().map((j) => [j.id, j.state]), [[1, "running"]]);
  // The shell takes the next line while the job runs; the job sees what it does.
  assert((await h.run("bind home/bg 0x2000")).ok);
  const jobs = await h.json("jobs") as { id: number; line: string; state: string }[];
  assertEquals(jobs.map((j) => [j.id, j.line, j.state]), [[1, "monitor --for 300", "running"]]);
  const waited = await h.run("wait");
  assert(waited.ok, waited.err);
  assertStringIncludes(waited.out, "1 background job ended: [1]");
  const all = h.transcript.join("\n");
  assertMatch(all, /name\.bind +home\/bg: home\/bg -> 0x0000000000002000/);
  assertMatch(all, /monitor stopped after 0\.\d s: 1 event\n\[1\] done {2}monitor --for 300/);
  assertEquals(h.shell.jobs(), [], "wait forgets the jobs it reported");
  assertEquals((await h.run("wait")).out, "no background jobs");
  assertEquals((await h.run("jobs")).out, "no background jobs");
});

Deno.test("a failed background job is reported when it ends, and wait fails for it", async () => {
  await using h = await bootShell(noMachine);
  assert((await h.run("monitor --for soon &")).ok, "& returns at once");
  const waited = await h.run("wait");
  assertEquals(waited.ok, false);
  assertStringIncludes(waited.err, "wait: 1 background job failed: [1] monitor --for soon");
  const all = h.transcript.join("\n");
  assertStringIncludes(all, "monitor --for soon: --for MS must be a whole number");
  assertStringIncludes(all, "[1] failed  monitor --for soon");
  assertStringIncludes((await h.run("&")).err, "&: a command must come before &");
  // A quoted & is an argument, not a background job.
  const quoted = await h.run(`lookup "&"`);
  assertStringIncludes(quoted.err, "lookup &: NameNotFoundError");
  assertEquals(h.shell.jobs(), []);
});

Deno.test("closing the shell stops its background jobs; Ctrl-C during wait stops them too", async () => {
  await using h = await bootShell({ ...noMachine, interactive: true });
  assert((await h.run("monitor &")).ok);
  const waiting = h.run("wait");
  await waitFor(() => h.shell.busy, "wait to run");
  assert(h.shell.interrupt(), "Ctrl-C reaches wait");
  assert((await waiting).ok);
  assertStringIncludes(h.transcript.join("\n"), "monitor interrupted after");
  assert((await h.run("monitor &")).ok);
  await h.shell.close();
  assertMatch(h.transcript.join("\n"), /\[2\] done {2}monitor$/);
  assertEquals(h.shell.jobs(), []);
});

Deno.test("table pads columns and paints only the header", () => {
  const t = table(["a", "bb"], [["xxx", "y"]], { header: (s) => `<${s}>` });
  assertEquals(t, "<a    bb>\nxxx  y");
});

Deno.test("hexdump matches hexdump -C, with * for repeated lines and the end offset", () => {
  const bytes = new Uint8Array(64);
  bytes.set(new TextEncoder().encode("mungi\n"));
  assertEquals(
    hexdump(bytes),
    [
      "00000000  6d 75 6e 67 69 0a 00 00  00 00 00 00 00 00 00 00  |mungi...........|",
      "00000010  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|",
      "*",
      "00000040",
    ].join("\n"),
  );
  assertEquals(
    hexdump(Uint8Array.of(0x41, 0x7f, 0x20), { offset: 0x1000 }),
    "00001000  41 7f 20                                          |A. |\n00001003",
  );
});

Deno.test("a plugin command without details or an example is refused, naming the plugin", async () => {
  await using h = await bootShell(noMachine);
  const bad: ShellPlugin = {
    name: "broken",
    commands: [{
      name: "nothing",
      summary: "does nothing",
      usage: "nothing",
      details: [],
      example: "",
      run: () => {},
    }],
  };
  assertThrows(
    () => createShell({ kernel: h.kernel, plugins: [bad] }),
    TypeError,
    'Plugin broken: command "nothing" lacks details, example',
  );
  const again: ShellPlugin = { name: "again", commands: corePlugin().commands };
  assertThrows(
    () => createShell({ kernel: h.kernel, plugins: [corePlugin(), again] }),
    TypeError,
    'Plugin again: command "help" is already registered by plugin core',
  );
});

Deno.test("every command has a summary, usage, details and an example that help shows", async () => {
  await using h = await bootShell();
  for (const [name, c] of h.shell.commands) {
    assert(c.summary && c.usage && c.details.length && c.example, name);
    assert(c.example.startsWith(name), `the example of ${name} uses it: ${c.example}`);
    const r = await h.run(`help ${name}`);
    assert(r.ok, r.err);
    assertStringIncludes(r.out, `usage: ${c.usage.split("\n")[0]}`);
    assertStringIncludes(r.out, `example: ${c.example}`);
    for (const d of c.details) assertStringIncludes(r.out, d);
  }
});

Deno.test("an unknown command suggests near ones and the shell goes on", async () => {
  await using h = await bootShell(noMachine);
  const r = await h.run("nams");
  assertEquals(r.ok, false);
  assertEquals(r.err, 'nams: unknown command; did you mean names? (type "help" for the list)');
  assert((await h.run("names")).ok);
});

Deno.test("errors start with the command as typed; usage errors show the usage", async () => {
  await using h = await bootShell(noMachine);
  const r = await h.run("lookup a b");
  assertEquals(
    r.err,
    "lookup a b: expected lookup <name>, got 2 arguments\n  usage: lookup <name> [--json]",
  );
  const missing = await h.run("lookup dev/nothing");
  assertMatch(missing.err, /^lookup dev\/nothing: NameNotFoundError: .*dev\/nothing/);
  assertStringIncludes(missing.err, 'hint: type "names" for the bound names');
  const quote = await h.run('lookup "open');
  assertEquals(quote.err, 'lookup "open: unterminated " quote');
});

Deno.test("--json prints one JSON document; a void command prints nothing", async () => {
  await using h = await bootShell(noMachine);
  const r = await h.run("names --json");
  assertEquals(JSON.parse(r.out), [{ name: "svc/naming", address: "0x0000000000001000" }]);
  const b = await h.run("bind home/x 0x5000 --json");
  assertEquals(JSON.parse(b.out), "home/x -> 0x0000000000005000");
  assertEquals((await h.run("exit --json")).out, "");
});

Deno.test("colour only when asked: plain text by default, ANSI styles with color", async () => {
  await using plain = await bootShell(noMachine);
  assert(!(await plain.run("names")).out.includes("\x1b["));
  await using coloured = await bootShell({ ...noMachine, color: true });
  const out = (await coloured.run("names")).out;
  if (!Deno.noColor) assertStringIncludes(out, "\x1b[1m");
  assertEquals((await coloured.run("names --json")).out.includes("\x1b["), false);
});

Deno.test("Tab completes commands, options from the usage, names and subcommands", async () => {
  await using h = await bootShell();
  assertEquals(await h.shell.complete("he"), ["help"]);
  assertEquals(await h.shell.complete("d"), ["devices", "drivers"]);
  assertEquals(await h.shell.complete("lookup dev/"), ["dev/ide0", "dev/xhci0", "dev/xhci0.root"]);
  assertEquals(await h.shell.complete("lookup svc/na"), ["svc/naming"]);
  assertEquals(await h.shell.complete("blk "), ["read", "write"]);
  assertEquals(await h.shell.complete("blk read dev/i"), ["dev/ide0"]);
  assertEquals(await h.shell.complete("blk read dev/ide0 0 1 --o"), ["--out"]);
  assertEquals(await h.shell.complete("caps derive dev/ide0 IBlock.get_block_s"), [
    "IBlock.get_block_size",
  ]);
  assertEquals(await h.shell.complete("call dev/ide0 IIde."), [
    "IIde.flush",
    "IIde.identify",
    "IIde.identify_raw",
  ]);
  assertEquals(await h.shell.complete("monitor --"), ["--for", "--json"]);
  assertEquals(await h.shell.complete("nothing here"), []);
});

Deno.test("Tab completes file paths after --in and --out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi-complete-" });
  try {
    await Deno.mkdir(join(dir, "images"));
    await Deno.writeTextFile(join(dir, "block.bin"), "x");
    await Deno.writeTextFile(join(dir, ".hidden"), "x");
    assertEquals(await completePath(`${dir}/`), [`${dir}/block.bin`, `${dir}/images/`]);
    assertEquals(await completePath(`${dir}/.h`), [`${dir}/.hidden`]);
    assertEquals(await completePath(`${dir}/nothing/x`), []);
    await using h = await bootShell();
    assertEquals(await h.shell.complete(`blk write dev/ide0 0 --in ${dir}/bl`), [
      `${dir}/block.bin`,
    ]);
    assertEquals(await h.shell.complete(`blk read dev/ide0 0 1 --out ${dir}/im`), [
      `${dir}/images/`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
