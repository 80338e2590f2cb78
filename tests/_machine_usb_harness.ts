/**
 * A test harness that plays an xHCI driver against the controller model directly: posted
 * registers go through `model.write()`, plain ones are stored in and read from the window's shared
 * memory, rings and contexts live in memory mapped in a real IOMMU, and events are read from the
 * event ring by their cycle bits.
 *
 * @module
 */

import { pattern, tick } from "./_bytes.ts";
export { pattern, tick };
import { Iommu } from "../machine/iommu.ts";
import {
  COMPLETION_CODE,
  CONTEXT_SIZE,
  createXhciController,
  type Csw,
  decodeCsw,
  decodeTrb,
  encodeCbw,
  encodeTrb,
  endpointDci,
  EP_TYPE,
  ERDP,
  IMAN,
  MASS_STORAGE_ENDPOINT,
  PORTSC,
  SETUP_TRT,
  TRB,
  TRB_SIZE,
  TRB_TYPE,
  trbType,
  USB_FEATURE,
  USB_REQUEST,
  USBCMD,
  type UsbDevice,
  type UsbSetup,
  XHCI_REG,
  XHCI_REGISTERS,
  XHCI_WINDOW,
  XHCI_WINDOW_SIZE,
  type XhciController,
  xhciDoorbell,
  xhciPortsc,
} from "../machine/usb/mod.ts";

/** Where the harness allocates memory: above 4 GiB, so high dwords matter. */
export const MEM_BASE = 0x0001_0000_4000_0000n;

/** An address nothing is mapped at. */
export const UNMAPPED = 0x0002_0000_0000_0000n;

/** A decoded event. */
export interface UsbEvent {
  readonly type: number;
  readonly code: number;
  readonly slot: number;
  /** Endpoint id (DCI) of a Transfer Event. */
  readonly dci: number;
  /** TRB pointer (or Event Data parameter); for a Port Status Change Event the port is `port`. */
  readonly pointer: bigint;
  /** Transfer Event: residual length; Command Completion: the 24-bit parameter. */
  readonly length: number;
  /** Event Data flag. */
  readonly ed: boolean;
  readonly port: number;
}

/** A TRB to put on a ring (the harness adds the cycle bit). */
export interface TrbSpec {
  readonly parameter?: bigint;
  readonly status?: number;
  readonly control: number;
}

/** The control dword of a TRB of a type, with flags. */
export function ctl(type: number, flags = 0): number {
  return ((type << TRB.TYPE_SHIFT) | flags) >>> 0;
}

/** A ring the harness produces into: TRBs, and a Link TRB with toggle cycle at the end. */
export class ProducerRing {
  readonly base: bigint;
  readonly size: number;
  #h: UsbHarness;
  #index = 0;
  #cycle = 1;

  constructor(h: UsbHarness, size = 32) {
    this.#h = h;
    this.size = size;
    this.base = h.alloc(size * TRB_SIZE).address;
  }

  /** The cycle state the ring starts with (for CRCR.RCS or an endpoint context's DCS). */
  get initialCycle(): number {
    return 1;
  }

  /** Where the next TRB goes. */
  get enqueue(): bigint {
    return this.base + BigInt(this.#index * TRB_SIZE);
  }

  /** Writes a TRB with the producer's cycle bit; returns its address. */
  push(t: TrbSpec, cycle?: number): bigint {
    const at = this.enqueue;
    const c = cycle ?? this.#cycle;
    this.#h.mem(at, TRB_SIZE).set(
      encodeTrb({
        parameter: t.parameter ?? 0n,
        status: t.status ?? 0,
        control: (t.control & ~TRB.CYCLE) | c,
      }),
    );
    this.#index++;
    if (this.#index === this.size - 1) {
      this.#h.mem(this.enqueue, TRB_SIZE).set(
        encodeTrb({
          parameter: this.base,
          status: 0,
          control: ctl(TRB_TYPE.LINK, TRB.TOGGLE_CYCLE | TRB.CHAIN) | this.#cycle,
        }),
      );
      this.#index = 0;
      this.#cycle ^= 1;
    }
    return at;
  }
}

