// Tokenizer for the IDL. Never throws: bad characters are reported and skipped.

/** A place in the source: 1-based line and column (UTF-16 code units). */
export interface Pos {
  readonly line: number;
  readonly column: number;
}

/** One token. `text` is the source text; numbers keep theirs for messages. */
export interface Token extends Pos {
  readonly kind: "ident" | "number" | "punct" | "eof";
  readonly text: string;
  /** Set on a malformed number (already reported): it parses as a number but has no value. */
  readonly invalid?: true;
}

/** Reports a problem at a position; returns nothing so the lexer can go on. */
export type Report = (reason: string, pos: Pos) => void;

/**
 * The longest name accepted. Names this short keep every generated TypeScript line within the
 * formatter's width (with MAX_TYPE_DEPTH), so generated modules need no formatter run.
 */
export const MAX_NAME_LENGTH = 32;

/** Words that cannot be used as names. */
export const KEYWORDS: ReadonlySet<string> = new Set([
  "interface",
  "struct",
  "enum",
  "typedef",
  "sequence",
  "void",
  "int",
  "i8",
  "i16",
  "i32",
  "i64",
  "u8",
  "u16",
  "u32",
  "u64",
  "bool",
  "string",
  "bytes",
  "cap_t",
]);

const PUNCT = "{}()<>,;:=-";

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Shows a character in a message: printable ASCII as itself, anything else as U+XXXX too. */
export function showChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  if (code >= 0x21 && code <= 0x7e) return `"${ch}"`;
  const hex = code.toString(16).toUpperCase().padStart(4, "0");
  return code >= 0xa0 && !(code >= 0xd800 && code <= 0xdfff) ? `"${ch}" (U+${hex})` : `U+${hex}`;
}

/** Splits `source` into tokens, ending with one `eof` token. Linear in the length of `source`. */
export function tokenize(source: string, report: Report): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const n = source.length;
  while (i < n) {
    const c = source.charCodeAt(i);
    const column = i - lineStart + 1;
    if (c === 10) {
      i++;
      line++;
      lineStart = i;
    } else if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) {
      i++;
    } else if (c === 47 && source.charCodeAt(i + 1) === 47) {
      while (i < n && source.charCodeAt(i) !== 10) i++;
    } else if (c === 47 && source.charCodeAt(i + 1) === 42) {
      const start = { line, column };
      i += 2;
      let closed = false;
      while (i < n) {
        const d = source.charCodeAt(i);
        if (d === 42 && source.charCodeAt(i + 1) === 47) {
          i += 2;
          closed = true;
          break;
        }
        i++;
        if (d === 10) {
          line++;
          lineStart = i;
        }
      }
      if (!closed) report('Unterminated comment: "/*" has no matching "*/"', start);
    } else if (isIdentStart(c)) {
      const start = i;
      while (i < n && isIdentPart(source.charCodeAt(i))) i++;
      const text = source.slice(start, i);
      if (text.length > MAX_NAME_LENGTH) {
        const size = `${text.length} characters; at most ${MAX_NAME_LENGTH}`;
        report(`Name "${clip(text)}" is too long (${size})`, { line, column });
      }
      tokens.push({ kind: "ident", text, line, column });
    } else if (isDigit(c)) {
      const start = i;
      while (i < n && isIdentPart(source.charCodeAt(i))) i++;
      const text = source.slice(start, i);
      if (/^(?:[0-9]+|0[xX][0-9a-fA-F]+)$/.test(text)) {
        tokens.push({ kind: "number", text, line, column });
      } else {
        report(`Invalid number "${clip(text)}"`, { line, column });
        tokens.push({ kind: "number", text, line, column, invalid: true });
      }
    } else if (PUNCT.includes(source[i] ?? "")) {
      tokens.push({ kind: "punct", text: source[i] ?? "", line, column });
      i++;
    } else {
      const cp = source.codePointAt(i) ?? c;
      const ch = String.fromCodePoint(cp);
      report(`Unexpected character ${showChar(ch)}`, { line, column });
      i += ch.length;
    }
  }
  tokens.push({ kind: "eof", text: "", line, column: n - lineStart + 1 });
  return tokens;
}

/** Shortens long text for a message. */
export function clip(text: string): string {
  return text.length > 24 ? text.slice(0, 21) + "..." : text;
}
