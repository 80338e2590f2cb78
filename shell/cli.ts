/**
 * `mungi shell`: boots the machine, then reads commands from the terminal (line editing, Tab
 * completion, history in the data directory, Ctrl-C stops the running command), from a script
 * (`--script FILE`), or from standard input when it is not a terminal.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { join } from "@std/path";
import * as readline from "node:readline";
import process from "node:process";
import { boot } from "../kernel/boot.ts";
import { type MachineDescription, parseMachineDescription } from "../kernel/machine_config.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { defaultPlugins } from "./default_plugins.ts";
import { runScript } from "./script.ts";
import { createShell, type Shell } from "./shell.ts";
import { wantsColor } from "./style.ts";

const USAGE = `usage: deno task shell [--data DIR] [--machine FILE] [--script FILE]

  --data DIR      data directory (names, disk images, history); default ./.mungi
  --machine FILE  a machine description (JSON: ide, usb, host, hostFor; see
                  examples/machine.json); default: an IDE disk and a USB host controller
  --script FILE   run the commands in FILE (one per line, # comments, each echoed) and exit:
                  0 when all succeed, 1 at the first failure (FILE:LINE: message)

Without --script the shell reads standard input: interactively on a terminal (Tab completes,
Up recalls, Ctrl-C stops a command, Ctrl-D or "exit" leaves), else as a script.`;

/** Runs the shell CLI; returns the exit status. */
export async function runShellCli(args: readonly string[]): Promise<number> {
  const flags = parseArgs([...args], {
    string: ["data", "script", "machine"],
    boolean: ["help"],
  });
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  if (flags._.length > 0) {
    console.error(`shell: unexpected argument "${flags._[0]}"\n${USAGE}`);
    return 2;
  }
  const data = flags.data ?? "./.mungi";
  const interactive = flags.script === undefined && Deno.stdin.isTerminal();
  let script: string | undefined;
  if (flags.script !== undefined) {
    try {
      script = await Deno.readTextFile(flags.script);
    } catch (error) {
      console.error(`shell: cannot read script ${flags.script}: ${(error as Error).message}`);
      return 1;
    }
  }
  let description: MachineDescription = { machine: {} };
  if (flags.machine !== undefined) {
    try {
      description = parseMachineDescription(await Deno.readTextFile(flags.machine), flags.machine);
    } catch (error) {
      console.error(`shell: --machine: ${(error as Error).message}`);
      return 1;
    }
  }
  let kernel: Kernel;
  try {
    kernel = await boot({ data, ...description });
  } catch (error) {
    const e = error as Error;
    const hint = e.name === "NotCapable"
      ? `\nThe shell may write only ./.mungi; for another data directory run:\n  deno run --allow-read=.,${data} --allow-write=${data} mod.ts shell --data ${data}`
      : "";
    console.error(`shell: cannot boot: ${e.message}${hint}`);
    return 1;
  }
  const shell = createShell({
    kernel,
    plugins: defaultPlugins(),
    color: wantsColor(Deno.stdout),
    interactive,
  });
  try {
    if (script !== undefined) return await runScript(shell, script, { file: flags.script! });
    if (!interactive) return await runScript(shell, stdinLines(), { file: "stdin" });
    for (const e of kernel.events.recent()) console.log(shell.style.dim(`[boot] ${e.message}`));
    return await interactiveShell(shell, join(data, "history"));
  } finally {
    await shell.close(); // background jobs end before the kernel they use
    await kernel.shutdown();
  }
}

async function* stdinLines(): AsyncGenerator<string> {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
  }
}

async function interactiveShell(shell: Shell, historyFile: string): Promise<number> {
  let history: string[] = [];
  try {
    history = (await Deno.readTextFile(historyFile)).split("\n").filter((l) => l !== "").reverse()
      .slice(0, 1000);
  } catch {
    // No history yet.
  }
  const prompt = shell.style.bold("mungi> ");
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    history,
    historySize: 1000,
    removeHistoryDuplicates: true,
    prompt,
    completer: (line: string, callback: (err: null, result: [string[], string]) => void) => {
      shell.complete(line).then(
        (hits) => callback(null, [hits, line.split(/\s+/).pop() ?? ""]),
        () => callback(null, [[], line]),
      );
    },
  });
  // Ctrl-C stops the running command (monitor); at the prompt it drops the line typed so far.
  rl.on("SIGINT", () => {
    if (shell.interrupt()) return;
    rl.write(null, { ctrl: true, name: "e" });
    rl.write(null, { ctrl: true, name: "u" });
    process.stdout.write("^C\n");
    rl.prompt();
  });
  console.log('Type "help" for the commands, Tab to complete, "exit" or Ctrl-D to leave.');
  rl.prompt();
  for await (const line of rl) {
    if (line.trim() !== "") {
      await Deno.writeTextFile(historyFile, line + "\n", { append: true }).catch(() => {});
      await shell.execute(line);
    }
    if (shell.exitRequested) break;
    rl.prompt();
  }
  rl.close();
  return 0;
}