/** Plays the driver. */
export class UsbHarness {
  readonly model: XhciController;
  readonly iommu: Iommu = new Iommu();
  readonly logs: string[] = [];
  readonly window: SharedArrayBuffer = new SharedArrayBuffer(XHCI_WINDOW_SIZE);
  /** Interrupts raised so far. */
  interrupts = 0;
  /** Events read from the ring and not yet taken. */
  readonly events: UsbEvent[] = [];
  /** Whether to acknowledge (EHB) when reading events. */
  ackEvents = true;
  cmdRing!: ProducerRing;
  dcbaa = 0n;
  /** Event ring segments (bases); each holds `eventRingSize` TRBs. */
  eventSegments: bigint[] = [];
  eventRingSize = 0;
  #next = MEM_BASE;
  #regions: { address: bigint; bytes: Uint8Array }[] = [];
  #view: DataView;
  #evSegment = 0;
  #evIndex = 0;
  #evCycle = 1;
  #rings = new Map<string, ProducerRing>();
  #outputs = new Map<number, bigint>();
  #tag = 0;

  constructor(name = "usb0") {
    this.model = createXhciController({ name });
    this.#view = new DataView(this.window);
    this.model.attach({
      windows: { [XHCI_WINDOW]: this.window },
      raise: () => {
        this.interrupts++;
      },
      dma: this.iommu.port(name),
      log: (message) => this.logs.push(message),
    });
  }

  // --- memory ------------------------------------------------------------------------------------

  /** Maps `size` bytes of fresh memory (64-byte aligned, each in its own mapping). */
  alloc(size: number, writable = true): { address: bigint; bytes: Uint8Array } {
    const address = this.#next;
    const length = Math.ceil(size / 64) * 64;
    this.#next += BigInt(length + 4096);
    const bytes = new Uint8Array(new SharedArrayBuffer(length));
    this.iommu.map(this.model.name, {
      address,
      length,
      bytes,
      writable,
      label: `mem@${address.toString(16)}`,
    });
    this.#regions.push({ address, bytes });
    return { address, bytes };
  }

  /** The memory at an address the harness allocated. */
  mem(address: bigint, length: number): Uint8Array {
    for (const r of this.#regions) {
      const o = address - r.address;
      if (o >= 0n && o + BigInt(length) <= BigInt(r.bytes.length)) {
        return r.bytes.subarray(Number(o), Number(o) + length);
      }
    }
    throw new RangeError(`harness: no memory at 0x${address.toString(16)}`);
  }

  /** Removes a mapping: the device faults on it afterwards. */
  unmap(address: bigint): void {
    this.iommu.unmap(this.model.name, address);
  }

  // --- registers ---------------------------------------------------------------------------------

  /** A 32-bit register write: posted ones go to the model, plain ones to shared memory. */
  write32(offset: number, value: number): void {
    const posted = XHCI_REGISTERS.find((r) => r.offset === offset)?.access === "posted";
    if (posted) this.model.write(XHCI_WINDOW, offset, 4, value >>> 0);
    else this.#view.setUint32(offset, value >>> 0, true);
  }

  /** A 64-bit register write: low dword, then high. */
  write64(offset: number, value: bigint): void {
    this.write32(offset, Number(value & 0xffff_ffffn));
    this.write32(offset + 4, Number(value >> 32n));
  }

  /** A 32-bit read from shared memory. */
  read32(offset: number): number {
    return this.#view.getUint32(offset, true);
  }

  portsc(port: number): number {
    return this.read32(xhciPortsc(port));
  }

  /** Rings doorbell `n` with a target. */
  ring(n: number, target = 0): void {
    this.write32(xhciDoorbell(n), target);
  }

  // --- bring-up ----------------------------------------------------------------------------------

