/**
 * The TypeScript backend: typed register accessors in the style of svd2rust.
 *
 * For each register the output has a `…Register` class whose methods follow the access mode:
 *
 * | access | methods                                              |
 * | ------ | ---------------------------------------------------- |
 * | `ro`   | `read()`, `readRaw()`                                |
 * | `wo`   | `write(fn)`, `writeRaw(value)`                       |
 * | `rw`   | `read()`, `readRaw()`, `write(fn)`, `modify(fn)`, `writeRaw(value)` |
 * | `w1c`  | `read()`, `readRaw()`, `clear(fn)`, `writeRaw(value)` |
 *
 * so writing a read-only register or reading a write-only one does not compile. `read()` returns
 * a `…Reader` with `bits()` and one getter per readable field (a boolean for one-bit fields, a
 * number otherwise, plus `…Name()` for fields with an enum). `write(fn)` hands `fn` a `…Writer`
 * holding the reset value; its setters mask values to the field width (the value's low bits are
 * kept) and chain. `modify(fn)` reads once and writes once, keeping the fields `fn` leaves alone;
 * write-1-to-clear bits are written as 0 unless `fn` sets them. `clear(fn)` writes ones only to
 * the fields `fn` names. Enum fields take only their enum's values (`w.cmd(Cmd.READ_DMA)`);
 * `w.bits(value)` or `writeRaw(value)` write anything.
 *
 * The output also has a `…Regs` class with one property per register over the device's windows,
 * a `…Windows` interface naming those windows, the enums (`export const Cmd = {…} as const` and
 * `type Cmd`), and the register map as data (`ATA_MAP`). It passes `deno fmt --check`,
 * `deno lint` and `deno check` as generated.
 *
 * @module
 */

import {
  andNot,
  buildModel,
  type FieldModel,
  hex,
  hexWidth,
  type RegisterModel,
} from "./_model.ts";
import type { RegsDesc } from "./types.ts";

/** Options for {@linkcode compileRegsToTs}. */
export interface CompileRegsToTsOptions {
  /** The description's file name, for the "Generated from" header. */
  source: string;
  /** Module specifier of `regs/runtime.ts` as seen from the generated file. */
  runtimeImport: string;
}

const WIDTH = 100;

/** A method parameter: plain text, or a function type that may need its own line breaks. */
type Param = string | { readonly name: string; readonly params: string[]; readonly result: string };

function renderParam(p: Param): string {
  return typeof p === "string" ? p : `${p.name}: (${p.params.join(", ")}) => ${p.result}`;
}

/** A method head `name(params): result {`, broken over lines the way `deno fmt` does. */
function methodHead(indent: string, name: string, params: Param[], result: string): string[] {
  const single = `${indent}${name}(${params.map(renderParam).join(", ")}): ${result} {`;
  if (single.length <= WIDTH) return [single];
  const lines = [`${indent}${name}(`];
  for (const p of params) {
    const line = `${indent}  ${renderParam(p)},`;
    if (line.length <= WIDTH || typeof p === "string") lines.push(line);
    else {
      lines.push(`${indent}  ${p.name}: (`);
      for (const inner of p.params) lines.push(`${indent}    ${inner},`);
      lines.push(`${indent}  ) => ${p.result},`);
    }
  }
  lines.push(`${indent}): ${result} {`);
  return lines;
}

/** A statement `head(args)tail` broken over lines the way `deno fmt` does. */
function call(indent: string, head: string, args: string[], tail: string): string[] {
  const single = `${indent}${head}(${args.join(", ")})${tail}`;
  if (single.length <= WIDTH) return [single];
  return [`${indent}${head}(`, ...args.map((a) => `${indent}  ${a},`), `${indent})${tail}`];
}

/** One-line JSDoc; `*\/` in the text cannot end the comment. */
function jsdoc(indent: string, text: string): string {
  return `${indent}/** ${text.replaceAll("*/", "*\\/")} */`;
}

function withDoc(text: string, doc: string | undefined): string {
  return doc === undefined || doc === "" ? text : `${text}: ${doc}`;
}

function range(f: FieldModel): string {
  return f.desc.msb === f.desc.lsb ? `[${f.desc.msb}]` : `[${f.desc.msb}:${f.desc.lsb}]`;
}

