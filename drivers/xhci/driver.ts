// xHCI driver: a USB host controller (xHCI 1.1) with a root hub of ports. It owns the controller's
// rings in DMA memory (command ring, one event ring, a transfer ring per endpoint), serves
// IUsbHost from an object, and announces the controller's root (`<name>.root`) so the kernel
// starts the USB core on it. The core enumerates devices; class drivers reach them through it.
//
// Entry points: start (reset, rings, run), the IUsbHost methods (requests), the interrupt entry
// (drain the event ring: command completions, transfer events, port changes).

import type { Capability, DriverContext, DriverInstance } from "../../driver.ts";
import { XhciRegs } from "./xhci_regs.ts";

const TRB_SIZE = 16;
const CONTEXT_SIZE = 32;
/** TRBs per ring, the last being the Link TRB back to the start. */
const RING_TRBS = 64;
const EVENT_TRBS = 256;
const MAX_SLOTS = 16;
/** Bytes of a slot's buffer for copied transfers (control data, small bulk/interrupt). */
const SLOT_BUFFER = 64 * 1024;

// TRB types (xHCI table 6-91) and control bits.
const NORMAL = 1;
const SETUP_STAGE = 2;
const DATA_STAGE = 3;
const STATUS_STAGE = 4;
const LINK = 6;
const ENABLE_SLOT = 9;
const DISABLE_SLOT = 10;
const ADDRESS_DEVICE = 11;
const CONFIGURE_ENDPOINT = 12;
const RESET_ENDPOINT = 14;
const TRANSFER_EVENT = 32;
const COMMAND_COMPLETION = 33;
const PORT_STATUS_CHANGE = 34;
const CYCLE = 1 << 0;
const TOGGLE_CYCLE = 1 << 1;
const ISP = 1 << 2;
const IOC = 1 << 5;
const IDT = 1 << 6;
const DIR_IN = 1 << 16;

// Completion codes.
const SUCCESS = 1;
const SHORT_PACKET = 13;
const CODE_NAMES: Record<number, string> = {
  2: "data buffer error",
  3: "babble",
  4: "USB transaction error (is the device still there?)",
  5: "TRB error",
  6: "stall",
  9: "no slots available",
  11: "slot not enabled",
  12: "endpoint not enabled",
  17: "parameter error",
  19: "context state error",
};

// Endpoint context types.
const EP_CONTROL = 4;

// PORTSC bits.
const PORT_CCS = 1 << 0;
const PORT_PED = 1 << 1;
const PORT_PR = 1 << 4;
const PORT_CHANGES = (1 << 17) | (1 << 18) | (1 << 21) | (1 << 22);
const PORT_CSC = 1 << 17;
const PORT_PRC = 1 << 21;

interface Memory {
  address: bigint;
  bytes: Uint8Array;
  view: DataView;
}

/** A producer ring: the driver writes TRBs, the controller consumes them. */
class Ring {
  readonly mem: Memory;
  #index = 0;
  #cycle = 1;

  constructor(mem: Memory) {
    this.mem = mem;
    mem.bytes.fill(0);
    // The Link TRB at the end points back to the start and toggles the cycle state.
    this.#write(RING_TRBS - 1, mem.address, 0, (LINK << 10) | TOGGLE_CYCLE, false);
  }

  /** Enqueues a TRB (cycle bit set by the ring); returns its address. */
  push(parameter: bigint, status: number, control: number): bigint {
    const i = this.#index;
    this.#write(i, parameter, status, control, true);
    this.#index++;
    if (this.#index === RING_TRBS - 1) {
      // Hand the Link TRB to the controller with the current cycle, then toggle.
      this.#write(RING_TRBS - 1, this.mem.address, 0, (LINK << 10) | TOGGLE_CYCLE, true);
      this.#index = 0;
      this.#cycle ^= 1;
    }
    return this.mem.address + BigInt(i * TRB_SIZE);
  }

