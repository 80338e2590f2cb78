/**
 * `mungi shell`: boots the machine, then reads commands from the terminal (line editing, Tab
 * completion, history in the data directory), from a script (`--script FILE`), or from standard
 * input when it is not a terminal.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { join } from "@std/path";
import * as readline from "node:readline";
import process from "node:process";
import { boot } from "../kernel/boot.ts";
import { componentPlugin } from "../plugins/component_plugin.ts";
import { corePlugin } from "../plugins/core_plugin.ts";
import { namingPlugin } from "../plugins/naming_plugin.ts";
import { createShell, type Shell } from "./shell.ts";

const USAGE = `usage: deno task shell [--data DIR] [--script FILE]

  --data DIR      data directory (names, disk images, history); default ./.mungi
  --script FILE   run the commands in FILE (one per line, # comments) and exit:
                  0 when all succeed, 1 at the first failure (FILE:LINE: message)`;

/** Runs the shell CLI; returns the exit status. */
export async function runShellCli(args: readonly string[]): Promise<number> {
  const flags = parseArgs([...args], { string: ["data", "script"], boolean: ["help"] });
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  if (flags._.length > 0) {
    console.error(`shell: unexpected argument "${flags._[0]}"\n${USAGE}`);
    return 2;
  }
  const data = flags.data ?? "./.mungi";
  let kernel;
  try {
    kernel = await boot({ data });
  } catch (error) {
    const e = error as Error;
    const hint = e.name === "NotCapable"
      ? `\nThe shell may write only ./.mungi; for another data directory run:\n  deno run --allow-read=.,${data} --allow-write=${data} mod.ts shell --data ${data}`
      : "";
    console.error(`shell: cannot boot: ${e.message}${hint}`);
    return 1;
  }
  for (const e of kernel.events.recent()) console.log(`[boot] ${e.message}`);
  const shell = createShell({ kernel, plugins: [corePlugin(), namingPlugin(), componentPlugin()] });
  try {
    if (flags.script !== undefined) return await runScript(shell, flags.script);
    if (!Deno.stdin.isTerminal()) return await runLines(shell, "stdin");
    return await interactive(shell, join(data, "history"));
  } finally {
    await kernel.shutdown();
  }
}

/** Runs a script file: each line echoed, the first failure stops it with FILE:LINE. */
export async function runScript(shell: Shell, file: string): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    console.error(`shell: cannot read script ${file}: ${(error as Error).message}`);
    return 1;
  }
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    console.log(`> ${line}`);
    if (!await shell.execute(line)) {
      console.error(`${file}:${i + 1}: command failed: ${line}`);
      return 1;
    }
    if (shell.exitRequested) break;
  }
  return 0;
}

async function runLines(shell: Shell, label: string): Promise<number> {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  let n = 0;
  for await (const raw of rl) {
    n++;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (!await shell.execute(line)) {
      console.error(`${label}:${n}: command failed: ${line}`);
      rl.close();
      return 1;
    }
    if (shell.exitRequested) break;
  }
  return 0;
}

async function interactive(shell: Shell, historyFile: string): Promise<number> {
  let history: string[] = [];
  try {
    history = (await Deno.readTextFile(historyFile)).split("\n").filter((l) => l !== "").reverse()
      .slice(0, 1000);
  } catch {
    // No history yet.
  }
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    history,
    historySize: 1000,
    prompt: "mungi> ",
    completer: (line: string, callback: (err: null, result: [string[], string]) => void) => {
      shell.complete(line).then(
        (hits) => callback(null, [hits, line.split(/\s+/).pop() ?? ""]),
        () => callback(null, [[], line]),
      );
    },
  });
  rl.on("SIGINT", () => {
    if (!shell.interrupt()) {
      rl.write("\n");
      rl.prompt();
    }
  });
  console.log('Type "help" for the commands, "exit" or Ctrl-D to leave.');
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
