/**
 * Component commands: `ifaces` (introspection) and `call` (invoke any method, arguments parsed by
 * the method's IDL types). The shell session acts with the console's authority: it holds a
 * capability for every component it names (see `caps`).
 *
 * @module
 */

import { formatSignature, parseValue, toJsonValue } from "../idl/mod.ts";
import type { Capability } from "../idl/types.ts";
import { type Address, parseAddress } from "../kernel/address.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { type ShellContext, type ShellPlugin, UsageError } from "../shell/shell.ts";

/** Resolves a command-line target: a name, or an address written in hex or decimal. */
export async function resolveTarget(kernel: Kernel, target: string): Promise<Address> {
  if (/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(target)) return parseAddress(target);
  return await kernel.names.lookup(target);
}

const sessionCaps = new WeakMap<Kernel, Map<Address, Capability>>();

/**
 * The capability the shell session holds for the component at `address` (minted on first use:
 * the console has the owner's authority).
 */
export function sessionCapability(kernel: Kernel, address: Address): Capability {
  let caps = sessionCaps.get(kernel);
  if (!caps) sessionCaps.set(kernel, caps = new Map());
  let cap = caps.get(address);
  if (!cap || !kernel.caps.lookup(cap)) {
    cap = kernel.mint(address, null, "shell");
    caps.set(address, cap);
  }
  return cap;
}

async function targets(ctx: ShellContext): Promise<string[]> {
  return (await ctx.kernel.names.list("")).map((b) => b.name);
}

/**
 * The component plugin.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [componentPlugin()] });
 * ```
 */
export function componentPlugin(): ShellPlugin {
  return {
    name: "components",
    commands: [
      {
        name: "ifaces",
        summary: "the interfaces and method signatures a component provides",
        usage: "ifaces <name|address> [--json]",
        example: "ifaces svc/naming",
        complete: (i, _w, ctx) => i === 0 ? targets(ctx) : [],
        async run(args, ctx) {
          if (args.length !== 1) throw new UsageError("expected ifaces <name|address>");
          const d = ctx.kernel.describe(await resolveTarget(ctx.kernel, args[0]!));
          const lines = [`${d.label} (${d.className}) at ${d.address}, ${d.host} host, ${d.state}`];
          for (const i of d.interfaces) {
            lines.push(
              `  interface ${i.name}${i.extends.length ? ` : ${i.extends.join(", ")}` : ""}`,
            );
            for (const m of i.methods) lines.push(`    ${m.signature}`);
          }
          return { text: lines.join("\n"), json: d };
        },
      },
      {
        name: "call",
        summary:
          "invoke a method; arguments are parsed by its IDL types, the result printed as JSON",
        usage: "call <name|address> <Interface.method|method> [args...]",
        details: [
          'ints: decimal or 0x hex; bool: true/false; string: as is or "quoted"; bytes: hex',
          "cap_t: 0x<address>:0x<password>; structs and sequences: JSON",
        ],
        example: "call svc/naming INaming.lookup svc/naming",
        async complete(i, words, ctx) {
          if (i === 0) return await targets(ctx);
          if (i === 1) {
            const d = ctx.kernel.describe(await resolveTarget(ctx.kernel, words[0]!));
            return d.interfaces.flatMap((f) => f.methods.map((m) => `${f.name}.${m.name}`));
          }
          return [];
        },
        async run(args, ctx) {
          if (args.length < 2) {
            throw new UsageError("expected call <name|address> <method> [args...]");
          }
          const address = await resolveTarget(ctx.kernel, args[0]!);
          const cap = sessionCapability(ctx.kernel, address);
          const { qualified, method } = ctx.kernel.methodSchema(cap, args[1]!);
          const texts = args.slice(2);
          if (texts.length !== method.params.length) {
            throw new UsageError(
              `${qualified} takes ${method.params.length} argument${
                method.params.length === 1 ? "" : "s"
              }: ${formatSignature(method)}; got ${texts.length}`,
            );
          }
          const schema = ctx.kernel.component(address)!.schema;
          const values = method.params.map((p, i) =>
            parseValue(schema, p.type, texts[i]!, `${qualified}: argument "${p.name}"`)
          );
          const result = await ctx.kernel.invoke(cap, qualified, values);
          const json = toJsonValue(result);
          return { text: result === undefined ? "ok" : JSON.stringify(json), json };
        },
      },
    ],
  };
}