  /**
   * What a driver does at start: reset, slots, DCBAA, command ring, event ring, interrupter on,
   * run. Does not wait for anything.
   */
  start(
    options: { eventRingSize?: number; eventSegments?: number; commandRingSize?: number } = {},
  ): void {
    this.write32(XHCI_REG.USBCMD, USBCMD.HCRST);
    this.write32(XHCI_REG.CONFIG, 16);
    this.dcbaa = this.alloc(8 * 17).address;
    this.write64(XHCI_REG.DCBAAP_LO, this.dcbaa);
    this.cmdRing = new ProducerRing(this, options.commandRingSize ?? 32);
    this.write64(XHCI_REG.CRCR_LO, this.cmdRing.base | 1n);
    this.eventRingSize = options.eventRingSize ?? 64;
    const segments = options.eventSegments ?? 1;
    this.eventSegments = Array.from(
      { length: segments },
      () => this.alloc(this.eventRingSize * TRB_SIZE).address,
    );
    const erst = this.alloc(16 * segments);
    const v = new DataView(erst.bytes.buffer);
    this.eventSegments.forEach((base, i) => {
      v.setBigUint64(16 * i, base, true);
      v.setUint32(16 * i + 8, this.eventRingSize, true);
    });
    this.#evSegment = 0;
    this.#evIndex = 0;
    this.#evCycle = 1;
    this.write32(XHCI_REG.ERSTSZ, segments);
    this.write64(XHCI_REG.ERDP_LO, this.eventSegments[0]!);
    this.write64(XHCI_REG.ERSTBA_LO, erst.address);
    this.write32(XHCI_REG.IMAN, IMAN.IE);
    this.write32(XHCI_REG.USBCMD, USBCMD.RS | USBCMD.INTE);
  }

  // --- events ------------------------------------------------------------------------------------

