import { assert, assertEquals, assertThrows } from "@std/assert";
import { checkRegs, formatRegsReport, parseRegs, RegsSyntaxError } from "../regs/mod.ts";

const ATA = await Deno.readTextFile(new URL("../drivers/ide/ata.regs", import.meta.url));

/** `device d` and a memory window `io` and a port window `pio`, then `body` from line 4. */
function withDevice(body: string): string {
  return `device d\nwindow io 4096\nwindow pio 4096 ports\n${body}`;
}

/** The errors of `source` as `LINE:COL: message`. */
function errorsOf(source: string): string[] {
  return checkRegs(source).errors.map((e) => `${e.line}:${e.column}: ${e.reason}`);
}

Deno.test("parseRegs() reads the ATA description: windows, registers, fields and enums", () => {
  const desc = parseRegs(ATA, { file: "drivers/ide/ata.regs" });
  assertEquals(desc.name, "ata");
  assertEquals(desc.windows.map((w) => [w.name, w.size, w.ports]), [
    ["cmd", 4096, true],
    ["ctl", 4096, true],
    ["bm", 4096, false],
  ]);
  const summary = desc.registers.map((r) =>
    `${r.window}+${r.offset} ${r.name}/${r.width} ${r.access}${r.doorbell ? " doorbell" : ""}`
  );
  assertEquals(summary, [
    "cmd+0 data/16 rw doorbell",
    "cmd+1 error/8 ro",
    "cmd+1 features/8 wo",
    "cmd+2 sector_count/8 rw",
    "cmd+3 lba_low/8 rw",
    "cmd+4 lba_mid/8 rw",
    "cmd+5 lba_high/8 rw",
    "cmd+6 device/8 rw",
    "cmd+7 status/8 ro",
    "cmd+7 command/8 wo doorbell",
    "ctl+0 alt_status/8 ro",
    "ctl+0 device_control/8 wo doorbell",
    "bm+0 bm_command/8 rw doorbell",
    "bm+2 bm_status/8 rw",
    "bm+4 bm_prd_table/32 rw",
    "bm+8 bm_prd_table_high/32 rw",
  ]);
  const status = desc.registers.find((r) => r.name === "status");
  assertEquals(status?.reset, 0x50);
  assertEquals(status?.fields.map((f) => [f.name, f.msb, f.lsb, f.access]), [
    ["BSY", 7, 7, "ro"],
    ["DRDY", 6, 6, "ro"],
    ["DF", 5, 5, "ro"],
    ["DSC", 4, 4, "ro"],
    ["DRQ", 3, 3, "ro"],
    ["ERR", 0, 0, "ro"],
  ]);
  assertEquals(status?.fields[0]?.doc, "busy: the device owns the task file");
  const device = desc.registers.find((r) => r.name === "device");
  assertEquals(device?.fields.map((f) => `${f.name}[${f.msb}:${f.lsb}]`), [
    "LBA[6:6]",
    "DEV[4:4]",
    "HEAD[3:0]",
  ]);
  assertEquals(device?.fields[1]?.enum?.name, "Dev");
  const cmd = desc.registers.find((r) => r.name === "command")?.fields[0]?.enum;
  assertEquals(cmd?.name, "Cmd");
  assertEquals(cmd?.values.find((v) => v.name === "READ_SECTORS")?.value, 0x20);
  assertEquals(cmd?.values.find((v) => v.name === "READ_DMA")?.value, 0xc8);
  const bmStatus = desc.registers.find((r) => r.name === "bm_status");
  assertEquals(bmStatus?.fields.map((f) => `${f.name}:${f.access}`), [
    "SIMPLEX:ro",
    "DRV1_DMA:rw",
    "DRV0_DMA:rw",
    "INTR:w1c",
    "ERR:w1c",
    "ACTIVE:ro",
  ]);
});

Deno.test("parseRegs() accepts numbers in hex, binary and decimal with underscores", () => {
  const desc = parseRegs(
    withDevice("register r io 0x0_4 32 rw reset 0b1010_0101 {\n  F [31:16]\n}\n"),
  );
  assertEquals(desc.registers[0]?.offset, 4);
  assertEquals(desc.registers[0]?.reset, 0xa5);
  assertEquals(desc.registers[0]?.fields[0]?.msb, 31);
});