  #write(i: number, parameter: bigint, status: number, control: number, valid: boolean): void {
    const v = this.mem.view;
    const at = i * TRB_SIZE;
    v.setBigUint64(at, parameter, true);
    v.setUint32(at + 8, status >>> 0, true);
    // The cycle bit goes last: it hands the TRB to the controller.
    const cycle = valid ? this.#cycle : this.#cycle ^ 1;
    v.setUint32(at + 12, ((control & ~CYCLE) | cycle) >>> 0, true);
  }
}

interface Slot {
  id: number;
  port: number;
  output: Memory;
  input: Memory;
  buffer: Memory;
  rings: Map<number, Ring>;
  /** One TD at a time per endpoint, in order. */
  chains: Map<number, Promise<unknown>>;
}

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

/** A failed USB transfer or command, with the controller's completion code. */
class UsbError extends Error {
  override name = "UsbError";
  readonly code: number;
  constructor(what: string, code: number) {
    super(`${what}: ${CODE_NAMES[code] ?? `completion code ${code}`}`);
    this.code = code;
  }
}

/**
 * A transfer that failed because its device is no longer connected: named as the kernel names a
 * removed device's failures, so class drivers report the removal, not an I/O error.
 */
class UsbRemovedError extends Error {
  override name = "DeviceRemovedError";
  constructor(what: string, port: number) {
    super(`${what}: the device on port ${port} was unplugged`);
  }
}

function dci(endpointAddress: number): number {
  const n = endpointAddress & 0x0f;
  return n === 0 ? 1 : n * 2 + ((endpointAddress & 0x80) ? 1 : 0);
}

