/**
 * Name service commands: `names`, `lookup`, `bind`, `unbind`.
 *
 * @module
 */

import { formatAddress, parseAddress } from "../kernel/address.ts";
import { type ShellPlugin, table } from "../shell/shell.ts";
import { expectArgs, nameCompletions, parseOptions } from "./_util.ts";

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
        details: [
          "[prefix]  only names that start with it (dev/, svc/, ...)",
          "--json    a JSON array of { name, address }",
        ],
        example: "names dev/",
        complete: (i, _w, ctx) => i === 0 ? nameCompletions(ctx) : [],
        async run(args, ctx) {
          expectArgs(args, 0, 1, "names [prefix]");
          const list = await ctx.kernel.names.list(args[0] ?? "");
          return {
            text: list.length === 0
              ? `no names${args[0] ? ` start with "${args[0]}"` : ""}`
              : table(["name", "address"], list.map((b) => [b.name, formatAddress(b.address)]), {
                header: ctx.style.bold,
              }),
            json: list,
          };
        },
      },
      {
        name: "lookup",
        summary: "print the address a name is bound to",
        usage: "lookup <name> [--json]",
        details: ["<name>  a bound name (Tab completes)", "--json  { name, address }"],
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
          "<name>     up to 255 bytes of UTF-8, no control characters",
          "<address>  0x followed by up to 16 hex digits, or decimal",
          "--replace  rebind a name that is bound (watchers see the rebinding)",
        ],
        example: "bind home/disk 0x0000000000002000",
        complete: (i, _w, ctx) => i === 0 ? nameCompletions(ctx) : [],
        async run(args, ctx) {
          const { positional, flags } = parseOptions(args, { flags: ["--replace"] });
          expectArgs(positional, 2, 2, "bind <name> <address>");
          const address = parseAddress(positional[1]!);
          await ctx.kernel.names.bind(positional[0]!, address, {
            replace: flags.has("--replace"),
          });
          return `${positional[0]} -> ${formatAddress(address)}`;
        },
      },
      {
        name: "unbind",
        summary: "remove a name",
        usage: "unbind <name>",
        details: ["<name>  a bound name (Tab completes); the object itself stays"],
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