Deno.test("parseRegs() accepts one-line blocks, CRLF line ends and keywords as names", () => {
  const desc = parseRegs(
    "device d\r\nwindow io 4096\r\nregister reset io 0 8 rw { MODE [1:0] as Mode { OFF = 0, ON = 1 }, GO [7] }\r\n",
  );
  assertEquals(desc.registers[0]?.name, "reset");
  assertEquals(desc.registers[0]?.fields.map((f) => f.name), ["MODE", "GO"]);
  assertEquals(desc.registers[0]?.fields[0]?.enum?.values.map((v) => v.name), ["OFF", "ON"]);
});

Deno.test("parseRegs() throws a RegsSyntaxError with file, line and column", () => {
  const error = assertThrows(
    () => parseRegs(withDevice("register r io 0 8 rx\n"), { file: "d.regs" }),
    RegsSyntaxError,
  );
  assert(error instanceof SyntaxError);
  assertEquals([error.file, error.line, error.column], ["d.regs", 4, 19]);
  assertEquals(error.message, 'd.regs:4:19: Unknown access mode "rx": expected rw, ro, wo or w1c');
});

// Each kind of error, with where it points.
const ERROR_CASES: [string, string, string][] = [
  [
    "unparsable text",
    withDevice("register r io 0 8 rw {\n  A [3]\n  B 4]\n}\n"),
    '6:5: Expected "[" after field "B", found "4"',
  ],
  [
    "unexpected character",
    withDevice("register r io 0 8 rw reset -1\n"),
    '4:28: Unexpected character "-"',
  ],
  [
    "malformed number",
    withDevice("register r io 0x1g 8 rw\n"),
    '4:15: Malformed number "0x1g"',
  ],
  [
    "unclosed brace",
    withDevice("register r io 0 8 rw {\n  A [0]\n"),
    '4:22: Unclosed "{": expected "}" before the end of file',
  ],
  [
    "overlapping fields",
    withDevice("register r io 0 8 rw {\n  A [3:0]\n  B [5:3]\n}\n"),
    '6:3: Field "B" [5:3] overlaps field "A" [3:0] in register "r"',
  ],
  [
    "bit out of range",
    withDevice("register r io 0 8 rw {\n  A [8:4]\n}\n"),
    '5:6: Bit 8 of field "A" is out of range for 8-bit register "r" (bits 7..0)',
  ],
  [
    "bit range written low:high",
    withDevice("register r io 0 8 rw { A [2:5] }\n"),
    "4:27: Bit range [2:5] must be written high:low, as [5:2]",
  ],
  [
    "duplicate register",
    withDevice("register r io 0 8 rw\nregister r io 1 8 rw\n"),
    '5:10: Duplicate register "r" (first declared at line 4)',
  ],
  [
    "registers whose generated names clash",
    withDevice("register lba_low io 0 8 rw\nregister LBA_LOW io 1 8 rw\n"),
    '5:10: Register "LBA_LOW" and "lba_low" (line 4) both become "lbaLow"',
  ],
  [
    "duplicate field",
    withDevice("register r io 0 8 rw {\n  A [0]\n  A [1]\n}\n"),
    '6:3: Duplicate field "A" in register "r" (first declared at line 5)',
  ],
  [
    "reserved field name",
    withDevice("register r io 0 8 rw { BITS [0] }\n"),
    '4:24: Field name "BITS" is reserved: readers and writers define bits()',
  ],
  [
    "duplicate enum value name",
    withDevice("register r io 0 8 rw {\n  M [1:0] { A = 0, A = 1 }\n}\n"),
    '5:20: Duplicate enum value "A" (first at line 5)',
  ],
  [
    "duplicate enum value",
    withDevice("register r io 0 8 rw {\n  M [1:0] { A = 1, B = 1 }\n}\n"),
    '5:24: Enum values "A" and "B" are both 1',
  ],
  [
    "duplicate enum name",
    withDevice(
      "register a io 0 8 rw { MODE [0] { X = 0 } }\nregister b io 1 8 rw { MODE [0] { Y = 0 } }\n",
    ),
    '5:24: Generated name "Mode" of the enum of field "MODE" in register "b" is already used by the enum of field "MODE" in register "a"; rename the enum with "as NAME"',
  ],
  [
    "enum named like a generated class",
    withDevice("register a io 0 8 rw { M [0] as ARegister { X = 0 } }\n"),
    '4:33: Generated name "ARegister" of the enum of field "M" in register "a" is already used by the class of register "a"; rename the enum with "as NAME"',
  ],
  [
    "unknown access mode",
    withDevice("register r io 0 8 rx\n"),
    '4:19: Unknown access mode "rx": expected rw, ro, wo or w1c',
  ],
  [
    "field access not allowed in the register's mode",
    withDevice("register r io 0 8 ro { A [0] rw }\n"),
    '4:30: Field access "rw" is not allowed in a ro register: expected ro',
  ],
  [
    "unknown window",
    withDevice("register r mmio 0 8 rw\n"),
    '4:12: Unknown window "mmio" for register "r": expected "io", "pio"',
  ],
  [
    "register outside its window",
    withDevice("register r io 0xffe 32 rw\n"),
    '4:15: Register "r" at offset 0xffe is outside window "io" (4096 bytes)',
  ],
  [
    "register misaligned to its width",
    withDevice("register r io 0x6 32 rw\n"),
    '4:15: Register "r" at offset 0x6 is not aligned to its width (32 bits)',
  ],
  [
    "register width not 8, 16 or 32",
    withDevice("register r io 0 12 rw\n"),
    "4:17: Register width must be 8, 16 or 32, found 12",
  ],
  [
    "overlapping registers",
    withDevice("register a io 0 16 rw\nregister b io 1 8 rw\n"),
    '5:15: Register "b" (0x1) overlaps "a" (0x0-0x1, line 4) in window "io": only a ro and a wo register of the same width may share an offset',
  ],
  [
    "two read-only registers at one offset",
    withDevice("register a io 4 8 ro\nregister b io 4 8 ro\n"),
    '5:15: Register "b" (0x4) overlaps "a" (0x4, line 4) in window "io": only a ro and a wo register of the same width may share an offset',
  ],
  [
    "a ro/wo pair of different widths",
    withDevice("register a io 4 8 ro\nregister b io 4 16 wo\n"),
    '5:15: Register "b" (0x4-0x5) overlaps "a" (0x4, line 4) in window "io": only a ro and a wo register of the same width may share an offset',
  ],
  [
    "reset value wider than the register",
    withDevice("register r io 0 8 rw reset 0x100\n"),
    '4:28: Reset value 0x100 does not fit in 8-bit register "r"',
  ],
  [
    "enum value wider than its field",
    withDevice("register r io 0 8 rw {\n  M [5:4] { A = 0, B = 4 }\n}\n"),
    '5:24: Enum value B = 4 does not fit in field "M" [5:4] (at most 0x3)',
  ],
  [
    "empty enum",
    withDevice("register r io 0 8 rw { M [0] {} }\n"),
    '4:24: The enum of field "M" in register "r" has no values',
  ],
  [
    "doorbell on a read-only register",
    withDevice("register r io 0 8 ro doorbell\n"),
    '4:22: Register "r" is read-only, so it cannot be a doorbell',
  ],
  [
    "window size not a multiple of 4096",
    "device d\nwindow io 0x800\n",
    '2:11: Window "io" size 0x800 is not a positive multiple of 4096',
  ],
  [
    "duplicate window",
    "device d\nwindow io 4096\nwindow io 8192\n",
    '3:8: Duplicate window "io" (first declared at line 2)',
  ],
  [
    "missing device",
    "window io 4096\n",
    '1:1: Missing "device NAME" statement',
  ],
  [
    "second device",
    "device a\ndevice b\n",
    '2:1: A file describes one device: "b" follows "a" (line 1)',
  ],
  [
    "name too long",
    withDevice(`register ${"r".repeat(33)} io 0 8 rw\n`),
    `4:10: Register name "${"r".repeat(33)}" is longer than 32 characters`,
  ],
  [
    "unknown register option",
    withDevice("register r io 0 8 rw volatile\n"),
    '4:22: Unknown register option "volatile": expected "reset VALUE" or "doorbell"',
  ],
];

