/**
 * Core shell commands: `help` and `exit`.
 *
 * @module
 */

import { type ShellPlugin, table, UsageError } from "../shell/shell.ts";

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
        usage: "help [command]",
        example: "help call",
        complete: (_i, _w, ctx) => [...ctx.shell.commands.keys()],
        run(args, ctx) {
          const commands = [...ctx.shell.commands.values()];
          if (args.length === 0) {
            const rows = commands.sort((a, b) => a.name.localeCompare(b.name)).map((
              c,
            ) => [c.name, c.summary]);
            return {
              text: table(["command", "summary"], rows) +
                '\n\nEvery listing command takes --json. Type "help <command>" for details.',
              json: commands.map((c) => ({
                name: c.name,
                summary: c.summary,
                usage: c.usage,
                plugin: c.plugin,
              })),
            };
          }
          const c = ctx.shell.commands.get(args[0]!);
          if (!c) throw new UsageError(`no command "${args[0]}"; type "help" for the list`);
          const lines = [`${c.name}: ${c.summary}`, "", `usage: ${c.usage}`];
          if (c.details?.length) lines.push("", ...c.details.map((d) => `  ${d}`));
          if (c.example) lines.push("", `example: ${c.example}`);
          lines.push("", `(from plugin ${c.plugin})`);
          return { text: lines.join("\n"), json: { ...c, run: undefined, complete: undefined } };
        },
      },
      {
        name: "exit",
        summary: "leave the shell (also Ctrl-D)",
        usage: "exit",
        run(_args, ctx) {
          ctx.shell.exitRequested = true;
        },
      },
    ],
  };
}
