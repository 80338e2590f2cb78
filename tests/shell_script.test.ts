import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { fromFileUrl, join } from "@std/path";
import { runShellCli } from "../shell/cli.ts";
import { runScript } from "../shell/script.ts";
import { bootShell } from "../shell/testing.ts";

const ROOT = fromFileUrl(new URL("..", import.meta.url));

Deno.test("a script echoes each command, skips comments and blank lines, and exits 0", async () => {
  await using h = await bootShell();
  const status = await runScript(h.shell, "# names first\n\nnames dev/\n  lookup svc/naming  \n", {
    file: "t.mungi",
  });
  assertEquals(status, 0);
  assertEquals(h.transcript.join("\n").split("\n"), [
    "> names dev/",
    "name            address",
    "dev/ide0        0x0000000000002000",
    "dev/xhci0       0x0000000000004000",
    "dev/xhci0.root  0x000000000000a000",
    "> lookup svc/naming",
    "0x0000000000001000",
  ]);
});

Deno.test("the first failing command stops a script with FILE:LINE: message and status 1", async () => {
  await using h = await bootShell();
  const source = "names\n# comment\nblk read dev/ide0 x 1\nbind never/run 0x1000\n";
  assertEquals(await runScript(h.shell, source, { file: "bad.mungi" }), 1);
  const error = h.transcript.find((l) => l.startsWith("bad.mungi:"));
  assertEquals(
    error,
    'bad.mungi:3: blk read dev/ide0 x 1: <lba> must be a whole number (decimal, or hex as 0x...), got "x"\n' +
      "  usage: blk read <name> <lba> <count> [--out FILE] [--json]",
  );
  assertEquals(await h.kernel.names.tryLookup("never/run"), undefined, "later lines do not run");
  assertEquals(h.transcript.filter((l) => l.startsWith(">")), [
    "> names",
    "> blk read dev/ide0 x 1",
  ]);
});

Deno.test("an unknown command in a script is reported with its line", async () => {
  await using h = await bootShell();
  assertEquals(await runScript(h.shell, "names\r\nfrobnicate\r\n", { file: "s" }), 1);
  assertStringIncludes(h.transcript.join("\n"), "s:2: frobnicate: unknown command");
});

Deno.test("exit ends a script early with status 0; lines can come from a stream", async () => {
  await using h = await bootShell();
  async function* lines() {
    yield "names svc/";
    yield "exit";
    yield "this would fail";
  }
  assertEquals(await runScript(h.shell, lines(), { file: "stdin" }), 0);
  assertEquals(h.transcript.filter((l) => l.startsWith(">")), ["> names svc/", "> exit"]);
});

Deno.test("the example tour runs to the end", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi-tour-" });
  try {
    await using h = await bootShell();
    const source = (await Deno.readTextFile(join(ROOT, "examples", "tour.mungi")))
      .replaceAll(".mungi/", `${dir}/`)
      .replaceAll("examples/", join(ROOT, "examples") + "/");
    const status = await runScript(h.shell, source, { file: "tour.mungi" });
    assertEquals(status, 0, h.transcript.join("\n"));
    const all = h.transcript.join("\n");
    for (
      const command of [
        "> names",
        "> ifaces dev/ide0",
        "> devices",
        "> drivers",
        "> caps derive",
        "> caps revoke %2",
        "> irq",
        "> iommu",
      ]
    ) assertStringIncludes(all, command);
    assertStringIncludes(all, "|Hello from the m|");
    assertStringIncludes(all, "revoked 1 capability: %2");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs the shell CLI in this process with its console output captured. */
async function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  try {
    const status = await runShellCli(args);
    return { status, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("mungi shell --script exits 0 when every command succeeds, 1 at FILE:LINE", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mungi-cli-" });
  try {
    const good = join(dir, "good.mungi");
    await Deno.writeTextFile(good, "# boots the default machine\nnames dev/\nirq --json\n");
    const ok = await cli(["--data", dir, "--script", good]);
    assertEquals(ok.status, 0, ok.err);
    assertStringIncludes(ok.out, "> names dev/\nname            address\ndev/ide0  ");
    assertStringIncludes(ok.out, "\ndev/xhci0.root  ");
    assert(!ok.out.includes("\x1b["), "no colour when output is not a terminal");

    const bad = join(dir, "bad.mungi");
    await Deno.writeTextFile(bad, "names\n\ncaps revoke %7\nnames\n");
    const failed = await cli(["--data", dir, "--script", bad]);
    assertEquals(failed.status, 1);
    assertMatch(failed.err, new RegExp(`^${bad}:3: caps revoke %7: %7 is not a capability`));
    assertEquals(failed.out.split("\n").filter((l) => l.startsWith(">")), [
      "> names",
      "> caps revoke %7",
    ]);

    const missing = await cli(["--data", dir, "--script", join(dir, "none.mungi")]);
    assertEquals(missing.status, 1);
    assertStringIncludes(missing.err, "cannot read script");
    assertEquals((await cli(["stray"])).status, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