  /** Reads every new event from the ring into `events`; acknowledges with ERDP (EHB). */
  poll(): number {
    let n = 0;
    for (;;) {
      const at = this.#eventDequeue();
      const t = decodeTrb(this.mem(at, TRB_SIZE));
      if ((t.control & TRB.CYCLE) !== this.#evCycle) break;
      this.events.push({
        type: trbType(t.control),
        code: t.status >>> 24,
        slot: t.control >>> 24,
        dci: (t.control >>> 16) & 0x1f,
        pointer: t.parameter,
        length: t.status & 0xffffff,
        ed: (t.control & TRB.EVENT_DATA) !== 0,
        port: Number((t.parameter >> 24n) & 0xffn),
      });
      n++;
      this.#evIndex++;
      if (this.#evIndex === this.eventRingSize) {
        this.#evIndex = 0;
        this.#evSegment = (this.#evSegment + 1) % this.eventSegments.length;
        if (this.#evSegment === 0) this.#evCycle ^= 1;
      }
    }
    if (n > 0 && this.ackEvents) this.acknowledge();
    return n;
  }

  /** Writes ERDP: the current dequeue pointer with EHB (write 1 to clear). */
  acknowledge(): void {
    this.write64(XHCI_REG.ERDP_LO, this.#eventDequeue() | BigInt(ERDP.EHB));
  }

  #eventDequeue(): bigint {
    return this.eventSegments[this.#evSegment]! + BigInt(this.#evIndex * TRB_SIZE);
  }

  /** Takes the first event matching `match`, waiting (event loop turns) until one arrives. */
  async take(match: (e: UsbEvent) => boolean, what = "an event", ticks = 200): Promise<UsbEvent> {
    for (let i = 0; i <= ticks; i++) {
      this.poll();
      const k = this.events.findIndex(match);
      if (k >= 0) return this.events.splice(k, 1)[0]!;
      await tick();
    }
    throw new Error(
      `harness: no ${what} after ${ticks} ticks; events: ${
        JSON.stringify(this.events, big)
      }; log: ${this.logs.join(" | ")}`,
    );
  }

  /** Lets pending work run, then returns whether an event matching `match` is there (not taken). */
  async has(match: (e: UsbEvent) => boolean, ticks = 3): Promise<boolean> {
    for (let i = 0; i < ticks; i++) await tick();
    this.poll();
    return this.events.some(match);
  }

  /** Waits for the Port Status Change Event of a port. */
  portEvent(port: number): Promise<UsbEvent> {
    return this.take(
      (e) => e.type === TRB_TYPE.PORT_STATUS_CHANGE_EVENT && e.port === port,
      `port status change event for port ${port}`,
    );
  }

  // --- commands ----------------------------------------------------------------------------------

  /** Puts a command on the ring, rings doorbell 0, waits for its completion event. */
  async command(t: TrbSpec): Promise<UsbEvent> {
    const at = this.cmdRing.push(t);
    this.ring(0);
    return await this.take(
      (e) => e.type === TRB_TYPE.COMMAND_COMPLETION_EVENT && e.pointer === at,
      `completion of the command at 0x${at.toString(16)}`,
    );
  }

  /** Resets a port and waits for its event; clears the change bits. */
  async resetPort(port: number): Promise<void> {
    this.write32(xhciPortsc(port), PORTSC.PR);
    await this.portEvent(port);
    this.write32(xhciPortsc(port), PORTSC.CSC | PORTSC.PRC | PORTSC.PEC);
  }

  async enableSlot(): Promise<number> {
    const e = await this.command({ control: ctl(TRB_TYPE.ENABLE_SLOT) });
    if (e.code !== COMPLETION_CODE.SUCCESS) throw new Error(`Enable Slot failed: ${e.code}`);
    return e.slot;
  }

  /** The output device context of a slot (allocated and entered in the DCBAA when first asked). */
  output(slot: number): bigint {
    let out = this.#outputs.get(slot);
    if (out === undefined) {
      out = this.alloc(32 * CONTEXT_SIZE).address;
      new DataView(this.mem(this.dcbaa, 8 * 17).buffer).setBigUint64(8 * slot, out, true);
      this.#outputs.set(slot, out);
    }
    return out;
  }

  /** A dword of an output context: index 0 the slot context, else a DCI. */
  outputDword(slot: number, index: number, dword: number): number {
    const at = this.output(slot) + BigInt(CONTEXT_SIZE * index + 4 * dword);
    return new DataView(this.mem(at, 4).buffer, this.mem(at, 4).byteOffset).getUint32(0, true);
  }

  /** Address Device with a fresh EP0 ring; returns the completion code. */
  async addressDevice(
    slot: number,
    port: number,
    options: { bsr?: boolean; maxPacket0?: number } = {},
  ): Promise<number> {
    this.output(slot);
    const input = this.alloc(33 * CONTEXT_SIZE);
    const v = new DataView(input.bytes.buffer);
    v.setUint32(4, 0b11, true); // add slot and EP0
    v.setUint32(32 + 0, 1 << 27, true); // context entries 1
    v.setUint32(32 + 4, port << 16, true); // root hub port
    const ring = new ProducerRing(this);
    this.#rings.set(`${slot}:1`, ring);
    v.setUint32(
      64 + 4,
      (EP_TYPE.CONTROL << 3) | (3 << 1) | ((options.maxPacket0 ?? 64) << 16),
      true,
    );
    v.setBigUint64(64 + 8, ring.base | 1n, true);
    const e = await this.command({
      parameter: input.address,
      control: ctl(TRB_TYPE.ADDRESS_DEVICE, options.bsr ? TRB.BSR : 0) | (slot << 24),
    });
    return e.code;
  }

  /** Configure Endpoint adding bulk/interrupt endpoints (by endpoint address); returns the code. */
  async configureEndpoints(
    slot: number,
    endpoints: readonly { address: number; type: number; maxPacket: number }[],
    drop: readonly number[] = [],
  ): Promise<number> {
    const input = this.alloc(33 * CONTEXT_SIZE);
    const v = new DataView(input.bytes.buffer);
    let add = 1;
    for (const ep of endpoints) {
      const dci = endpointDci(ep.address);
      add |= 1 << dci;
      const ring = new ProducerRing(this);
      this.#rings.set(`${slot}:${dci}`, ring);
      const at = CONTEXT_SIZE * (dci + 1);
      v.setUint32(at + 4, (ep.type << 3) | (3 << 1) | (ep.maxPacket << 16), true);
      v.setBigUint64(at + 8, ring.base | 1n, true);
    }
    const last = Math.max(1, ...endpoints.map((e) => endpointDci(e.address)));
    v.setUint32(32, last << 27, true);
    v.setUint32(0, drop.reduce((m, a) => m | (1 << endpointDci(a)), 0), true);
    v.setUint32(4, add >>> 0, true);
    const e = await this.command({
      parameter: input.address,
      control: ctl(TRB_TYPE.CONFIGURE_ENDPOINT) | (slot << 24),
    });
    return e.code;
  }

  /** The transfer ring of a slot's endpoint (by DCI). */
  transferRing(slot: number, dci: number): ProducerRing {
    const r = this.#rings.get(`${slot}:${dci}`);
    if (!r) throw new Error(`harness: no ring for slot ${slot} DCI ${dci}`);
    return r;
  }

  /** Replaces an endpoint's ring (after Set TR Dequeue Pointer to it). */
  setTransferRing(slot: number, dci: number, ring: ProducerRing): void {
    this.#rings.set(`${slot}:${dci}`, ring);
  }

  // --- transfers ---------------------------------------------------------------------------------

  /** Puts TRBs on an endpoint's ring and rings its doorbell; returns their addresses. */
  submit(slot: number, dci: number, trbs: readonly TrbSpec[], ringDoorbell = true): bigint[] {
    const ring = this.transferRing(slot, dci);
    const addresses = trbs.map((t) => ring.push(t));
    if (ringDoorbell) this.ring(slot, dci);
    return addresses;
  }

  /**
   * Waits until a TD is finished: the event for its last TRB, or an error event for any of its
   * TRBs. Returns the events that named its TRBs, oldest first.
   */
  async finish(slot: number, dci: number, addresses: readonly bigint[]): Promise<UsbEvent[]> {
    const mine = (e: UsbEvent) =>
      e.type === TRB_TYPE.TRANSFER_EVENT && e.slot === slot && e.dci === dci &&
      addresses.includes(e.pointer);
    const last = addresses[addresses.length - 1]!;
    const out: UsbEvent[] = [];
    for (;;) {
      const e = await this.take(mine, `a transfer event for slot ${slot} DCI ${dci}`);
      out.push(e);
      const ok = e.code === COMPLETION_CODE.SUCCESS || e.code === COMPLETION_CODE.SHORT_PACKET;
      if (!ok || e.pointer === last) return out;
    }
  }

  /** A control transfer with an IN data stage; returns the code and the bytes received. */
  async controlIn(
    slot: number,
    setup: Omit<UsbSetup, "bmRequestType"> & { bmRequestType?: number },
  ): Promise<{ code: number; data: Uint8Array }> {
    const full = { bmRequestType: 0x80, ...setup };
    const buffer = this.alloc(Math.max(full.wLength, 1));
    const trbs: TrbSpec[] = [setupTrb(full, SETUP_TRT.IN_DATA)];
    if (full.wLength > 0) {
      trbs.push({
        parameter: buffer.address,
        status: full.wLength,
        control: ctl(TRB_TYPE.DATA_STAGE, TRB.DIR_IN | TRB.ISP),
      });
    }
    trbs.push({ control: ctl(TRB_TYPE.STATUS_STAGE, TRB.IOC) });
    const addresses = this.submit(slot, 1, trbs);
    const events = await this.finish(slot, 1, addresses);
    const bad = events.find((e) =>
      e.code !== COMPLETION_CODE.SUCCESS && e.code !== COMPLETION_CODE.SHORT_PACKET
    );
    if (bad) return { code: bad.code, data: new Uint8Array(0) };
    const short = events.find((e) => e.code === COMPLETION_CODE.SHORT_PACKET);
    const got = full.wLength - (short?.length ?? 0);
    return { code: COMPLETION_CODE.SUCCESS, data: buffer.bytes.slice(0, got) };
  }

  /** A control transfer with no or OUT data; returns the completion code. */
  async controlOut(slot: number, setup: UsbSetup, data?: Uint8Array): Promise<number> {
    const trbs: TrbSpec[] = [setupTrb(setup, data ? SETUP_TRT.OUT_DATA : SETUP_TRT.NO_DATA)];
    if (data) {
      const buffer = this.alloc(Math.max(data.length, 1));
      buffer.bytes.set(data);
      trbs.push({
        parameter: buffer.address,
        status: data.length,
        control: ctl(TRB_TYPE.DATA_STAGE),
      });
    }
    trbs.push({ control: ctl(TRB_TYPE.STATUS_STAGE, TRB.IOC | TRB.DIR_IN) });
    const addresses = this.submit(slot, 1, trbs);
    const events = await this.finish(slot, 1, addresses);
    return events[events.length - 1]!.code;
  }

  /** Queues a bulk/interrupt OUT TD of one Normal TRB; returns its address. */
  queueOut(slot: number, endpoint: number, data: Uint8Array, ringDoorbell = true): bigint {
    const buffer = this.alloc(Math.max(data.length, 1));
    buffer.bytes.set(data);
    return this.submit(slot, endpointDci(endpoint), [{
      parameter: buffer.address,
      status: data.length,
      control: ctl(TRB_TYPE.NORMAL, TRB.IOC),
    }], ringDoorbell)[0]!;
  }

  /** Queues a bulk/interrupt IN TD of one Normal TRB; returns its address and buffer. */
  queueIn(
    slot: number,
    endpoint: number,
    length: number,
    ringDoorbell = true,
  ): { address: bigint; buffer: Uint8Array } {
    const buffer = this.alloc(Math.max(length, 1));
    const address = this.submit(slot, endpointDci(endpoint), [{
      parameter: buffer.address,
      status: length,
      control: ctl(TRB_TYPE.NORMAL, TRB.IOC | TRB.ISP),
    }], ringDoorbell)[0]!;
    return { address, buffer: buffer.bytes.subarray(0, length) };
  }

  /** A whole OUT transfer; returns the completion code. */
  async bulkOut(slot: number, endpoint: number, data: Uint8Array): Promise<number> {
    const at = this.queueOut(slot, endpoint, data);
    const [e] = await this.finish(slot, endpointDci(endpoint), [at]);
    return e!.code;
  }

  /** A whole IN transfer; returns the completion code and the bytes received. */
  async bulkIn(
    slot: number,
    endpoint: number,
    length: number,
  ): Promise<{ code: number; data: Uint8Array }> {
    const { address, buffer } = this.queueIn(slot, endpoint, length);
    const [e] = await this.finish(slot, endpointDci(endpoint), [address]);
    const ok = e!.code === COMPLETION_CODE.SUCCESS || e!.code === COMPLETION_CODE.SHORT_PACKET;
    return { code: e!.code, data: ok ? buffer.slice(0, length - e!.length) : new Uint8Array(0) };
  }

  /** Halted endpoint recovery on the controller's side: Reset Endpoint. */
  async resetEndpoint(slot: number, dci: number): Promise<number> {
    const e = await this.command({
      control: ctl(TRB_TYPE.RESET_ENDPOINT) | (dci << 16) | (slot << 24),
    });
    return e.code;
  }

  /**
   * Plugs a device into a port and does what a USB core does up to an addressed device: port
   * event, port reset, Enable Slot, Address Device. Returns the slot id.
   */
  async enumerate(port: number, device: UsbDevice): Promise<number> {
    this.model.connect(port, device);
    await this.portEvent(port);
    await this.resetPort(port);
    const slot = await this.enableSlot();
    const code = await this.addressDevice(slot, port);
    if (code !== COMPLETION_CODE.SUCCESS) throw new Error(`Address Device failed: ${code}`);
    return slot;
  }

  /** CLEAR_FEATURE(ENDPOINT_HALT) to the device, then Reset Endpoint on the controller. */
  async clearHalt(slot: number, endpoint: number): Promise<void> {
    const code = await this.controlOut(slot, {
      bmRequestType: 0x02,
      bRequest: USB_REQUEST.CLEAR_FEATURE,
      wValue: USB_FEATURE.ENDPOINT_HALT,
      wIndex: endpoint,
      wLength: 0,
    });
    if (code !== COMPLETION_CODE.SUCCESS) throw new Error(`CLEAR_FEATURE failed: ${code}`);
    const reset = await this.resetEndpoint(slot, endpointDci(endpoint));
    if (reset !== COMPLETION_CODE.SUCCESS) throw new Error(`Reset Endpoint failed: ${reset}`);
  }

  /**
   * One Bulk-Only command: CBW, data phase (clearing a halt if the device stalls it), CSW.
   * `dataIn` is the length the host expects to read; `dataOut` the bytes it sends.
   */
  async bot(slot: number, o: BotCommand): Promise<BotResult> {
    const { IN, OUT } = MASS_STORAGE_ENDPOINT;
    const length = o.dataIn ?? o.dataOut?.length ?? 0;
    const tag = o.tag ?? ++this.#tag;
    const cbw = encodeCbw({
      tag,
      dataLength: o.hostLength ?? length,
      dataIn: o.dataIn !== undefined,
      lun: o.lun ?? 0,
      cdb: Uint8Array.from(o.cdb),
    });
    const sent = await this.bulkOut(slot, OUT, cbw);
    if (sent !== COMPLETION_CODE.SUCCESS) throw new Error(`CBW failed: ${sent}`);
    let data: Uint8Array = new Uint8Array(0);
    let dataCode: number | undefined;
    if (o.dataIn !== undefined && o.dataIn > 0) {
      const r = await this.bulkIn(slot, IN, o.dataIn);
      dataCode = r.code;
      data = r.data;
      if (r.code === COMPLETION_CODE.STALL_ERROR) await this.clearHalt(slot, IN);
    } else if (o.dataOut && o.dataOut.length > 0) {
      dataCode = await this.bulkOut(slot, OUT, o.dataOut);
      if (dataCode === COMPLETION_CODE.STALL_ERROR) await this.clearHalt(slot, OUT);
    }
    let status = await this.bulkIn(slot, IN, 13);
    if (status.code === COMPLETION_CODE.STALL_ERROR) {
      await this.clearHalt(slot, IN);
      status = await this.bulkIn(slot, IN, 13);
    }
    if (status.data.length !== 13) throw new Error(`CSW read failed: code ${status.code}`);
    const csw = decodeCsw(status.data);
    if (csw.tag !== tag) throw new Error(`CSW tag ${csw.tag}, CBW tag ${tag}`);
    return dataCode === undefined ? { csw, data } : { csw, data, dataCode };
  }

  /** SET_CONFIGURATION(1) and Configure Endpoint for the endpoints given. */
  async configure(
    slot: number,
    endpoints: readonly { address: number; type: number; maxPacket: number }[],
  ): Promise<void> {
    const code = await this.controlOut(slot, {
      bmRequestType: 0x00,
      bRequest: 0x09,
      wValue: 1,
      wIndex: 0,
      wLength: 0,
    });
    if (code !== COMPLETION_CODE.SUCCESS) throw new Error(`SET_CONFIGURATION failed: ${code}`);
    const c = await this.configureEndpoints(slot, endpoints);
    if (c !== COMPLETION_CODE.SUCCESS) throw new Error(`Configure Endpoint failed: ${c}`);
  }
}

/** A Bulk-Only command for {@linkcode UsbHarness.bot}. */
export interface BotCommand {
  readonly cdb: ArrayLike<number>;
  /** Bytes the host reads in the data phase. */
  readonly dataIn?: number;
  /** Bytes the host sends in the data phase. */
  readonly dataOut?: Uint8Array;
  /** dCBWDataTransferLength when it should differ from the data phase's length. */
  readonly hostLength?: number;
  readonly tag?: number;
  readonly lun?: number;
}

/** What a Bulk-Only command returned. */
export interface BotResult {
  readonly csw: Csw;
  /** Data read in the data phase. */
  readonly data: Uint8Array;
  /** The completion code of the data phase transfer, when there was one. */
  readonly dataCode?: number;
}

/** A Setup Stage TRB for a request. */
export function setupTrb(s: UsbSetup, trt: number): TrbSpec {
  const parameter = BigInt(s.bmRequestType) | (BigInt(s.bRequest) << 8n) |
    (BigInt(s.wValue) << 16n) | (BigInt(s.wIndex) << 32n) | (BigInt(s.wLength) << 48n);
  return {
    parameter,
    status: 8,
    control: ctl(TRB_TYPE.SETUP_STAGE, TRB.IDT) | (trt << TRB.TRT_SHIFT),
  };
}

function big(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? `0x${value.toString(16)}` : value;
}
