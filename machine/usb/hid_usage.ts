/**
 * Keyboard usages (HID Usage Tables, page 0x07 "Keyboard/Keypad") and the US layout that maps
 * them to characters, in both directions: the keyboard model uses it to turn text into boot
 * reports, a keyboard driver uses it to turn reports back into text. It imports nothing, so a
 * driver package may re-export it.
 *
 * @module
 */

/** Modifier bits of byte 0 of a boot keyboard report (HID 1.11, appendix B.1). */
export const HID_MODIFIER = {
  LEFT_CTRL: 0x01,
  LEFT_SHIFT: 0x02,
  LEFT_ALT: 0x04,
  LEFT_GUI: 0x08,
  RIGHT_CTRL: 0x10,
  RIGHT_SHIFT: 0x20,
  RIGHT_ALT: 0x40,
  RIGHT_GUI: 0x80,
} as const;

/** Either shift key: what a driver tests to choose the shifted character. */
export const HID_SHIFT_MASK: number = HID_MODIFIER.LEFT_SHIFT | HID_MODIFIER.RIGHT_SHIFT;

/** Usages of keys without a printable character that a driver commonly needs. */
export const HID_USAGE = {
  /** Reported in every key slot when too many keys are down ("ErrorRollOver"). */
  ERROR_ROLL_OVER: 0x01,
  ENTER: 0x28,
  ESCAPE: 0x29,
  BACKSPACE: 0x2a,
  TAB: 0x2b,
  SPACE: 0x2c,
  CAPS_LOCK: 0x39,
  RIGHT_ARROW: 0x4f,
  LEFT_ARROW: 0x50,
  DOWN_ARROW: 0x51,
  UP_ARROW: 0x52,
} as const;

/** A key and whether shift is held: how one character is typed. */
export interface HidKeyStroke {
  /** The usage id on page 0x07. */
  readonly usage: number;
  /** Whether the character needs shift. */
  readonly shift: boolean;
}

/** The characters of one key on a US keyboard. */
export interface HidKeyCharacters {
  /** The character without shift. */
  readonly plain: string;
  /** The character with shift (the same as `plain` for keys that shift does not change). */
  readonly shifted: string;
}

/** Rows of the US layout: usage, plain character, shifted character. */
const US_ROWS: readonly (readonly [number, string, string])[] = [
  ...[..."abcdefghijklmnopqrstuvwxyz"].map((c, i) => [0x04 + i, c, c.toUpperCase()] as const),
  [0x1e, "1", "!"],
  [0x1f, "2", "@"],
  [0x20, "3", "#"],
  [0x21, "4", "$"],
  [0x22, "5", "%"],
  [0x23, "6", "^"],
  [0x24, "7", "&"],
  [0x25, "8", "*"],
  [0x26, "9", "("],
  [0x27, "0", ")"],
  [HID_USAGE.ENTER, "\n", "\n"],
  [HID_USAGE.ESCAPE, "\x1b", "\x1b"],
  [HID_USAGE.BACKSPACE, "\b", "\b"],
  [HID_USAGE.TAB, "\t", "\t"],
  [HID_USAGE.SPACE, " ", " "],
  [0x2d, "-", "_"],
  [0x2e, "=", "+"],
  [0x2f, "[", "{"],
  [0x30, "]", "}"],
  [0x31, "\\", "|"],
  [0x33, ";", ":"],
  [0x34, "'", '"'],
  [0x35, "`", "~"],
  [0x36, ",", "<"],
  [0x37, ".", ">"],
  [0x38, "/", "?"],
];

/**
 * Usage id -> characters, US layout: letters, digits, Enter ("\n"), Escape, Backspace ("\b"), Tab,
 * Space and the punctuation keys.
 *
 * @example
 * ```ts
 * import { HID_CHARS_BY_USAGE } from "./hid_usage.ts";
 * HID_CHARS_BY_USAGE.get(0x1e); // { plain: "1", shifted: "!" }
 * ```
 */
export const HID_CHARS_BY_USAGE: ReadonlyMap<number, HidKeyCharacters> = new Map(
  US_ROWS.map(([usage, plain, shifted]) => [usage, { plain, shifted }]),
);

/**
 * Character -> keystroke, US layout: the inverse of {@linkcode HID_CHARS_BY_USAGE}. Keys that
 * shift does not change are typed without shift.
 *
 * @example
 * ```ts
 * import { HID_STROKE_BY_CHAR } from "./hid_usage.ts";
 * HID_STROKE_BY_CHAR.get("H"); // { usage: 0x0b, shift: true }
 * ```
 */
export const HID_STROKE_BY_CHAR: ReadonlyMap<string, HidKeyStroke> = new Map(
  US_ROWS.flatMap(([usage, plain, shifted]): [string, HidKeyStroke][] =>
    plain === shifted
      ? [[plain, { usage, shift: false }]]
      : [[plain, { usage, shift: false }], [shifted, { usage, shift: true }]]
  ),
);

/**
 * The keystroke that types `char` on a US keyboard; a character with no key is a RangeError
 * naming it.
 *
 * @example
 * ```ts
 * import { hidStrokeOf } from "./hid_usage.ts";
 * hidStrokeOf("!"); // { usage: 0x1e, shift: true }
 * ```
 */
export function hidStrokeOf(char: string): HidKeyStroke {
  const stroke = HID_STROKE_BY_CHAR.get(char);
  if (!stroke) {
    throw new RangeError(
      `Cannot type ${JSON.stringify(char)}: no key on the US keyboard layout produces it`,
    );
  }
  return stroke;
}

/**
 * The character a key produces with the given modifier byte, or `undefined` for a key with no
 * character (a modifier, an arrow, a function key, or no key: usage 0).
 *
 * @example
 * ```ts
 * import { HID_MODIFIER, hidCharOf } from "./hid_usage.ts";
 * hidCharOf(0x0b, HID_MODIFIER.LEFT_SHIFT); // "H"
 * hidCharOf(0x0c, 0); // "i"
 * ```
 */
export function hidCharOf(usage: number, modifiers: number): string | undefined {
  const chars = HID_CHARS_BY_USAGE.get(usage);
  if (!chars) return undefined;
  return modifiers & HID_SHIFT_MASK ? chars.shifted : chars.plain;
}
