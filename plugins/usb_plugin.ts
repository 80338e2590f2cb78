/**
 * USB hot-plug from the shell (paper §2.6): `plug` a device model into a root-hub port of the
 * machine's host controller and wait until its class driver is running and named `dev/usb<port>`,
 * `unplug` it at any moment, `type` into a USB keyboard, and `keys`, a client that subscribes an
 * IKeyListener component to a keyboard and prints what is typed.
 *
 * @module
 */

import type { Capability } from "../idl/types.ts";
import { schema as usbSchema } from "../interfaces/usb.ts";
import { type Address, formatAddress } from "../kernel/address.ts";
import type { KernelEvent } from "../kernel/event_log.ts";
import { type PlugResult, USB_MODELS, usbController, type UsbModel } from "../kernel/hotplug.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { HidKeyboard } from "../machine/usb/hid_keyboard.ts";
import { hidStrokeOf } from "../machine/usb/hid_usage.ts";
import { MassStorage } from "../machine/usb/mass_storage.ts";
import type { XhciController } from "../machine/usb/xhci_controller.ts";
import { XHCI_PORTS } from "../machine/usb/xhci_registers.ts";
import { completePath } from "../shell/complete_path.ts";
import {
  type Command,
  jsonReplacer,
  type ShellContext,
  type ShellPlugin,
  UsageError,
} from "../shell/shell.ts";
import { expectArgs, fileError, parseOptions, parseWhole, plural, resolveTarget } from "./_util.ts";

const PLUG_STORAGE_IMAGE = "plug usb <port> storage --image PATH [--json]";
const PLUG_STORAGE_SIZE = "plug usb <port> storage --size SIZE [--json]";
const PLUG_KEYBOARD = "plug usb <port> keyboard [--json]";
const PORTS = `ports are 1-${XHCI_PORTS}`;

/** The largest USB disk: READ(10) addresses 2^32 blocks of 512 bytes (2 TiB). */
export const MAX_USB_DISK_BYTES = 2 ** 41;

/** The largest USB disk kept in memory (`--memory`): it is allocated whole. */
export const MAX_MEMORY_DISK_BYTES = 2 ** 30;

/** How long `plug` and `type` wait for a driver before they give up, in ms. */
const DRIVER_TIMEOUT_MS = 10_000;

const UNITS: Readonly<Record<string, number>> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

/**
 * Reads a disk size: bytes (`1048576`), or a number with a binary unit `K`, `M` or `G`
 * (`16M`, also `16MiB`), a positive multiple of 512 bytes.
 *
 * @example
 * ```ts
 * import { parseSize } from "./usb_plugin.ts";
 * parseSize("16M"); // 16777216
 * ```
 */
export function parseSize(text: string): number {
  const m = /^([0-9]{1,16})(?:([kmgKMG])(?:i?[bB])?)?$/.exec(text);
  if (!m) {
    throw new UsageError(
      `--size SIZE must be bytes or a whole number with K, M or G (16M, 512K, 1G), got "${text}"`,
    );
  }
  const bytes = Number(m[1]) * UNITS[(m[2] ?? "").toLowerCase()]!;
  if (bytes === 0) throw new UsageError(`--size SIZE must be more than 0, got "${text}"`);
  if (bytes % 512 !== 0) {
    const down = Math.floor(bytes / 512) * 512;
    throw new UsageError(
      `--size ${text} is ${bytes} bytes, not a multiple of 512 (the block size): try ${
        down > 0 ? `${down} or ` : ""
      }${down + 512}`,
    );
  }
  if (bytes > MAX_USB_DISK_BYTES) {
    throw new UsageError(
      `--size ${text} is more than 2G blocks: a USB disk holds at most 2048G (READ(10) addresses 2^32 blocks)`,
    );
  }
  return bytes;
}

/**
 * A size as people read it: `16 MiB`, `512 KiB`, `1536 bytes`.
 *
 * @example
 * ```ts
 * import { formatSize } from "./usb_plugin.ts";
 * formatSize(16 * 1024 * 1024); // "16 MiB"
 * ```
 */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return plural(bytes, "byte");
}

