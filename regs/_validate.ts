// Meaning of a register description: from the raw tree to a RegsDesc, with every semantic error
// found. Private to regs/.

import type { Token } from "./_lexer.ts";
import type { Problem, RawField, RawFile, RawRegister } from "./_parser.ts";
import { camelCase, pascalCase, RESERVED_MEMBERS, TS_IMPORTS, upperSnakeCase } from "./_names.ts";
import type { RegisterAccess, RegisterWidth } from "./runtime.ts";
import type {
  EnumDesc,
  EnumValueDesc,
  FieldDesc,
  RegisterDesc,
  RegsDesc,
  WindowDesc,
} from "./types.ts";

const PAGE = 4096;
const MAX_WINDOW = 2 ** 32;
/** Longest name; keeps generated lines within the formatter's width. */
const MAX_NAME = 32;
const ACCESS_MODES: readonly RegisterAccess[] = ["rw", "ro", "wo", "w1c"];
const WIDTHS: readonly number[] = [8, 16, 32];

/** Field access modes allowed in a register of each access mode. */
const FIELD_ACCESS: Readonly<Record<RegisterAccess, readonly RegisterAccess[]>> = {
  rw: ["rw", "ro", "wo", "w1c"],
  ro: ["ro"],
  wo: ["wo"],
  w1c: ["w1c", "ro"],
};

function hex(n: number): string {
  return Number.isSafeInteger(n) ? `0x${n.toString(16)}` : String(n);
}

function isAccess(text: string): text is RegisterAccess {
  return (ACCESS_MODES as readonly string[]).includes(text);
}

function bitRange(msb: number, lsb: number): string {
  return msb === lsb ? `[${msb}]` : `[${msb}:${lsb}]`;
}

/** Checks `file` and builds its description; the description is only usable if no errors. */
export function validate(file: RawFile): { desc: RegsDesc; errors: Problem[] } {
  return new Validator().run(file);
}

class Validator {
  readonly errors: Problem[] = [];
  /** Generated top-level identifiers -> what declared them. */
  readonly #topLevel = new Map<string, string>(TS_IMPORTS.map((n) => [n, "an import"]));

  run(file: RawFile): { desc: RegsDesc; errors: Problem[] } {
    const [device, ...extra] = file.devices;
    if (device === undefined) {
      this.#error({ line: 1, column: 1 }, `Missing "device NAME" statement`);
    } else {
      this.#name(device.name, "Device");
      const pascal = pascalCase(device.name.text);
      this.#declare(device.name, `${pascal}Regs`, "the device class");
      this.#declare(device.name, `${pascal}Windows`, "the device's windows type");
      this.#declare(device.name, `${upperSnakeCase(device.name.text)}_MAP`, "the register map");
    }
    for (const d of extra) {
      this.#error(
        d.keyword,
        `A file describes one device: "${d.name.text}" follows "${device?.name.text}" (line ${device?.name.line})`,
      );
    }

