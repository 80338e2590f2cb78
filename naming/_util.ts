// Private helpers shared by the naming module: quoting names in messages, UTF-8 lengths, and the
// argument checks that NameService methods share. Not re-exported from mod.ts.

/** The largest address in the 64-bit single address space. */
export const ADDRESS_MAX: bigint = (1n << 64n) - 1n;

/** The longest name, in bytes of UTF-8. */
export const NAME_MAX_BYTES = 255;

/** Names longer than this many UTF-16 code units are truncated when quoted in a message. */
const QUOTE_MAX = 64;

/**
 * Quotes a name for an error message: JSON string syntax, with C1 controls escaped too, and
 * truncated with "…" when long (never inside a surrogate pair).
 */
export function quoteName(name: string): string {
  let head = name;
  let truncated = false;
  if (name.length > QUOTE_MAX) {
    let end = QUOTE_MAX - 4;
    const last = name.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end -= 1;
    head = name.slice(0, end);
    truncated = true;
  }
  const json = JSON.stringify(head).replace(
    /[\u007f-\u009f]/g,
    (ch) => "\\u" + ch.charCodeAt(0).toString(16).padStart(4, "0"),
  );
  return truncated ? json.slice(0, -1) + '…"' : json;
}

/** Formats a UTF-16 code unit as `U+XXXX`. */
export function codePointLabel(unit: number): string {
  return "U+" + unit.toString(16).toUpperCase().padStart(4, "0");
}

/** The length of a string in bytes of UTF-8 (a lone surrogate counts as U+FFFD, 3 bytes). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i += 1;
    } else bytes += 3;
  }
  return bytes;
}

/** Whether a UTF-16 code unit (NaN past the end of a string) is a low surrogate. */
export function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** Describes a value of the wrong type for a TypeError message: `number 42`, `null`, `object`. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "undefined":
      return "undefined";
    case "number":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "bigint":
      return `bigint ${String(value)}n`;
    case "string":
      return `string ${quoteName(value)}`;
    default:
      return typeof value;
  }
}

/**
 * Checks a prefix for `list` and `watch`: any well-formed string, including "". A prefix with
 * characters a name cannot hold is allowed; it simply matches nothing.
 */
export function validatePrefix(prefix: unknown, action: string): string {
  if (typeof prefix !== "string") {
    throw new TypeError(`Cannot ${action}: prefix must be a string, got ${describeValue(prefix)}`);
  }
  if (!prefix.isWellFormed()) {
    throw new TypeError(`Cannot ${action} ${quoteName(prefix)}: prefix has a lone surrogate`);
  }
  return prefix;
}

/** Checks an address to bind or reverse-look-up: a bigint in 1..2^64-1 (0 means "unbound"). */
export function validateAddress(address: unknown, action: string): bigint {
  if (typeof address !== "bigint") {
    throw new TypeError(`${action}: address must be a bigint, got ${describeValue(address)}`);
  }
  if (address === 0n) {
    throw new RangeError(`${action}: address 0 is reserved to mean "unbound"`);
  }
  if (address < 0n || address > ADDRESS_MAX) {
    throw new RangeError(`${action}: address ${address} is outside 1..2^64-1`);
  }
  return address;
}

/** How often a KV transaction is retried when SQLite reports the file locked by another writer. */
const LOCKED_ATTEMPTS = 40;

/** Whether an error is SQLite's SQLITE_BUSY, which Deno KV reports as "database is locked". */
function isDatabaseLocked(error: unknown): boolean {
  return error instanceof Error && error.message.includes("database is locked");
}

/**
 * Runs a KV transaction (read, check, commit), running it again after a short, growing pause
 * when another connection to the same KV file holds the write lock. Deno KV does not wait for
 * that lock itself; the failed attempt committed nothing, so it is safe to repeat.
 */
export async function retryWhenLocked<T>(task: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await task();
    } catch (error) {
      if (!isDatabaseLocked(error) || attempt >= LOCKED_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2 ** attempt, 50)));
    }
  }
}