for (const [kind, source, expected] of ERROR_CASES) {
  Deno.test(`checkRegs() reports ${kind} at its line and column`, () => {
    assertEquals(errorsOf(source), [expected]);
  });
}

Deno.test("checkRegs() accepts a ro and a wo register of the same width at one offset", () => {
  const { errors } = checkRegs(withDevice("register s io 7 8 ro\nregister c io 7 8 wo doorbell\n"));
  assertEquals(errors, []);
});

Deno.test("checkRegs() lets a wide port register sit beside the next port, but not in memory", () => {
  const body = (w: string) => `register data ${w} 0 16 rw\nregister error ${w} 1 8 ro\n`;
  assertEquals(errorsOf(withDevice(body("pio"))), []);
  assertEquals(errorsOf(withDevice(body("io"))).length, 1);
});

Deno.test("checkRegs() collects every error in source order and keeps parsing after a bad line", () => {
  const source = withDevice(
    [
      "register a io 0 8 rw reset 0x1ff", // 4: reset too wide
      "register b io 0 8 rw", // 5: overlaps a
      "register c io 1 8 rw {", // 6
      "  X [9]", // 7: out of range
      "  Y [3 ]]", // 8: syntax
      "  Z [2:1] { P = 9 }", // 9: enum value too wide
      "}",
      "bogus line here", // 11: syntax
      "register d io 3 8 wq", // 12: access
      "",
    ].join("\n"),
  );
  assertEquals(errorsOf(source), [
    '4:28: Reset value 0x1ff does not fit in 8-bit register "a"',
    '5:15: Register "b" (0x0) overlaps "a" (0x0, line 4) in window "io": only a ro and a wo register of the same width may share an offset',
    '7:6: Bit 9 of field "X" is out of range for 8-bit register "c" (bits 7..0)',
    '8:9: Expected "," or end of line after a field, found "]"',
    '9:17: Enum value P = 9 does not fit in field "Z" [2:1] (at most 0x3)',
    '11:1: Expected "device", "window" or "register", found "bogus"',
    '12:19: Unknown access mode "wq": expected rw, ro, wo or w1c',
  ]);
  assertEquals(checkRegs(source).desc, undefined);
});

