/**
 * Name service commands: `names`, `lookup`, `bind`, `unbind`.
 *
 * @module
 */

import { formatAddress, parseAddress } from "../kernel/address.ts";
import { type ShellContext, type ShellPlugin, table, UsageError } from "../shell/shell.ts";

async function nameCompletions(ctx: ShellContext): Promise<string[]> {
  return (await ctx.kernel.names.list("")).map((b) => b.name);
}

function expectArgs(args: readonly string[], min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max) {
    throw new UsageError(
      `expected ${usage}, got ${args.length} argument${args.length === 1 ? "" : "s"}`,
    );
  }
}

/**
 * The naming plugin.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [namingPlugin()] });
 * ```
 */
export function namingPlugin(): ShellPlugin {
  return {
    name: "naming",
    commands: [
      {
        name: "names",
        summary: "list bound names, optionally those starting with a prefix",
        usage: "names [prefix] [--json]",
        example: "names dev/",
        async run(args, ctx) {
          expectArgs(args, 0, 1, "names [prefix]");
          const list = await ctx.kernel.names.list(args[0] ?? "");
          return {
            text: list.length === 0
              ? `no names${args[0] ? ` start with "${args[0]}"` : ""}`
              : table(["name", "address"], list.map((b) => [b.name, formatAddress(b.address)])),
            json: list,
          };
        },
      },
      {
        name: "lookup",
        summary: "print the address a name is bound to",
        usage: "lookup <name> [--json]",
        example: "lookup dev/ide0",
        complete: (i, _w, ctx) => i === 0 ? nameCompletions(ctx) : [],
        async run(args, ctx) {
          expectArgs(args, 1, 1, "lookup <name>");
          const address = await ctx.kernel.names.lookup(args[0]!);
          return { text: formatAddress(address), json: { name: args[0], address } };
        },
      },
      {
        name: "bind",
        summary: "bind a name to an address (--replace to rebind a bound name)",
        usage: "bind <name> <address> [--replace]",
        details: [
          "<address>  0x followed by up to 16 hex digits, or decimal",
          "--replace  rebind a name that is bound",
        ],
        example: "bind home/disk 0x0000000000003000",
        async run(args, ctx) {
          const replace = args.includes("--replace");
          const rest = args.filter((a) => a !== "--replace");
          expectArgs(rest, 2, 2, "bind <name> <address>");
          const address = parseAddress(rest[1]!);
          await ctx.kernel.names.bind(rest[0]!, address, { replace });
          return `${rest[0]} -> ${formatAddress(address)}`;
        },
      },
      {
        name: "unbind",
        summary: "remove a name",
        usage: "unbind <name>",
        example: "unbind home/disk",
        complete: (i, _w, ctx) => i === 0 ? nameCompletions(ctx) : [],
        async run(args, ctx) {
          expectArgs(args, 1, 1, "unbind <name>");
          const was = await ctx.kernel.names.unbind(args[0]!);
          return `${args[0]} unbound (was ${formatAddress(was)})`;
        },
      },
    ],
  };
}
