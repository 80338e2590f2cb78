// Syntax of the register description language, to a raw tree of tokens. Private to regs/.
//
//   file      = { statement | NEWLINE }
//   statement = "device" NAME
//             | "window" NAME SIZE [ "ports" ]
//             | "register" NAME WINDOW OFFSET WIDTH ACCESS { "reset" NUMBER | "doorbell" }
//                 [ "{" { field } "}" ]
//   field     = NAME "[" BIT [ ":" BIT ] "]" [ ACCESS ] [ "as" NAME ] [ "{" { value } "}" ]
//   value     = NAME "=" NUMBER
//
// Statements end at a newline; inside braces, items end at a newline or a comma. Keywords are
// contextual: a register may be called `reset`. Meaning (widths, access modes, overlaps) is
// checked in _validate.ts; this file only records what was written and where.

import { type LexError, type Token, tokenize } from "./_lexer.ts";

/** A named value of an enum block. */
export interface RawValue {
  readonly name: Token;
  readonly value: Token;
  doc?: string;
}

/** A field line. */
export interface RawField {
  readonly name: Token;
  readonly msb: Token;
  /** The low bit, or `undefined` for a one-bit field `[n]`. */
  readonly lsb: Token | undefined;
  readonly access: Token | undefined;
  readonly enumName: Token | undefined;
  /** The enum block's values, or `undefined` if the field has no `{ ... }`. */
  readonly values: RawValue[] | undefined;
  line: number;
  doc?: string;
}

/** A register statement. */
export interface RawRegister {
  readonly name: Token;
  readonly window: Token;
  readonly offset: Token;
  readonly width: Token;
  readonly access: Token;
  readonly reset: Token | undefined;
  readonly doorbell: Token | undefined;
  readonly fields: RawField[];
  readonly doc: string | undefined;
}

/** A window statement. */
export interface RawWindow {
  readonly name: Token;
  readonly size: Token;
  readonly ports: boolean;
  readonly doc: string | undefined;
}

/** A device statement. */
export interface RawDevice {
  readonly keyword: Token;
  readonly name: Token;
  readonly doc: string | undefined;
}

/** Everything that parsed, in source order per kind. */
export interface RawFile {
  readonly devices: RawDevice[];
  readonly windows: RawWindow[];
  readonly registers: RawRegister[];
}

/** A syntax error, not yet tied to a file. */
export type Problem = LexError;

/** Thrown to abandon a statement or item whose error has been recorded already. */
class Abort {}

const ABORT = new Abort();

/** Parses `source`; what does not parse is reported in `errors` and skipped line by line. */
export function parseRaw(source: string): { file: RawFile; errors: Problem[] } {
  const { tokens, errors } = tokenize(source);
  const parser = new Parser(tokens, errors);
  return { file: parser.file(), errors };
}

class Parser {
  readonly #tokens: Token[];
  readonly #errors: Problem[];
  #pos = 0;

  constructor(tokens: Token[], errors: Problem[]) {
    this.#tokens = tokens;
    this.#errors = errors;
  }

