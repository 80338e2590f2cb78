// What every backend needs to know about a checked description, computed once: generated names,
// masks, and which methods exist. A new backend walks this model and only decides syntax.
// Private to regs/.

import { camelCase, pascalCase, pythonSafe, snakeCase, upperSnakeCase } from "./_names.ts";
import type { RegisterAccess } from "./runtime.ts";
import type { EnumDesc, FieldDesc, RegisterDesc, RegsDesc } from "./types.ts";

/** How a writer sets a field. */
export type FieldWrite =
  /** Not at all: the field is read-only. */
  | "none"
  /** `w.field(value)`, masked to the field width. */
  | "value"
  /** `w.field()` writes ones: the field is write-1-to-clear. */
  | "ones";

/** A field as the backends see it. */
export interface FieldModel {
  readonly desc: FieldDesc;
  /** TypeScript method name: `lbaLow`. */
  readonly method: string;
  /** Python method name: `lba_low` (keywords get a trailing `_`). */
  readonly pyMethod: string;
  /** Constant-case name: `LBA_LOW`. */
  readonly constant: string;
  readonly bits: number;
  /** The field's bits in place, unsigned. */
  readonly mask: number;
  /** The field's value mask, unshifted: `2 ** bits - 1`. */
  readonly valueMask: number;
  /** A one-bit field without enum reads as a boolean. */
  readonly boolean: boolean;
  readonly enum: EnumModel | undefined;
  readonly readable: boolean;
  readonly write: FieldWrite;
}

/** A register as the backends see it. */
export interface RegisterModel {
  readonly desc: RegisterDesc;
  /** Property name on the device class: `lbaLow`. */
  readonly property: string;
  /** Python attribute name: `lba_low`. */
  readonly pyProperty: string;
  readonly registerClass: string;
  readonly readerClass: string;
  readonly writerClass: string;
  /** `2 ** width - 1`. */
  readonly widthMask: number;
  /** Has `read()` and `readRaw()`. */
  readonly readable: boolean;
  /** Has `write(fn)` (from the reset value). */
  readonly hasWrite: boolean;
  /** Has `modify(fn)` (one read, one write). */
  readonly hasModify: boolean;
  /** Has `clear(fn)` (writes ones only to the chosen fields). */
  readonly hasClear: boolean;
  /** Has `writeRaw(value)`. */
  readonly writable: boolean;
  /** Where `write()` starts: the reset value without its write-1-to-clear bits. */
  readonly writeBase: number;
  /** Bits `modify()` keeps from the read value (all but w1c and wo fields). */
  readonly modifyKeep: number;
  /** Bits `modify()` takes from the reset value (wo fields, which cannot be read). */
  readonly modifyFromReset: number;
  readonly fields: readonly FieldModel[];
}

/** An enum as the backends see it. */
export interface EnumModel {
  readonly desc: EnumDesc;
  /** TypeScript const and type name. */
  readonly name: string;
  /** Python class name. */
  readonly pyName: string;
  readonly register: RegisterDesc;
  readonly field: FieldDesc;
}

/** A device as the backends see it. */
export interface DeviceModel {
  readonly desc: RegsDesc;
  readonly deviceClass: string;
  readonly windowsType: string;
  readonly mapName: string;
  readonly registers: readonly RegisterModel[];
  readonly enums: readonly EnumModel[];
}

/** `a & ~b` on unsigned 32-bit values. */
export function andNot(a: number, b: number): number {
  return (a & ~b) >>> 0;
}

/** `a | b` on unsigned 32-bit values. */
function or(a: number, b: number): number {
  return (a | b) >>> 0;
}

function maskOf(field: FieldDesc, access: RegisterAccess[]): number {
  return access.includes(field.access)
    ? (2 ** (field.msb - field.lsb + 1) - 1) * 2 ** field.lsb
    : 0;
}

/** Builds the backend model of a checked description. */
export function buildModel(desc: RegsDesc): DeviceModel {
  const enums: EnumModel[] = [];
  const registers = desc.registers.map((r): RegisterModel => {
    const pascal = pascalCase(r.name);
    const fields = r.fields.map((f): FieldModel => {
      const bits = f.msb - f.lsb + 1;
      let model: EnumModel | undefined;
      if (f.enum !== undefined) {
        model = {
          desc: f.enum,
          name: f.enum.name,
          pyName: pythonSafe(f.enum.name),
          register: r,
          field: f,
        };
        enums.push(model);
      }
      return {
        desc: f,
        method: camelCase(f.name),
        pyMethod: pythonSafe(snakeCase(f.name)),
        constant: upperSnakeCase(f.name),
        bits,
        mask: (2 ** bits - 1) * 2 ** f.lsb,
        valueMask: 2 ** bits - 1,
        boolean: bits === 1 && f.enum === undefined,
        enum: model,
        readable: f.access !== "wo",
        write: f.access === "ro" ? "none" : f.access === "w1c" ? "ones" : "value",
      };
    });
    const widthMask = 2 ** r.width - 1;
    const w1c = r.fields.reduce((m, f) => or(m, maskOf(f, ["w1c"])), 0);
    const wo = r.fields.reduce((m, f) => or(m, maskOf(f, ["wo"])), 0);
    return {
      desc: r,
      property: camelCase(r.name),
      pyProperty: pythonSafe(snakeCase(r.name)),
      registerClass: `${pascal}Register`,
      readerClass: `${pascal}Reader`,
      writerClass: `${pascal}Writer`,
      widthMask,
      readable: r.access !== "wo",
      hasWrite: r.access === "wo" || r.access === "rw",
      hasModify: r.access === "rw",
      hasClear: r.access === "w1c",
      writable: r.access !== "ro",
      writeBase: r.access === "w1c" ? 0 : andNot(r.reset, w1c),
      modifyKeep: andNot(andNot(widthMask, w1c), wo),
      modifyFromReset: (r.reset & wo) >>> 0,
      fields,
    };
  });
  const pascal = pascalCase(desc.name);
  return {
    desc,
    deviceClass: `${pascal}Regs`,
    windowsType: `${pascal}Windows`,
    mapName: `${upperSnakeCase(desc.name)}_MAP`,
    registers,
    enums,
  };
}

/** `0x` and lower-case hex digits, zero-padded to `digits`. */
export function hex(value: number, digits = 1): string {
  return `0x${value.toString(16).padStart(digits, "0")}`;
}

/** Hex padded to the digits of a `width`-bit value. */
export function hexWidth(value: number, width: number): string {
  return hex(value, Math.ceil(width / 4));
}
