// USB core: enumeration, address assignment and configuration of the devices on one host
// controller's root hub, as a component of its own (paper §2.6). It talks to the host controller
// driver through IUsbHost, serves each device to its class driver as an IUsbDevice object (which
// reaches that device only), and announces the device so the kernel loads a class driver.

import type { Capability, DriverContext, DriverInstance } from "../../driver.ts";

/** Standard requests and descriptor types (USB 2.0 §9.4). */
const GET_DESCRIPTOR = 6;
const SET_CONFIGURATION = 9;
const DEVICE = 1;
const CONFIGURATION = 2;
const STRING = 3;
const INTERFACE = 4;
const ENDPOINT = 5;
const DEVICE_TO_HOST = 0x80;

interface Setup {
  request_type: number;
  request: number;
  value: number;
  index: number;
  length: number;
}

interface Endpoint {
  address: number;
  attributes: number;
  max_packet: number;
  interval: number;
}

interface Attached {
  slot: number;
  object: Capability;
  name: string;
}

function u16(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8);
}

/** A string descriptor's text (UTF-16LE after the 2-byte header). */
function decodeString(d: Uint8Array): string {
  let s = "";
  for (let i = 2; i + 1 < Math.min(d.length, d[0] ?? 0); i += 2) {
    s += String.fromCharCode(u16(d, i));
  }
  return s;
}

export async function start(ctx: DriverContext): Promise<DriverInstance> {
  const host = ctx.device.caps.host;
  if (!host) throw new TypeError("usbcore: the host controller handed down no IUsbHost capability");
  const call = (method: string, args: unknown[] = []) =>
    ctx.invoke(host, `IUsbHost.${method}`, args);
  const attached = new Map<number, Attached>();
  /** Port changes are handled one at a time, in order. */
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;

  const getDescriptor = async (
    slot: number,
    type: number,
    index: number,
    length: number,
    lang = 0,
  ) =>
    await call("control_in", [slot, {
      request_type: DEVICE_TO_HOST,
      request: GET_DESCRIPTOR,
      value: (type << 8) | index,
      index: lang,
      length,
    }]) as Uint8Array;

  async function enumerate(port: number): Promise<void> {
    const speed = await call("reset_port", [port]) as number;
    const slot = await call("address_device", [port, speed]) as number;
    try {
      const device = await getDescriptor(slot, DEVICE, 0, 18);
      if (device.length < 18 || device[1] !== DEVICE) {
        throw new Error(`port ${port}: bad device descriptor`);
      }
      const head = await getDescriptor(slot, CONFIGURATION, 0, 9);
      const config = await getDescriptor(slot, CONFIGURATION, 0, u16(head, 2));
      // The first interface of the first configuration, and its endpoints.
      let iface: Uint8Array | undefined;
      const endpoints: Endpoint[] = [];
      for (let i = 0; i + 2 <= config.length && config[i]! >= 2; i += config[i]!) {
        const type = config[i + 1];
        if (type === INTERFACE && !iface) iface = config.subarray(i, i + 9);
        else if (type === ENDPOINT && iface && endpoints.length < (iface[4] ?? 0)) {
          endpoints.push({
            address: config[i + 2]!,
            attributes: config[i + 3]!,
            max_packet: u16(config, i + 4),
            interval: config[i + 6]!,
          });
        }
      }
      if (!iface) throw new Error(`port ${port}: the configuration has no interface`);
      const strings: string[] = [];
      for (const index of [device[14]!, device[15]!, device[16]!]) {
        if (index === 0) {
          strings.push("");
          continue;
        }
        const langs = await getDescriptor(slot, STRING, 0, 4);
        const d = await getDescriptor(
          slot,
          STRING,
          index,
          255,
          langs.length >= 4 ? u16(langs, 2) : 0x0409,
        );
        strings.push(decodeString(d));
      }
      await call("control_out", [slot, {
        request_type: 0,
        request: SET_CONFIGURATION,
        value: config[5]!,
        index: 0,
        length: 0,
      }, new Uint8Array(0)]);
      await call("configure_endpoints", [slot, endpoints]);
      const ids: Record<string, number> = {
        port,
        slot,
        speed,
        vendorId: u16(device, 8),
        productId: u16(device, 10),
        deviceClass: device[4]!,
        interfaceClass: iface[5]!,
        interfaceSubclass: iface[6]!,
        interfaceProtocol: iface[7]!,
      };
      for (const ep of endpoints) {
        const kind = ["control", "isochronous", "bulk", "interrupt"][ep.attributes & 3]!;
        const dir = ep.address & 0x80 ? "In" : "Out";
        ids[`${kind}${dir}`] ??= ep.address;
        ids[`${kind}${dir}MaxPacket`] ??= ep.max_packet;
      }
      const object = await ctx.objects.create("IUsbDevice", deviceObject(slot));
      const name = `usb${port}`;
      attached.set(port, { slot, object, name });
      const descriptors = new Uint8Array(device.length + config.length);
      descriptors.set(device);
      descriptors.set(config, device.length);
      ctx.log(
        `port ${port}: ${strings[0]} ${strings[1]} (${hex(ids.vendorId!)}:${
          hex(ids.productId!)
        }) is ${name}`,
      );
      await ctx.bus.add({ name, bus: "usb", ids, config: descriptors, caps: { usb: object } });
    } catch (error) {
      await call("disable_slot", [slot]).catch(() => {});
      throw error;
    }
  }

  /** The IUsbDevice object of one device: every call goes to its own slot only. */
  function deviceObject(slot: number) {
    return {
      control_in: (setup: Setup) => call("control_in", [slot, setup]),
      control_out: (setup: Setup, data: Uint8Array) => call("control_out", [slot, setup, data]),
      transfer_in: (ep: number, length: number) => call("transfer_in", [slot, ep, length]),
      transfer_out: (ep: number, data: Uint8Array) => call("transfer_out", [slot, ep, data]),
      dma_in: (ep: number, buffer: Capability, addr: bigint, length: number) =>
        call("dma_in", [slot, ep, buffer, addr, length]),
      dma_out: (ep: number, buffer: Capability, addr: bigint, length: number) =>
        call("dma_out", [slot, ep, buffer, addr, length]),
    };
  }

  async function detach(port: number): Promise<void> {
    const a = attached.get(port);
    if (!a) return;
    attached.delete(port);
    ctx.log(`port ${port}: ${a.name} unplugged`);
    await ctx.bus.remove(a.name).catch(() => {});
    await ctx.objects.destroy(a.object).catch(() => {});
    await call("disable_slot", [a.slot]).catch(() => {});
  }

  function portChanged(port: number, connected: boolean): void {
    ctx.log(`port ${port}: device ${connected ? "connected" : "disconnected"}`);
    chain = chain.then(async () => {
      if (stopped) return;
      try {
        if (connected && !attached.has(port)) await enumerate(port);
        else if (!connected) await detach(port);
      } catch (error) {
        ctx.log(`port ${port}: enumeration failed: ${(error as Error).message}`);
      }
    });
  }

  const events = await ctx.objects.create("IUsbHostEvents", {
    port_changed: (port: number, connected: boolean) => portChanged(port, connected),
  });
  await call("subscribe", [events]);
  // Devices already connected when the core starts.
  const ports = await call("port_count") as number;
  for (let port = 1; port <= ports; port++) {
    if ((await call("port_status", [port]) as number) & 1) portChanged(port, true);
  }
  await chain;

  return {
    async stop() {
      stopped = true;
      await chain.catch(() => {});
    },
  };
}

function hex(n: number): string {
  return n.toString(16).padStart(4, "0");
}