  file(): RawFile {
    const file: RawFile = { devices: [], windows: [], registers: [] };
    for (;;) {
      const t = this.#peek();
      if (t.kind === "eof") return file;
      if (t.kind === "newline") {
        this.#next();
        continue;
      }
      try {
        if (t.kind === "ident" && t.text === "device") file.devices.push(this.#device());
        else if (t.kind === "ident" && t.text === "window") file.windows.push(this.#window());
        else if (t.kind === "ident" && t.text === "register") {
          file.registers.push(this.#register());
        } else {
          this.#fail(t, `Expected "device", "window" or "register", found ${describe(t)}`);
        }
      } catch (e) {
        if (!(e instanceof Abort)) throw e;
        this.#skip(false);
      }
    }
  }

  #device(): RawDevice {
    const keyword = this.#next();
    const name = this.#ident("a device name");
    return { keyword, name, doc: this.#end() };
  }

  #window(): RawWindow {
    this.#next();
    const name = this.#ident("a window name");
    const size = this.#number("the window size in bytes");
    let ports = false;
    while (this.#peek().kind === "ident") {
      const option = this.#next();
      if (option.text !== "ports") {
        this.#fail(option, `Unknown window option "${option.text}": expected "ports"`);
      }
      if (ports) this.#report(option, `"ports" is given twice`);
      ports = true;
    }
    return { name, size, ports, doc: this.#end() };
  }

  #register(): RawRegister {
    this.#next();
    const name = this.#ident("a register name");
    const window = this.#ident("the register's window");
    const offset = this.#number("the register offset");
    const width = this.#number("the register width (8, 16 or 32)");
    const access = this.#ident("an access mode (rw, ro, wo or w1c)");
    let reset: Token | undefined;
    let doorbell: Token | undefined;
    while (this.#peek().kind === "ident") {
      const option = this.#next();
      if (option.text === "reset") {
        if (reset !== undefined) this.#report(option, `Register "${name.text}" has two resets`);
        reset = this.#number("the reset value");
      } else if (option.text === "doorbell") {
        if (doorbell !== undefined) this.#report(option, `"doorbell" is given twice`);
        doorbell = option;
      } else {
        this.#fail(
          option,
          `Unknown register option "${option.text}": expected "reset VALUE" or "doorbell"`,
        );
      }
    }
    let fields: RawField[] = [];
    let doc: string | undefined;
    if (this.#isPunct(this.#peek(), "{")) {
      ({ items: fields, doc } = this.#block(() => this.#field(), "a field"));
    }
    const after = this.#end();
    return { name, window, offset, width, access, reset, doorbell, fields, doc: doc ?? after };
  }

  #field(): RawField {
    const name = this.#ident("a field name");
    this.#punct("[", `after field "${name.text}"`);
    const msb = this.#number("a bit number");
    let lsb: Token | undefined;
    if (this.#isPunct(this.#peek(), ":")) {
      this.#next();
      lsb = this.#number("the low bit number");
    }
    this.#punct("]", "to close the bit range");
    let access: Token | undefined;
    let enumName: Token | undefined;
    let values: RawValue[] | undefined;
    let doc: string | undefined;
    const next = this.#peek();
    if (next.kind === "ident" && next.text !== "as") access = this.#next();
    if (this.#peek().kind === "ident" && this.#peek().text === "as") {
      this.#next();
      enumName = this.#ident("an enum name");
      if (!this.#isPunct(this.#peek(), "{")) {
        this.#fail(this.#peek(), `Expected "{" to list the values of enum "${enumName.text}"`);
      }
    }
    if (this.#isPunct(this.#peek(), "{")) {
      ({ items: values, doc } = this.#block(() => this.#value(), "an enum value"));
    }
    const field: RawField = { name, msb, lsb, access, enumName, values, line: name.line };
    if (doc !== undefined) field.doc = doc;
    return field;
  }

  #value(): RawValue {
    const name = this.#ident("an enum value name");
    this.#punct("=", `after enum value "${name.text}"`);
    return { name, value: this.#number("a value") };
  }

  /** Parses `{ item, item \n item }`; `doc` is the comment of the `{` line if it has no item. */
  #block<T extends { readonly name: Token; doc?: string }>(
    item: () => T,
    what: string,
  ): { items: T[]; doc: string | undefined } {
    const open = this.#next();
    const items: T[] = [];
    let doc: string | undefined;
    for (;;) {
      const t = this.#peek();
      if (t.kind === "newline") {
        this.#next();
        if (t.line === open.line && items.length === 0) doc = t.comment;
        continue;
      }
      if (this.#isPunct(t, ",")) {
        this.#next();
        continue;
      }
      if (this.#isPunct(t, "}")) {
        this.#next();
        return { items, doc };
      }
      if (t.kind === "eof") this.#fail(open, `Unclosed "{": expected "}" before the end of file`);
      try {
        const parsed = item();
        let after = this.#peek();
        if (this.#isPunct(after, ",")) {
          this.#next();
          after = this.#peek();
        } else if (after.kind !== "newline" && after.kind !== "eof" && !this.#isPunct(after, "}")) {
          this.#fail(after, `Expected "," or end of line after ${what}, found ${describe(after)}`);
        }
        if (after.kind === "newline" && after.comment !== undefined) {
          if (after.line === parsed.name.line) parsed.doc = after.comment;
        }
        items.push(parsed);
      } catch (e) {
        if (!(e instanceof Abort)) throw e;
        this.#skip(true);
      }
    }
  }

  /** Consumes the end of a statement and returns the line's comment. */
  #end(): string | undefined {
    const t = this.#peek();
    if (t.kind === "eof") return undefined;
    if (t.kind === "newline") {
      this.#next();
      return t.comment;
    }
    return this.#fail(t, `Expected end of line, found ${describe(t)}`);
  }

  /**
   * Skips the rest of a broken statement or item: through the end of its line (and any braces it
   * opened). In a block, stops before a `}` that closes the block, and after a `,`.
   */
  #skip(inBlock: boolean): void {
    let depth = 0;
    for (;;) {
      const t = this.#peek();
      if (t.kind === "eof") return;
      if (this.#isPunct(t, "}") && depth === 0 && inBlock) return;
      this.#next();
      if (this.#isPunct(t, "{")) depth++;
      else if (this.#isPunct(t, "}")) depth = Math.max(0, depth - 1);
      else if (depth === 0 && (t.kind === "newline" || (inBlock && this.#isPunct(t, ",")))) return;
    }
  }

  #ident(what: string): Token {
    const t = this.#peek();
    if (t.kind !== "ident") this.#fail(t, `Expected ${what}, found ${describe(t)}`);
    return this.#next();
  }

  #number(what: string): Token {
    const t = this.#peek();
    if (t.kind !== "number") this.#fail(t, `Expected ${what}, found ${describe(t)}`);
    this.#next();
    if (Number.isNaN(t.value)) throw ABORT; // malformed: the lexer has reported it
    return t;
  }

  #punct(p: string, context: string): Token {
    const t = this.#peek();
    if (!this.#isPunct(t, p)) this.#fail(t, `Expected "${p}" ${context}, found ${describe(t)}`);
    return this.#next();
  }

  #isPunct(t: Token, p: string): boolean {
    return t.kind === "punct" && t.text === p;
  }

  #peek(): Token {
    // The token list always ends with "eof", and #next never moves past it.
    return this.#tokens[this.#pos] ?? this.#tokens[this.#tokens.length - 1]!;
  }

  #next(): Token {
    const t = this.#peek();
    if (t.kind !== "eof") this.#pos++;
    return t;
  }

  #report(t: Token, message: string): void {
    this.#errors.push({ message, line: t.line, column: t.column });
  }

  #fail(t: Token, message: string): never {
    this.#report(t, message);
    throw ABORT;
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case "eof":
      return "end of file";
    case "newline":
      return "end of line";
    default:
      return `"${t.text.length > 20 ? `${t.text.slice(0, 20)}...` : t.text}"`;
  }
}
