// Recursive-descent parser for the IDL, with recovery: a bad member is skipped up to the next ";"
// (or "}"), a bad definition up to the next ";" at brace depth 0. Linear in the number of tokens.

import type { IntName } from "./types.ts";
import { clip, KEYWORDS, type Pos, type Report, type Token, tokenize } from "./_lexer.ts";

/** A type as written, with the position of its first token. */
export type TypeNode =
  & Pos
  & (
    | { readonly kind: "void" | "bool" | "string" | "bytes" | "cap" }
    | { readonly kind: "int"; readonly name: IntName }
    | { readonly kind: "sequence"; readonly of: TypeNode }
    | { readonly kind: "named"; readonly name: string }
  );

/** A name and where it was written. */
export interface NameNode extends Pos {
  readonly name: string;
}

/** A struct field or a method parameter. */
export interface SlotNode extends NameNode {
  readonly type: TypeNode;
}

/** An enum member; `value` is absent when implicit, `null` when the literal was out of range. */
export interface MemberNode extends NameNode {
  readonly value?: { readonly value: number | null; readonly pos: Pos };
}

/** A method declaration. */
export interface MethodNode extends NameNode {
  readonly returns: TypeNode;
  readonly params: readonly SlotNode[];
}

/** A top-level definition; its `line`/`column` are those of its name. */
export type DeclNode =
  | NameNode & { readonly kind: "struct"; readonly fields: readonly SlotNode[] }
  | NameNode & { readonly kind: "enum"; readonly members: readonly MemberNode[] }
  | NameNode & { readonly kind: "alias"; readonly type: TypeNode }
  | NameNode & {
    readonly kind: "interface";
    readonly bases: readonly NameNode[];
    readonly methods: readonly MethodNode[];
  };

/**
 * Deepest `sequence<...>` nesting accepted. It keeps every later walk of a type shallow and, with
 * MAX_NAME_LENGTH, every generated TypeScript type short.
 */
export const MAX_TYPE_DEPTH = 8;

const INT_NAMES: ReadonlySet<string> = new Set([
  "int",
  "i8",
  "i16",
  "i32",
  "i64",
  "u8",
  "u16",
  "u32",
  "u64",
]);

const DEFINITION_KEYWORDS: ReadonlySet<string> = new Set([
  "interface",
  "struct",
  "enum",
  "typedef",
]);

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;

/** Thrown inside the parser to unwind to the nearest recovery point; never escapes. */
class Abort {}

function describe(token: Token): string {
  if (token.kind === "eof") return "end of input";
  if (token.kind === "number") return `number ${clip(token.text)}`;
  if (token.kind === "ident" && KEYWORDS.has(token.text)) return `keyword "${token.text}"`;
  return `"${clip(token.text)}"`;
}

/** Parses one unit. Every problem goes to `report`; the result holds what could be parsed. */
export function parseUnit(source: string, report: Report): DeclNode[] {
  return new Parser(tokenize(source, report), report).unit();
}

class Parser {
  #tokens: readonly Token[];
  #report: Report;
  #at = 0;

  constructor(tokens: readonly Token[], report: Report) {
    this.#tokens = tokens;
    this.#report = report;
  }

  unit(): DeclNode[] {
    const decls: DeclNode[] = [];
    while (this.#peek().kind !== "eof") {
      const start = this.#at;
      try {
        decls.push(this.#definition());
      } catch (e) {
        if (!(e instanceof Abort)) throw e;
        this.#syncTopLevel(start);
      }
    }
    return decls;
  }

  #peek(): Token {
    // The last token is always eof, so clamping keeps every read in range.
    return this.#tokens[Math.min(this.#at, this.#tokens.length - 1)]!;
  }

  #next(): Token {
    const t = this.#peek();
    if (this.#at < this.#tokens.length - 1) this.#at++;
    return t;
  }