Deno.test("checkRegs() reports an empty description as missing its device", () => {
  assertEquals(errorsOf(""), ['1:1: Missing "device NAME" statement']);
});

Deno.test("formatRegsReport() prints the register map of a good description", () => {
  const source = [
    "device uart  # a 16550",
    "window io 4096 ports",
    "register lsr io 5 8 ro reset 0x60 {  # line status",
    "  THRE [5]  # transmitter empty",
    "  DR [0]",
    "}",
    "register thr io 0 8 wo doorbell",
    "register lcr io 3 8 rw { WLS [1:0] as WordLength { FIVE = 0, EIGHT = 3 }, DLAB [7] }",
    "window mmio 8192",
    "register isr mmio 0x10 32 w1c { RX [0], STATE [3:1] ro }",
    "",
  ].join("\n");
  const report = formatRegsReport("uart.regs", checkRegs(source));
  assertEquals(report.ok, true);
  assertEquals(report.text.split("\n"), [
    "uart.regs: device uart, 2 windows, 4 registers",
    "",
    "window io (4096 I/O ports)",
    "  0x000   8  wo   thr  reset 0x00  doorbell",
    "  0x003   8  rw   lcr  reset 0x00",
    "                  [1:0]    WLS   enum WordLength",
    "                           0x0  FIVE",
    "                           0x3  EIGHT",
    "                  [7]      DLAB",
    "  0x005   8  ro   lsr  reset 0x60  # line status",
    "                  [5]      THRE    # transmitter empty",
    "                  [0]      DR",
    "",
    "window mmio (8192 bytes)",
    "  0x0010  32  w1c  isr  reset 0x00000000",
    "                   [0]      RX",
    "                   [3:1]    STATE  ro",
  ]);
});

Deno.test("formatRegsReport() prints the ATA register map by window, with doorbells and enums", () => {
  const report = formatRegsReport("drivers/ide/ata.regs", checkRegs(ATA));
  assert(report.ok);
  const lines = report.text.split("\n");
  assert(/^drivers\/ide\/ata\.regs: device ata, 3 windows, \d+ registers$/.test(lines[0] ?? ""));
  assert(lines.some((l) => /^window cmd \(4096 I\/O ports\)/.test(l)));
  assert(lines.some((l) => /^window bm \(4096 bytes\)/.test(l)));
  const status = lines.findIndex((l) => l.startsWith("  0x007   8  ro   status"));
  assert(status > 0, "status register line");
  assertEquals(lines[status + 1]?.replace(/ +#.*/, ""), "                  [7]      BSY");
  assert(lines.some((l) => /^ {2}0x007 {3}8 {2}wo {3}command +reset 0x00 +doorbell/.test(l)));
  assert(lines.some((l) => /^ +0xc8 {2}READ_DMA$/.test(l)));
  assert(lines.some((l) => /^ +\[2\] +INTR +w1c +# the device raised its interrupt$/.test(l)));
});

Deno.test("formatRegsReport() prints FILE:LINE:COL: message per error", () => {
  const report = formatRegsReport(
    "bad.regs",
    checkRegs(withDevice("register r io 0 8 rx\nregister s io 0x2000 8 rw\n")),
  );
  assertEquals(report, {
    ok: false,
    text: [
      'bad.regs:4:19: Unknown access mode "rx": expected rw, ro, wo or w1c',
      'bad.regs:5:15: Register "s" at offset 0x2000 is outside window "io" (4096 bytes)',
    ].join("\n"),
  });
});
