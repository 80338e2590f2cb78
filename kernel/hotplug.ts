/**
 * Hot-plug (paper §2.6): plugging a USB device model into a root-hub port of the machine's host
 * controller, and pulling it out. The hardware reports the change; the xHCI driver, the USB core
 * and a class driver (each in its own sandbox) do the rest, and the device appears as
 * `dev/usb<port>`. Unplugging fails the device's outstanding requests with `DeviceRemovedError`
 * and removes its instance, objects, mappings and name.
 *
 * @module
 */

import { join } from "@std/path";
import { DiskImage } from "../machine/disk_image.ts";
import { createKeyboard, type HidKeyboard } from "../machine/usb/hid_keyboard.ts";
import { createMassStorage } from "../machine/usb/mass_storage.ts";
import type { UsbDevice } from "../machine/usb/usb_device.ts";
import { XhciController } from "../machine/usb/xhci_controller.ts";
import { XHCI_PORTS } from "../machine/usb/xhci_registers.ts";
import type { KernelEvent } from "./event_log.ts";
import type { Kernel } from "./kernel.ts";

/** USB device models the simulator can plug in. */
export const USB_MODELS = ["storage", "keyboard"] as const;

/** A USB device model's name. */
export type UsbModel = typeof USB_MODELS[number];

/** Options of a plug. */
export interface PlugOptions {
  /** storage: a raw image file to serve (it must exist; its size is the disk's). */
  readonly image?: string;
  /** storage: the size of a new sparse image, in bytes (whole 512-byte sectors). */
  readonly size?: number;
  /** storage: keep a new image in memory instead of a file (tests). */
  readonly memory?: boolean;
  /** How long to wait for the device's driver to be ready, in ms. Default 10,000. */
  readonly timeoutMs?: number;
}

/** What a plug made. */
export interface PlugResult {
  readonly port: number;
  readonly model: UsbModel;
  /** The device's name (`usb<port>`) and its instance's name (`dev/usb<port>`). */
  readonly device: string;
  readonly name: string;
  readonly address: bigint;
  /** The disk image file (storage with a file). */
  readonly image?: string;
}

/**
 * The machine's USB host controller, or a clear error.
 *
 * @example
 * ```ts ignore
 * usbController(kernel).connect(1, device);
 * ```
 */
export function usbController(kernel: Kernel): XhciController {
  const fn = kernel.machine.pciFunctions().find((f) => f.model instanceof XhciController);
  if (!fn) throw new Error("This machine has no USB host controller");
  return fn.model as XhciController;
}

function checkBus(bus: string): void {
  if (bus !== "usb") throw new TypeError(`Unknown bus "${bus}": the only hot-plug bus is usb`);
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > XHCI_PORTS) {
    throw new RangeError(`${what} usb ${port}: no port ${port}; ports are 1-${XHCI_PORTS}`);
  }
}

/** Waits for the first event `match` accepts, or fails after `ms` with `timeout()`'s message. */
function waitForEvent(
  kernel: Kernel,
  match: (e: KernelEvent) => boolean,
  ms: number,
  timeout: () => string,
): Promise<KernelEvent> {
  return new Promise((resolve, reject) => {
    const stop = kernel.events.subscribe((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      stop();
      resolve(e);
    });
    const timer = setTimeout(() => {
      stop();
      reject(new Error(timeout()));
    }, ms);
  });
}

/**
 * Plugs a USB device model into a port and resolves when its driver is ready and named.
 *
 * @example
 * ```ts ignore
 * const { name } = await plug(kernel, "usb", 1, "storage", { size: 16 << 20 });
 * ```
 */
