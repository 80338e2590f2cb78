/**
 * The shell engine: parses lines, finds the command among those its plugins registered, runs it and
 * prints what it returns (a table or text, or one JSON document with `--json`). It knows no command
 * itself: every command comes from a plugin, a factory returning `{ name, commands }`.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";

/** What a command gets besides its arguments. */
export interface ShellContext {
  readonly kernel: Kernel;
  readonly shell: Shell;
  /** Prints a line (commands that stream, such as `monitor`). */
  print(line: string): void;
  /** Aborted when the user presses Ctrl-C while the command runs. */
  readonly signal: AbortSignal;
}

/** What a command returns: text lines, or data with a text rendering (for `--json`). */
export type CommandResult = void | string | { readonly text: string; readonly json: unknown };

/** One shell command. */
export interface Command {
  readonly name: string;
  /** One line for `help`. */
  readonly summary: string;
  /** `name <arg> [--opt VALUE]` */
  readonly usage: string;
  /** Options and arguments, one per line, for `help name`. */
  readonly details?: readonly string[];
  readonly example?: string;
  /** Completion of the argument at `index` (0-based) given the words before it. */
  complete?(
    index: number,
    words: readonly string[],
    ctx: ShellContext,
  ): string[] | Promise<string[]>;
  run(args: readonly string[], ctx: ShellContext): CommandResult | Promise<CommandResult>;
}

/** A shell plugin: a name (shown in every error it causes) and its commands. */
export interface ShellPlugin {
  readonly name: string;
  readonly commands: readonly Command[];
}

/** A command line error: the message says what was wrong and how to do it right. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Splits a command line into words: whitespace separates, single and double quotes group, a
 * backslash escapes the next character, `#` at the start of a word begins a comment.
 *
 * @example
 * ```ts
 * import { splitWords } from "./shell.ts";
 * splitWords(`call dev/ide0 "a b" # note`); // ["call", "dev/ide0", "a b"]
 * ```
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === "\\" && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += ch;
      continue;
    }
    if (ch === "#" && !inWord) break;
    if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`unterminated ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}

/** Options for {@link createShell}. */
export interface ShellOptions {
  readonly kernel: Kernel;
  readonly plugins: readonly ShellPlugin[];
  /** Where output goes (default console.log). */
  readonly write?: (line: string) => void;
  /** Where errors go (default console.error). */
  readonly writeError?: (line: string) => void;
}

/**
 * A shell over a kernel.
 *
 * @example
 * ```ts ignore
 * const shell = createShell({ kernel, plugins: [corePlugin(), namingPlugin()] });
 * await shell.execute("names dev/");
 * ```
 */
export class Shell {
  readonly kernel: Kernel;
  readonly commands: ReadonlyMap<string, Command & { plugin: string }>;
  #write: (line: string) => void;
  #writeError: (line: string) => void;
  #running: AbortController | undefined;
  exitRequested = false;

  constructor(options: ShellOptions) {
    this.kernel = options.kernel;
    this.#write = options.write ?? ((l) => console.log(l));
    this.#writeError = options.writeError ?? ((l) => console.error(l));
    const commands = new Map<string, Command & { plugin: string }>();
    for (const plugin of options.plugins) {
      if (typeof plugin.name !== "string" || plugin.name === "") {
        throw new TypeError("A shell plugin must have a name");
      }
      for (const c of plugin.commands) {
        const clash = commands.get(c.name);
        if (clash) {
          throw new TypeError(
            `Plugin ${plugin.name}: command "${c.name}" is already registered by plugin ${clash.plugin}`,
          );
        }
        commands.set(c.name, { ...c, plugin: plugin.name, run: c.run.bind(c) });
      }
    }
    this.commands = commands;
  }

  /** Aborts the running command (Ctrl-C). Returns whether one was running. */
  interrupt(): boolean {
    if (!this.#running) return false;
    this.#running.abort();
    return true;
  }

  /**
   * Runs one line. Returns true on success (or an empty line), false after printing an error.
   */
  async execute(line: string): Promise<boolean> {
    let words: string[];
    try {
      words = splitWords(line);
    } catch (error) {
      this.#writeError(`error: ${(error as Error).message}`);
      return false;
    }
    if (words.length === 0) return true;
    const [name, ...rest] = words as [string, ...string[]];
    const command = this.commands.get(name);
    if (!command) {
      const near = [...this.commands.keys()].filter((c) => c.startsWith(name.slice(0, 2)));
      this.#writeError(
        `${name}: unknown command${
          near.length ? `; did you mean ${near.join(", ")}?` : ""
        } (type "help" for the list)`,
      );
      return false;
    }
    const json = rest.includes("--json");
    const args = rest.filter((a) => a !== "--json");
    const controller = new AbortController();
    this.#running = controller;
    try {
      const result = await command.run(args, {
        kernel: this.kernel,
        shell: this,
        print: (l) => this.#write(l),
        signal: controller.signal,
      });
      if (result === undefined) {
        if (json) this.#write("null");
      } else if (typeof result === "string") {
        if (json) this.#write(JSON.stringify(result));
        else if (result !== "") this.#write(result);
      } else {
        this.#write(json ? JSON.stringify(result.json, jsonReplacer, 2) : result.text);
      }
      return true;
    } catch (error) {
      const e = error as Error;
      const kind = e instanceof UsageError || e.name === "Error" ? "" : `${e.name}: `;
      this.#writeError(`${name}: ${kind}${e.message}`);
      return false;
    } finally {
      this.#running = undefined;
    }
  }

  /** Completions for a partial line (command names, then the command's own). */
  async complete(line: string): Promise<string[]> {
    const words = line.split(/\s+/);
    if (words.length <= 1) {
      return [...this.commands.keys()].filter((c) => c.startsWith(words[0] ?? "")).sort();
    }
    const command = this.commands.get(words[0]!);
    if (!command?.complete) return [];
    const partial = words[words.length - 1]!;
    const ctx: ShellContext = {
      kernel: this.kernel,
      shell: this,
      print: (l) => this.#write(l),
      signal: new AbortController().signal,
    };
    const options = await command.complete(words.length - 2, words.slice(1, -1), ctx);
    return options.filter((o) => o.startsWith(partial)).sort();
  }
}

/**
 * Creates a shell from plugins.
 *
 * @example
 * ```ts ignore
 * const shell = createShell({ kernel, plugins: [corePlugin()] });
 * ```
 */
export function createShell(options: ShellOptions): Shell {
  return new Shell(options);
}

/** JSON.stringify replacer: bigints as `0x` hex (addresses), bytes as hex. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return "0x" + value.toString(16).padStart(16, "0");
  if (value instanceof Uint8Array) {
    return [...value].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  return value;
}

/**
 * Renders rows as an aligned text table with a header.
 *
 * @example
 * ```ts
 * import { table } from "./shell.ts";
 * table(["name", "address"], [["dev/ide0", "0x1000"]]);
 * ```
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
