// The generated code against the real tools: `deno fmt --check`, `deno lint` and `deno check` for
// TypeScript, `python3` for Python. These need --allow-run and --allow-write (a temporary
// directory) and are skipped without them: `deno test -A tests/regs_tools.test.ts`.

import { assert, assertEquals } from "@std/assert";
import { compileRegsToPython, compileRegsToTs, parseRegs } from "../regs/mod.ts";

const ROOT = new URL("..", import.meta.url);
const CONFIG = new URL("deno.json", ROOT).pathname;
const ATA = await Deno.readTextFile(new URL("drivers/ide/ata.regs", ROOT));

const canRun = Deno.permissions.querySync({ name: "run" }).state === "granted" &&
  Deno.permissions.querySync({ name: "write" }).state === "granted";

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random name of at most 32 characters, made unique by `tag`. */
function name(next: () => number, tag: string, upper = false): string {
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const length = next() < 0.3 ? 32 - tag.length - 1 : 1 + Math.floor(next() * 10);
  let s = "";
  for (let i = 0; i < length; i++) {
    s += next() < 0.15 && i > 0 && !s.endsWith("_") ? "_" : letters[Math.floor(next() * 26)];
  }
  s = `${s.replace(/_$/, "x")}_${tag}`;
  return upper ? s.toUpperCase() : s;
}

/** A random valid description with long names, every access mode and enums. */
function randomDescription(next: () => number, index: number): string {
  const lines = [`device ${name(next, `d${index}`)}  # device ${index}`];
  const windowCount = 1 + Math.floor(next() * 3);
  const windows: string[] = [];
  for (let w = 0; w < windowCount; w++) {
    const wname = name(next, `w${w}`);
    windows.push(wname);
    lines.push(
      `window ${wname} ${4096 * (1 + Math.floor(next() * 2))}${next() < 0.3 ? " ports" : ""}`,
    );
  }
  const offsets = windows.map(() => 0);
  const registerCount = 1 + Math.floor(next() * 8);
  for (let r = 0; r < registerCount; r++) {
    const w = Math.floor(next() * windows.length);
    const width = [8, 16, 32][Math.floor(next() * 3)]!;
    const offset = Math.ceil(offsets[w]! / (width / 8)) * (width / 8);
    offsets[w] = offset + width / 8;
    const access = ["rw", "ro", "wo", "w1c"][Math.floor(next() * 4)]!;
    const reset = Math.floor(next() * 2 ** width);
    const doorbell = access !== "ro" && next() < 0.3 ? " doorbell" : "";
    lines.push(
      `register ${name(next, `r${r}`)} ${windows[w]} 0x${
        offset.toString(16)
      } ${width} ${access} reset 0x${reset.toString(16)}${doorbell} {  # register ${r}`,
    );
    const fieldAccess: Record<string, string[]> = {
      rw: ["rw", "ro", "wo", "w1c"],
      ro: ["ro"],
      wo: ["wo"],
      w1c: ["w1c", "ro"],
    };
    let bit = 0;
    let f = 0;
    while (bit < width && next() < 0.85) {
      const bits = Math.min(width - bit, next() < 0.5 ? 1 : 1 + Math.floor(next() * 12));
      const msb = bit + bits - 1;
      const range = bits === 1 ? `[${bit}]` : `[${msb}:${bit}]`;
      const fa = fieldAccess[access]![Math.floor(next() * fieldAccess[access]!.length)]!;
      let line = `  ${name(next, `F${f}`, true)} ${range} ${fa}`;
      if (fa !== "w1c" && next() < 0.3) {
        const values = Array.from(
          { length: Math.min(2 ** bits, 1 + Math.floor(next() * 4)) },
          (_, i) => `${name(next, `V${i}`, true)} = ${i}`,
        );
        const as = next() < 0.5 ? ` as ${name(next, `E${r}x${f}`, true)}` : "";
        line += `${as} { ${values.join(", ")} }`;
      }
      lines.push(`${line}  # field ${f} */ "quoted" \\ back`);
      bit = msb + 1 + Math.floor(next() * 3);
      f++;
    }
    lines.push("}");
  }
  return lines.join("\n") + "\n";
}

async function run(command: string, args: string[], stdin?: string) {
  const child = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  return { code, text };
}

