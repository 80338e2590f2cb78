/**
 * A test kit for shell plugins: boots a machine (in memory by default), makes a shell with
 * captured output, and runs command lines, returning what each printed. For `deno test`.
 *
 * @module
 */

import { boot, type BootOptions } from "../kernel/boot.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { defaultPlugins } from "./default_plugins.ts";
import { createShell, type Shell, type ShellPlugin } from "./shell.ts";

/** What one command line printed. */
export interface RunResult {
  /** Whether the command succeeded. */
  readonly ok: boolean;
  /** Standard output, lines joined with `\n`. */
  readonly out: string;
  /** Error output, lines joined with `\n`. */
  readonly err: string;
}

/** A booted kernel with a shell whose output is captured. */
export interface ShellHarness extends AsyncDisposable {
  readonly kernel: Kernel;
  readonly shell: Shell;
  /** Every line printed so far (output and errors, in order). */
  readonly transcript: string[];
  /** Runs one line and returns what it printed. */
  run(line: string): Promise<RunResult>;
  /** Runs a line with `--json` appended; throws unless it succeeded; returns the parsed JSON. */
  json(line: string): Promise<unknown>;
  /** Stops the shell's background jobs, then shuts the kernel down. */
  close(): Promise<void>;
}

/** Options for {@link bootShell}. */
export interface BootShellOptions {
  /**
   * How to boot. Default: names in memory, a 1 MiB IDE disk in memory and the USB host
   * controller (the default machine); no data directory, so USB disks plugged with a size stay
   * in memory too.
   */
  readonly boot?: BootOptions;
  /** The plugins. Default: those of `mungi shell`. */
  readonly plugins?: readonly ShellPlugin[];
  /** Colour the output. Default false. */
  readonly color?: boolean;
  /** Act as an interactive session (monitor without --for). Default false. */
  readonly interactive?: boolean;
}

/**
 * Boots a kernel and a shell over it with captured output.
 *
 * @example
 * ```ts ignore
 * await using h = await bootShell();
 * const { ok, out } = await h.run("names dev/");
 * ```
 */
export async function bootShell(options: BootShellOptions = {}): Promise<ShellHarness> {
  const kernel = await boot(
    options.boot ?? { names: ":memory:", machine: { ide: { memory: true, size: 1 << 20 } } },
  );
  const transcript: string[] = [];
  let out: string[] = [];
  let err: string[] = [];
  const shell = createShell({
    kernel,
    plugins: options.plugins ?? defaultPlugins(),
    write: (l) => {
      out.push(l);
      transcript.push(l);
    },
    writeError: (l) => {
      err.push(l);
      transcript.push(l);
    },
    color: options.color ?? false,
    interactive: options.interactive ?? false,
  });
  const run = async (line: string): Promise<RunResult> => {
    out = [];
    err = [];
    const ok = await shell.execute(line);
    return { ok, out: out.join("\n"), err: err.join("\n") };
  };
  const close = async () => {
    await shell.close();
    await kernel.shutdown();
  };
  return {
    kernel,
    shell,
    transcript,
    run,
    async json(line: string): Promise<unknown> {
      const r = await run(`${line} --json`);
      if (!r.ok) throw new Error(`${line} --json failed: ${r.err}`);
      return JSON.parse(r.out);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