/** `expr` as an unsigned value of a `width`-bit register. */
function unsigned(expr: string, width: number): string {
  return width === 32 ? `(${expr}) >>> 0` : expr;
}

/**
 * Compiles a checked register description to a TypeScript module of typed accessors (see the
 * module documentation for what it contains).
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { compileRegsToTs, parseRegs } from "./mod.ts";
 * const desc = parseRegs("device uart\nwindow io 4096\nregister lsr io 5 8 ro { DR [0] }\n");
 * const ts = compileRegsToTs(desc, { source: "uart.regs", runtimeImport: "./runtime.ts" });
 * assertStringIncludes(ts, "export class LsrRegister {");
 * assertStringIncludes(ts, "  dr(): boolean {");
 * ```
 */
export function compileRegsToTs(desc: RegsDesc, options: CompileRegsToTsOptions): string {
  const model = buildModel(desc);
  const out: string[] = [];
  const source = options.source.replace(/[\r\n]/g, " ");
  out.push(`// Generated by mungi regs from ${source}. DO NOT EDIT.`);
  out.push("/**");
  out.push(
    ` * ${withDoc(`Register accessors for device \`${desc.name}\``, desc.doc)}.`.replaceAll(
      "*/",
      "*\\/",
    ),
  );
  out.push(" *");
  out.push(` * @module`);
  out.push(" */");
  out.push("");
  const usesNameOf = model.registers.some((r) =>
    r.readable && r.fields.some((f) => f.readable && f.enum)
  );
  const imports = ["type DeviceMap", ...(usesNameOf ? ["nameOf"] : []), "type RegisterWindow"];
  const from = JSON.stringify(options.runtimeImport);
  const importLine = `import { ${imports.join(", ")} } from ${from};`;
  if (importLine.length <= WIDTH) out.push(importLine);
  else out.push("import {", ...imports.map((i) => `  ${i},`), `} from ${from};`);
  // Re-exported because the windows interface refers to it.
  out.push("", "export type { RegisterWindow };");

  for (const e of model.enums) {
    out.push("");
    out.push(
      jsdoc(
        "",
        withDoc(
          `Values of field \`${e.field.name}\` of register \`${e.register.name}\``,
          e.field.doc,
        ),
      ),
    );
    out.push(`export const ${e.name} = {`);
    const digits = Math.ceil((e.field.msb - e.field.lsb + 1) / 4);
    for (const v of e.desc.values) {
      if (v.doc !== undefined && v.doc !== "") out.push(jsdoc("  ", v.doc));
      out.push(`  ${v.name}: ${hex(v.value, digits)},`);
    }
    out.push("} as const;");
    out.push("");
    out.push(jsdoc("", `One of the values of {@linkcode ${e.name}}.`));
    const alias = `export type ${e.name} = typeof ${e.name}[keyof typeof ${e.name}];`;
    if (alias.length <= WIDTH) out.push(alias);
    else out.push(`export type ${e.name} =`, `  typeof ${e.name}[keyof typeof ${e.name}];`);
  }

  for (const r of model.registers) {
    if (r.readable) out.push("", ...reader(r));
    if (r.writable) out.push("", ...writer(r));
    out.push("", ...register(r));
  }

  out.push("", ...windowsType(model.windowsType, desc));
  out.push("", ...deviceClass(model.deviceClass, model.windowsType, model.registers, desc));
  out.push("", ...deviceMap(model.mapName, desc));
  return out.join("\n") + "\n";
}

