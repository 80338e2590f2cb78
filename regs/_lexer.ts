// Tokenizer for the register description language. Private to regs/.
//
// Tokens: identifiers, numbers (decimal, 0x hex, 0b binary; `_` between digits), the punctuation
// `{ } [ ] : = ,`, and newlines. A `#` comment runs to the end of its line and is attached to that
// line's newline token, where the parser takes it as documentation.

/** The kinds of token. */
export type TokenKind = "ident" | "number" | "punct" | "newline" | "eof";

/** One token; `value` is set for numbers, `comment` for newlines ending a commented line. */
export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly line: number;
  readonly column: number;
  readonly value: number;
  readonly comment?: string;
}

/** A character the lexer could not use, or a malformed number. */
export interface LexError {
  readonly message: string;
  readonly line: number;
  readonly column: number;
}

const PUNCTUATION = "{}[]:=,";
const NUMBER_SYNTAX =
  /^(?:0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|0[bB][01]+(?:_[01]+)*|[0-9]+(?:_[0-9]+)*)$/;

function isIdentStart(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
}

function isIdentPart(c: string): boolean {
  return isIdentStart(c) || (c >= "0" && c <= "9");
}

/** Parses a number's text (already matched by {@link NUMBER_SYNTAX}). Huge values become large. */
function numberValue(text: string): number {
  const digits = text.replaceAll("_", "");
  if (/^0[xXbB]/.test(digits)) {
    // Number() accepts 0x/0b prefixes; beyond 2^53 precision is lost, which only makes a too
    // large value stay too large.
    return Number(digits.slice(0, 2).toLowerCase() + digits.slice(2));
  }
  return Number(digits);
}

/** Splits `source` into tokens; what it cannot use is reported in `errors` and skipped. */
export function tokenize(source: string): { tokens: Token[]; errors: LexError[] } {
  const tokens: Token[] = [];
  const errors: LexError[] = [];
  let i = source.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let lineStart = 0;
  let comment: string | undefined;
  let badRun = -1; // index just after the last skipped bad character, to report a run once

  const push = (kind: TokenKind, text: string, start: number, value = 0): void => {
    tokens.push({ kind, text, line, column: start - lineStart + 1, value });
  };

  while (i < source.length) {
    const c = source.charAt(i);
    if (c === "\n") {
      const token: Token = {
        kind: "newline",
        text: "\n",
        line,
        column: i - lineStart + 1,
        value: 0,
      };
      tokens.push(comment === undefined ? token : { ...token, comment });
      comment = undefined;
      i++;
      line++;
      lineStart = i;
    } else if (c === " " || c === "\t" || c === "\r") {
      i++;
    } else if (c === "#") {
      const end = source.indexOf("\n", i);
      const stop = end === -1 ? source.length : end;
      // Control characters, line separators and lone surrogates would break the comments we
      // generate from this one (or their encoding), so they become spaces and U+FFFD.
      const text = source.slice(i + 1, stop).toWellFormed();
      // deno-lint-ignore no-control-regex
      comment = text.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, " ").trim();
      i = stop;
    } else if (isIdentStart(c)) {
      const start = i;
      while (i < source.length && isIdentPart(source.charAt(i))) i++;
      push("ident", source.slice(start, i), start);
    } else if (c >= "0" && c <= "9") {
      const start = i;
      while (i < source.length && isIdentPart(source.charAt(i))) i++;
      const text = source.slice(start, i);
      if (NUMBER_SYNTAX.test(text)) {
        push("number", text, start, numberValue(text));
      } else {
        errors.push({ message: `Malformed number "${text}"`, line, column: start - lineStart + 1 });
        push("number", text, start, Number.NaN);
      }
    } else if (PUNCTUATION.includes(c)) {
      push("punct", c, i);
      i++;
    } else {
      if (badRun !== i) {
        const shown = /^[\x21-\x7e]$/.test(c)
          ? `"${c}"`
          : `U+${source.codePointAt(i)?.toString(16).toUpperCase().padStart(4, "0")}`;
        errors.push({ message: `Unexpected character ${shown}`, line, column: i - lineStart + 1 });
      }
      i++;
      badRun = i;
    }
  }
  const last: Token = { kind: "newline", text: "", line, column: i - lineStart + 1, value: 0 };
  tokens.push(comment === undefined ? last : { ...last, comment });
  tokens.push({ kind: "eof", text: "", line, column: i - lineStart + 1, value: 0 });
  return { tokens, errors };
}
