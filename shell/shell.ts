/**
 * The shell engine: parses lines, finds the command among those its plugins registered, runs it and
 * prints what it returns (a table or text, or one JSON document with `--json`). It knows no command
 * itself: every command comes from a plugin, a factory returning `{ name, commands }`.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { ShellSession } from "./session.ts";
import { type Styles, styles } from "./style.ts";

/** What a command gets besides its arguments. */
export interface ShellContext {
  readonly kernel: Kernel;
  readonly shell: Shell;
  /** The capabilities this session holds (see `caps`). */
  readonly session: ShellSession;
  /** Prints a line (commands that stream, such as `monitor`). */
  print(line: string): void;
  /** Aborted when the user presses Ctrl-C while the command runs. */
  readonly signal: AbortSignal;
  /** The user asked for `--json` (streaming commands print JSON lines themselves). */
  readonly json: boolean;
  /** Colours: real on a terminal, plain otherwise. */
  readonly style: Styles;
}

/** What a command returns: text lines, or data with a text rendering (for `--json`). */
export type CommandResult = void | string | { readonly text: string; readonly json: unknown };

/** One shell command. `help` shows every field; the shell refuses a command that lacks one. */
export interface Command {
  readonly name: string;
  /** One line for `help`. */
  readonly summary: string;
  /**
   * `name <arg> [--opt VALUE]`, one form per line. Options written here (`--out`) are what Tab
   * offers after a `-`.
   */
  readonly usage: string;
  /** Arguments and options, one per line, for `help name`. */
  readonly details: readonly string[];
  /** One line that works as typed. */
  readonly example: string;
  /**
   * Completion of the word at `index` (0-based among the arguments), given the words before it
   * and the partial word typed so far. The shell keeps the candidates that start with `partial`.
   */
  complete?(
    index: number,
    words: readonly string[],
    ctx: ShellContext,
    partial: string,
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
  /** The form of the command the user was trying (default: every form of its usage). */
  readonly usage: string | undefined;
  constructor(message: string, options: { usage?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.usage = options.usage;
  }
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
  /** Colour the output (the CLI turns it on for a terminal without NO_COLOR). Default false. */
  readonly color?: boolean;
  /** A person is typing (Ctrl-C can stop a command). False for scripts and tests. */
  readonly interactive?: boolean;
}

/** Options for {@link Shell.execute}. */
export interface ExecuteOptions {
  /** Where the line came from (`FILE:LINE`), put before its error message. */
  readonly where?: string;
}

/** Hints that tell the user how to get it right, by error class. */
const HINTS: Readonly<Record<string, string>> = {
  NameNotFoundError: 'type "names" for the bound names',
  PermissionDeniedError: 'type "caps" for the capabilities this session holds',
  MethodNotFoundError: 'type "ifaces <name>" for the methods a component provides',
  DeviceRemovedError: 'type "devices" for the devices attached now',
  NotCapable: "the shell may write only inside its data directory; see README.md, The shell",
};

const REQUIRED = ["summary", "usage", "details", "example"] as const;

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
  /** The capabilities this session holds. */
  readonly session: ShellSession;
  readonly style: Styles;
  readonly interactive: boolean;
  #write: (line: string) => void;
  #writeError: (line: string) => void;
  #running: AbortController | undefined;
  exitRequested = false;

  constructor(options: ShellOptions) {
    this.kernel = options.kernel;
    this.session = new ShellSession(options.kernel);
    this.style = styles(options.color ?? false);
    this.interactive = options.interactive ?? false;
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
        const missing = REQUIRED.filter((k) => !c[k] || c[k].length === 0);
        if (missing.length > 0) {
          throw new TypeError(
            `Plugin ${plugin.name}: command "${c.name}" lacks ${
              missing.join(", ")
            } (help shows them: give each)`,
          );
        }
        commands.set(c.name, {
          ...c,
          plugin: plugin.name,
          run: c.run.bind(c),
          ...(c.complete ? { complete: c.complete.bind(c) } : {}),
        });
      }
    }
    this.commands = commands;
  }

  /** Prints a line of output. */
  print(line: string): void {
    this.#write(line);
  }

  /** Prints a line on the error output. */
  printError(line: string): void {
    this.#writeError(line);
  }

  /** Whether a command is running. */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Aborts the running command (Ctrl-C). Returns whether one was running. */
  interrupt(): boolean {
    if (!this.#running) return false;
    this.#running.abort();
    return true;
  }

  /**
   * Runs one line. Returns true on success (or an empty line), false after printing an error
   * that starts with the command as typed (and `where`, for scripts).
   */
  async execute(line: string, options: ExecuteOptions = {}): Promise<boolean> {
    const where = options.where === undefined ? "" : `${options.where}: `;
    let words: string[];
    try {
      words = splitWords(line);
    } catch (error) {
      this.#writeError(`${where}${line.trim()}: ${(error as Error).message}`);
      return false;
    }
    if (words.length === 0) return true;
    const [name, ...rest] = words as [string, ...string[]];
    const command = this.commands.get(name);
    if (!command) {
      const near = [...this.commands.keys()].filter((c) =>
        c.startsWith(name.slice(0, 2)) || name.startsWith(c)
      ).sort();
      this.#writeError(
        `${where}${name}: unknown command${
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
      const result = await command.run(args, this.#context(controller.signal, json));
      if (typeof result === "string") {
        if (json) this.#write(JSON.stringify(result));
        else if (result !== "") this.#write(result);
      } else if (result !== undefined) {
        this.#write(json ? JSON.stringify(result.json, jsonReplacer, 2) : result.text);
      }
      return true;
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      const kind = e instanceof UsageError || e.name === "Error" ? "" : `${e.name}: `;
      const lines = [`${where}${words.join(" ")}: ${kind}${e.message}`];
      if (e instanceof UsageError) {
        const forms = (e.usage ?? command.usage).split("\n");
        lines.push(...forms.map((u, i) => `  ${i === 0 ? "usage:" : "      "} ${u}`));
      } else if (HINTS[e.name]) lines.push(`  hint: ${HINTS[e.name]}`);
      this.#writeError(this.style.red(lines.join("\n")));
      return false;
    } finally {
      this.#running = undefined;
    }
  }

  /**
   * Completions for a partial line: command names, options written in the command's usage after
   * a `-`, then whatever the command offers for the word at the cursor.
   */
  async complete(line: string): Promise<string[]> {
    const words = line.trimStart().split(/\s+/);
    const partial = words[words.length - 1] ?? "";
    if (words.length <= 1) {
      return [...this.commands.keys()].filter((c) => c.startsWith(partial)).sort();
    }
    const command = this.commands.get(words[0]!);
    if (!command) return [];
    let options: string[];
    if (partial.startsWith("-")) {
      options = [...command.usage.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]);
    } else if (command.complete) {
      const ctx = this.#context(new AbortController().signal, false);
      try {
        options = await command.complete(words.length - 2, words.slice(1, -1), ctx, partial);
      } catch {
        options = [];
      }
    } else options = [];
    return [...new Set(options.filter((o) => o.startsWith(partial)))].sort();
  }

  #context(signal: AbortSignal, json: boolean): ShellContext {
    return {
      kernel: this.kernel,
      shell: this,
      session: this.session,
      print: (l) => this.#write(l),
      signal,
      json,
      style: this.style,
    };
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
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  options: TableOptions = {},
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("  ").trimEnd();
  const paint = options.header ?? ((t: string) => t);
  return [paint(line(header)), ...rows.map(line)].join("\n");
}

/** Options for {@link table}. */
export interface TableOptions {
  /** Paints the header line (bold on a terminal). */
  readonly header?: (text: string) => string;
}