function reader(r: RegisterModel): string[] {
  const { width } = r.desc;
  const out = [
    jsdoc("", `A value read from {@linkcode ${r.registerClass}}.`),
    `export class ${r.readerClass} {`,
    "  readonly #bits: number;",
    "",
    "  /** Wraps a raw register value. */",
    "  constructor(bits: number) {",
    `    this.#bits = ${width === 32 ? "bits >>> 0" : `bits & ${hexWidth(r.widthMask, width)}`};`,
    "  }",
    "",
    "  /** The raw register value. */",
    "  bits(): number {",
    "    return this.#bits;",
    "  }",
  ];
  for (const f of r.fields) {
    if (!f.readable) continue;
    out.push("", jsdoc("  ", withDoc(`\`${f.desc.name}\` ${range(f)}`, f.desc.doc)));
    if (f.boolean) {
      out.push(`  ${f.method}(): boolean {`);
      out.push(`    return (this.#bits & ${hexWidth(f.mask, width)}) !== 0;`);
    } else {
      out.push(`  ${f.method}(): number {`);
      if (f.bits === 32) out.push("    return this.#bits;");
      else if (f.desc.lsb === 0) out.push(`    return this.#bits & ${hex(f.valueMask)};`);
      else out.push(`    return (this.#bits >>> ${f.desc.lsb}) & ${hex(f.valueMask)};`);
    }
    out.push("  }");
    if (f.enum !== undefined) {
      const e = f.enum.name;
      out.push("");
      out.push(
        jsdoc(
          "  ",
          `The name of {@linkcode ${r.readerClass}.${f.method}}'s value in {@linkcode ${e}}, if it has one.`,
        ),
      );
      out.push(`  ${f.method}Name(): keyof typeof ${e} | undefined {`);
      out.push(...call("    ", `return nameOf`, [e, `this.${f.method}()`], ";"));
      out.push("  }");
    }
  }
  out.push("}");
  return out;
}

