/**
 * Core shell commands: `help` and `exit`.
 *
 * @module
 */

import { type ShellPlugin, table, UsageError } from "../shell/shell.ts";
import { expectArgs } from "./_util.ts";

/**
 * The core plugin.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [corePlugin()] });
 * ```
 */
export function corePlugin(): ShellPlugin {
  return {
    name: "core",
    commands: [
      {
        name: "help",
        summary: "list commands, or show one command's usage, options and an example",
        usage: "help [command] [--json]",
        details: [
          "[command]  a command name: its forms, arguments, options and an example",
          "--json     print the same as one JSON document",
        ],
        example: "help blk",
        complete: (i, _w, ctx) => i === 0 ? [...ctx.shell.commands.keys()] : [],
        run(args, ctx) {
          expectArgs(args, 0, 1, "help [command]");
          const commands = [...ctx.shell.commands.values()];
          if (args.length === 0) {
            const rows = commands.sort((a, b) => a.name.localeCompare(b.name)).map((c) => [
              c.name,
              c.summary,
            ]);
            return {
              text: table(["command", "summary"], rows, { header: ctx.style.bold }) +
                '\n\nEvery listing command takes --json. Type "help <command>" for details.',
              json: commands.map((c) => ({
                name: c.name,
                summary: c.summary,
                usage: c.usage.split("\n"),
                plugin: c.plugin,
              })),
            };
          }
          const c = ctx.shell.commands.get(args[0]!);
          if (!c) throw new UsageError(`no command "${args[0]}"; type "help" for the list`);
          const forms = c.usage.split("\n");
          const lines = [`${ctx.style.bold(c.name)}: ${c.summary}`, ""];
          forms.forEach((u, i) => lines.push(`${i === 0 ? "usage:" : "      "} ${u}`));
          lines.push("", ...c.details.map((d) => `  ${d}`));
          lines.push("", `example: ${c.example}`, "", ctx.style.dim(`(from plugin ${c.plugin})`));
          return {
            text: lines.join("\n"),
            json: {
              name: c.name,
              summary: c.summary,
              usage: forms,
              details: c.details,
              example: c.example,
              plugin: c.plugin,
            },
          };
        },
      },
      {
        name: "exit",
        summary: "leave the shell (also Ctrl-D at the prompt)",
        usage: "exit",
        details: [
          "takes no arguments; in a script it ends the script with status 0",
          "Ctrl-C stops a running command (monitor) without leaving",
        ],
        example: "exit",
        run(args, ctx) {
          expectArgs(args, 0, 0, "exit");
          ctx.shell.exitRequested = true;
        },
      },
    ],
  };
}
