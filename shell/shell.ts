/**
 * The shell engine: parses lines, finds the command among those its plugins registered, runs it and
 * prints what it returns (a table or text, or one JSON document with `--json`), in the foreground
 * or, for a line ending in `&`, as a background job. It knows no command itself: every command
 * comes from a plugin, a factory returning `{ name, commands }`.
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
  /**
   * Aborted when the user presses Ctrl-C while the command runs in the foreground, or when the
   * shell closes (a background job).
   */
  readonly signal: AbortSignal;
  /** The command runs in the background (`line &`): the prompt is back while it runs. */
  readonly background: boolean;
  /**
   * Says the command is set up (subscribed, listening): a background job of a command with
   * `signalsReady` holds the next line until then. Harmless in the foreground.
   */
  ready(): void;
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
  /**
   * The command calls `ctx.ready()` once it is set up (a listener subscribed). In the background
   * (`line &`) the shell then takes the next line only after that, or after the command ended,
   * so what follows sees it in place. Default: the next line is taken at once.
   */
  readonly signalsReady?: boolean;
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
 * Splits a command line into words as `sh` does: whitespace separates, single and double quotes
 * group, a backslash escapes the next character (inside double quotes only `"` and `\`, so
 * `"a\n"` keeps its backslash for a command such as `type` to read), `#` at the start of a word
 * begins a comment.
 *
 * @example
 * ```ts
 * import { splitWords } from "./shell.ts";
 * splitWords(`call dev/ide0 "a b" # note`); // ["call", "dev/ide0", "a b"]
 * splitWords(`type dev/usb1 "hi\\n"`); // ["type", "dev/usb1", "hi\\n"]
 * ```
 */
export function splitWords(line: string): string[] {
  return tokenize(line).map((t) => t.text);
}

/** A word of a command line; `bare` when it was written without quotes or escapes. */
interface Token {
  readonly text: string;
  readonly bare: boolean;
}

function tokenize(line: string): Token[] {
  const words: Token[] = [];
  let word = "";
  let inWord = false;
  let bare = true;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === "\\" && quote === '"' && /["\\]/.test(line[i + 1] ?? "")) word += line[++i];
      else word += ch;
      continue;
    }
    if (ch === "#" && !inWord) break;
    if (/\s/.test(ch)) {
      if (inWord) words.push({ text: word, bare });
      word = "";
      inWord = false;
      bare = true;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
      bare = false;
    } else if (ch === "\\" && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
      bare = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`unterminated ${quote} quote`);
  if (inWord) words.push({ text: word, bare });
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

/** A command running in the background (`line &`), as `jobs` lists it. */
export interface JobInfo {
  /** 1, 2, ... in the order the jobs started; printed as `[1]`. */
  readonly id: number;
  /** The command line, without the `&`. */
  readonly line: string;
  /** `running`, or how it ended: `done` (succeeded) or `failed` (its error was printed). */
  readonly state: "running" | "done" | "failed";
  /** How long it has run, or ran, in milliseconds. */
  readonly ms: number;
}

interface Job {
  readonly id: number;
  readonly line: string;
  readonly started: number;
  readonly controller: AbortController;
  state: JobInfo["state"];
  ended: number | undefined;
  done: Promise<void>;
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
  #jobs: Job[] = [];
  #nextJob = 1;
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
   * that starts with the command as typed (and `where`, for scripts). A line ending in a bare `&`
   * starts the command as a background job and returns true once it started (a command with
   * `signalsReady`: once it is set up): the job prints `[N] line`, its output as it comes, and
   * `[N] done` or `[N] failed` when it ends (see {@link jobs}).
   */
  async execute(line: string, options: ExecuteOptions = {}): Promise<boolean> {
    const where = options.where === undefined ? "" : `${options.where}: `;
    let tokens: Token[];
    try {
      tokens = tokenize(line);
    } catch (error) {
      this.#writeError(`${where}${line.trim()}: ${(error as Error).message}`);
      return false;
    }
    const last = tokens[tokens.length - 1];
    const background = last !== undefined && last.bare && last.text === "&";
    if (background) tokens.pop();
    const words = tokens.map((t) => t.text);
    if (words.length === 0) {
      if (!background) return true;
      this.#writeError(`${where}&: a command must come before & (e.g. "keys dev/usb1 &")`);
      return false;
    }
    const name = words[0]!;
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
    const controller = new AbortController();
    if (background) {
      await this.#startJob(command, words, where, controller);
      return true;
    }
    this.#running = controller;
    try {
      return await this.#run(command, words, where, controller.signal, false, () => {});
    } finally {
      this.#running = undefined;
    }
  }

  /** Runs a command and prints its result or its error; returns whether it succeeded. */
  async #run(
    command: Command,
    words: readonly string[],
    where: string,
    signal: AbortSignal,
    background: boolean,
    ready: () => void,
  ): Promise<boolean> {
    const rest = words.slice(1);
    const json = rest.includes("--json");
    const args = rest.filter((a) => a !== "--json");
    try {
      const result = await command.run(args, this.#context(signal, json, background, ready));
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
    }
  }

  /** Starts a background job; resolves at once, or once a `signalsReady` command is ready. */
  async #startJob(
    command: Command,
    words: readonly string[],
    where: string,
    controller: AbortController,
  ): Promise<void> {
    const line = words.join(" ");
    const job: Job = {
      id: this.#nextJob++,
      line,
      started: performance.now(),
      controller,
      state: "running",
      ended: undefined,
      done: Promise.resolve(),
    };
    this.#jobs.push(job);
    this.#write(this.style.dim(`[${job.id}] ${line}`));
    const ready = Promise.withResolvers<void>();
    job.done = this.#run(command, words, where, controller.signal, true, ready.resolve).then(
      (ok) => {
        job.state = ok ? "done" : "failed";
        job.ended = performance.now();
        this.#write(this.style.dim(`[${job.id}] ${job.state}  ${line}`));
      },
    );
    if (command.signalsReady) await Promise.race([ready.promise, job.done]);
  }

  /** The background jobs not yet waited for: those running, and those that ended since. */
  jobs(): JobInfo[] {
    return this.#jobs.map(jobInfo);
  }

  /**
   * Waits until every background job has ended and forgets them; returns them as they ended
   * (their output and errors were printed as they came). Aborting `signal` (Ctrl-C while `wait`
   * runs) stops the jobs.
   */
  async waitJobs(signal?: AbortSignal): Promise<JobInfo[]> {
    const jobs = [...this.#jobs];
    const stop = () => jobs.forEach((j) => j.controller.abort());
    if (signal?.aborted) stop();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      await Promise.all(jobs.map((j) => j.done));
    } finally {
      signal?.removeEventListener("abort", stop);
    }
    this.#jobs = this.#jobs.filter((j) => !jobs.includes(j));
    return jobs.map(jobInfo);
  }

  /**
   * Stops every background job and waits for them to end. Call it before shutting the kernel
   * down: a job's clean-up (a listener it subscribed) needs the kernel.
   */
  async close(): Promise<void> {
    for (const j of this.#jobs) j.controller.abort();
    await Promise.all(this.#jobs.map((j) => j.done));
    this.#jobs = [];
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
      const ctx = this.#context(new AbortController().signal, false, false);
      try {
        options = await command.complete(words.length - 2, words.slice(1, -1), ctx, partial);
      } catch {
        options = [];
      }
    } else options = [];
    return [...new Set(options.filter((o) => o.startsWith(partial)))].sort();
  }

  #context(
    signal: AbortSignal,
    json: boolean,
    background: boolean,
    ready: () => void = () => {},
  ): ShellContext {
    return {
      kernel: this.kernel,
      shell: this,
      session: this.session,
      print: (l) => this.#write(l),
      signal,
      background,
      ready,
      json,
      style: this.style,
    };
  }
}

function jobInfo(j: Job): JobInfo {
  return {
    id: j.id,
    line: j.line,
    state: j.state,
    ms: Math.round((j.ended ?? performance.now()) - j.started),
  };
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