Deno.test({
  name: "generated TypeScript passes deno fmt --check, deno lint and deno check",
  ignore: !canRun,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "regs_tools_" });
    try {
      const runtimeImport = new URL("regs/runtime.ts", ROOT).href;
      const next = prng(7);
      const files: string[] = [];
      const sources = [ATA, ...Array.from({ length: 40 }, (_, i) => randomDescription(next, i))];
      for (const [i, source] of sources.entries()) {
        const ts = compileRegsToTs(parseRegs(source), {
          source: `random_${i}.regs`,
          runtimeImport,
        });
        const file = `${dir}/random_${i}_regs.ts`;
        await Deno.writeTextFile(file, ts);
        files.push(file);
      }
      for (const args of [["fmt", "--check"], ["lint"], ["check"]]) {
        const { code, text } = await run(Deno.execPath(), [...args, "--config", CONFIG, ...files]);
        assertEquals(code, 0, `deno ${args.join(" ")}:\n${text}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Exercises the ATA Python module the way the TypeScript accessor tests do. */
const PYTHON_ATA_TEST = `
class Window:
    def __init__(self):
        self.cells = {}
        self.log = []
    def read8(self, o): return self.cells.get(o, 0) & 0xFF
    def read16(self, o): return self.cells.get(o, 0) & 0xFFFF
    def read32(self, o): return self.cells.get(o, 0) & 0xFFFFFFFF
    def write8(self, o, v): self.cells[o] = v; self.log.append((o, 8, v))
    def write16(self, o, v): self.cells[o] = v; self.log.append((o, 16, v))
    def write32(self, o, v): self.cells[o] = v; self.log.append((o, 32, v))

cmd, ctl, bm = Window(), Window(), Window()
regs = AtaRegs({"cmd": cmd, "ctl": ctl, "bm": bm})
cmd.cells[7] = 0x50
s = regs.status.read()
assert (s.bits(), s.bsy(), s.drdy(), s.err()) == (0x50, False, True, False)
assert not hasattr(regs.status, "write") and not hasattr(regs.command, "read")
regs.command.write(lambda w: w.cmd(Cmd.READ_DMA))
assert cmd.log[-1] == (7, 8, 0xC8), cmd.log
regs.device.write(lambda w: w.head(0x1F).lba().dev(Dev.DEVICE1))
assert cmd.log[-1] == (6, 8, 0x5F), cmd.log
regs.device.modify(lambda r, w: w.dev(Dev.DEVICE0))
assert cmd.log[-1] == (6, 8, 0x4F), cmd.log
assert regs.device.read().dev_name() == "DEVICE0"
regs.sector_count.write(lambda w: w)
assert cmd.log[-1] == (2, 8, 0x01)
bm.cells[2] = 0x67
regs.bm_status.modify(lambda r, w: w.drv0_dma(False))
assert bm.log[-1] == (2, 8, 0x41), bm.log
regs.bm_status.modify(lambda r, w: w.intr())
assert bm.log[-1] == (2, 8, 0x45), bm.log
regs.bm_prd_table.write_raw(-4)
assert bm.log[-1] == (4, 32, 0xFFFFFFFC)
assert StatusRegister.BSY_MASK == 0x80 and StatusRegister.OFFSET == 7
assert ATA_MAP["registers"][9]["name"] == "command" and ATA_MAP["registers"][9]["doorbell"]
print("ok")
`;

Deno.test({
  name: "generated Python runs with the same semantics as the TypeScript",
  ignore: !canRun,
  async fn() {
    const py = compileRegsToPython(parseRegs(ATA), { source: "drivers/ide/ata.regs" });
    const { code, text } = await run("python3", ["-"], py + PYTHON_ATA_TEST);
    assertEquals([code, text.trim()], [0, "ok"], text);
  },
});

Deno.test({
  name: "generated Python of random descriptions imports and runs every method",
  ignore: !canRun,
  async fn() {
    const next = prng(8);
    for (let i = 0; i < 20; i++) {
      const py = compileRegsToPython(parseRegs(randomDescription(next, i)), { source: "r.regs" });
      const script = `${py}
class Window:
    def __init__(self): self.cells = {}
    def read8(self, o): return self.cells.get(o, 0xFF)
    def read16(self, o): return self.cells.get(o, 0xFFFF)
    def read32(self, o): return self.cells.get(o, 0xFFFFFFFF)
    def write8(self, o, v): assert 0 <= v <= 0xFF; self.cells[o] = v
    def write16(self, o, v): assert 0 <= v <= 0xFFFF; self.cells[o] = v
    def write32(self, o, v): assert 0 <= v <= 0xFFFFFFFF; self.cells[o] = v

import sys
module = sys.modules[__name__]
device = [v for k, v in vars(module).items() if k.endswith("Regs") and isinstance(v, type)][0]
windows = {w["name"]: Window() for w in [m for k, m in vars(module).items() if k.endswith("_MAP")][0]["windows"]}
regs = device(windows)
for attr, reg in vars(regs).items():
    if hasattr(reg, "read"):
        r = reg.read()
        for name in dir(r):
            if not name.startswith("_") and name != "bits":
                getattr(r, name)()
    if hasattr(reg, "write"):
        reg.write(lambda w: w.bits(-1))
    if hasattr(reg, "modify"):
        reg.modify(lambda r, w: w)
    if hasattr(reg, "clear"):
        reg.clear(lambda w: w)
    if hasattr(reg, "write_raw"):
        reg.write_raw(2 ** 40 - 1)
print("ok")
`;
      const { code, text } = await run("python3", ["-"], script);
      assertEquals([code, text.trim()], [0, "ok"], `description ${i}:\n${text}`);
    }
    assert(true);
  },
});
