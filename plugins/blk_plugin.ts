/**
 * `blk read` and `blk write`: block I/O through IBlock exactly as a client program does it. Each
 * command opens a {@link BlockClient}, which owns a real INotify component and allocates memory
 * objects the driver maps for DMA; the driver queues the request, the disk interrupts, and the
 * completion comes back through the notify capability.
 *
 * @module
 */

import { BlockClient } from "../clients/block_client.ts";
import { hexdump } from "../shell/hexdump.ts";
import { completePath } from "../shell/complete_path.ts";
import { type ShellContext, type ShellPlugin, UsageError } from "../shell/shell.ts";
import {
  expectArgs,
  fileError,
  parseOptions,
  parseWhole,
  plural,
  resolveTarget,
  targetCompletions,
} from "./_util.ts";

/** The most blocks one `blk read` or `blk write` moves. */
export const MAX_BLOCKS = 65_536;

const READ = "blk read <name> <lba> <count> [--out FILE] [--json]";
const WRITE = "blk write <name> <lba> --in FILE [--json]";

async function openDevice(ctx: ShellContext, text: string): Promise<BlockClient> {
  const target = await resolveTarget(ctx, text);
  const d = ctx.kernel.describe(target.address);
  if (!d.interfaces.some((i) => i.name === "IBlock")) {
    throw new UsageError(
      `${text} is not a block device: it provides ${
        d.interfaces.map((i) => i.name).join(", ") || "no interfaces"
      }, not IBlock (type "names dev/" for the devices)`,
    );
  }
  return await BlockClient.open(ctx.kernel, target.capability);
}

function checkRange(disk: BlockClient, text: string, lba: bigint, count: number): void {
  const total = BigInt(disk.blockCount);
  if (lba + BigInt(count) > total) {
    throw new UsageError(
      `${
        plural(count, "block")
      } at <lba> ${lba} run past the end of ${text}: it has ${total} blocks of ${disk.blockSize} bytes (lba 0 to ${
        total - 1n
      })`,
    );
  }
}

/**
 * The block I/O plugin.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [blkPlugin()] });
 * ```
 */
export function blkPlugin(): ShellPlugin {
  return {
    name: "blk",
    commands: [{
      name: "blk",
      summary: "read and write blocks of a block device through IBlock",
      usage: `${READ}\n${WRITE}`,
      details: [
        "<name>      a device providing IBlock (dev/ide0), an address, or a capability (%N)",
        "<lba>       the first block, a whole number (decimal or 0x hex)",
        `<count>     how many blocks, 1 to ${MAX_BLOCKS}`,
        "--out FILE  write the blocks read to FILE instead of printing a hex dump",
        "            (like hexdump -C; offsets are byte offsets on the disk)",
        "--in FILE   the bytes to write; a length that is not whole blocks is padded with zeros",
        "--json      read: { device, lba, count, blockSize, bytes (hex) }; write: what was done",
      ],
      example: "blk read dev/ide0 0 1",
      async complete(i, words, ctx, partial) {
        const before = words[words.length - 1];
        if (before === "--out" || before === "--in") return await completePath(partial);
        if (i === 0) return ["read", "write"];
        if (i === 1) return await targetCompletions(ctx);
        return [];
      },
      async run(args, ctx) {
        const [op, ...rest] = args;
        const form = op === "read" ? READ : op === "write" ? WRITE : undefined;
        if (form !== undefined) {
          try {
            return await (op === "read" ? read : write)(rest, ctx);
          } catch (error) {
            if (error instanceof UsageError && error.usage === undefined) {
              throw new UsageError(error.message, { usage: form });
            }
            throw error;
          }
        }
        throw new UsageError(
          op === undefined
            ? "expected read or write"
            : `unknown subcommand "${op}": expected read or write`,
        );
      },
    }],
  };
}

async function read(
  args: readonly string[],
  ctx: ShellContext,
): Promise<{ text: string; json: unknown }> {
  const { positional, values } = parseOptions(args, { values: { "--out": "FILE" } });
  expectArgs(positional, 3, 3, "blk read <name> <lba> <count>");
  const [name, lbaText, countText] = positional as [string, string, string];
  const lba = parseWhole(lbaText, "<lba>");
  const count = Number(parseWhole(countText, "<count>", { min: 1n, max: BigInt(MAX_BLOCKS) }));
  const out = values["--out"];
  const disk = await openDevice(ctx, name);
  try {
    checkRange(disk, name, lba, count);
    const data = await disk.read(lba, count);
    const what = `${plural(count, "block")} (${data.length} bytes) from ${name} at lba ${lba}`;
    const json = { device: name, lba, count, blockSize: disk.blockSize, bytes: data };
    if (out !== undefined) {
      try {
        await Deno.writeFile(out, data);
      } catch (error) {
        throw fileError("write", out, error);
      }
      return { text: `read ${what} into ${out}`, json: { ...json, bytes: undefined, out } };
    }
    return {
      text: hexdump(data, { offset: Number(lba) * disk.blockSize, paintOffset: ctx.style.dim }),
      json,
    };
  } finally {
    disk.close();
  }
}

async function write(
  args: readonly string[],
  ctx: ShellContext,
): Promise<{ text: string; json: unknown }> {
  const { positional, values } = parseOptions(args, { values: { "--in": "FILE" } });
  expectArgs(positional, 2, 2, "blk write <name> <lba> --in FILE");
  const [name, lbaText] = positional as [string, string];
  const lba = parseWhole(lbaText, "<lba>");
  const file = values["--in"];
  if (file === undefined) throw new UsageError("blk write needs --in FILE: the bytes to write");
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (error) {
    throw fileError("read", file, error);
  }
  if (bytes.length === 0) throw new UsageError(`${file} is empty: there is nothing to write`);
  const disk = await openDevice(ctx, name);
  try {
    const size = disk.blockSize;
    const count = Math.ceil(bytes.length / size);
    if (count > MAX_BLOCKS) {
      throw new UsageError(
        `${file} is ${bytes.length} bytes, more than ${MAX_BLOCKS} blocks of ${size}: write it in parts`,
      );
    }
    checkRange(disk, name, lba, count);
    const padding = count * size - bytes.length;
    const data = padding === 0 ? bytes : new Uint8Array(count * size);
    if (padding > 0) data.set(bytes);
    await disk.write(lba, data);
    const lines: string[] = [];
    if (padding > 0) {
      lines.push(
        ctx.style.yellow(
          `note: ${file} is ${bytes.length} bytes, not whole ${size}-byte blocks: padded with ${
            plural(padding, "zero byte")
          }`,
        ),
      );
    }
    lines.push(
      `wrote ${
        plural(count, "block")
      } (${data.length} bytes) to ${name} at lba ${lba} from ${file}`,
    );
    return {
      text: lines.join("\n"),
      json: {
        device: name,
        lba,
        count,
        blockSize: size,
        file,
        fileBytes: bytes.length,
        padding,
      },
    };
  } finally {
    disk.close();
  }
}