function writer(r: RegisterModel): string[] {
  const { width } = r.desc;
  const all = hexWidth(r.widthMask, width);
  const out = [
    jsdoc("", `A value to write to {@linkcode ${r.registerClass}}.`),
    `export class ${r.writerClass} {`,
    "  #bits: number;",
    "",
    "  /** Starts from a raw register value. */",
    "  constructor(bits: number) {",
    `    this.#bits = ${width === 32 ? "bits >>> 0" : `bits & ${all}`};`,
    "  }",
    "",
    `  /** Sets the raw register value, masked to ${width} bits. */`,
    "  bits(value: number): this {",
    `    this.#bits = ${width === 32 ? "value >>> 0" : `value & ${all}`};`,
    "    return this;",
    "  }",
  ];
  for (const f of r.fields) {
    if (f.write === "none") continue;
    const mask = hexWidth(f.mask, width);
    const keep = hexWidth(andNot(r.widthMask, f.mask), width);
    const name = `\`${f.desc.name}\` ${range(f)}`;
    out.push("");
    if (f.write === "ones") {
      out.push(jsdoc("  ", withDoc(`Writes ones to ${name}, which clears it`, f.desc.doc)));
      out.push(`  ${f.method}(): this {`);
      out.push(`    this.#bits = ${unsigned(`this.#bits | ${mask}`, width)};`);
    } else if (f.boolean) {
      out.push(jsdoc("  ", withDoc(`Sets ${name} (to true by default)`, f.desc.doc)));
      out.push(`  ${f.method}(value = true): this {`);
      out.push(
        `    this.#bits = ${unsigned(`(this.#bits & ${keep}) | (value ? ${mask} : 0)`, width)};`,
      );
    } else {
      out.push(
        jsdoc(
          "  ",
          withDoc(`Sets ${name}, masked to ${f.bits} bit${f.bits === 1 ? "" : "s"}`, f.desc.doc),
        ),
      );
      out.push(`  ${f.method}(value: ${f.enum?.name ?? "number"}): this {`);
      const shifted = f.desc.lsb === 0 ? `value & ${mask}` : `(value << ${f.desc.lsb}) & ${mask}`;
      if (f.mask === r.widthMask) out.push(`    this.#bits = ${unsigned(shifted, width)};`);
      else {out.push(
          `    this.#bits = ${unsigned(`(this.#bits & ${keep}) | (${shifted})`, width)};`,
        );}
    }
    out.push("    return this;");
    out.push("  }");
  }
  out.push("");
  out.push("  /** The raw value to write. */");
  out.push("  valueOf(): number {");
  out.push("    return this.#bits;");
  out.push("  }");
  out.push("}");
  return out;
}

function register(r: RegisterModel): string[] {
  const { width, offset, window } = r.desc;
  const at = hex(offset, 2);
  const read = `this.#window.read${width}(${at})`;
  const w = r.writerClass;
  const out = [
    jsdoc(
      "",
      withDoc(
        `Register \`${r.desc.name}\`: window \`${window}\` offset ${at}, ${width} bits, ${r.desc.access}, reset ${
          hexWidth(r.desc.reset, width)
        }${r.desc.doorbell ? ", doorbell" : ""}`,
        r.desc.doc,
      ),
    ),
    `export class ${r.registerClass} {`,
    "  readonly #window: RegisterWindow;",
    "",
    `  /** The register in \`window\`, which must be the device's \`${window}\` window. */`,
    "  constructor(window: RegisterWindow) {",
    "    this.#window = window;",
    "  }",
  ];
  if (r.readable) {
    out.push("", "  /** Reads the register once. */");
    out.push(...methodHead("  ", "read", [], r.readerClass));
    out.push(...call("    ", `return new ${r.readerClass}`, [read], ";"));
    out.push("  }");
    out.push("", "  /** Reads the register's raw value once. */", "  readRaw(): number {");
    out.push(`    return ${read};`, "  }");
  }
  const writeLine = `this.#window.write${width}(${at}, w.valueOf());`;
  if (r.hasWrite) {
    out.push(
      "",
      jsdoc(
        "  ",
        r.writeBase === r.desc.reset
          ? `Writes the reset value (${hexWidth(r.writeBase, width)}) as changed by \`fn\`.`
          : `Writes the reset value without its w1c bits (${
            hexWidth(r.writeBase, width)
          }) as changed by \`fn\`.`,
      ),
    );
    out.push(
      ...methodHead(
        "  ",
        "write",
        [{ name: "fn", params: [`w: ${w}`], result: `${w} | void` }],
        "void",
      ),
    );
    out.push(`    const w = new ${w}(${hexWidth(r.writeBase, width)});`);
    out.push("    fn(w);", `    ${writeLine}`, "  }");
  }
  if (r.hasModify) {
    out.push(
      "",
      jsdoc("  ", "Reads the register once, lets `fn` change the value and writes it once."),
    );
    out.push(
      ...methodHead(
        "  ",
        "modify",
        [{ name: "fn", params: [`r: ${r.readerClass}`, `w: ${w}`], result: `${w} | void` }],
        "void",
      ),
    );
    out.push(`    const bits = ${read};`);
    let start = "bits";
    if (r.modifyKeep !== r.widthMask) start = `bits & ${hexWidth(r.modifyKeep, width)}`;
    if (r.modifyFromReset !== 0) start = `(${start}) | ${hexWidth(r.modifyFromReset, width)}`;
    out.push(`    const w = new ${w}(${start});`);
    out.push(`    fn(new ${r.readerClass}(bits), w);`, `    ${writeLine}`, "  }");
  }
  if (r.hasClear) {
    out.push(
      "",
      jsdoc("  ", "Writes ones to the fields `fn` sets, which clears them, and zeros elsewhere."),
    );
    out.push(
      ...methodHead(
        "  ",
        "clear",
        [{ name: "fn", params: [`w: ${w}`], result: `${w} | void` }],
        "void",
      ),
    );
    out.push(`    const w = new ${w}(0);`);
    out.push("    fn(w);", `    ${writeLine}`, "  }");
  }
  if (r.writable) {
    out.push(
      "",
      `  /** Writes a raw value, masked to ${width} bits. */`,
      "  writeRaw(value: number): void {",
    );
    const value = width === 32 ? "value >>> 0" : `value & ${hexWidth(r.widthMask, width)}`;
    out.push(`    this.#window.write${width}(${at}, ${value});`, "  }");
  }
  out.push("}");
  return out;
}

function windowsType(name: string, desc: RegsDesc): string[] {
  const doc = jsdoc("", `The register windows of device \`${desc.name}\`, by name.`);
  if (desc.windows.length === 0) return [doc, `export type ${name} = Record<string, never>;`];
  const out = [doc, `export interface ${name} {`];
  for (const w of desc.windows) {
    const what = w.ports ? `${w.size} I/O ports` : `${w.size} bytes`;
    out.push(jsdoc("  ", withDoc(`Window \`${w.name}\`, ${what}`, w.doc)));
    out.push(`  readonly ${w.name}: RegisterWindow;`);
  }
  out.push("}");
  return out;
}

function deviceClass(
  name: string,
  windowsType: string,
  registers: readonly RegisterModel[],
  desc: RegsDesc,
): string[] {
  const out = [
    jsdoc("", withDoc(`The registers of device \`${desc.name}\``, desc.doc)),
    `export class ${name} {`,
  ];
  for (const r of registers) {
    out.push(jsdoc("  ", withDoc(`\`${r.desc.name}\``, r.desc.doc)));
    out.push(`  readonly ${r.property}: ${r.registerClass};`);
  }
  if (registers.length > 0) out.push("");
  out.push("  /** The registers over the device's windows. */");
  out.push(`  constructor(${registers.length === 0 ? "_windows" : "windows"}: ${windowsType}) {`);
  for (const r of registers) {
    out.push(
      ...call(
        "    ",
        `this.${r.property} = new ${r.registerClass}`,
        [`windows.${r.desc.window}`],
        ";",
      ),
    );
  }
  out.push("  }", "}");
  return out;
}

/** Emits `{ a, b }` on one line if it fits, else one property per line. */
function object(indent: string, props: [string, string | string[]][], tail: string): string[] {
  const flat = props.every(([, v]) => typeof v === "string");
  if (flat) {
    const line = `${indent}{ ${props.map(([k, v]) => `${k}: ${v}`).join(", ")} }${tail}`;
    if (line.length <= WIDTH) return [line];
  }
  const out = [`${indent}{`];
  for (const [k, v] of props) {
    if (typeof v === "string") out.push(`${indent}  ${k}: ${v},`);
    else {
      out.push(`${indent}  ${k}: ${v[0]}`.trimEnd(), ...v.slice(1));
    }
  }
  out.push(`${indent}}${tail}`);
  return out;
}

/** Emits an array property value: `[]` or one element per line; the first line is `[`. */
function array(indent: string, items: string[][]): string[] {
  if (items.length === 0) return ["[],"];
  return ["[", ...items.flat(), `${indent}],`];
}

function deviceMap(name: string, desc: RegsDesc): string[] {
  const out = [
    jsdoc(
      "",
      `The register map of device \`${desc.name}\`, as data: for tooling and device models.`,
    ),
    `export const ${name} = {`,
    `  name: ${JSON.stringify(desc.name)},`,
  ];
  const windows = desc.windows.map((w) =>
    object("    ", [["name", JSON.stringify(w.name)], ["size", String(w.size)], [
      "ports",
      String(w.ports),
    ]], ",")
  );
  out.push(`  windows: ${array("  ", windows)[0]}`, ...array("  ", windows).slice(1));
  const registers = desc.registers.map((r) => {
    const fields = r.fields.map((f) => {
      const props: [string, string | string[]][] = [
        ["name", JSON.stringify(f.name)],
        ["msb", String(f.msb)],
        ["lsb", String(f.lsb)],
        ["access", JSON.stringify(f.access)],
      ];
      if (f.enum !== undefined) {
        const digits = Math.ceil((f.msb - f.lsb + 1) / 4);
        const values = f.enum.values.map((v) =>
          object("              ", [["name", JSON.stringify(v.name)], [
            "value",
            hex(v.value, digits),
          ]], ",")
        );
        const e = object("          ", [["name", JSON.stringify(f.enum.name)], [
          "values",
          array("            ", values),
        ]], ",");
        props.push(["enum", [e[0]!.trim(), ...e.slice(1)]]);
      }
      return object("        ", props, ",");
    });
    return object("    ", [
      ["name", JSON.stringify(r.name)],
      ["window", JSON.stringify(r.window)],
      ["offset", hex(r.offset, 2)],
      ["width", String(r.width)],
      ["access", JSON.stringify(r.access)],
      ["reset", hexWidth(r.reset, r.width)],
      ["doorbell", String(r.doorbell)],
      ["fields", array("      ", fields)],
    ], ",");
  });
  out.push(`  registers: ${array("  ", registers)[0]}`, ...array("  ", registers).slice(1));
  out.push("} as const satisfies DeviceMap;");
  return out;
}
