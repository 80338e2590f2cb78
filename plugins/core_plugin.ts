/**
 * Core shell commands: `help`, `exit`, and `jobs` and `wait` for commands started in the
 * background with `&`.
 *
 * @module
 */

import { type ShellPlugin, table, UsageError } from "../shell/shell.ts";
import { expectArgs, plural } from "./_util.ts";

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
        name: "jobs",
        summary: "the commands started in the background with & and how they are doing",
        usage: "jobs [--json]",
        details: [
          "A line ending in & (keys dev/usb1 &) runs in the background: the shell prints",
          "[N] line, takes the next command at once, prints the job's output as it comes and",
          "[N] done or [N] failed when it ends. Jobs are listed until wait reports them.",
          "--json  [{ id, line, state, ms }]",
        ],
        example: "jobs",
        run(args, ctx) {
          expectArgs(args, 0, 0, "jobs");
          const jobs = ctx.shell.jobs();
          return {
            text: jobs.length === 0 ? "no background jobs" : table(
              ["job", "state", "seconds", "command"],
              jobs.map((j) => [`[${j.id}]`, j.state, (j.ms / 1000).toFixed(1), j.line]),
              { header: ctx.style.bold },
            ),
            json: jobs,
          };
        },
      },
      {
        name: "wait",
        summary: "wait until the background jobs have ended; fails if one of them failed",
        usage: "wait [--json]",
        details: [
          "Waits for every job started with & (see jobs), then forgets them. It fails when a",
          "job failed, so a script stops there; the job's own error was printed when it ended.",
          "Ctrl-C stops the jobs and the waiting. With no jobs it returns at once.",
          "--json  the jobs waited for: [{ id, line, state, ms }]",
        ],
        example: "wait",
        async run(args, ctx) {
          expectArgs(args, 0, 0, "wait");
          const jobs = await ctx.shell.waitJobs(ctx.signal);
          const failed = jobs.filter((j) => j.state === "failed");
          if (failed.length > 0) {
            throw new Error(
              `${plural(failed.length, "background job")} failed: ${
                failed.map((j) => `[${j.id}] ${j.line}`).join("; ")
              } (its error is printed above)`,
            );
          }
          return {
            text: jobs.length === 0
              ? "no background jobs"
              : `${plural(jobs.length, "background job")} ended: ${
                jobs.map((j) => `[${j.id}]`).join(", ")
              }`,
            json: jobs,
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
