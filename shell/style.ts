/**
 * Colours for shell output: real ANSI styles on a terminal, plain text otherwise. Commands paint
 * through the {@link Styles} their context carries and never decide for themselves whether colour
 * is wanted.
 *
 * @module
 */

import * as colors from "@std/fmt/colors";

/** The styles a command may use. Each returns its argument unchanged when colour is off. */
export interface Styles {
  readonly enabled: boolean;
  readonly bold: (text: string) => string;
  readonly dim: (text: string) => string;
  readonly red: (text: string) => string;
  readonly green: (text: string) => string;
  readonly yellow: (text: string) => string;
  readonly cyan: (text: string) => string;
  readonly magenta: (text: string) => string;
}

const plain = (text: string): string => text;

/**
 * The styles for an output: colour only when `enabled` (the shell CLI enables it when standard
 * output is a terminal and `NO_COLOR` is not set).
 *
 * @example
 * ```ts
 * import { styles } from "./style.ts";
 * styles(false).red("error"); // "error"
 * ```
 */
export function styles(enabled: boolean): Styles {
  if (!enabled) {
    return {
      enabled,
      bold: plain,
      dim: plain,
      red: plain,
      green: plain,
      yellow: plain,
      cyan: plain,
      magenta: plain,
    };
  }
  return {
    enabled,
    bold: colors.bold,
    dim: colors.dim,
    red: colors.red,
    green: colors.green,
    yellow: colors.yellow,
    cyan: colors.cyan,
    magenta: colors.magenta,
  };
}

/**
 * Whether output written to `stream` should be coloured: it is a terminal and the user did not
 * set `NO_COLOR`.
 *
 * @example
 * ```ts
 * import { wantsColor } from "./style.ts";
 * wantsColor(Deno.stdout); // false when piped
 * ```
 */
export function wantsColor(stream: { isTerminal(): boolean }): boolean {
  return stream.isTerminal() && !Deno.noColor;
}
