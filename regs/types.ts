/**
 * A parsed register description: the {@linkcode DeviceMap} data plus where each part was written
 * and its documentation (the `#` comment at the end of its line).
 *
 * @module
 */

import type {
  DeviceMap,
  EnumMap,
  EnumValueMap,
  FieldMap,
  RegisterMap,
  WindowMap,
} from "./runtime.ts";

/** A position in the source: 1-based line and column. */
export interface SourcePosition {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
}

/** The trailing `# comment` of a declaration's line, if any. */
export interface Documented {
  /** The comment's text, trimmed. */
  readonly doc?: string;
}

/** A named value of an enum, as written. */
export interface EnumValueDesc extends EnumValueMap, SourcePosition, Documented {}

/** An enum attached to a field; its position is that of its name (`as Name`, or the field's). */
export interface EnumDesc extends EnumMap, SourcePosition {
  /** The named values, in source order. */
  readonly values: readonly EnumValueDesc[];
}

/** A bit field, as written; the position is that of its name. */
export interface FieldDesc extends FieldMap, SourcePosition, Documented {
  /** Named values of the field, if it has any. */
  readonly enum?: EnumDesc;
}

/** A register, as written; the position is that of its name. */
export interface RegisterDesc extends RegisterMap, SourcePosition, Documented {
  /** Bit fields, in source order. */
  readonly fields: readonly FieldDesc[];
}

/** A register window, as written. */
export interface WindowDesc extends WindowMap, SourcePosition, Documented {}

/**
 * A checked register description: what `parseRegs()` returns and the compilers take.
 * It is a {@linkcode DeviceMap}, so it can be used wherever the plain map is expected.
 * The position is that of the device's name.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseRegs } from "./parse.ts";
 * const desc = parseRegs("device d  # a test device\nwindow io 4096\n");
 * assertEquals([desc.name, desc.doc, desc.line, desc.column], ["d", "a test device", 1, 8]);
 * ```
 */
export interface RegsDesc extends DeviceMap, SourcePosition, Documented {
  /** Register windows, in source order. */
  readonly windows: readonly WindowDesc[];
  /** Registers, in source order. */
  readonly registers: readonly RegisterDesc[];
}
