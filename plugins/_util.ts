/**
 * Helpers the shell plugins share: argument counting, options, whole numbers, and resolving what
 * the user typed (a name, an address or a capability) to a capability the session holds.
 *
 * @module
 */

import type { Capability } from "../idl/types.ts";
import { type Address, parseAddress } from "../kernel/address.ts";
import { type ShellContext, UsageError } from "../shell/shell.ts";

/** Throws a UsageError unless there are `min` to `max` arguments. */
export function expectArgs(args: readonly string[], min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max) {
    throw new UsageError(
      `expected ${usage}, got ${args.length} argument${args.length === 1 ? "" : "s"}`,
    );
  }
}

/** Arguments split into positional words, option values and flags. */
export interface Options {
  readonly positional: string[];
  readonly values: Readonly<Record<string, string>>;
  readonly flags: ReadonlySet<string>;
}

/**
 * Separates `--name VALUE` options (`values`) and `--flag`s from positional arguments. An unknown
 * option, or one missing its value, is a UsageError that says which are known.
 */
export function parseOptions(
  args: readonly string[],
  spec: { values?: Readonly<Record<string, string>>; flags?: readonly string[] },
): Options {
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  const positional: string[] = [];
  const known = [
    ...Object.entries(spec.values ?? {}).map(([k, v]) => `${k} ${v}`),
    ...(spec.flags ?? []),
  ];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith("--")) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const key = eq > 0 ? a.slice(0, eq) : a;
    if (spec.values && key in spec.values) {
      const value = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined || value === "") {
        throw new UsageError(`${key} needs a value: ${key} ${spec.values[key]}`);
      }
      if (key in values) throw new UsageError(`${key} is given twice`);
      values[key] = value;
    } else if (spec.flags?.includes(a)) {
      flags.add(a);
    } else {
      throw new UsageError(
        `unknown option ${key}${
          known.length ? `; this command takes ${known.join(", ")}` : "; this command takes none"
        }`,
      );
    }
  }
  return { positional, values, flags };
}

/**
 * Parses a whole number written in decimal or `0x` hex, at least `min` (default 0) and at most
 * `max` when given. The UsageError names the argument: `<lba> must be a whole number, got "x"`.
 */
export function parseWhole(
  text: string,
  what: string,
  range: { min?: bigint; max?: bigint } = {},
): bigint {
  if (!/^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/.test(text)) {
    throw new UsageError(
      `${what} must be a whole number (decimal, or hex as 0x...), got "${text}"`,
    );
  }
  const value = BigInt(text);
  const min = range.min ?? 0n;
  if (value < min) throw new UsageError(`${what} must be at least ${min}, got ${text}`);
  if (range.max !== undefined && value > range.max) {
    throw new UsageError(`${what} must be at most ${range.max}, got ${text}`);
  }
  return value;
}

/** What a command-line target resolved to. */
export interface Target {
  readonly address: Address;
  readonly capability: Capability;
  /** What the user typed, for messages. */
  readonly text: string;
}

/**
 * Resolves a target the user typed: a capability (`0x<address>:0x<password>` or a session
 * reference `%N`), an address (hex or decimal), or a name. Names and addresses use the session's
 * own capability for the object (the console's authority).
 */
export async function resolveTarget(ctx: ShellContext, text: string): Promise<Target> {
  const cap = ctx.session.parse(text);
  if (cap) return { address: cap.address, capability: cap, text };
  const address = /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text)
    ? parseAddress(text)
    : await ctx.kernel.names.lookup(text);
  if (!ctx.kernel.component(address) && !ctx.kernel.caps.list(address).length) {
    ctx.kernel.describe(address); // throws the kernel's "No component at ..." (and why)
  }
  return { address, capability: ctx.session.master(address), text };
}

/** Every bound name (for completion). */
export async function nameCompletions(ctx: ShellContext): Promise<string[]> {
  return (await ctx.kernel.names.list("")).map((b) => b.name);
}

/** Names, then the session's capability references (for completion of a target). */
export async function targetCompletions(ctx: ShellContext): Promise<string[]> {
  return [...await nameCompletions(ctx), ...ctx.session.list().map((h) => h.ref)];
}

/** `1 block` / `2 blocks`. */
export function plural(n: number | bigint, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 || n === 1n ? word : many}`;
}

/**
 * An Error about a file the user named, saying what went wrong in words and keeping the class name
 * (so the shell adds its hint for permission errors).
 */
export function fileError(action: string, file: string, error: unknown): Error {
  const e = error instanceof Error ? error : new Error(String(error));
  const why = e.name === "NotFound"
    ? "no such file or directory"
    : e.name === "NotCapable" || e.name === "PermissionDenied"
    ? `permission denied (${e.message})`
    : e.message;
  const out = new Error(`cannot ${action} ${file}: ${why}`);
  out.name = e.name === "NotFound" ? "Error" : e.name;
  return out;
}