/**
 * Reads the escapes of text to type: `\n` Enter, `\t` Tab, `\b` Backspace, `\e` Escape, `\\` a
 * backslash. Any other escape is a UsageError that lists these.
 *
 * @example
 * ```ts
 * import { unescapeText } from "./usb_plugin.ts";
 * unescapeText("Hello\\n"); // "Hello\n"
 * ```
 */
export function unescapeText(text: string): string {
  const escapes: Readonly<Record<string, string>> = {
    n: "\n",
    t: "\t",
    b: "\b",
    e: "\x1b",
    "\\": "\\",
  };
  return text.replace(/\\(.?)/gs, (all, ch: string) => {
    const out = escapes[ch];
    if (out === undefined) {
      throw new UsageError(
        `${
          ch === "" ? "a \\ at the end" : `unknown escape ${all}`
        } in <text>: use \\n (Enter), \\t (Tab), \\b (Backspace), \\e (Escape) or \\\\ (a backslash)`,
      );
    }
    return out;
  });
}

/** The machine's USB host controller, or a UsageError that says there is none. */
function controllerOf(kernel: Kernel): XhciController {
  try {
    return usbController(kernel);
  } catch {
    throw new UsageError(
      "this machine has no USB host controller (it was booted with machine.usb false, or without a machine)",
    );
  }
}

/** `storage` or `keyboard` for a device model in a port. */
function modelOf(device: unknown): UsbModel | "device" {
  if (device instanceof HidKeyboard) return "keyboard";
  if (device instanceof MassStorage) return "storage";
  return "device";
}

/** The ports with nothing in them, or with something, in order. */
function portsWhere(usb: XhciController, used: boolean): number[] {
  const out: number[] = [];
  for (let p = 1; p <= XHCI_PORTS; p++) if ((usb.device(p) !== undefined) === used) out.push(p);
  return out;
}

function checkBus(bus: string | undefined, form: string): void {
  if (bus !== "usb") {
    throw new UsageError(
      bus === undefined
        ? `expected ${form}`
        : `unknown bus "${bus}": the only hot-plug bus is usb (${form})`,
    );
  }
}

function parsePort(text: string | undefined, form: string): number {
  if (text === undefined) throw new UsageError(`expected a port: ${form}`);
  if (!/^[0-9]{1,9}$/.test(text)) {
    throw new UsageError(`<port> must be a port number, 1-${XHCI_PORTS}, got "${text}"`);
  }
  const port = Number(text);
  if (port < 1 || port > XHCI_PORTS) throw new UsageError(`no port ${port}; ${PORTS}`);
  return port;
}

/** A kernel error without the `plug usb 1 storage: ` the shell already prints before it. */
function withoutPrefix(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const message = error.message.replace(/^(plug|unplug|type) [^:]*: /, "");
  if (message === error.message) return error;
  const out = new Error(message, { cause: error });
  out.name = error.name;
  return out;
}

/** A keyboard the user named: its capability, address and USB device (`usb2`), if USB. */
interface Keyboard {
  readonly text: string;
  readonly address: Address;
  readonly capability: Capability;
  readonly device: string | undefined;
}

async function keyboardNames(ctx: ShellContext): Promise<string[]> {
  const names = await ctx.kernel.names.list("");
  return names.filter((b) => ctx.kernel.component(b.address)?.exported.includes("IKeyboard"))
    .map((b) => b.name);
}

async function resolveKeyboard(ctx: ShellContext, text: string): Promise<Keyboard> {
  const target = await resolveTarget(ctx, text);
  const provides = ctx.kernel.describe(target.address).interfaces.map((i) => i.name);
  if (!provides.includes("IKeyboard")) {
    const keyboards = await keyboardNames(ctx);
    throw new UsageError(
      `${text} is not a keyboard: it provides ${
        provides.join(", ") || "no interfaces"
      }, not IKeyboard (${
        keyboards.length
          ? `keyboards: ${keyboards.join(", ")}`
          : 'no keyboard is plugged in: "plug usb <port> keyboard" plugs one'
      })`,
    );
  }
  let device: string | undefined;
  try {
    device = ctx.kernel.drivers.instances().find((i) => i.address === target.address)?.device;
  } catch {
    device = undefined; // no machine
  }
  return { text, address: target.address, capability: target.capability, device };
}

