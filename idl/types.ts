/**
 * The runtime schema that the IDL compiler produces and the kernel checks every invocation against.
 *
 * A schema is plain data (JSON-compatible apart from nothing: no bigints, no functions), so it can be
 * written into generated files, sent to a worker and compared in tests.
 *
 * @module
 */

/** Integer types of the IDL. `int` is a signed 32-bit integer, as in the paper's C. */
export type IntName = "int" | "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64";

/** A reference to a type, as it appears in a parameter, field, result or sequence. */
export type TypeRef =
  | { readonly kind: "void" }
  | { readonly kind: "int"; readonly name: IntName }
  | { readonly kind: "bool" }
  | { readonly kind: "string" }
  | { readonly kind: "bytes" }
  | { readonly kind: "cap" }
  | { readonly kind: "sequence"; readonly of: TypeRef }
  | { readonly kind: "named"; readonly name: string };

/** One field of a struct. */
export interface FieldSchema {
  readonly name: string;
  readonly type: TypeRef;
}

/** A named type: a struct, an enum or an alias (`typedef`). */
export type TypeDef =
  | { readonly kind: "struct"; readonly name: string; readonly fields: readonly FieldSchema[] }
  | {
    readonly kind: "enum";
    readonly name: string;
    readonly values: readonly { readonly name: string; readonly value: number }[];
  }
  | { readonly kind: "alias"; readonly name: string; readonly type: TypeRef };

/** One parameter of a method. */
export interface ParamSchema {
  readonly name: string;
  readonly type: TypeRef;
}

/** One method of an interface. */
export interface MethodSchema {
  readonly name: string;
  readonly params: readonly ParamSchema[];
  readonly returns: TypeRef;
}

/** An interface: its methods, including those inherited from its bases. */
export interface InterfaceSchema {
  readonly name: string;
  /** Names of the interfaces this one extends, directly. */
  readonly extends: readonly string[];
  /** All methods, inherited ones first, in declaration order. */
  readonly methods: readonly MethodSchema[];
}

/**
 * A compiled IDL unit: every named type and interface it defines, including those it took from the
 * prelude, so that a schema is self-contained.
 */
export interface IdlSchema {
  readonly types: Readonly<Record<string, TypeDef>>;
  readonly interfaces: Readonly<Record<string, InterfaceSchema>>;
}

/**
 * A password capability: the address of an object and a 64-bit password. Plain data, so it crosses
 * workers and nodes by structured clone or JSON (as two hex strings).
 */
export interface Capability {
  readonly address: bigint;
  readonly password: bigint;
}