  #isPunct(text: string): boolean {
    const t = this.#peek();
    return t.kind === "punct" && t.text === text;
  }

  #fail(reason: string, pos: Pos = this.#peek()): never {
    this.#report(reason, pos);
    throw new Abort();
  }

  #expectPunct(text: string, context: string): Token {
    if (!this.#isPunct(text)) {
      this.#fail(`Expected "${text}" ${context}, found ${describe(this.#peek())}`);
    }
    return this.#next();
  }

  #name(what: string): NameNode {
    const t = this.#peek();
    if (t.kind !== "ident" || KEYWORDS.has(t.text)) {
      this.#fail(`Expected ${what}, found ${describe(t)}`);
    }
    if (t.text === "__proto__") this.#fail(`Cannot use "__proto__" as a name: it is reserved`);
    this.#next();
    return { name: t.text, line: t.line, column: t.column };
  }

  /** Skips a broken definition: to just past the next ";" at depth 0, or to the next keyword. */
  #syncTopLevel(start: number): void {
    if (this.#at === start) this.#next();
    let depth = 0;
    for (;;) {
      const t = this.#peek();
      if (t.kind === "eof") return;
      if (depth === 0 && t.kind === "ident" && DEFINITION_KEYWORDS.has(t.text)) return;
      this.#next();
      if (t.kind !== "punct") continue;
      if (t.text === "{") depth++;
      else if (t.text === "}") depth = Math.max(0, depth - 1);
      else if (t.text === ";" && depth === 0) return;
    }
  }

  /** Skips a broken member: to just past the next ";", or up to (not past) a "}". */
  #syncMember(start: number): void {
    if (this.#at === start && !this.#isPunct("}")) this.#next();
    for (;;) {
      const t = this.#peek();
      if (t.kind === "eof" || (t.kind === "punct" && t.text === "}")) return;
      this.#next();
      if (t.kind === "punct" && t.text === ";") return;
    }
  }

  /** Parses `{ member* } ;` calling `member` for each; recovers per member. */
  #body<T>(what: string, member: () => T): T[] {
    this.#expectPunct("{", `to open ${what}`);
    const items: T[] = [];
    while (!this.#isPunct("}")) {
      if (this.#peek().kind === "eof") {
        this.#fail(`Expected "}" to close ${what}, found end of input`);
      }
      const start = this.#at;
      try {
        items.push(member());
      } catch (e) {
        if (!(e instanceof Abort)) throw e;
        this.#syncMember(start);
      }
    }
    this.#closingSemicolon(what, this.#next());
    return items;
  }

  /** The ";" after a closing "}". If missing it is reported at the "}", and the definition kept. */
  #closingSemicolon(what: string, close: Token): void {
    if (this.#isPunct(";")) {
      this.#next();
      return;
    }
    this.#report(`Expected ";" after "}" of ${what} (write "};" as in Figure 1)`, close);
  }

  #definition(): DeclNode {
    const t = this.#peek();
    if (t.kind === "ident") {
      switch (t.text) {
        case "interface":
          return this.#interface();
        case "struct":
          return this.#struct();
        case "enum":
          return this.#enum();
        case "typedef":
          return this.#typedef();
      }
    }
    this.#fail(`Expected "interface", "struct", "enum" or "typedef", found ${describe(t)}`);
  }

  #interface(): DeclNode {
    this.#next();
    const name = this.#name("an interface name");
    const bases: NameNode[] = [];
    if (this.#isPunct(":")) {
      this.#next();
      bases.push(this.#name(`a base interface name for "${name.name}"`));
      while (this.#isPunct(",")) {
        this.#next();
        bases.push(this.#name(`a base interface name for "${name.name}"`));
      }
    }
    const methods = this.#body(`interface "${name.name}"`, () => this.#method());
    return { kind: "interface", ...name, bases, methods };
  }

  #method(): MethodNode {
    const returns = this.#type(true, 0);
    const name = this.#name("a method name");
    this.#expectPunct("(", `after method name "${name.name}"`);
    const params: SlotNode[] = [];
    if (!this.#isPunct(")")) {
      for (;;) {
        const type = this.#type(false, 0);
        const param = this.#name(`a parameter name in method "${name.name}"`);
        params.push({ ...param, type });
        if (!this.#isPunct(",")) break;
        this.#next();
      }
    }
    this.#expectPunct(")", `to close the parameters of "${name.name}"`);
    this.#expectPunct(";", `after method "${name.name}"`);
    return { ...name, returns, params };
  }

  #struct(): DeclNode {
    this.#next();
    const name = this.#name("a struct name");
    const fields = this.#body(`struct "${name.name}"`, () => {
      const type = this.#type(false, 0);
      const field = this.#name(`a field name in struct "${name.name}"`);
      this.#expectPunct(";", `after field "${field.name}"`);
      return { ...field, type };
    });
    return { kind: "struct", ...name, fields };
  }

  #enum(): DeclNode {
    this.#next();
    const name = this.#name("an enum name");
    const what = `enum "${name.name}"`;
    this.#expectPunct("{", `to open ${what}`);
    const members: MemberNode[] = [];
    for (;;) {
      const member = this.#name(`a member name in ${what}`);
      let value: MemberNode["value"];
      if (this.#isPunct("=")) {
        this.#next();
        value = this.#enumValue();
      }
      // Without a usable value (a malformed number, already reported), the member counts on.
      members.push(value === undefined ? member : { ...member, value });
      if (!this.#isPunct(",")) break;
      this.#next();
      if (this.#isPunct("}")) break; // a trailing comma is fine
    }
    const close = this.#expectPunct(
      "}",
      `or "," after member "${members.at(-1)?.name ?? ""}" of ${what}`,
    );
    this.#closingSemicolon(what, close);
    return { kind: "enum", ...name, members };
  }

  #enumValue(): { value: number | null; pos: Pos } | undefined {
    const first = this.#peek();
    const negative = this.#isPunct("-");
    if (negative) this.#next();
    const t = this.#peek();
    if (t.kind !== "number") this.#fail(`Expected an integer enum value, found ${describe(t)}`);
    this.#next();
    if (t.invalid) return undefined;
    const pos = { line: first.line, column: first.column };
    // More than 12 characters cannot be a 32-bit value; skip the BigInt work for huge literals.
    if (t.text.length > 12) return { value: null, pos };
    const magnitude = BigInt(t.text);
    const value = negative ? -magnitude : magnitude;
    if (value < INT32_MIN || value > INT32_MAX) return { value: null, pos };
    return { value: Number(value), pos };
  }

  #typedef(): DeclNode {
    this.#next();
    const type = this.#type(false, 0);
    const name = this.#name("a typedef name");
    this.#expectPunct(";", `after typedef "${name.name}"`);
    return { kind: "alias", ...name, type };
  }

  #type(allowVoid: boolean, depth: number): TypeNode {
    const t = this.#peek();
    const pos = { line: t.line, column: t.column };
    if (t.kind !== "ident") this.#fail(`Expected a type, found ${describe(t)}`);
    this.#next();
    if (INT_NAMES.has(t.text)) return { kind: "int", name: t.text as IntName, ...pos };
    switch (t.text) {
      case "void":
        if (!allowVoid) this.#report(`"void" is only allowed as a method's return type`, pos);
        return { kind: "void", ...pos };
      case "bool":
      case "string":
      case "bytes":
        return { kind: t.text, ...pos };
      case "cap_t":
        return { kind: "cap", ...pos };
      case "sequence": {
        if (depth >= MAX_TYPE_DEPTH) {
          this.#fail(`Type is nested too deeply (more than ${MAX_TYPE_DEPTH} sequences)`, pos);
        }
        this.#expectPunct("<", 'after "sequence"');
        const of = this.#type(false, depth + 1);
        this.#expectPunct(">", `to close "sequence<"`);
        return { kind: "sequence", of, ...pos };
      }
    }
    if (KEYWORDS.has(t.text)) this.#fail(`Expected a type, found ${describe(t)}`, pos);
    return { kind: "named", name: t.text, ...pos };
  }
}
