/**
 * Component commands: `ifaces` (introspection) and `call` (invoke any method, arguments parsed by
 * the method's IDL types). The shell session acts with the console's authority: it holds a
 * capability for every component it names, and can call through a narrower one it derived
 * (see `caps`).
 *
 * @module
 */

import { formatSignature, parseValue, toJsonValue } from "../idl/mod.ts";
import { formatCapability } from "../kernel/capability.ts";
import { type ShellPlugin, UsageError } from "../shell/shell.ts";
import { resolveTarget, targetCompletions } from "./_util.ts";

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
        details: [
          "<name|address>  a bound name, an address (0x... or decimal) or a capability",
          "--json          { address, className, label, host, state, interfaces }",
          "Introspection needs no capability: knowing what a component offers grants nothing.",
        ],
        example: "ifaces svc/naming",
        complete: (i, _w, ctx) => i === 0 ? targetCompletions(ctx) : [],
        async run(args, ctx) {
          if (args.length !== 1) throw new UsageError("expected ifaces <name|address>");
          const target = await resolveTarget(ctx, args[0]!);
          const d = ctx.kernel.describe(target.address);
          const lines = [
            `${
              ctx.style.bold(d.label)
            } (${d.className}) at ${d.address}, ${d.host} host, ${d.state}`,
          ];
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
        usage: "call <name|address|capability> <Interface.method|method> [args...]",
        details: [
          "<name|address>  invokes with the session's full capability for the component",
          "<capability>    0x<address>:0x<password> or a session reference %N (see caps):",
          "                invokes through exactly that capability",
          'ints: decimal or 0x hex; bool: true/false; string: as is or "quoted"; bytes: hex',
          "cap_t: 0x<address>:0x<password> or %N; structs and sequences: JSON",
        ],
        example: "call svc/naming INaming.lookup svc/naming",
        async complete(i, words, ctx) {
          if (i === 0) return await targetCompletions(ctx);
          if (i === 1) {
            const target = await resolveTarget(ctx, words[0]!);
            const d = ctx.kernel.describe(target.address);
            return d.interfaces.flatMap((f) => f.methods.map((m) => `${f.name}.${m.name}`));
          }
          return [];
        },
        async run(args, ctx) {
          if (args.length < 2) {
            throw new UsageError("expected call <name|address|capability> <method> [args...]");
          }
          const target = await resolveTarget(ctx, args[0]!);
          const { qualified, method } = ctx.kernel.methodSchema(target.capability, args[1]!);
          const texts = args.slice(2);
          if (texts.length !== method.params.length) {
            throw new UsageError(
              `${qualified} takes ${method.params.length} argument${
                method.params.length === 1 ? "" : "s"
              }: ${formatSignature(method)}; got ${texts.length}`,
            );
          }
          const schema = ctx.kernel.component(target.address)!.schema;
          const values = method.params.map((p, i) => {
            // A cap_t argument may name a capability the session holds: %N.
            const held = p.type.kind === "cap" ? ctx.session.parse(texts[i]!) : undefined;
            const text = held ? formatCapability(held) : texts[i]!;
            return parseValue(schema, p.type, text, `${qualified}: argument "${p.name}"`);
          });
          const result = await ctx.kernel.invoke(target.capability, qualified, values);
          const json = toJsonValue(result);
          return { text: result === undefined ? "ok" : JSON.stringify(json), json };
        },
      },
    ],
  };
}