/** A `keys` command listening to a keyboard (so `type` can wait until it has heard the keys). */
interface Listening {
  readonly keyboard: Address;
  /** Key events received (a typed character is two: down and up). */
  events: number;
  /** Prints the line typed so far, if any. */
  flush(): void;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `done()` holds, checking every few ms; false after `ms`. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/**
 * The USB plugin: `plug`, `unplug`, `type` and `keys`.
 *
 * @example
 * ```ts ignore
 * createShell({ kernel, plugins: [usbPlugin()] });
 * ```
 */
export function usbPlugin(): ShellPlugin {
  const listening = new Set<Listening>();
  return {
    name: "usb",
    commands: [plugCommand(), unplugCommand(), typeCommand(listening), keysCommand(listening)],
  };
}

function plugCommand(): Command {
  return {
    name: "plug",
    summary: "plug a USB disk or keyboard into a root-hub port; waits until its driver is ready",
    usage: `${PLUG_STORAGE_IMAGE}\n${PLUG_STORAGE_SIZE}\n${PLUG_KEYBOARD}`,
    details: [
      `<port>        a free port of the USB host controller dev/xhci0, 1-${XHCI_PORTS} (see devices)`,
      "storage       a USB disk (mass storage, bulk-only SCSI), driven by usb_storage: IBlock",
      "keyboard      a USB boot keyboard, driven by usb_keyboard: IKeyboard (see type, keys)",
      "--image PATH  serve an existing raw image file; its size is the disk's, writes land in it",
      "--size SIZE   a new sparse image in <data>/disks: bytes, or with K, M or G (16M);",
      "              a multiple of 512",
      "--memory      with --size: keep the new image in memory, not in a file (for tests)",
      "--json        { port, model, device, name, address, image? }",
      "The device is enumerated, its class driver loaded on first use, and it is named",
      "dev/usb<port>; plug returns when that is done.",
    ],
    example: "plug usb 1 storage --size 16M",
    complete(i, words, ctx, partial) {
      if (words[words.length - 1] === "--image") return completePath(partial);
      if (words[words.length - 1] === "--size") return ["16M", "64M", "1G"];
      if (i === 0) return ["usb"];
      if (i === 1) return portsWhere(controllerOf(ctx.kernel), false).map(String);
      if (i === 2) return [...USB_MODELS];
      if (words[2] === "storage" && !words.includes("--image") && !words.includes("--size")) {
        return ["--image", "--size"];
      }
      return [];
    },
    async run(args, ctx) {
      const { positional, values, flags } = parseOptions(args, {
        values: { "--image": "PATH", "--size": "SIZE" },
        flags: ["--memory"],
      });
      const forms = "plug usb <port> storage|keyboard";
      checkBus(positional[0], forms);
      const port = parsePort(positional[1], forms);
      const model = positional[2];
      if (model === undefined) {
        throw new UsageError(`expected a model after the port: ${USB_MODELS.join(" or ")}`);
      }
      if (!(USB_MODELS as readonly string[]).includes(model)) {
        throw new UsageError(`unknown model "${model}"; models are ${USB_MODELS.join(", ")}`);
      }
      const form = model === "keyboard"
        ? PLUG_KEYBOARD
        : values["--image"] !== undefined
        ? PLUG_STORAGE_IMAGE
        : PLUG_STORAGE_SIZE;
      const usage = model === "keyboard"
        ? PLUG_KEYBOARD
        : `${PLUG_STORAGE_IMAGE}\n${PLUG_STORAGE_SIZE}`;
      if (positional.length > 3) {
        throw new UsageError(`expected ${form}, got ${plural(positional.length, "argument")}`, {
          usage,
        });
      }
      const usb = controllerOf(ctx.kernel);
      const held = usb.device(port);
      if (held) {
        const free = portsWhere(usb, false);
        throw new UsageError(
          `port ${port} is in use by ${held.name} (dev/usb${port}); unplug usb ${port} first${
            free.length ? `, or use a free port: ${free.join(", ")}` : ""
          }`,
          { usage },
        );
      }
      let size: number | undefined;
      let image = values["--image"];
      const memory = flags.has("--memory");
      if (model === "keyboard") {
        for (const o of ["--image", "--size", "--memory"]) {
          if (o in values || flags.has(o)) {
            throw new UsageError(`a keyboard takes no ${o}: ${PLUG_KEYBOARD}`, { usage });
          }
        }
      } else {
        if (image !== undefined && values["--size"] !== undefined) {
          throw new UsageError("give --image PATH or --size SIZE, not both", { usage });
        }
        if (image === undefined && values["--size"] === undefined) {
          throw new UsageError(
            "storage needs --image PATH (an existing raw image) or --size SIZE (a new one, e.g. 16M)",
            { usage },
          );
        }
        if (image !== undefined) {
          if (memory) throw new UsageError("--memory goes with --size, not --image", { usage });
          let info: Deno.FileInfo;
          try {
            info = await Deno.stat(image);
          } catch (error) {
            throw fileError("use image", image, error);
          }
          if (!info.isFile) {
            throw new UsageError(`cannot use image ${image}: it is not a file`, { usage: form });
          }
          size = info.size;
          if (size === 0 || size % 512 !== 0) {
            const whole = Math.max(512, Math.ceil(size / 512) * 512);
            throw new UsageError(
              `cannot use image ${image}: it is ${
                plural(size, "byte")
              }, not whole 512-byte blocks (pad it: truncate -s ${whole} ${image})`,
              { usage: form },
            );
          }
        } else {
          try {
            size = parseSize(values["--size"]!);
          } catch (error) {
            if (error instanceof UsageError) throw new UsageError(error.message, { usage: form });
            throw error;
          }
          if (memory && size > MAX_MEMORY_DISK_BYTES) {
            throw new UsageError(
              `--memory keeps the whole disk in memory: at most 1G, got --size ${values["--size"]}`,
              { usage: form },
            );
          }
        }
      }
      let result: PlugResult;
      try {
        result = await ctx.kernel.plug("usb", port, model, {
          ...(image !== undefined ? { image } : {}),
          ...(image === undefined && size !== undefined ? { size } : {}),
          ...(memory ? { memory } : {}),
          timeoutMs: DRIVER_TIMEOUT_MS,
        });
      } catch (error) {
        throw withoutPrefix(error);
      }
      image = result.image;
      const what = model === "keyboard"
        ? "keyboard"
        : `storage (${formatSize(size!)}, ${image ?? "in memory"})`;
      return {
        text: `${result.device}: ${what} is ${ctx.style.green(result.name)} at ${
          formatAddress(result.address)
        }`,
        json: result,
      };
    },
  };
}

function unplugCommand(): Command {
  return {
    name: "unplug",
    summary: "pull a USB device out of its port, at any moment",
    usage: "unplug usb <port> [--json]",
    details: [
      `<port>  a port with a device in it, 1-${XHCI_PORTS} (see devices)`,
      "Requests in flight fail with DeviceRemovedError; the driver instance, its objects,",
      "mappings and the name dev/usb<port> go. unplug returns when they have.",
      "--json  { port, device, name, model }",
    ],
    example: "unplug usb 1",
    complete(i, _words, ctx) {
      if (i === 0) return ["usb"];
      if (i === 1) return portsWhere(controllerOf(ctx.kernel), true).map(String);
      return [];
    },
    async run(args, ctx) {
      const form = "unplug usb <port>";
      checkBus(args[0], form);
      const port = parsePort(args[1], form);
      expectArgs(args, 2, 2, form);
      const usb = controllerOf(ctx.kernel);
      const device = usb.device(port);
      if (!device) {
        const used = portsWhere(usb, true);
        throw new UsageError(
          `nothing is plugged into port ${port}; ${
            used.length === 0
              ? "every port is empty"
              : used.length === 1
              ? `only port ${used[0]} has a device`
              : `ports ${used.join(", ")} have devices`
          } (see devices)`,
        );
      }
      const model = modelOf(device);
      try {
        await ctx.kernel.unplug("usb", port);
      } catch (error) {
        throw withoutPrefix(error);
      }
      return {
        text: `usb${port}: ${model} unplugged; dev/usb${port} is gone`,
        json: { port, device: `usb${port}`, name: `dev/usb${port}`, model },
      };
    },
  };
}

function typeCommand(listening: Set<Listening>): Command {
  return {
    name: "type",
    summary: "type text into a USB keyboard, as if someone pressed its keys",
    usage: "type <name> <text> [--json]",
    details: [
      "<name>  a USB keyboard: dev/usb<port> (plug usb <port> keyboard plugs one)",
      '<text>  what to type; quote it ("Hello, world\\n"); more words are joined by spaces.',
      "        \\n is Enter, \\t Tab, \\b Backspace, \\e Escape, \\\\ a backslash; the US layout",
      "        has keys for ASCII letters, digits, punctuation and space",
      "Each character is a key-down and a key-up report. type returns when the keyboard has",
      "sent them all and the keys commands of this shell have heard them; only a client that",
      'subscribed (keys) sees them: run "keys <name> &" first.',
      "--json  { name, device, text, characters, reports }",
    ],
    example: 'type dev/usb2 "Hello\\n"',
    complete: (i, _words, ctx) => i === 0 ? keyboardNames(ctx) : [],
    async run(args, ctx) {
      if (args.length < 2) {
        throw new UsageError(
          `expected type <name> <text>, got ${plural(args.length, "argument")}`,
        );
      }
      const [name, ...words] = args as [string, ...string[]];
      const text = unescapeText(words.join(" "));
      if (text === "") throw new UsageError("<text> is empty: there is nothing to type");
      for (const ch of text) {
        try {
          hidStrokeOf(ch);
        } catch {
          throw new UsageError(
            `cannot type ${
              JSON.stringify(ch)
            }: a US keyboard has no key for it (ASCII letters, digits, punctuation, space, \\n, \\t)`,
          );
        }
      }
      const keyboard = await resolveKeyboard(ctx, name);
      const port = /^usb([0-9]+)$/.exec(keyboard.device ?? "")?.[1];
      const model = port === undefined ? undefined : controllerOf(ctx.kernel).device(Number(port));
      if (!(model instanceof HidKeyboard)) {
        throw new UsageError(
          `${name} is not a USB keyboard plugged into this machine: type drives the keyboard model in a USB port`,
        );
      }
      const characters = [...text].length;
      const listeners = [...listening].filter((l) => l.keyboard === keyboard.address);
      const heard = listeners.map((l) => ({ l, events: l.events + 2 * characters }));
      const queued = model.pendingReports;
      try {
        await ctx.kernel.type(`dev/${keyboard.device}`, text);
      } catch (error) {
        throw withoutPrefix(error);
      }
      const usb = controllerOf(ctx.kernel);
      const sent = await until(
        () => model.pendingReports === 0 || usb.device(Number(port)) !== model,
        DRIVER_TIMEOUT_MS,
      );
      if (usb.device(Number(port)) !== model) {
        throw new Error(
          `${name} was unplugged while typing; ${
            plural(model.pendingReports, "key report")
          } were not sent`,
        );
      }
      if (!sent) {
        throw new Error(
          `${name}'s driver took ${queued + 2 * characters - model.pendingReports} of ${
            queued + 2 * characters
          } key reports in ${DRIVER_TIMEOUT_MS} ms: is it running? (type "drivers")`,
        );
      }
      // The driver delivers each key to its listeners after taking it from the keyboard.
      await until(
        () => heard.every((h) => !listening.has(h.l) || h.l.events >= h.events),
        2_000,
      );
      for (const h of heard) h.l.flush();
      return {
        text: `typed ${plural(characters, "character")} into ${name}`,
        json: {
          name,
          device: keyboard.device,
          text,
          characters,
          reports: 2 * characters,
        },
      };
    },
  };
}

function keysCommand(listening: Set<Listening>): Command {
  return {
    name: "keys",
    summary: "a keyboard client: subscribe to a keyboard and print what is typed, until Ctrl-C",
    usage: "keys <name> [--for MS] [--json]",
    details: [
      "<name>    a keyboard (dev/usb<port>): a component providing IKeyboard",
      "Subscribes an IKeyListener component of its own and prints each line typed as",
      "<name>: text (what is left of a line when type returns, or at the end). It ends on",
      "Ctrl-C, after --for, or when the keyboard is unplugged. Run it in the background",
      '("keys dev/usb2 &") to type into the keyboard while it listens.',
      "--for MS  stop after MS milliseconds (needed outside an interactive shell)",
      "--json    one JSON object per key event: { name, usage, down, modifiers, text },",
      "          then { kind: keys.end, characters, seconds, why }",
    ],
    example: "keys dev/usb2 --for 5000",
    signalsReady: true,
    complete: (i, _words, ctx) => i === 0 ? keyboardNames(ctx) : [],
    async run(args, ctx) {
      const { positional, values } = parseOptions(args, { values: { "--for": "MS" } });
      expectArgs(positional, 1, 1, "keys <name> [--for MS]");
      const forText = values["--for"];
      const forMs = forText === undefined
        ? undefined
        : Number(parseWhole(forText, "--for MS", { min: 1n, max: 86_400_000n }));
      if (forMs === undefined && !ctx.shell.interactive) {
        throw new UsageError(
          "outside an interactive shell keys needs --for MS: nothing can press Ctrl-C to stop it (unplugging the keyboard stops it sooner)",
        );
      }
      const keyboard = await resolveKeyboard(ctx, positional[0]!);
      return await listen(ctx, keyboard, forMs, listening);
    },
  };
}

async function listen(
  ctx: ShellContext,
  keyboard: Keyboard,
  forMs: number | undefined,
  listening: Set<Listening>,
): Promise<string | void> {
  const { kernel, style } = ctx;
  const name = keyboard.text;
  const started = performance.now();
  let characters = 0;
  let line = "";
  const printLine = (text: string) => ctx.print(`${style.cyan(`${name}:`)} ${text}`);
  const me: Listening = {
    keyboard: keyboard.address,
    events: 0,
    flush() {
      if (line !== "" && !ctx.json) printLine(line);
      line = "";
    },
  };
  const component = kernel.createComponent({
    className: "shell-keys",
    schema: usbSchema,
    provides: ["IKeyListener"],
    label: "shell-keys",
  });
  component.export("IKeyListener", {
    key(usage: number, down: boolean, modifiers: number, text: string) {
      me.events++;
      if (ctx.json) {
        ctx.print(JSON.stringify({ name, usage, down, modifiers, text }, jsonReplacer));
      }
      if (!down || text === "") return;
      characters++;
      if (ctx.json) return;
      if (text === "\n") {
        printLine(line);
        line = "";
      } else if (text === "\b") line = line.slice(0, -1);
      else if (text === "\x1b") line += "^[";
      else line += text;
    },
  });
  const listener = kernel.derive(
    kernel.mint(component.address, null, "shell-keys"),
    ["IKeyListener.key"],
    "key-listener",
  );
  type Why = "stopped" | "interrupted" | "unplugged";
  let why = "stopped" as Why;
  let stopEvents: (() => void) | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await kernel.invoke(keyboard.capability, "IKeyboard.subscribe", [listener]);
    listening.add(me);
    if (!ctx.json) {
      ctx.print(style.dim(
        `listening to ${name}${forMs === undefined ? "" : ` for ${forMs} ms`} (IKeyListener at ${
          formatAddress(component.address)
        })${ctx.background ? "" : forMs === undefined ? "; Ctrl-C to stop" : ""}`,
      ));
    }
    ctx.ready(); // subscribed: a background keys hears what the next line types
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) {
        why = "interrupted";
        return resolve();
      }
      ctx.signal.addEventListener("abort", () => {
        why = "interrupted";
        resolve();
      }, { once: true });
      stopEvents = kernel.events.subscribe((e: KernelEvent) => {
        if (e.kind === "component.destroy" && e.data?.address === keyboard.address) {
          why = "unplugged";
          resolve();
        }
      });
      if (forMs !== undefined) timer = setTimeout(resolve, forMs);
    });
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    stopEvents?.();
    listening.delete(me);
    if (why !== "unplugged") {
      await kernel.invoke(keyboard.capability, "IKeyboard.unsubscribe", [listener]).catch(() => {});
    }
    kernel.destroyComponent(component.address);
    me.flush();
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (ctx.json) {
    ctx.print(JSON.stringify({ kind: "keys.end", characters, seconds: Number(seconds), why }));
    return;
  }
  const count = plural(characters, "character");
  return style.dim(
    why === "unplugged"
      ? `keys ended after ${seconds} s: ${name} was unplugged; ${count}`
      : `keys ${why} after ${seconds} s: ${count}`,
  );
}