    const windows: WindowDesc[] = [];
    const windowByName = new Map<string, WindowDesc>();
    for (const w of file.windows) {
      this.#name(w.name, "Window");
      const first = windowByName.get(w.name.text);
      if (first !== undefined) {
        this.#error(
          w.name,
          `Duplicate window "${w.name.text}" (first declared at line ${first.line})`,
        );
      }
      const size = w.size.value;
      if (size <= 0 || size % PAGE !== 0) {
        this.#error(
          w.size,
          `Window "${w.name.text}" size ${w.size.text} is not a positive multiple of 4096`,
        );
      } else if (size > MAX_WINDOW) {
        this.#error(w.size, `Window "${w.name.text}" size ${w.size.text} is larger than 4 GiB`);
      }
      const desc: WindowDesc = {
        name: w.name.text,
        size,
        ports: w.ports,
        line: w.name.line,
        column: w.name.column,
        ...(w.doc !== undefined && { doc: w.doc }),
      };
      windows.push(desc);
      if (first === undefined) windowByName.set(w.name.text, desc);
    }

    const registers: RegisterDesc[] = [];
    const registerByMember = new Map<string, RawRegister>();
    const placed: { raw: RawRegister; desc: RegisterDesc }[] = [];
    for (const raw of file.registers) {
      const desc = this.#register(raw, windowByName, registerByMember);
      registers.push(desc);
      const window = windowByName.get(desc.window);
      if (window !== undefined && WIDTHS.includes(desc.width)) {
        this.#overlaps(raw, desc, placed, window.ports);
        placed.push({ raw, desc });
      }
    }

    return {
      desc: {
        name: device?.name.text ?? "",
        windows,
        registers,
        line: device?.name.line ?? 1,
        column: device?.name.column ?? 1,
        ...(device?.doc !== undefined && { doc: device.doc }),
      },
      errors: this.errors,
    };
  }

  #register(
    raw: RawRegister,
    windowByName: ReadonlyMap<string, WindowDesc>,
    registerByMember: Map<string, RawRegister>,
  ): RegisterDesc {
    const name = raw.name.text;
    if (this.#name(raw.name, "Register")) {
      const member = camelCase(name);
      const first = registerByMember.get(member);
      if (first !== undefined) {
        this.#error(
          raw.name,
          first.name.text === name
            ? `Duplicate register "${name}" (first declared at line ${first.name.line})`
            : `Register "${name}" and "${first.name.text}" (line ${first.name.line}) both become "${member}"`,
        );
      } else {
        registerByMember.set(member, raw);
        if (member === "constructor") this.#error(raw.name, `Register name "${name}" is reserved`);
        const pascal = pascalCase(name);
        this.#declare(raw.name, `${pascal}Register`, `the class of register "${name}"`);
        this.#declare(raw.name, `${pascal}Reader`, `the reader of register "${name}"`);
        this.#declare(raw.name, `${pascal}Writer`, `the writer of register "${name}"`);
      }
    }

    const window = windowByName.get(raw.window.text);
    if (window === undefined) {
      const known = [...windowByName.keys()].map((w) => `"${w}"`).join(", ");
      this.#error(
        raw.window,
        `Unknown window "${raw.window.text}" for register "${name}"${
          known === "" ? "" : `: expected ${known}`
        }`,
      );
    }

    const widthOk = WIDTHS.includes(raw.width.value);
    const width = (widthOk ? raw.width.value : 32) as RegisterWidth;
    if (!widthOk) {
      this.#error(raw.width, `Register width must be 8, 16 or 32, found ${raw.width.text}`);
    }
    const access = this.#access(raw.access) ?? "rw";
    const widthMask = 2 ** width - 1;

    const offset = raw.offset.value;
    if (widthOk && window !== undefined) {
      if (offset + (window.ports ? 1 : width / 8) > window.size) {
        this.#error(
          raw.offset,
          `Register "${name}" at offset ${
            hex(offset)
          } is outside window "${window.name}" (${window.size} bytes)`,
        );
      } else if (offset % (width / 8) !== 0) {
        this.#error(
          raw.offset,
          `Register "${name}" at offset ${hex(offset)} is not aligned to its width (${width} bits)`,
        );
      }
    }

    const reset = raw.reset?.value ?? 0;
    if (raw.reset !== undefined && widthOk && reset > widthMask) {
      this.#error(
        raw.reset,
        `Reset value ${raw.reset.text} does not fit in ${width}-bit register "${name}"`,
      );
    }
    if (raw.doorbell !== undefined && access === "ro") {
      this.#error(raw.doorbell, `Register "${name}" is read-only, so it cannot be a doorbell`);
    }

    const fields: FieldDesc[] = [];
    const members = new Map<string, RawField>();
    for (const f of raw.fields) {
      const field = this.#field(f, raw, widthOk ? width : undefined, access, fields, members);
      fields.push(field);
    }

    return {
      name,
      window: raw.window.text,
      offset,
      width,
      access,
      reset,
      doorbell: raw.doorbell !== undefined,
      fields,
      line: raw.name.line,
      column: raw.name.column,
      ...(raw.doc !== undefined && { doc: raw.doc }),
    };
  }

  #field(
    f: RawField,
    register: RawRegister,
    width: RegisterWidth | undefined,
    registerAccess: RegisterAccess,
    previous: readonly FieldDesc[],
    members: Map<string, RawField>,
  ): FieldDesc {
    const name = f.name.text;
    const where = `register "${register.name.text}"`;
    const msb = f.msb.value;
    const lsb = f.lsb?.value ?? msb;
    let bitsOk = true;
    if (lsb > msb) {
      bitsOk = false;
      this.#error(f.msb, `Bit range [${msb}:${lsb}] must be written high:low, as [${lsb}:${msb}]`);
    } else if (width !== undefined && msb >= width) {
      bitsOk = false;
      this.#error(
        msb === lsb || lsb < width ? f.msb : f.lsb ?? f.msb,
        `Bit ${msb} of field "${name}" is out of range for ${width}-bit ${where} (bits ${
          width - 1
        }..0)`,
      );
    }
    if (bitsOk && width !== undefined) {
      const other = previous.find((p) => p.lsb <= msb && lsb <= p.msb);
      if (other !== undefined) {
        this.#error(
          f.name,
          `Field "${name}" ${bitRange(msb, lsb)} overlaps field "${other.name}" ${
            bitRange(other.msb, other.lsb)
          } in ${where}`,
        );
      }
    }

    let access = registerAccess;
    if (f.access !== undefined) {
      const given = this.#access(f.access);
      if (given !== undefined) {
        const allowed = FIELD_ACCESS[registerAccess];
        if (allowed.includes(given)) access = given;
        else {
          this.#error(
            f.access,
            `Field access "${given}" is not allowed in a ${registerAccess} register: expected ${
              allowed.join(" or ")
            }`,
          );
        }
      }
    }

    let enumDesc: EnumDesc | undefined;
    if (f.values !== undefined) enumDesc = this.#enum(f, register, msb, lsb, bitsOk);

    if (this.#name(f.name, "Field")) {
      const method = camelCase(name);
      const methods = enumDesc === undefined ? [method] : [method, `${method}Name`];
      for (const m of methods) {
        const first = members.get(m);
        if (first !== undefined) {
          this.#error(
            f.name,
            first.name.text === name
              ? `Duplicate field "${name}" in ${where} (first declared at line ${first.name.line})`
              : `Field "${name}" and "${first.name.text}" (line ${first.name.line}) both define ${m}() in ${where}`,
          );
          break;
        }
        if (RESERVED_MEMBERS.has(m)) {
          this.#error(
            f.name,
            `Field name "${name}" is reserved: readers and writers define ${m}()`,
          );
          break;
        }
        members.set(m, f);
      }
    }

    return {
      name,
      msb,
      lsb,
      access,
      ...(enumDesc !== undefined && { enum: enumDesc }),
      line: f.name.line,
      column: f.name.column,
      ...(f.doc !== undefined && { doc: f.doc }),
    };
  }

  #enum(f: RawField, register: RawRegister, msb: number, lsb: number, bitsOk: boolean): EnumDesc {
    const at = f.enumName ?? f.name;
    let name = pascalCase(f.name.text);
    if (f.enumName !== undefined) {
      name = f.enumName.text;
      if (!/^[A-Z]/.test(name)) {
        this.#error(f.enumName, `Enum name "${name}" must start with an upper-case letter`);
      }
    }
    const owner = `field "${f.name.text}" in register "${register.name.text}"`;
    this.#declare(at, name, `the enum of ${owner}`, true);
    const raw = f.values ?? [];
    if (raw.length === 0) this.#error(f.name, `The enum of ${owner} has no values`);
    const fieldMax = bitsOk ? 2 ** (msb - lsb + 1) - 1 : Infinity;
    const values: EnumValueDesc[] = [];
    const byName = new Map<string, Token>();
    const byValue = new Map<number, Token>();
    for (const v of raw) {
      this.#name(v.name, "Enum value");
      const first = byName.get(v.name.text);
      if (first !== undefined) {
        this.#error(v.name, `Duplicate enum value "${v.name.text}" (first at line ${first.line})`);
      } else byName.set(v.name.text, v.name);
      if (v.value.value > fieldMax) {
        this.#error(
          v.value,
          `Enum value ${v.name.text} = ${v.value.text} does not fit in field "${f.name.text}" ${
            bitRange(msb, lsb)
          } (at most ${hex(fieldMax)})`,
        );
      } else {
        const same = byValue.get(v.value.value);
        if (same !== undefined) {
          this.#error(
            v.value,
            `Enum values "${same.text}" and "${v.name.text}" are both ${v.value.text}`,
          );
        } else byValue.set(v.value.value, v.name);
      }
      values.push({
        name: v.name.text,
        value: v.value.value,
        line: v.name.line,
        column: v.name.column,
        ...(v.doc !== undefined && { doc: v.doc }),
      });
    }
    return { name, values, line: at.line, column: at.column };
  }

  /** Reports registers in the same window whose bytes overlap, except a ro/wo pair. */
  #overlaps(
    raw: RawRegister,
    desc: RegisterDesc,
    placed: readonly { raw: RawRegister; desc: RegisterDesc }[],
    ports: boolean,
  ): void {
    // In port space a register is decoded by its offset alone; in memory it covers its bytes.
    const extent = (r: RegisterDesc) => ports ? 0 : r.width / 8 - 1;
    const end = desc.offset + extent(desc);
    for (const p of placed) {
      const other = p.desc;
      if (other.window !== desc.window) continue;
      const otherEnd = other.offset + extent(other);
      if (other.offset > end || desc.offset > otherEnd) continue;
      const pair = (desc.access === "ro" && other.access === "wo") ||
        (desc.access === "wo" && other.access === "ro");
      if (pair && other.offset === desc.offset && other.width === desc.width) continue;
      const span = (start: number, last: number) =>
        start === last ? hex(start) : `${hex(start)}-${hex(last)}`;
      this.#error(
        raw.offset,
        `Register "${desc.name}" (${span(desc.offset, end)}) overlaps "${other.name}" (${
          span(other.offset, otherEnd)
        }, line ${other.line}) in window "${desc.window}": only a ro and a wo register of the same width may share an offset`,
      );
      return;
    }
  }

  #access(t: Token): RegisterAccess | undefined {
    if (isAccess(t.text)) return t.text;
    this.#error(t, `Unknown access mode "${t.text}": expected rw, ro, wo or w1c`);
    return undefined;
  }

  /** Checks that a declared name starts with a letter; returns whether it does. */
  #name(t: Token, kind: string): boolean {
    if (!/^[A-Za-z]/.test(t.text)) {
      this.#error(t, `${kind} name "${t.text}" must start with a letter`);
      return false;
    }
    if (t.text.length > MAX_NAME) {
      this.#error(t, `${kind} name "${t.text}" is longer than ${MAX_NAME} characters`);
      return false;
    }
    return true;
  }

  /** Claims a generated top-level identifier for `what`, reporting a clash. */
  #declare(at: Token, identifier: string, what: string, renamable = false): void {
    const first = this.#topLevel.get(identifier);
    if (first === undefined) {
      this.#topLevel.set(identifier, what);
      return;
    }
    this.#error(
      at,
      `Generated name "${identifier}" of ${what} is already used by ${first}${
        renamable ? `; rename the enum with "as NAME"` : ""
      }`,
    );
  }

  #error(at: { readonly line: number; readonly column: number }, message: string): void {
    this.errors.push({ message, line: at.line, column: at.column });
  }
}