export async function start(ctx: DriverContext): Promise<DriverInstance> {
  const regs = new XhciRegs({ mmio: ctx.windows.mmio! });
  const alloc = async (size: number): Promise<Memory> => {
    const m = await ctx.dma.allocate(size);
    return {
      address: m.address,
      bytes: m.bytes,
      view: new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength),
    };
  };
  const ports = regs.hcsparams1.read().maxPorts();
  const portsc = [regs.portsc1, regs.portsc2, regs.portsc3, regs.portsc4];
  const doorbells = [
    regs.db0,
    regs.db1,
    regs.db2,
    regs.db3,
    regs.db4,
    regs.db5,
    regs.db6,
    regs.db7,
    regs.db8,
    regs.db9,
    regs.db10,
    regs.db11,
    regs.db12,
    regs.db13,
    regs.db14,
    regs.db15,
    regs.db16,
  ];

  // ---- reset and set up the rings ----------------------------------------------------------
  regs.usbcmd.write((w) => w.hcrst());
  for (let i = 0; i < 1000 && (regs.usbsts.read().cnr() || regs.usbcmd.read().hcrst()); i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  const dcbaa = await alloc(8 * (MAX_SLOTS + 1));
  const commands = new Ring(await alloc(RING_TRBS * TRB_SIZE));
  const events = await alloc(EVENT_TRBS * TRB_SIZE);
  const erst = await alloc(16);
  erst.view.setBigUint64(0, events.address, true);
  erst.view.setUint32(8, EVENT_TRBS, true);
  regs.config.write((w) => w.maxSlotsEn(MAX_SLOTS));
  regs.dcbaapLo.writeRaw(Number(dcbaa.address & 0xffff_ffc0n));
  regs.dcbaapHi.writeRaw(Number(dcbaa.address >> 32n));
  regs.crcrLo.writeRaw(Number(commands.mem.address & 0xffff_ffc0n) | 1);
  regs.crcrHi.writeRaw(Number(commands.mem.address >> 32n));
  regs.erstsz.writeRaw(1);
  regs.erdpLo.writeRaw(Number(events.address & 0xffff_fff0n));
  regs.erdpHi.writeRaw(Number(events.address >> 32n));
  regs.erstbaLo.writeRaw(Number(erst.address & 0xffff_ffc0n));
  regs.erstbaHi.writeRaw(Number(erst.address >> 32n));
  let eventIndex = 0;
  let eventCycle = 1;

  // ---- completions ---------------------------------------------------------------------------
  const pendingCommands = new Map<bigint, (e: { code: number; slot: number }) => void>();
  const pendingTransfers = new Map<bigint, (e: { code: number; residue: number }) => void>();
  /** Residues of short data stages, by TRB address, until their TD completes. */
  const shortData = new Map<bigint, number>();
  const resets = new Map<number, () => void>();
  const slots = new Map<number, Slot>();
  const spare: Omit<Slot, "id" | "port" | "rings" | "chains">[] = [];
  /** Transfer ring memory of disabled slots, reused: plugging and unplugging must not grow. */
  const ringPool: Memory[] = [];
  const newRing = async () => new Ring(ringPool.pop() ?? await alloc(RING_TRBS * TRB_SIZE));
  const subscribers: Capability[] = [];

  function command(parameter: bigint, control: number, what: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const at = commands.push(parameter, 0, control);
      pendingCommands.set(at, ({ code, slot }) => {
        if (code === SUCCESS) resolve(slot);
        else reject(new UsbError(what, code));
      });
      doorbells[0]!.writeRaw(0);
    });
  }

  function portChanged(port: number, connected: boolean): void {
    for (const s of [...subscribers]) {
      ctx.invoke(s, "IUsbHostEvents.port_changed", [port, connected]).catch(() => {
        subscribers.splice(subscribers.indexOf(s), 1);
      });
    }
  }

  function handleEvent(parameter: bigint, status: number, control: number): void {
    const type = (control >>> 10) & 0x3f;
    const code = status >>> 24;
    if (type === COMMAND_COMPLETION) {
      const done = pendingCommands.get(parameter);
      pendingCommands.delete(parameter);
      done?.({ code, slot: control >>> 24 });
    } else if (type === TRANSFER_EVENT) {
      const residue = status & 0xff_ffff;
      const done = pendingTransfers.get(parameter);
      if (done) {
        pendingTransfers.delete(parameter);
        done({ code, residue });
      } else if (code === SHORT_PACKET) shortData.set(parameter, residue);
      else if (code !== SUCCESS) {
        // An error on a data stage: the TD ends there; fail the TD it belongs to.
        shortData.set(parameter, -code);
      }
    } else if (type === PORT_STATUS_CHANGE) {
      const port = Number((parameter >> 24n) & 0xffn);
      const reg = portsc[port - 1];
      if (!reg) return;
      const value = reg.readRaw();
      reg.writeRaw(value & PORT_CHANGES); // clear the change bits; PED, PR written as 0
      if (value & PORT_PRC) resets.get(port)?.();
      if (value & PORT_CSC) portChanged(port, (value & PORT_CCS) !== 0);
    }
  }

  function interrupt(line: number): void {
    for (;;) {
      const at = eventIndex * TRB_SIZE;
      const control = events.view.getUint32(at + 12, true);
      if ((control & CYCLE) !== eventCycle) break;
      handleEvent(events.view.getBigUint64(at, true), events.view.getUint32(at + 8, true), control);
      eventIndex++;
      if (eventIndex === EVENT_TRBS) {
        eventIndex = 0;
        eventCycle ^= 1;
      }
    }
    const dequeue = events.address + BigInt(eventIndex * TRB_SIZE);
    regs.erdpHi.writeRaw(Number(dequeue >> 32n));
    regs.erdpLo.writeRaw(Number(dequeue & 0xffff_fff0n) | (1 << 3)); // EHB: write 1 to clear
    regs.iman.write((w) => w.ie().ip());
    regs.usbsts.write((w) => w.eint().pcd());
    ctx.irq.ack(line);
  }

  await ctx.irq.register(interrupt);
  regs.iman.write((w) => w.ie());
  regs.usbcmd.write((w) => w.rs().inte());

  // ---- transfers -----------------------------------------------------------------------------
  function slotOf(id: number): Slot {
    const s = slots.get(id);
    if (!s) throw new RangeError(`no device slot ${id}`);
    return s;
  }

  /** Runs one TD on an endpoint after the ones before it; resolves with its completion. */
  function td(
    slot: Slot,
    ep: number,
    build: (ring: Ring) => { last: bigint; data?: bigint },
    what: string,
  ) {
    const ring = slot.rings.get(ep);
    if (!ring) {
      return Promise.reject(new RangeError(`endpoint ${ep} of slot ${slot.id} is not configured`));
    }
    const run = async () => {
      const done = Promise.withResolvers<{ code: number; residue: number }>();
      const { last, data } = build(ring);
      pendingTransfers.set(last, done.resolve);
      doorbells[slot.id]!.writeRaw(ep);
      const result = await done.promise;
      let residue = result.residue;
      if (data !== undefined && shortData.has(data)) {
        const r = shortData.get(data)!;
        shortData.delete(data);
        if (r < 0) result.code = -r;
        else residue = r;
      }
      if (result.code !== SUCCESS && result.code !== SHORT_PACKET) {
        // The endpoint halted: reset it so that the next TD runs.
        await command(0n, (RESET_ENDPOINT << 10) | (ep << 16) | (slot.id << 24), "reset endpoint")
          .catch(() => {});
        // A transfer that failed because the device was pulled out says so: its port is empty.
        const port = portsc[slot.port - 1];
        if (port && !(port.readRaw() & PORT_CCS)) throw new UsbRemovedError(what, slot.port);
        throw new UsbError(what, result.code);
      }
      return residue;
    };
    const chained = (slot.chains.get(ep) ?? Promise.resolve()).then(run, run);
    slot.chains.set(ep, chained.catch(() => {}));
    return chained;
  }

  async function control(slotId: number, setup: Setup, out?: Uint8Array): Promise<Uint8Array> {
    const slot = slotOf(slotId);
    const input = (setup.request_type & 0x80) !== 0;
    const length = input ? setup.length : out?.length ?? 0;
    if (length > SLOT_BUFFER) {
      throw new RangeError(`control transfer of ${length} bytes is too long`);
    }
    if (out) slot.buffer.bytes.set(out);
    const packet = BigInt(setup.request_type) | (BigInt(setup.request) << 8n) |
      (BigInt(setup.value) << 16n) |
      (BigInt(setup.index) << 32n) | (BigInt(length) << 48n);
    const residue = await td(slot, 1, (ring) => {
      const trt = length === 0 ? 0 : input ? 3 : 2;
      ring.push(packet, 8, (SETUP_STAGE << 10) | IDT | (trt << 16));
      let data: bigint | undefined;
      if (length > 0) {
        data = ring.push(
          slot.buffer.address,
          length,
          (DATA_STAGE << 10) | ISP | (input ? DIR_IN : 0),
        );
      }
      const last = ring.push(
        0n,
        0,
        (STATUS_STAGE << 10) | IOC | (input && length > 0 ? 0 : DIR_IN),
      );
      return data === undefined ? { last } : { last, data };
    }, `control request 0x${setup.request.toString(16)}`);
    return input ? slot.buffer.bytes.slice(0, length - residue) : new Uint8Array(0);
  }

  function normal(slotId: number, endpoint: number, address: bigint, length: number, what: string) {
    const slot = slotOf(slotId);
    return td(slot, dci(endpoint), (ring) => ({
      last: ring.push(address, length, (NORMAL << 10) | IOC | ISP),
    }), what).then((residue) => length - residue);
  }

  async function resetPort(port: number): Promise<number> {
    const reg = portsc[port - 1];
    if (!reg || port > ports) throw new RangeError(`no port ${port}; ports are 1-${ports}`);
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        resets.delete(port);
        reject(new Error(`port ${port} did not finish its reset`));
      }, 2000);
      resets.set(port, () => {
        clearTimeout(timer);
        resets.delete(port);
        resolve();
      });
    });
    reg.writeRaw(PORT_PR);
    await done;
    const value = reg.readRaw();
    if (!(value & PORT_CCS) || !(value & PORT_PED)) {
      throw new Error(`port ${port}: no device after reset`);
    }
    return (value >>> 10) & 0xf;
  }

  async function addressDevice(port: number, speed: number): Promise<number> {
    const id = await command(0n, ENABLE_SLOT << 10, "enable slot");
    const mem = spare.pop() ?? {
      output: await alloc(CONTEXT_SIZE * 32),
      input: await alloc(CONTEXT_SIZE * 33),
      buffer: await alloc(SLOT_BUFFER),
    };
    mem.output.bytes.fill(0);
    const slot: Slot = { id, port, ...mem, rings: new Map(), chains: new Map() };
    const ep0 = await newRing();
    slot.rings.set(1, ep0);
    slots.set(id, slot);
    dcbaa.view.setBigUint64(id * 8, slot.output.address, true);
    const inp = slot.input;
    inp.bytes.fill(0);
    inp.view.setUint32(4, 0b11, true); // add the slot context and endpoint 0
    const slotCtx = CONTEXT_SIZE;
    inp.view.setUint32(slotCtx, (speed << 20) | (1 << 27), true); // speed, context entries 1
    inp.view.setUint32(slotCtx + 4, port << 16, true); // root hub port number
    const ep0Ctx = CONTEXT_SIZE * 2;
    const maxPacket = speed === 3 ? 64 : 8;
    inp.view.setUint32(ep0Ctx + 4, (3 << 1) | (EP_CONTROL << 3) | (maxPacket << 16), true);
    inp.view.setBigUint64(ep0Ctx + 8, ep0.mem.address | 1n, true); // dequeue pointer, DCS 1
    inp.view.setUint32(ep0Ctx + 16, 8, true); // average TRB length
    try {
      await command(inp.address, (ADDRESS_DEVICE << 10) | (id << 24), "address device");
    } catch (error) {
      await disableSlot(id);
      throw error;
    }
    return id;
  }

  async function configureEndpoints(slotId: number, endpoints: Endpoint[]): Promise<void> {
    const slot = slotOf(slotId);
    const inp = slot.input;
    inp.bytes.fill(0);
    let add = 1; // the slot context
    let entries = 1;
    for (const ep of endpoints) {
      const d = dci(ep.address);
      if ((ep.attributes & 3) === 1) {
        throw new RangeError("isochronous endpoints are not supported");
      }
      const old = slot.rings.get(d);
      if (old) ringPool.push(old.mem);
      const ring = await newRing();
      slot.rings.set(d, ring);
      add |= 1 << d;
      entries = Math.max(entries, d);
      const type = (ep.attributes & 3) + ((ep.address & 0x80) ? 4 : 0); // 2 bulk out, 6 bulk in, ...
      const at = CONTEXT_SIZE * (d + 1);
      inp.view.setUint32(at, (ep.interval & 0xff) << 16, true);
      inp.view.setUint32(at + 4, (3 << 1) | (type << 3) | (ep.max_packet << 16), true);
      inp.view.setBigUint64(at + 8, ring.mem.address | 1n, true);
      inp.view.setUint32(at + 16, ep.max_packet, true);
    }
    inp.view.setUint32(4, add, true);
    inp.view.setUint32(
      CONTEXT_SIZE,
      (slot.output.view.getUint32(0, true) & 0x07ff_ffff) | (entries << 27),
      true,
    );
    inp.view.setUint32(CONTEXT_SIZE + 4, slot.port << 16, true);
    await command(inp.address, (CONFIGURE_ENDPOINT << 10) | (slotId << 24), "configure endpoints");
  }

  async function disableSlot(slotId: number): Promise<void> {
    const slot = slots.get(slotId);
    if (!slot) return;
    slots.delete(slotId);
    await command(0n, (DISABLE_SLOT << 10) | (slotId << 24), "disable slot").catch(() => {});
    dcbaa.view.setBigUint64(slotId * 8, 0n, true);
    spare.push({ output: slot.output, input: slot.input, buffer: slot.buffer });
    for (const ring of slot.rings.values()) ringPool.push(ring.mem);
  }

  async function dma(
    slotId: number,
    endpoint: number,
    buffer: Capability,
    addr: bigint,
    length: number,
    input: boolean,
  ): Promise<number> {
    const mapped = await ctx.dma.map(buffer, { writable: input, address: addr, length });
    try {
      return await normal(
        slotId,
        endpoint,
        addr,
        length,
        `bulk ${input ? "IN" : "OUT"} to endpoint 0x${endpoint.toString(16)}`,
      );
    } finally {
      await ctx.dma.unmap(mapped).catch(() => {});
    }
  }

  const host = await ctx.objects.create("IUsbHost", {
    port_count: () => ports,
    port_status: (port: number) => {
      const reg = portsc[port - 1];
      if (!reg || port > ports) throw new RangeError(`no port ${port}; ports are 1-${ports}`);
      const v = reg.readRaw();
      return (v & PORT_CCS ? 1 : 0) | (v & PORT_PED ? 2 : 0) | (((v >>> 10) & 0xf) << 8);
    },
    subscribe: (events: Capability) => void subscribers.push(events),
    reset_port: resetPort,
    address_device: addressDevice,
    configure_endpoints: configureEndpoints,
    disable_slot: disableSlot,
    control_in: (slot: number, setup: Setup) => control(slot, setup),
    control_out: (slot: number, setup: Setup, data: Uint8Array) =>
      control(slot, setup, data).then(() => {}),
    transfer_in: async (slot: number, endpoint: number, length: number) => {
      if (length > SLOT_BUFFER) throw new RangeError(`transfer of ${length} bytes is too long`);
      const s = slotOf(slot);
      const n = await normal(
        slot,
        endpoint,
        s.buffer.address,
        length,
        `IN from endpoint 0x${endpoint.toString(16)}`,
      );
      return s.buffer.bytes.slice(0, n);
    },
    transfer_out: async (slot: number, endpoint: number, data: Uint8Array) => {
      if (data.length > SLOT_BUFFER) {
        throw new RangeError(`transfer of ${data.length} bytes is too long`);
      }
      const s = slotOf(slot);
      s.buffer.bytes.set(data);
      await normal(
        slot,
        endpoint,
        s.buffer.address,
        data.length,
        `OUT to endpoint 0x${endpoint.toString(16)}`,
      );
    },
    dma_in: (slot: number, ep: number, buffer: Capability, addr: bigint, length: number) =>
      dma(slot, ep, buffer, addr, length, true),
    dma_out: (slot: number, ep: number, buffer: Capability, addr: bigint, length: number) =>
      dma(slot, ep, buffer, addr, length, false),
  });
  ctx.log(`xHCI running, ${ports} ports`);
  await ctx.bus.add({
    name: `${ctx.device.name}.root`,
    bus: "usbhost",
    ids: {},
    config: new Uint8Array(0),
    caps: { host },
  });

  return {
    stop() {
      // Everything in flight fails (as a transaction error); then the controller halts.
      for (const done of pendingTransfers.values()) done({ code: 4, residue: 0 });
      pendingTransfers.clear();
      for (const done of pendingCommands.values()) done({ code: 4, slot: 0 });
      pendingCommands.clear();
      regs.usbcmd.write((w) => w);
    },
  };
}
