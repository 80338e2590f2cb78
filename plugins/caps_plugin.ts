/**
 * `caps`: the password capabilities the shell session holds (paper §2.3). The session mints a
 * full capability for a component the first time a command needs one (the console has the
 * owner's authority); `caps derive` narrows one to some methods or interfaces, `caps revoke`
 * revokes one and everything derived from it. Every held capability has a reference `%N` that
 * other commands accept (`call %3 IBlock.get_block_size`).
 *
 * @module
 */

import type { Capability } from "../idl/types.ts";
import { formatAddress } from "../kernel/address.ts";
import { formatCapability } from "../kernel/capability.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { type ShellContext, type ShellPlugin, table, UsageError } from "../shell/shell.ts";
import { plural, resolveTarget, targetCompletions } from "./_util.ts";

const LIST = "caps [--json]";
const DERIVE = "caps derive <name|address|capability> <right...>";
const REVOKE = "caps revoke <capability>";

/** Names bound to an address, or the component's label, for listings. */
async function objectName(kernel: Kernel, address: bigint): Promise<string> {
  const names = await kernel.names.namesOf(address).catch(() => []);
  if (names.length > 0) return names.join(", ");
  return kernel.component(address)?.label ?? formatAddress(address);
}

/**
 * Bare method names (`read`) become qualified (`IBlock.read`) when exactly one exported
 * interface has them; everything else is left for the kernel to judge.
 */
function qualify(kernel: Kernel, address: bigint, rights: readonly string[]): string[] {
  const c = kernel.component(address);
  if (!c) return [...rights];
  return rights.map((r) => {
    if (r.includes(".") || c.declared.has(r)) return r;
    const owners = c.exported.filter((i) => c.declared.get(i)!.methods.some((m) => m.name === r));
    if (owners.length > 1) {
      throw new UsageError(
        `right "${r}" is ambiguous: say ${owners.map((i) => `${i}.${r}`).join(" or ")}`,
      );
    }
    return owners.length === 1 ? `${owners[0]}.${r}` : r;
  });
}

function formatRights(rights: readonly string[] | null): string {
  return rights === null ? "all" : rights.join(", ");
}

async function list(ctx: ShellContext): Promise<{ text: string; json: unknown }> {
  const held = ctx.session.list();
  const rows = [];
  for (const h of held) {
    rows.push({
      ref: h.ref,
      capability: formatCapability(h.capability),
      address: h.capability.address,
      object: await objectName(ctx.kernel, h.capability.address),
      rights: ctx.kernel.rightsOf(h.capability),
      origin: h.origin,
      parent: h.parent ?? null,
    });
  }
  return {
    text: rows.length === 0
      ? 'this session holds no capabilities yet (commands mint them on use; see "help caps")'
      : table(
        ["ref", "capability", "object", "rights", "from"],
        rows.map((r) => [
          r.ref,
          r.capability,
          r.object,
          formatRights(r.rights),
          r.parent ?? r.origin,
        ]),
        { header: ctx.style.bold },
      ),
    json: rows,
  };
}

async function derive(
  args: readonly string[],
  ctx: ShellContext,
): Promise<{ text: string; json: unknown }> {
  if (args.length < 2) {
    throw new UsageError(
      `expected ${DERIVE}: a target and at least one right (Interface.method or Interface)`,
    );
  }
  const target = await resolveTarget(ctx, args[0]!);
  const rights = qualify(ctx.kernel, target.address, args.slice(1));
  const held = ctx.session.derive(target.capability, rights);
  const granted = ctx.kernel.rightsOf(held.capability);
  const object = await objectName(ctx.kernel, target.address);
  return {
    text: [
      formatCapability(held.capability),
      ctx.style.dim(
        `  ${held.ref}: ${formatRights(granted)} on ${object}${
          held.parent ? `, derived from ${held.parent}` : ""
        }`,
      ),
    ].join("\n"),
    json: {
      ref: held.ref,
      capability: formatCapability(held.capability),
      address: held.capability.address,
      object,
      rights: granted,
      parent: held.parent ?? null,
    },
  };
}

function revoke(args: readonly string[], ctx: ShellContext): { text: string; json: unknown } {
  if (args.length !== 1) throw new UsageError(`expected ${REVOKE}`);
  const text = args[0]!;
  let cap: Capability | undefined;
  try {
    cap = ctx.session.parse(text);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!cap) {
    throw new UsageError(
      `expected a capability 0x<address>:0x<password> or a session reference %N, got "${text}"`,
    );
  }
  if (!ctx.kernel.caps.lookup(cap)) {
    throw new Error(
      `${text} is not a valid capability: never issued, forged, or already revoked (type "caps" for the live ones)`,
    );
  }
  const { count, refs } = ctx.session.revoke(cap);
  const mine = refs.length ? `: ${refs.join(", ")}` : "";
  const others = count - refs.length;
  return {
    text: `revoked ${plural(count, "capability", "capabilities")}${mine}${
      others > 0 ? ` (${others} not held by this session)` : ""
    }`,
    json: { revoked: count, refs },
  };
}

/**
 * The capabilities plugin.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [capsPlugin()] });
 * ```
 */
export function capsPlugin(): ShellPlugin {
  return {
    name: "caps",
    commands: [{
      name: "caps",
      summary: "list, derive (narrow) and revoke the capabilities this session holds",
      usage: `${LIST}\n${DERIVE}\n${REVOKE}`,
      details: [
        "caps                 every capability held: reference %N, 0x<address>:0x<password>,",
        "                     object, rights (all, or Interface.method list), where it came from",
        "caps derive          a new capability granting only <right...>: Interface.method,",
        "                     a whole Interface, or a bare method one interface has; printed",
        "                     as 0x<address>:0x<password> and kept in the session as %N",
        "caps revoke          revokes it and every capability derived from it",
        "<capability>         0x<address>:0x<password>, or a session reference %N",
        "--json               the listing (or the derived capability) as JSON",
      ],
      example: "caps derive dev/ide0 IBlock.read IBlock.get_block_size",
      async complete(i, words, ctx) {
        if (i === 0) return ["derive", "revoke"];
        if (words[0] === "derive" && i === 1) return await targetCompletions(ctx);
        if (words[0] === "derive" && i >= 2) {
          const target = await resolveTarget(ctx, words[1]!);
          const d = ctx.kernel.describe(target.address);
          return d.interfaces.flatMap((
            f,
          ) => [f.name, ...f.methods.map((m) => `${f.name}.${m.name}`)]);
        }
        if (words[0] === "revoke" && i === 1) return ctx.session.list().map((h) => h.ref);
        return [];
      },
      async run(args, ctx) {
        const [sub, ...rest] = args;
        if (sub === undefined) return await list(ctx);
        if (sub === "derive") return await derive(rest, ctx);
        if (sub === "revoke") return revoke(rest, ctx);
        throw new UsageError(`unknown subcommand "${sub}": expected derive or revoke, or nothing`);
      },
    }],
  };
}