export async function plug(
  kernel: Kernel,
  bus: string,
  port: number,
  model: string,
  options: PlugOptions = {},
): Promise<PlugResult> {
  checkBus(bus);
  const controller = usbController(kernel);
  checkPort(port, "plug");
  if (!(USB_MODELS as readonly string[]).includes(model)) {
    throw new TypeError(
      `plug usb ${port} ${model}: unknown model; models are ${USB_MODELS.join(", ")}`,
    );
  }
  const held = controller.device(port);
  if (held) {
    throw new RangeError(
      `plug usb ${port}: port ${port} is in use by ${held.name}; unplug it first`,
    );
  }
  const name = `usb${port}`;
  let device: UsbDevice;
  let image: string | undefined;
  if (model === "storage") {
    let disk: DiskImage;
    if (options.image !== undefined) {
      if (options.size !== undefined) {
        throw new TypeError(`plug usb ${port} storage: give --image or --size, not both`);
      }
      try {
        disk = await DiskImage.open(options.image, { create: false });
      } catch (error) {
        throw new Error(
          `plug usb ${port} storage: cannot use image ${options.image}: ${
            (error as Error).message
          }`,
        );
      }
      image = options.image;
    } else {
      const size = options.size;
      if (size === undefined) {
        throw new TypeError(`plug usb ${port} storage: give --image PATH or --size SIZE`);
      }
      if (!Number.isSafeInteger(size) || size <= 0 || size % 512 !== 0) {
        throw new RangeError(
          `plug usb ${port} storage: size ${size} must be a positive multiple of 512 bytes`,
        );
      }
      if (options.memory || kernel.dataDir === undefined) disk = DiskImage.memory(size);
      else {
        await Deno.mkdir(join(kernel.dataDir, "disks"), { recursive: true });
        const path = join(kernel.dataDir, "disks", `${name}-${Date.now().toString(36)}.img`);
        disk = await DiskImage.open(path, { size });
        image = path;
      }
    }
    device = createMassStorage({ image: disk });
  } else {
    device = createKeyboard();
  }
  const ready = waitForEvent(
    kernel,
    (e) => e.kind === "name.bind" && e.source === name,
    options.timeoutMs ?? 10_000,
    () => {
      const why = kernel.events.recent({ source: name }).concat(
        kernel.events.recent({ kind: "device.log" }),
      )
        .slice(-3).map((e) => e.message).join("; ");
      return `plug usb ${port} ${model}: the device did not become ready${why ? ` (${why})` : ""}`;
    },
  );
  kernel.events.emit("device.plug", name, `${model} plugged into usb port ${port}`, {
    port,
    model,
  });
  try {
    controller.connect(port, device);
  } catch (error) {
    device.close?.();
    throw error;
  }
  await ready;
  const address = await kernel.names.lookup(`dev/${name}`);
  return {
    port,
    model: model as UsbModel,
    device: name,
    name: `dev/${name}`,
    address,
    ...(image ? { image } : {}),
  };
}

/**
 * Pulls the device out of a port, at any moment, and resolves when its instance is gone. Its
 * outstanding requests fail with `DeviceRemovedError`.
 *
 * @example
 * ```ts ignore
 * await unplug(kernel, "usb", 1);
 * ```
 */
export async function unplug(
  kernel: Kernel,
  bus: string,
  port: number,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  checkBus(bus);
  const controller = usbController(kernel);
  checkPort(port, "unplug");
  if (!controller.device(port)) {
    throw new RangeError(`unplug usb ${port}: nothing is plugged into port ${port}`);
  }
  const name = `usb${port}`;
  const driven = kernel.drivers.instance(name) !== undefined;
  const gone = driven
    ? waitForEvent(
      kernel,
      (e) => e.kind === "component.destroy" && e.source === name,
      options.timeoutMs ?? 10_000,
      () => `unplug usb ${port}: ${name}'s driver did not go away`,
    )
    : Promise.resolve(undefined);
  const device = controller.disconnect(port);
  kernel.events.emit("device.unplug", name, `usb port ${port} unplugged`, { port });
  try {
    await gone;
  } finally {
    device.close?.();
  }
}

/**
 * Types text into the USB keyboard named `name` (`dev/usb<port>`, or `usb<port>`).
 *
 * @example
 * ```ts ignore
 * typeText(kernel, "dev/usb2", "hello\n");
 * ```
 */
export function typeText(kernel: Kernel, name: string, text: string): void {
  const device = name.replace(/^dev\//, "");
  const port = /^usb(\d+)$/.exec(device)?.[1];
  const model = port ? usbController(kernel).device(Number(port)) : undefined;
  if (!model) throw new RangeError(`type ${name}: no USB device is plugged in as ${device}`);
  if (typeof (model as Partial<HidKeyboard>).type !== "function") {
    throw new TypeError(`type ${name}: ${device} is not a keyboard`);
  }
  (model as HidKeyboard).type(text);
}
