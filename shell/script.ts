/**
 * Scripts: one command per line, `#` comments and blank lines skipped, each command echoed
 * (`> line`) before it runs. The first failing command stops the script: its error is printed as
 * `FILE:LINE: command: message` and the status is 1. A script that completes (or runs `exit`)
 * gives 0.
 *
 * @module
 */

import type { Shell } from "./shell.ts";

/** Options for {@link runScript}. */
export interface ScriptOptions {
  /** The name errors are reported under (`FILE` of `FILE:LINE`). Default `script`. */
  readonly file?: string;
}

/**
 * Runs script lines (a string, or lines as they arrive, e.g. from standard input) and returns
 * the exit status: 0 when every command succeeded, 1 at the first failure.
 *
 * @example
 * ```ts ignore
 * const status = await runScript(shell, "names\n# a comment\nlookup svc/naming\n", {
 *   file: "tour.mungi",
 * });
 * ```
 */
export async function runScript(
  shell: Shell,
  source: string | AsyncIterable<string> | Iterable<string>,
  options: ScriptOptions = {},
): Promise<number> {
  const file = options.file ?? "script";
  const lines = typeof source === "string" ? source.split(/\r?\n/) : source;
  let n = 0;
  for await (const raw of lines) {
    n++;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    shell.print(shell.style.dim(`> ${line}`));
    if (!await shell.execute(line, { where: `${file}:${n}` })) return 1;
    if (shell.exitRequested) break;
  }
  return 0;
}
