// Turning DSL names into the identifiers the backends emit. Private to regs/.

/** Splits `lba_low`, `LBA_LOW`, `lbaLow` and `PRDAddr` into lower-case words. */
export function words(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split("_")) {
    // Split camel humps: "prdAddr" -> prd|Addr, "PRDAddr" -> PRD|Addr, "x2y" stays.
    for (const word of part.split(/(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/)) {
      if (word !== "") out.push(word.toLowerCase());
    }
  }
  return out;
}

function capital(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** `lba_low` -> `lbaLow`. */
export function camelCase(name: string): string {
  const [first = "", ...rest] = words(name);
  return first + rest.map(capital).join("");
}

/** `lba_low` -> `LbaLow`. */
export function pascalCase(name: string): string {
  return words(name).map(capital).join("");
}

/** `lbaLow` -> `lba_low`. */
export function snakeCase(name: string): string {
  return words(name).join("_");
}

/** `lbaLow` -> `LBA_LOW`. */
export function upperSnakeCase(name: string): string {
  return words(name).join("_").toUpperCase();
}

/** Member names that generated readers and writers define themselves or inherit from Object. */
export const RESERVED_MEMBERS: ReadonlySet<string> = new Set([
  "bits",
  "valueOf",
  "toString",
  "toLocaleString",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "constructor",
]);

/** Names the generated TypeScript imports from the runtime. */
export const TS_IMPORTS: readonly string[] = ["DeviceMap", "RegisterWindow", "nameOf"];

const PYTHON_KEYWORDS: ReadonlySet<string> = new Set([
  "False",
  "None",
  "True",
  "and",
  "as",
  "assert",
  "async",
  "await",
  "break",
  "class",
  "continue",
  "def",
  "del",
  "elif",
  "else",
  "except",
  "finally",
  "for",
  "from",
  "global",
  "if",
  "import",
  "in",
  "is",
  "lambda",
  "nonlocal",
  "not",
  "or",
  "pass",
  "raise",
  "return",
  "try",
  "while",
  "with",
  "yield",
]);

/** A Python identifier for `name`: keywords get a trailing underscore (`if` -> `if_`). */
export function pythonSafe(name: string): string {
  return PYTHON_KEYWORDS.has(name) ? `${name}_` : name;
}
