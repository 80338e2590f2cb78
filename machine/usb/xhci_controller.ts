/**
 * USB host controller: an xHCI 1.1 style PCI function (class 0x0C, subclass 0x03, progIf 0x30)
 * with a root hub of four USB 2.0 ports, device slots, a command ring, transfer rings and one
 * event ring, all in DMA memory reached only through the IOMMU. Devices are plugged in and out
 * by the simulator with {@linkcode XhciController.connect} and
 * {@linkcode XhciController.disconnect}.
 *
 * Interface: one register window "mmio" of 3 pages (BAR 0); one interrupt line (index 0).
 *
 * Registers: all are 32-bit and little-endian except CAPLENGTH and HCIVERSION. "Posted" writes
 * reach the model (`write()`); the driver's side does not store them, and the model keeps what
 * they read back current in the window. "rw" registers are plain memory the model reads when it
 * needs them; "ro" ones the model rewrites on every update. 64-bit registers are two dwords, low
 * first. Offsets and bits are exported from `xhci_registers.ts`.
 *
 * | offset           | register       | access  | reset      | semantics                                             |
 * | ---------------- | -------------- | ------- | ---------- | ----------------------------------------------------- |
 * | 0x000 (1 byte)   | CAPLENGTH      | ro      | 0x20       | operational registers start at 0x20                   |
 * | 0x002 (2 bytes)  | HCIVERSION     | ro      | 0x0110     | xHCI 1.1                                              |
 * | 0x004            | HCSPARAMS1     | ro      | 0x04000110 | MaxSlots 16, MaxIntrs 1, MaxPorts 4                    |
 * | 0x008            | HCSPARAMS2     | ro      | 0x00000040 | ERST Max 4 (16 segments), no scratchpad buffers       |
 * | 0x00C            | HCSPARAMS3     | ro      | 0          |                                                       |
 * | 0x010            | HCCPARAMS1     | ro      | 0x02000081 | AC64, CSZ 0 (32-byte contexts), PPC 0, NSS, xECP 0x800 |
 * | 0x014            | DBOFF          | ro      | 0x2000     | doorbell array                                        |
 * | 0x018            | RTSOFF         | ro      | 0x1000     | runtime registers                                     |
 * | 0x01C            | HCCPARAMS2     | ro      | 0          |                                                       |
 * | 0x020            | USBCMD         | posted  | 0          | RS 0, HCRST 1 (reads 0), INTE 2, HSEE 3               |
 * | 0x024            | USBSTS         | posted  | 0x00000001 | HCH 0 (ro), HSE 2, EINT 3, PCD 4 (w1c), HCE 12 (ro)   |
 * | 0x028            | PAGESIZE       | ro      | 1          | 4 KiB pages                                           |
 * | 0x034            | DNCTRL         | rw      | 0          | stored, no effect                                     |
 * | 0x038            | CRCR low       | posted  | 0          | w: RCS 0, CS 1, CA 2, pointer 31:6; r: CRR 3 only     |
 * | 0x03C            | CRCR high      | posted  | 0          | w: pointer 63:32; reads 0                             |
 * | 0x050, 0x054     | DCBAAP         | rw      | 0          | device context base address array (bits 5:0 ignored)  |
 * | 0x058            | CONFIG         | rw      | 0          | MaxSlotsEn 7:0, read by Enable Slot                   |
 * | 0x420 + 0x10(n-1)| PORTSCn, n 1-4 | posted  | 0x000002A0 | see below                                             |
 * | + 0x4, + 0xC     | PORTPMSC, HLPMC| rw      | 0          | stored, no effect                                     |
 * | + 0x8            | PORTLI         | ro      | 0          |                                                       |
 * | 0x800 - 0x80C    | Supported Prot.| ro      | 0x02000002 | USB 2.0, name "USB ", ports 1-4 (0x401), slot type 0  |
 * | 0x1000           | MFINDEX        | ro      | 0          | not counted                                           |
 * | 0x1020           | IMAN           | posted  | 0          | IP 0 (w1c), IE 1                                      |
 * | 0x1024           | IMOD           | rw      | 0x00000FA0 | stored, no moderation                                 |
 * | 0x1028           | ERSTSZ         | rw      | 0          | segments (1-16), read when the event ring is set up   |
 * | 0x1030, 0x1034   | ERSTBA         | posted  | 0          | reads back; a write re-arms the event ring (below)    |
 * | 0x1038           | ERDP low       | posted  | 0          | DESI 2:0 (stored), EHB 3 (w1c), dequeue pointer 31:4  |
 * | 0x103C           | ERDP high      | posted  | 0          | dequeue pointer 63:32                                 |
 * | 0x2000 + 4n      | DOORBELLn      | posted  | 0          | n 0: command ring (target 0); n 1-16: slot, target = DCI |
 *
 * PORTSC: CCS 0 (ro), PED 1 (write 1 disables), PR 4 (write 1 resets), PLS 8:5 (ro: RxDetect 5
 * when empty, Polling 7 when connected and disabled, U0 0 when enabled), PP 9 (ro 1), speed 13:10
 * (ro: 1 full, 2 low, 3 high), PIC 15:14 and WCE/WDE/WOE 27:25 (stored), CSC 17, PEC 18, PRC 21,
 * PLC 22 (write 1 to clear; WRC, OCC, CEC are always 0). Connect sets CCS, speed and CSC;
 * disconnect clears CCS, PED and speed and sets CSC. A reset (PR) of a connected port completes in
 * a later microtask: the device gets a bus reset, PED 1, PLS U0, PRC 1. A change bit going 0 -> 1
 * sets USBSTS.PCD and posts a Port Status Change Event.
 *
 * Memory structures (xHCI chapter 6): TRBs of 16 bytes with cycle bits; Link TRBs (toggle cycle)
 * on every ring; an Event Ring Segment Table of ERSTSZ entries (u64 base, u32 size in TRBs
 * 16-4096); 32-byte contexts. Commands: Enable Slot, Disable Slot, Address Device (BSR honoured:
 * without it the controller sends SET_ADDRESS with address = slot id), Configure Endpoint (add
 * and drop flags; DC), Evaluate Context (slot fields and EP0 max packet size), Reset Endpoint,
 * Stop Endpoint, Set TR Dequeue Pointer, Reset Device, No Op; other types complete with TRB
 * Error. Transfers: control TDs (Setup Stage with IDT, optional Data Stage plus chained Normal
 * TRBs, Status Stage), Normal TRBs on bulk and interrupt endpoints (IDT allowed for OUT data of 8
 * bytes at most), Event Data and No Op TRBs. Events: Transfer Event (Success, Short Packet, Stall,
 * USB Transaction Error, Babble, Data Buffer Error, TRB Error, Stopped), Command Completion Event,
 * Port Status Change Event.
 *
 * Interrupts: an event makes the event ring non-empty; when ERDP.EHB is 0 the controller sets
 * EHB, IMAN.IP and USBSTS.EINT and, with IMAN.IE and USBCMD.INTE set, raises the line. Writing
 * ERDP with EHB = 1 clears EHB, and events beyond the new dequeue pointer interrupt again. IE or
 * INTE set while IP is pending raises the line too. A host system error raises it when HSEE is
 * set. The model never raises the line inside `write()`: work runs in later microtasks.
 *
 * Simplifications (where no driver could tell, or documented where it could):
 * - One interrupter, one line, no MSI-X; IMOD and BEI are ignored (every event may interrupt).
 * - USB 2.0 ports only: no SuperSpeed, no link power management; PLS writes (LWS) are ignored;
 *   a port reset takes one microtask; the speed is known at connect. Ports are always powered.
 * - Transfers move whole TDs, not packets: one call on the device per TD. Packet sizes, data
 *   toggles, bInterval and bandwidth are not modelled. A TD the device NAKs stays at the head of
 *   its ring and is retried when the device signals it has data (or on the next doorbell).
 * - Isochronous endpoints and streams are not supported: Configure Endpoint refuses them with
 *   Parameter Error. Event Data TRBs report the bytes moved by their TD so far.
 * - USB device address = slot id. A control SET_ADDRESS from the driver reaches the device but
 *   routing is by slot, as the controller owns addressing.
 * - Contexts read: input control context (drop 31:2, add 31:0), slot context (root hub port
 *   number 23:16 of dword 1), endpoint context (EP type, max packet size, TR dequeue pointer,
 *   DCS). Contexts written (output device context at DCBAA[slot]): the input contexts as given,
 *   with slot state, USB address and context entries, and endpoint state and TR dequeue pointer
 *   kept current on every state change. Other fields (interval, CErr, Mult, ...) are copied only.
 * - An error completion (Stall, USB Transaction Error, Babble, Data Buffer Error, TRB Error) halts
 *   the endpoint (EP0 too) and moves its dequeue pointer past the failed TD, so Reset Endpoint
 *   plus a doorbell resumes with the next TD (a Set TR Dequeue Pointer is accepted but optional).
 *   Recovery from a TRB fetch that faulted needs Set TR Dequeue Pointer: the pointer stays.
 * - Short packets: a Short Packet event for the TRB where the data ran out if it has ISP or IOC,
 *   and for the TD's last TRB (residue = its whole length) if that is another TRB with IOC; the
 *   rest of that TD is skipped, except that a control transfer goes on to its Status Stage.
 * - Commands run at once, so Command Abort acts as Command Stop: CRR clears and a Command Ring
 *   Stopped completion names the dequeue pointer. CRCR pointer writes while CRR is 1 are ignored.
 * - DMA faults (recorded by the IOMMU): a transfer TRB fetch fails with TRB Error; a data buffer
 *   outside its mappings with Data Buffer Error before the device is asked (nothing moves); a
 *   command TRB fetch with TRB Error and the command ring stops (CRR 0: rewrite CRCR); a context
 *   or DCBAA access during a command with TRB Error for that command. An event ring that cannot
 *   be written (ERST or segment unmapped, bad ERSTSZ or segment size) is a host system error:
 *   USBSTS.HSE, RS cleared, HCH set; HCRST recovers.
 * - A full event ring keeps further events in an internal backlog (up to 4096; more are dropped
 *   and logged) that drains as ERDP advances, instead of an Event Ring Full Error.
 * - While halted (RS 0) nothing runs; doorbells are logged and ignored. Port Status Change Events
 *   are posted when RS is set, one per port with a change bit; other events wait in the backlog.
 * - Disconnect: the port's device is gone. The TD in flight on each of its slot's endpoints (one
 *   the device NAKed, or the next one run) completes with USB Transaction Error and the endpoint
 *   halts; TDs queued behind it stay on the ring unexecuted, as on real hardware, until the
 *   driver disables the slot (Disable Slot completes nothing). Every later TD to a gone device
 *   fails the same way, and Address Device on a port with no device fails with USB Transaction
 *   Error. Nothing waits forever and nothing throws.
 * - Bad guest accesses (unknown offset, not 32 bits wide, a write to a read-only register, a
 *   doorbell while halted or for a slot or endpoint that is not enabled) are logged with env.log
 *   and ignored.
 *
 * @module
 */

import type { DeviceEnv, DeviceModel, SideEffectRegister, WindowSpec } from "../device_model.ts";
import { DmaFaultError, type DmaPort } from "../iommu.ts";
import type { UsbDevice, UsbSetup } from "./usb_device.ts";
import {
  CRCR,
  ERDP,
  IMAN,
  PORT_LINK_STATE,
  PORT_SPEED,
  PORTSC,
  PORTSC_CHANGE_BITS,
  USBCMD,
  USBSTS,
  XHCI_MAX_ERST,
  XHCI_MAX_SLOTS,
  XHCI_PORTS,
  XHCI_REG,
  XHCI_REGISTERS,
  XHCI_SIDE_EFFECTS,
  XHCI_WINDOW,
  XHCI_WINDOW_SIZE,
  type XhciRegister,
} from "./xhci_registers.ts";
import {
  COMPLETION_CODE,
  CONTEXT_SIZE,
  endpointDci,
  EP_STATE,
  EP_TYPE,
  SLOT_STATE,
  TRB,
  TRB_SIZE,
  TRB_TYPE,
  trbType,
} from "./xhci_trb.ts";

/** Options of {@linkcode createXhciController}. */
export interface XhciControllerOptions {
  /** The device's name, e.g. `usb0`. */
  readonly name: string;
}

/** Counters for tests and benchmarks. */
export interface XhciStats {
  /** Command TRBs executed. */
  readonly commands: number;
  /** TDs completed, successfully or not. */
  readonly transfers: number;
  /** TDs that completed with an error code. */
  readonly transferErrors: number;
  /** Events written to the event ring. */
  readonly events: number;
  /** Events lost because the backlog was full. */
  readonly eventsDropped: number;
  /** Interrupts raised. */
  readonly interrupts: number;
  /** DMA accesses that faulted. */
  readonly dmaFaults: number;
  /** Bad guest accesses logged and ignored. */
  readonly badAccesses: number;
  /** Port resets completed. */
  readonly portResets: number;
  /** Controller resets (HCRST and hardware resets). */
  readonly resets: number;
  /** Bytes moved from devices into memory. */
  readonly bytesIn: number;
  /** Bytes moved from memory to devices. */
  readonly bytesOut: number;
}

const CC = COMPLETION_CODE;
const T = TRB_TYPE;
const MAX_BACKLOG = 4096;
const MAX_TD_TRBS = 1024;
const MAX_LINKS = 8;
const TRBS_PER_RUN = 4096;
const COMMANDS_PER_RUN = 256;
const ALIGN_16 = ~0xfn;
const ALIGN_64 = ~0x3fn;

interface Port {
  device: UsbDevice | undefined;
  enabled: boolean;
  resetting: boolean;
  link: number;
  changes: number;
  /** PIC and the wake enables, as written. */
  control: number;
}

interface Endpoint {
  readonly dci: number;
  type: number;
  state: number;
  dequeue: bigint;
  cycle: number;
  /** The TD at the head was NAKed: run again when the device wakes the endpoint. */
  waiting: boolean;
  scheduled: boolean;
  /** Our copy of the endpoint context, written to the output context. */
  readonly context: Uint8Array;
}

interface Slot {
  readonly id: number;
  state: number;
  port: number;
  device: UsbDevice | undefined;
  gone: boolean;
  output: bigint;
  readonly context: Uint8Array;
  readonly endpoints: (Endpoint | undefined)[];
}

interface TrbRef {
  readonly address: bigint;
  readonly parameter: bigint;
  readonly status: number;
  readonly control: number;
  readonly type: number;
}

type Fetched =
  | { readonly kind: "empty" }
  | { readonly kind: "error"; readonly address: bigint; readonly why: string }
  | {
    readonly kind: "td";
    readonly trbs: readonly TrbRef[];
    readonly dequeue: bigint;
    readonly cycle: number;
  };

type Outcome = "done" | "nak" | "halt";

/** A data buffer that cannot be used: the TRB, the completion code, why. */
interface DataFault {
  readonly trb: TrbRef;
  readonly code: number;
  readonly why: string;
}

interface CommandResult {
  readonly code: number;
  readonly slot: number;
}

interface EventRing {
  readonly segments: readonly { readonly base: bigint; readonly size: number }[];
  segment: number;
  index: number;
  cycle: number;
}

/** Registers by offset. */
const REGISTER_INDEX: ReadonlyMap<number, XhciRegister> = new Map(
  XHCI_REGISTERS.map((r) => [r.offset, r]),
);

/** Read-only dword registers and their values, rewritten on every publish. */
const READ_ONLY_DWORDS: readonly (readonly [number, number])[] = [
  [0x00, 0x20 | (0x0110 << 16)],
  ...XHCI_REGISTERS.filter((r) => r.access === "ro" && r.width === 4).map((r) =>
    [r.offset, r.reset] as const
  ),
];

/**
 * The xHCI host controller model. Create it with {@linkcode createXhciController}.
 *
 * @example
 * ```ts
 * import { createXhciController, XHCI_PCI_IDENTITY } from "./mod.ts";
 * import { Machine } from "../machine.ts";
 * const machine = new Machine();
 * const usb = createXhciController({ name: "usb0" });
 * const fn = await machine.attachPci(XHCI_PCI_IDENTITY, usb);
 * fn.windows.map((w) => w.name); // ["mmio"]
 * await machine.stop();
 * ```
 */
export class XhciController implements DeviceModel {
  /** The device's name. */
  readonly name: string;
  /** One window, "mmio", of 3 pages. */
  readonly windows: readonly WindowSpec[] = [{ name: XHCI_WINDOW, size: XHCI_WINDOW_SIZE }];
  /** One interrupt line. */
  readonly lines = 1;
  /** The posted registers. */
  readonly sideEffects: readonly SideEffectRegister[] = XHCI_SIDE_EFFECTS;

  #env: DeviceEnv | undefined;
  #dma: DmaPort | undefined;
  #regs: Uint32Array = new Uint32Array(0);
  #view: DataView = new DataView(new ArrayBuffer(0));
  #closed = false;
  #epoch = 0;
  #timers = new Set<ReturnType<typeof setTimeout>>();

  #cmd = 0;
  #sts = 0;
  #crcrLo = 0;
  #crcrHi = 0;
  #crr = false;
  #cmdDequeue = 0n;
  #cmdCycle = 0;
  #cmdScheduled = false;
  #ports: Port[] = Array.from({ length: XHCI_PORTS }, () => emptyPort());
  #slots: (Slot | undefined)[] = new Array(XHCI_MAX_SLOTS + 1).fill(undefined);

  #ip = false;
  #ie = false;
  #erstLo = 0;
  #erstHi = 0;
  #erdpLo = 0;
  #erdpHi = 0;
  #ehb = false;
  #ring: EventRing | undefined;
  #ringComplaint = false;
  #backlog: Uint8Array[] = [];

  #trb = new Uint8Array(TRB_SIZE);
  #trbView = new DataView(this.#trb.buffer);
  #stats = {
    commands: 0,
    transfers: 0,
    transferErrors: 0,
    events: 0,
    eventsDropped: 0,
    interrupts: 0,
    dmaFaults: 0,
    badAccesses: 0,
    portResets: 0,
    resets: 0,
    bytesIn: 0,
    bytesOut: 0,
  };

  constructor(options: XhciControllerOptions) {
    if (typeof options.name !== "string" || options.name === "") {
      throw new TypeError("Cannot create a USB host controller: name must be a non-empty string");
    }
    this.name = options.name;
  }

  /** A snapshot of the counters. */
  get stats(): XhciStats {
    return { ...this.#stats };
  }

  /** The device connected to a port (1-4), if any. */
  device(port: number): UsbDevice | undefined {
    return this.#port(port, "look at").device;
  }

  /**
   * Plugs a device into a root hub port (1-4): PORTSC shows it (CCS, speed, CSC) at once; a Port
   * Status Change Event and the interrupt follow. A port that does not exist, one that is in
   * use, or a device that is already plugged in elsewhere is a RangeError.
   */
  connect(port: number, device: UsbDevice): void {
    const p = this.#port(port, `connect ${device.name} to`);
    if (p.device) {
      throw new RangeError(
        `Cannot connect ${device.name} to USB port ${port}: it holds ${p.device.name}`,
      );
    }
    const other = this.#ports.findIndex((q) => q.device === device);
    if (other >= 0) {
      throw new RangeError(
        `Cannot connect ${device.name} to USB port ${port}: it is connected to port ${other + 1}`,
      );
    }
    p.device = device;
    p.enabled = false;
    p.resetting = false;
    p.link = PORT_LINK_STATE.POLLING;
    device.setWakeListener((endpoint) => this.#wake(device, endpoint));
    this.#portChange(port, PORTSC.CSC);
    this.#publish();
  }

  /**
   * Unplugs the device in a port (1-4) and returns it: PORTSC shows the port empty at once; a
   * Port Status Change Event follows, and transfers in flight for it end with USB Transaction
   * Error (see the module documentation). The device sees a power loss (a bus reset); it is not
   * closed. A port that does not exist or is empty is a RangeError.
   */
  disconnect(port: number): UsbDevice {
    const p = this.#port(port, "disconnect");
    const device = p.device;
    if (!device) throw new RangeError(`Cannot disconnect USB port ${port}: nothing is connected`);
    device.setWakeListener(undefined);
    p.device = undefined;
    p.enabled = false;
    p.resetting = false;
    p.link = PORT_LINK_STATE.RX_DETECT;
    for (const slot of this.#slots) {
      if (!slot || slot.device !== device) continue;
      slot.gone = true;
      for (const ep of slot.endpoints) {
        if (ep && ep.state === EP_STATE.RUNNING) this.#scheduleEndpoint(slot, ep);
      }
    }
    try {
      device.reset();
    } catch (error) {
      this.#env?.log(`${device.name} failed on reset at unplug: ${message(error)}`);
    }
    this.#portChange(port, PORTSC.CSC);
    this.#publish();
    return device;
  }

  /** Takes the window and DMA port, then performs a hardware reset. */
  attach(env: DeviceEnv): void {
    const buffer = env.windows[XHCI_WINDOW];
    if (!buffer || buffer.byteLength < XHCI_WINDOW_SIZE) {
      throw new TypeError(
        `Cannot attach ${this.name}: window "${XHCI_WINDOW}" is missing or too small`,
      );
    }
    this.#regs = new Uint32Array(buffer);
    this.#view = new DataView(buffer);
    this.#env = env;
    this.#dma = env.dma;
    this.#closed = false;
    this.reset();
  }

  /**
   * Hardware reset (also HCRST): halted, registers at their reset values, slots disabled, event
   * ring disarmed, pending work abandoned. Connected devices stay: their ports show CCS and CSC.
   */
  reset(): void {
    this.#cancel();
    this.#cmd = 0;
    this.#sts = 0;
    this.#crcrLo = this.#crcrHi = 0;
    this.#crr = false;
    this.#cmdDequeue = 0n;
    this.#cmdCycle = 0;
    this.#slots.fill(undefined);
    this.#ip = this.#ie = this.#ehb = false;
    this.#erstLo =
      this.#erstHi =
      this.#erdpLo =
      this.#erdpHi =
        0;
    this.#ring = undefined;
    this.#ringComplaint = false;
    this.#backlog = [];
    for (const p of this.#ports) {
      p.enabled = false;
      p.resetting = false;
      p.control = 0;
      p.changes = p.device ? PORTSC.CSC : 0;
      p.link = p.device ? PORT_LINK_STATE.POLLING : PORT_LINK_STATE.RX_DETECT;
    }
    if (this.#ports.some((p) => p.changes)) this.#sts |= USBSTS.PCD;
    if (this.#env) {
      for (const r of XHCI_REGISTERS) {
        if (r.access === "rw") this.#view.setUint32(r.offset, r.reset, true);
      }
    }
    this.#stats.resets++;
    this.#publish();
  }

  /** A driver wrote a register; see the module's table. Bad accesses are logged and ignored. */
  write(window: string, offset: number, width: 1 | 2 | 4, value: number): void {
    if (!this.#env || this.#closed) return;
    const r = window === XHCI_WINDOW ? REGISTER_INDEX.get(offset) : undefined;
    if (!r) {
      this.#bad(
        `${width}-byte write of 0x${hex(value)} at ${window}+0x${hex(offset)}: no register`,
      );
      return;
    }
    if (width !== 4 || r.width !== 4) {
      this.#bad(`${width}-byte write to ${r.name}: registers are written 32 bits at a time`);
      return;
    }
    const v = value >>> 0;
    if (r.access === "ro") {
      this.#bad(`write of 0x${hex(v)} to read-only ${r.name} ignored`);
    } else if (r.access === "rw") {
      // Plain memory: only a host that routes every write gets here; store as written.
      this.#view.setUint32(offset, v, true);
    } else {
      this.#posted(offset, v);
    }
    this.#publish();
  }

  /** A read through the model (for hosts that route every read): the window's value. */
  read(window: string, offset: number, width: 1 | 2 | 4): number {
    if (!this.#env || this.#closed) return 0;
    if (
      window !== XHCI_WINDOW || !Number.isInteger(offset) || offset < 0 ||
      offset + width > XHCI_WINDOW_SIZE || offset % width !== 0
    ) {
      this.#bad(`${width}-byte read at ${window}+0x${hex(offset)} is not a register access`);
      return 0;
    }
    const v = this.#view;
    return width === 1
      ? v.getUint8(offset)
      : width === 2
      ? v.getUint16(offset, true)
      : v.getUint32(offset, true);
  }

  /** Abandons all work, unplugs every device and closes it (a disk image is flushed). */
  close(): void {
    if (this.#closed) return;
    this.#cancel();
    this.#closed = true;
    for (const p of this.#ports) {
      const device = p.device;
      if (!device) continue;
      p.device = undefined;
      device.setWakeListener(undefined);
      try {
        device.close?.();
      } catch (error) {
        this.#env?.log(`${device.name} failed to close: ${message(error)}`);
      }
    }
  }

  // --- registers -------------------------------------------------------------------------------

  #posted(offset: number, v: number): void {
    if (offset >= XHCI_REG.DOORBELL_BASE) {
      this.#doorbell((offset - XHCI_REG.DOORBELL_BASE) / 4, v);
      return;
    }
    if (offset >= XHCI_REG.PORT_BASE && offset < XHCI_REG.PORT_BASE + 0x10 * XHCI_PORTS) {
      this.#writePortsc((offset - XHCI_REG.PORT_BASE) / 0x10 + 1, v);
      return;
    }
    switch (offset) {
      case XHCI_REG.USBCMD:
        this.#writeUsbcmd(v);
        return;
      case XHCI_REG.USBSTS:
        this.#sts &= ~(v & (USBSTS.HSE | USBSTS.EINT | USBSTS.PCD));
        return;
      case XHCI_REG.CRCR_LO:
      case XHCI_REG.CRCR_HI:
        this.#writeCrcr(offset === XHCI_REG.CRCR_LO, v);
        return;
      case XHCI_REG.IMAN: {
        if (v & IMAN.IP) this.#ip = false;
        const was = this.#ie;
        this.#ie = (v & IMAN.IE) !== 0;
        if (!was && this.#ie) this.#schedule(() => this.#assert());
        return;
      }
      case XHCI_REG.ERSTBA_LO:
      case XHCI_REG.ERSTBA_HI:
        if (offset === XHCI_REG.ERSTBA_LO) this.#erstLo = v & ~0x3f;
        else this.#erstHi = v;
        this.#ring = undefined;
        this.#ringComplaint = false;
        return;
      case XHCI_REG.ERDP_LO:
        if (v & ERDP.EHB) this.#ehb = false;
        this.#erdpLo = v & ~ERDP.EHB;
        this.#schedule(() => this.#flushBacklog());
        return;
      case XHCI_REG.ERDP_HI:
        this.#erdpHi = v;
        this.#schedule(() => this.#flushBacklog());
        return;
    }
  }

  #writeUsbcmd(v: number): void {
    if (v & USBCMD.HCRST) {
      if (this.#cmd & USBCMD.RS) this.#bad("HCRST while running (RS 1): reset anyway");
      this.reset();
      return;
    }
    const was = this.#cmd;
    this.#cmd = v & (USBCMD.RS | USBCMD.INTE | USBCMD.HSEE);
    if ((v & USBCMD.RS) && !(was & USBCMD.RS)) {
      this.#schedule(() => this.#started());
    } else if (!(v & USBCMD.RS) && (was & USBCMD.RS)) {
      this.#crr = false;
    }
    if ((v & USBCMD.INTE) && !(was & USBCMD.INTE)) this.#schedule(() => this.#assert());
  }

  #writeCrcr(low: boolean, v: number): void {
    if (this.#crr) {
      if (low && (v & (CRCR.CS | CRCR.CA))) {
        this.#crr = false;
        this.#schedule(() =>
          this.#post(commandEvent(this.#cmdDequeue, CC.COMMAND_RING_STOPPED, 0))
        );
      }
      return; // the pointer cannot change while the ring runs
    }
    if (low) this.#crcrLo = v;
    else this.#crcrHi = v;
    this.#cmdDequeue = ((BigInt(this.#crcrHi) << 32n) | BigInt(this.#crcrLo >>> 0)) & ALIGN_64;
    this.#cmdCycle = this.#crcrLo & CRCR.RCS;
  }

  #writePortsc(n: number, v: number): void {
    const p = this.#ports[n - 1]!;
    p.changes &= ~(v & PORTSC_CHANGE_BITS);
    p.control = v & (PORTSC.PIC_MASK | PORTSC.WCE | PORTSC.WDE | PORTSC.WOE);
    if ((v & PORTSC.PED) && p.enabled) {
      p.enabled = false;
      p.link = PORT_LINK_STATE.POLLING;
    }
    if (v & PORTSC.PR) {
      const device = p.device;
      if (!device) {
        this.#bad(`reset of USB port ${n} with nothing connected: ignored`);
      } else if (!p.resetting) {
        p.resetting = true;
        p.enabled = false;
        this.#schedule(() => this.#finishPortReset(n, device));
      }
    }
  }

  #doorbell(n: number, v: number): void {
    if (!(this.#cmd & USBCMD.RS)) {
      this.#bad(`doorbell ${n} rung while halted: ignored`);
      return;
    }
    const target = v & 0xff;
    if (n === 0) {
      if (target !== 0) {
        this.#bad(`doorbell 0 with target ${target}: only 0 (command ring) exists`);
        return;
      }
      if (!this.#cmdScheduled) {
        this.#cmdScheduled = true;
        this.#schedule(() => this.#runCommands());
      }
      return;
    }
    const slot = this.#slots[n];
    const ep = slot?.endpoints[target];
    if (!slot || !ep) {
      this.#bad(`doorbell ${n} target ${target}: no such enabled slot and endpoint`);
      return;
    }
    if (ep.state === EP_STATE.HALTED || ep.state === EP_STATE.ERROR) return; // ignored, as specified
    this.#scheduleEndpoint(slot, ep);
  }

  /** Writes every model-owned register into the window; USBSTS last. */
  #publish(): void {
    if (!this.#env || this.#closed) return;
    const put = (offset: number, value: number) => Atomics.store(this.#regs, offset >> 2, value);
    for (const [offset, value] of READ_ONLY_DWORDS) put(offset, value);
    put(XHCI_REG.USBCMD, this.#cmd);
    put(XHCI_REG.CRCR_LO, this.#crr ? CRCR.CRR : 0);
    put(XHCI_REG.CRCR_HI, 0);
    for (let n = 1; n <= XHCI_PORTS; n++) put(XHCI_REG.PORT_BASE + 0x10 * (n - 1), this.#portsc(n));
    put(XHCI_REG.IMAN, (this.#ip ? IMAN.IP : 0) | (this.#ie ? IMAN.IE : 0));
    put(XHCI_REG.ERSTBA_LO, this.#erstLo);
    put(XHCI_REG.ERSTBA_HI, this.#erstHi);
    put(XHCI_REG.ERDP_LO, (this.#erdpLo & ~ERDP.EHB) | (this.#ehb ? ERDP.EHB : 0));
    put(XHCI_REG.ERDP_HI, this.#erdpHi);
    for (let n = 0; n <= XHCI_MAX_SLOTS; n++) put(XHCI_REG.DOORBELL_BASE + 4 * n, 0);
    put(XHCI_REG.USBSTS, this.#sts | (this.#cmd & USBCMD.RS ? 0 : USBSTS.HCH));
  }

  #portsc(n: number): number {
    const p = this.#ports[n - 1]!;
    let v = PORTSC.PP | (p.link << PORTSC.PLS_SHIFT) | p.changes | p.control;
    if (p.device) v |= PORTSC.CCS | (speedId(p.device) << PORTSC.SPEED_SHIFT);
    if (p.enabled) v |= PORTSC.PED;
    if (p.resetting) v |= PORTSC.PR;
    return v >>> 0;
  }

  #port(port: number, what: string): Port {
    const p = Number.isInteger(port) ? this.#ports[port - 1] : undefined;
    if (!p) {
      throw new RangeError(
        `Cannot ${what} USB port ${port}: no port ${port}; ports are 1-${XHCI_PORTS}`,
      );
    }
    return p;
  }

  #bad(text: string): void {
    this.#stats.badAccesses++;
    this.#env?.log(text);
  }

  // --- scheduling and interrupts ---------------------------------------------------------------

  /** Runs a step in a later microtask (never inside the caller), unless a reset or close intervenes. */
  #schedule(step: () => void): void {
    if (!this.#env || this.#closed) return;
    const epoch = this.#epoch;
    queueMicrotask(() => this.#run(epoch, step));
  }

  /** Runs a step after the event loop has turned (a long ring: let timers and I/O in). */
  #later(step: () => void): void {
    const epoch = this.#epoch;
    const id = setTimeout(() => {
      this.#timers.delete(id);
      this.#run(epoch, step);
    }, 0);
    this.#timers.add(id);
  }

  #run(epoch: number, step: () => void): void {
    if (epoch !== this.#epoch || this.#closed) return;
    try {
      step();
    } catch (error) {
      this.#env?.log(`internal error: ${message(error)}`);
    }
    this.#interruptCheck();
    this.#publish();
  }

  #cancel(): void {
    this.#epoch++;
    for (const id of this.#timers) clearTimeout(id);
    this.#timers.clear();
    this.#cmdScheduled = false;
  }

  /** Sets EHB, IP and EINT when the event ring holds events the driver has not been told of. */
  #interruptCheck(): void {
    if (this.#ehb || !this.#ring || this.#enqueueAddress(this.#ring) === this.#dequeuePointer()) {
      return;
    }
    this.#ehb = true;
    if (!this.#ip) this.#sts |= USBSTS.EINT;
    this.#ip = true;
    this.#assert();
  }

  /** Raises the line if an interrupt is pending and enabled. */
  #assert(): void {
    if (this.#ip && this.#ie && (this.#cmd & USBCMD.INTE)) {
      this.#stats.interrupts++;
      this.#env?.raise(0);
    }
  }

  #hostSystemError(why: string): void {
    this.#env?.log(`host system error: ${why}; halted`);
    this.#sts |= USBSTS.HSE;
    this.#cmd &= ~USBCMD.RS;
    this.#crr = false;
    if (this.#cmd & USBCMD.HSEE) {
      this.#stats.interrupts++;
      this.#env?.raise(0);
    }
  }

  /** RS went to 1: port events for pending changes, the backlog, endpoints that were waiting. */
  #started(): void {
    for (let n = 1; n <= XHCI_PORTS; n++) {
      if (this.#ports[n - 1]!.changes) this.#post(portEvent(n));
    }
    this.#flushBacklog();
    for (const slot of this.#slots) {
      for (const ep of slot?.endpoints ?? []) {
        if (slot && ep && (ep.waiting || slot.gone)) this.#scheduleEndpoint(slot, ep);
      }
    }
  }

  // --- ports -----------------------------------------------------------------------------------

  #portChange(n: number, bit: number): void {
    const p = this.#ports[n - 1]!;
    const was = p.changes & bit;
    p.changes |= bit;
    this.#sts |= USBSTS.PCD;
    if (!was) this.#schedule(() => this.#portEvent(n));
  }

  #portEvent(n: number): void {
    if (this.#cmd & USBCMD.RS) this.#post(portEvent(n)); // else: posted when RS is set
  }

  #finishPortReset(n: number, device: UsbDevice): void {
    const p = this.#ports[n - 1]!;
    if (p.device !== device || !p.resetting) return;
    p.resetting = false;
    try {
      device.reset();
    } catch (error) {
      this.#env?.log(`${device.name} failed on bus reset: ${message(error)}`);
    }
    p.enabled = true;
    p.link = PORT_LINK_STATE.U0;
    this.#stats.portResets++;
    this.#portChange(n, PORTSC.PRC);
  }

  #wake(device: UsbDevice, endpointAddress: number): void {
    const dci = endpointDci(endpointAddress);
    for (const slot of this.#slots) {
      if (!slot || slot.device !== device || slot.gone) continue;
      const ep = slot.endpoints[dci];
      if (ep?.waiting) this.#scheduleEndpoint(slot, ep);
    }
  }

  // --- event ring ------------------------------------------------------------------------------

  #post(event: Uint8Array): void {
    if (!this.#env) return;
    if (this.#backlog.length > 0 || !(this.#cmd & USBCMD.RS) || !this.#writeEvent(event)) {
      if (this.#backlog.length >= MAX_BACKLOG) {
        this.#stats.eventsDropped++;
        this.#env.log(`event ring full and backlog of ${MAX_BACKLOG} events full: event dropped`);
        return;
      }
      this.#backlog.push(event);
      this.#flushBacklog();
    }
  }

  #flushBacklog(): void {
    if (!(this.#cmd & USBCMD.RS)) return;
    while (this.#backlog.length > 0 && this.#writeEvent(this.#backlog[0]!)) this.#backlog.shift();
  }

  /** Writes one event at the enqueue pointer; false when the ring is full or unusable. */
  #writeEvent(event: Uint8Array): boolean {
    const ring = this.#eventRing();
    if (!ring) return false;
    const at = this.#enqueueAddress(ring);
    const next = nextPosition(ring);
    const nextAddress = ring.segments[next.segment]!.base + BigInt(next.index * TRB_SIZE);
    if (nextAddress === this.#dequeuePointer()) return false; // full
    const control = new DataView(event.buffer, event.byteOffset).getUint32(12, true);
    const last = new Uint8Array(4);
    new DataView(last.buffer).setUint32(0, (control & ~TRB.CYCLE) | ring.cycle, true);
    try {
      this.#dma!.write(at, event.subarray(0, 12));
      this.#dma!.write(at + 12n, last); // the cycle bit last: the driver polls it
    } catch (error) {
      if (!(error instanceof DmaFaultError)) throw error;
      this.#stats.dmaFaults++;
      this.#hostSystemError(`event ring write at ${addr(at)} faulted`);
      return false;
    }
    ring.segment = next.segment;
    ring.index = next.index;
    if (next.wrapped) ring.cycle ^= 1;
    this.#stats.events++;
    return true;
  }

  /** The event ring, set up from ERSTBA and ERSTSZ when first needed after they were written. */
  #eventRing(): EventRing | undefined {
    if (this.#ring) return this.#ring;
    const count = this.#view.getUint32(XHCI_REG.ERSTSZ, true) & 0xffff;
    const base = (BigInt(this.#erstHi) << 32n) | BigInt(this.#erstLo >>> 0);
    if (count === 0) {
      if (!this.#ringComplaint) this.#env?.log("event ring not set up (ERSTSZ 0): events held");
      this.#ringComplaint = true;
      return undefined;
    }
    if (count > XHCI_MAX_ERST) {
      this.#hostSystemError(`ERSTSZ ${count} is more than ${XHCI_MAX_ERST} segments`);
      return undefined;
    }
    const segments: { base: bigint; size: number }[] = [];
    try {
      const table = this.#dma!.read(base, 16 * count);
      const v = new DataView(table.buffer);
      for (let i = 0; i < count; i++) {
        const size = v.getUint32(16 * i + 8, true) & 0xffff;
        if (size < 16 || size > 4096) {
          this.#hostSystemError(`event ring segment ${i} has ${size} TRBs, not 16-4096`);
          return undefined;
        }
        segments.push({ base: v.getBigUint64(16 * i, true) & ALIGN_64, size });
      }
    } catch (error) {
      if (!(error instanceof DmaFaultError)) throw error;
      this.#stats.dmaFaults++;
      this.#hostSystemError(`event ring segment table read at ${addr(base)} faulted`);
      return undefined;
    }
    this.#ring = { segments, segment: 0, index: 0, cycle: 1 };
    return this.#ring;
  }

  #enqueueAddress(ring: EventRing): bigint {
    return ring.segments[ring.segment]!.base + BigInt(ring.index * TRB_SIZE);
  }

  #dequeuePointer(): bigint {
    return ((BigInt(this.#erdpHi) << 32n) | BigInt(this.#erdpLo >>> 0)) & ALIGN_16;
  }

  // --- command ring ----------------------------------------------------------------------------

  #runCommands(): void {
    this.#cmdScheduled = false;
    if (!(this.#cmd & USBCMD.RS)) return;
    this.#crr = true;
    let links = 0;
    for (let done = 0; done < COMMANDS_PER_RUN;) {
      if (!this.#crr || !(this.#cmd & USBCMD.RS)) return;
      const at = this.#cmdDequeue;
      let trb: TrbRef;
      try {
        trb = this.#readTrb(at);
      } catch (error) {
        if (!(error instanceof DmaFaultError)) throw error;
        this.#stats.dmaFaults++;
        this.#env?.log(`command TRB fetch at ${addr(at)} faulted: command ring stopped`);
        this.#crr = false;
        this.#post(commandEvent(at, CC.TRB_ERROR, 0));
        return;
      }
      if ((trb.control & TRB.CYCLE) !== this.#cmdCycle) return;
      if (trb.type === T.LINK) {
        if (++links > MAX_LINKS) {
          this.#env?.log(`command ring: link TRBs at ${addr(at)} form a loop: ring stopped`);
          this.#crr = false;
          this.#post(commandEvent(at, CC.TRB_ERROR, 0));
          return;
        }
        if (trb.control & TRB.TOGGLE_CYCLE) this.#cmdCycle ^= 1;
        this.#cmdDequeue = trb.parameter & ALIGN_16;
        continue;
      }
      links = 0;
      this.#cmdDequeue = at + BigInt(TRB_SIZE);
      this.#stats.commands++;
      done++;
      const result = this.#command(trb);
      this.#post(commandEvent(at, result.code, result.slot));
    }
    this.#cmdScheduled = true;
    this.#later(() => this.#runCommands());
  }

  #command(trb: TrbRef): CommandResult {
    const slotId = trb.control >>> TRB.SLOT_SHIFT;
    try {
      switch (trb.type) {
        case T.ENABLE_SLOT:
          return this.#enableSlot();
        case T.NO_OP_COMMAND:
          return { code: CC.SUCCESS, slot: 0 };
        default:
          break;
      }
      const slot = slotId >= 1 && slotId <= XHCI_MAX_SLOTS ? this.#slots[slotId] : undefined;
      const known = [
        T.DISABLE_SLOT,
        T.ADDRESS_DEVICE,
        T.CONFIGURE_ENDPOINT,
        T.EVALUATE_CONTEXT,
        T.RESET_ENDPOINT,
        T.STOP_ENDPOINT,
        T.SET_TR_DEQUEUE_POINTER,
        T.RESET_DEVICE,
      ] as number[];
      if (!known.includes(trb.type)) {
        this.#env?.log(`command TRB type ${trb.type} at ${addr(trb.address)} is not a command`);
        return { code: CC.TRB_ERROR, slot: slotId };
      }
      if (!slot) return { code: CC.SLOT_NOT_ENABLED_ERROR, slot: slotId };
      const code = this.#slotCommand(trb, slot);
      return { code, slot: slotId };
    } catch (error) {
      if (!(error instanceof DmaFaultError)) throw error;
      this.#stats.dmaFaults++;
      this.#env?.log(`command at ${addr(trb.address)}: ${error.message}`);
      return { code: CC.TRB_ERROR, slot: slotId };
    }
  }

  #enableSlot(): CommandResult {
    const enabled = Math.min(this.#view.getUint32(XHCI_REG.CONFIG, true) & 0xff, XHCI_MAX_SLOTS);
    for (let id = 1; id <= enabled; id++) {
      if (this.#slots[id]) continue;
      this.#slots[id] = {
        id,
        state: SLOT_STATE.ENABLED,
        port: 0,
        device: undefined,
        gone: false,
        output: 0n,
        context: new Uint8Array(CONTEXT_SIZE),
        endpoints: new Array(32).fill(undefined),
      };
      return { code: CC.SUCCESS, slot: id };
    }
    return { code: CC.NO_SLOTS_AVAILABLE_ERROR, slot: 0 };
  }

  #slotCommand(trb: TrbRef, slot: Slot): number {
    const dci = (trb.control >>> TRB.ENDPOINT_SHIFT) & 0x1f;
    switch (trb.type) {
      case T.DISABLE_SLOT:
        for (const ep of slot.endpoints) if (ep) ep.state = EP_STATE.DISABLED;
        this.#slots[slot.id] = undefined;
        return CC.SUCCESS;
      case T.ADDRESS_DEVICE:
        return this.#addressDevice(slot, trb.parameter & ALIGN_16, (trb.control & TRB.BSR) !== 0);
      case T.CONFIGURE_ENDPOINT:
        return this.#configureEndpoint(
          slot,
          trb.parameter & ALIGN_16,
          (trb.control & TRB.DC) !== 0,
        );
      case T.EVALUATE_CONTEXT:
        return this.#evaluateContext(slot, trb.parameter & ALIGN_16);
      case T.RESET_DEVICE: {
        if (slot.state === SLOT_STATE.ENABLED) return CC.CONTEXT_STATE_ERROR;
        const dropped: number[] = [];
        for (let i = 2; i < 32; i++) {
          if (slot.endpoints[i]) dropped.push(i);
          slot.endpoints[i] = undefined;
        }
        slot.state = SLOT_STATE.DEFAULT;
        this.#updateSlotContext(slot);
        this.#writeContexts(slot, 0, ...dropped);
        return CC.SUCCESS;
      }
    }
    const ep = slot.endpoints[dci];
    if (!ep) return CC.ENDPOINT_NOT_ENABLED_ERROR;
    switch (trb.type) {
      case T.RESET_ENDPOINT:
        if (ep.state !== EP_STATE.HALTED) return CC.CONTEXT_STATE_ERROR;
        this.#setState(slot, ep, EP_STATE.STOPPED, true);
        return CC.SUCCESS;
      case T.STOP_ENDPOINT:
        if (ep.state !== EP_STATE.RUNNING) return CC.CONTEXT_STATE_ERROR;
        if (ep.waiting) this.#stopInFlight(slot, ep);
        this.#setState(slot, ep, EP_STATE.STOPPED, true);
        return CC.SUCCESS;
      case T.SET_TR_DEQUEUE_POINTER:
        if (ep.state !== EP_STATE.STOPPED && ep.state !== EP_STATE.ERROR) {
          return CC.CONTEXT_STATE_ERROR;
        }
        ep.dequeue = trb.parameter & ALIGN_16;
        ep.cycle = Number(trb.parameter & 1n);
        ep.waiting = false;
        this.#setState(slot, ep, EP_STATE.STOPPED, true);
        return CC.SUCCESS;
      default:
        return CC.TRB_ERROR;
    }
  }

  #addressDevice(slot: Slot, input: bigint, bsr: boolean): number {
    if (slot.state === SLOT_STATE.ADDRESSED || slot.state === SLOT_STATE.CONFIGURED) {
      return CC.CONTEXT_STATE_ERROR;
    }
    if (bsr && slot.state === SLOT_STATE.DEFAULT) return CC.CONTEXT_STATE_ERROR;
    const dma = this.#dma!;
    const control = dma.read(input, CONTEXT_SIZE);
    const add = u32(control, 4);
    if ((add & 3) !== 3) return CC.PARAMETER_ERROR;
    const slotContext = dma.read(input + 32n, CONTEXT_SIZE);
    const ep0 = dma.read(input + 64n, CONTEXT_SIZE);
    const port = (u32(slotContext, 4) >>> 16) & 0xff;
    if (port < 1 || port > XHCI_PORTS) return CC.PARAMETER_ERROR;
    if (((u32(ep0, 4) >>> 3) & 7) !== EP_TYPE.CONTROL || (u32(ep0, 4) >>> 16) === 0) {
      return CC.PARAMETER_ERROR;
    }
    const p = this.#ports[port - 1]!;
    const device = p.device;
    if (!device || !p.enabled) return CC.USB_TRANSACTION_ERROR;
    const dcbaap = ((BigInt(this.#view.getUint32(XHCI_REG.DCBAAP_HI, true)) << 32n) |
      BigInt(this.#view.getUint32(XHCI_REG.DCBAAP_LO, true))) & ALIGN_64;
    const entry = dma.read(dcbaap + 8n * BigInt(slot.id), 8);
    const output = new DataView(entry.buffer).getBigUint64(0, true) & ALIGN_64;
    if (!bsr) {
      const setup: UsbSetup = {
        bmRequestType: 0x00,
        bRequest: 0x05,
        wValue: slot.id,
        wIndex: 0,
        wLength: 0,
      };
      let answer: Uint8Array | "stall";
      try {
        answer = device.control(setup);
      } catch (error) {
        this.#env?.log(`${device.name} failed on SET_ADDRESS: ${message(error)}`);
        answer = "stall";
      }
      if (answer === "stall") return CC.USB_TRANSACTION_ERROR;
    }
    slot.port = port;
    slot.device = device;
    slot.gone = false;
    slot.output = output;
    slot.state = bsr ? SLOT_STATE.DEFAULT : SLOT_STATE.ADDRESSED;
    slot.context.set(slotContext);
    const ep = this.#endpointFrom(1, ep0);
    slot.endpoints.fill(undefined);
    slot.endpoints[1] = ep;
    this.#updateSlotContext(slot);
    this.#writeContexts(slot, 0, 1);
    return CC.SUCCESS;
  }

  #configureEndpoint(slot: Slot, input: bigint, deconfigure: boolean): number {
    if (slot.state !== SLOT_STATE.ADDRESSED && slot.state !== SLOT_STATE.CONFIGURED) {
      return CC.CONTEXT_STATE_ERROR;
    }
    const touched: number[] = [];
    if (deconfigure) {
      for (let i = 2; i < 32; i++) {
        if (slot.endpoints[i]) touched.push(i);
        slot.endpoints[i] = undefined;
      }
    } else {
      const dma = this.#dma!;
      const control = dma.read(input, CONTEXT_SIZE);
      const drop = u32(control, 0) & ~3;
      const add = u32(control, 4);
      const added: Endpoint[] = [];
      for (let dci = 2; dci < 32; dci++) {
        if (!(add & (1 << dci))) continue;
        const context = dma.read(input + BigInt(CONTEXT_SIZE * (dci + 1)), CONTEXT_SIZE);
        const type = (u32(context, 4) >>> 3) & 7;
        const input_ = dci % 2 === 1;
        const fits = type === EP_TYPE.CONTROL ||
          (input_
            ? type === EP_TYPE.BULK_IN || type === EP_TYPE.INTERRUPT_IN
            : type === EP_TYPE.BULK_OUT || type === EP_TYPE.INTERRUPT_OUT);
        if (!fits || (u32(context, 4) >>> 16) === 0) {
          this.#env?.log(
            `Configure Endpoint: DCI ${dci} has endpoint type ${type} or max packet size 0 (isochronous endpoints are not supported)`,
          );
          return CC.PARAMETER_ERROR;
        }
        added.push(this.#endpointFrom(dci, context));
      }
      if (add & 1) slot.context.set(dma.read(input + 32n, CONTEXT_SIZE));
      for (let dci = 2; dci < 32; dci++) {
        if (drop & (1 << dci)) {
          slot.endpoints[dci] = undefined;
          touched.push(dci);
        }
      }
      for (const ep of added) {
        slot.endpoints[ep.dci] = ep;
        touched.push(ep.dci);
      }
    }
    slot.state = slot.endpoints.some((ep, i) => ep && i >= 2)
      ? SLOT_STATE.CONFIGURED
      : SLOT_STATE.ADDRESSED;
    this.#updateSlotContext(slot);
    this.#writeContexts(slot, 0, ...touched);
    return CC.SUCCESS;
  }

  #evaluateContext(slot: Slot, input: bigint): number {
    if (slot.state === SLOT_STATE.ENABLED) return CC.CONTEXT_STATE_ERROR;
    const dma = this.#dma!;
    const add = u32(dma.read(input, CONTEXT_SIZE), 4);
    if (add & 1) {
      const given = dma.read(input + 32n, CONTEXT_SIZE);
      const v = new DataView(slot.context.buffer);
      v.setUint32(4, (v.getUint32(4, true) & 0xffff0000) | (u32(given, 4) & 0xffff), true);
      v.setUint32(8, (v.getUint32(8, true) & 0x003fffff) | (u32(given, 8) & 0xffc00000), true);
    }
    const ep0 = slot.endpoints[1];
    if ((add & 2) && ep0) {
      const given = dma.read(input + 64n, CONTEXT_SIZE);
      const v = new DataView(ep0.context.buffer);
      v.setUint32(4, (v.getUint32(4, true) & 0xffff) | (u32(given, 4) & 0xffff0000), true);
    }
    this.#writeContexts(slot, 0, 1);
    return CC.SUCCESS;
  }

  #endpointFrom(dci: number, context: Uint8Array): Endpoint {
    const copy = context.slice();
    const v = new DataView(copy.buffer);
    const dequeue = v.getBigUint64(8, true);
    const ep: Endpoint = {
      dci,
      type: (v.getUint32(4, true) >>> 3) & 7,
      state: EP_STATE.RUNNING,
      dequeue: dequeue & ALIGN_16,
      cycle: Number(dequeue & 1n),
      waiting: false,
      scheduled: false,
      context: copy,
    };
    this.#updateEndpointContext(ep);
    return ep;
  }

  /** Slot state, USB address and context entries into our copy of the slot context. */
  #updateSlotContext(slot: Slot): void {
    const v = new DataView(slot.context.buffer);
    let last = 1;
    for (let i = 31; i >= 1; i--) {
      if (slot.endpoints[i]) {
        last = i;
        break;
      }
    }
    v.setUint32(0, ((v.getUint32(0, true) & 0x07ffffff) | (last << 27)) >>> 0, true);
    const address = slot.state === SLOT_STATE.ADDRESSED || slot.state === SLOT_STATE.CONFIGURED
      ? slot.id
      : 0;
    v.setUint32(12, ((slot.state << 27) | address) >>> 0, true);
  }

  #updateEndpointContext(ep: Endpoint): void {
    const v = new DataView(ep.context.buffer);
    v.setUint32(0, (v.getUint32(0, true) & ~7) | ep.state, true);
    v.setBigUint64(8, ep.dequeue | BigInt(ep.cycle), true);
  }

  /** Writes the slot context (index 0) and endpoint contexts (DCIs) to the output context. */
  #writeContexts(slot: Slot, ...indexes: number[]): void {
    if (slot.output === 0n) return;
    for (const i of indexes) {
      const at = slot.output + BigInt(CONTEXT_SIZE * i);
      if (i === 0) {
        this.#dma!.write(at, slot.context);
        continue;
      }
      const ep = slot.endpoints[i];
      this.#dma!.write(at, ep ? ep.context : new Uint8Array(CONTEXT_SIZE));
    }
  }

  /** Changes an endpoint's state and writes its context; `strict` lets a DMA fault propagate. */
  #setState(slot: Slot, ep: Endpoint, state: number, strict = false): void {
    ep.state = state;
    this.#updateEndpointContext(ep);
    try {
      this.#writeContexts(slot, ep.dci);
    } catch (error) {
      if (strict || !(error instanceof DmaFaultError)) throw error;
      this.#stats.dmaFaults++;
      this.#env?.log(`slot ${slot.id}: output context write faulted: ${error.message}`);
    }
  }

  /** Stop Endpoint with a NAKed TD in flight: a Stopped event for its first TRB. */
  #stopInFlight(slot: Slot, ep: Endpoint): void {
    ep.waiting = false;
    const fetched = this.#fetch(ep);
    if (fetched.kind !== "td") return;
    const first = fetched.trbs[0]!;
    this.#post(transferEvent(slot.id, ep.dci, first.address, CC.STOPPED, trbLength(first)));
  }

  // --- transfer rings --------------------------------------------------------------------------

  #scheduleEndpoint(slot: Slot, ep: Endpoint): void {
    if (ep.scheduled) return;
    ep.scheduled = true;
    this.#schedule(() => {
      ep.scheduled = false;
      if (this.#slots[slot.id] === slot && slot.endpoints[ep.dci] === ep) {
        this.#runEndpoint(slot, ep);
      }
    });
  }

  #runEndpoint(slot: Slot, ep: Endpoint): void {
    if (!(this.#cmd & USBCMD.RS)) return;
    if (ep.state === EP_STATE.STOPPED) this.#setState(slot, ep, EP_STATE.RUNNING);
    if (ep.state !== EP_STATE.RUNNING) return;
    let budget = TRBS_PER_RUN;
    for (;;) {
      const fetched = this.#fetch(ep);
      if (fetched.kind === "empty") {
        ep.waiting = false;
        return;
      }
      if (fetched.kind === "error") {
        this.#env?.log(`slot ${slot.id} DCI ${ep.dci}: ${fetched.why}`);
        this.#stats.transfers++;
        this.#stats.transferErrors++;
        this.#post(transferEvent(slot.id, ep.dci, fetched.address, CC.TRB_ERROR, 0));
        this.#setState(slot, ep, EP_STATE.HALTED);
        return;
      }
      const outcome = this.#execute(slot, ep, fetched.trbs);
      if (outcome === "nak") {
        ep.waiting = true;
        return;
      }
      ep.waiting = false;
      ep.dequeue = fetched.dequeue;
      ep.cycle = fetched.cycle;
      this.#stats.transfers++;
      if (outcome === "halt") {
        this.#stats.transferErrors++;
        this.#setState(slot, ep, EP_STATE.HALTED);
        return;
      }
      this.#updateEndpointContext(ep);
      budget -= fetched.trbs.length;
      if (budget <= 0) {
        this.#scheduleLater(slot, ep);
        return;
      }
    }
  }

  #scheduleLater(slot: Slot, ep: Endpoint): void {
    ep.scheduled = true;
    this.#later(() => {
      ep.scheduled = false;
      if (this.#slots[slot.id] === slot && slot.endpoints[ep.dci] === ep) {
        this.#runEndpoint(slot, ep);
      }
    });
  }

  /** Reads the TD at an endpoint's dequeue pointer, following Link TRBs. */
  #fetch(ep: Endpoint): Fetched {
    let address = ep.dequeue;
    let cycle = ep.cycle;
    const trbs: TrbRef[] = [];
    let links = 0;
    let sawStatus = false;
    for (;;) {
      let trb: TrbRef;
      try {
        trb = this.#readTrb(address);
      } catch (error) {
        if (!(error instanceof DmaFaultError)) throw error;
        this.#stats.dmaFaults++;
        return { kind: "error", address, why: `TRB fetch at ${addr(address)} faulted` };
      }
      if ((trb.control & TRB.CYCLE) !== cycle) return { kind: "empty" }; // none, or not complete
      if (trb.type === T.LINK) {
        if (++links > MAX_LINKS) {
          return { kind: "error", address, why: `link TRBs at ${addr(address)} form a loop` };
        }
        if (trb.control & TRB.TOGGLE_CYCLE) cycle ^= 1;
        address = trb.parameter & ALIGN_16;
        continue;
      }
      links = 0;
      trbs.push(trb);
      address += BigInt(TRB_SIZE);
      if (trbs.length > MAX_TD_TRBS) {
        return { kind: "error", address: trbs[0]!.address, why: "a TD of over 1024 TRBs" };
      }
      const chained = (trb.control & TRB.CHAIN) !== 0;
      if (ep.type === EP_TYPE.CONTROL && trbs[0]!.type === T.SETUP_STAGE) {
        // Setup, Data and Status are separate TDs that make one control transfer.
        if (trb.type === T.STATUS_STAGE) sawStatus = true;
        if (sawStatus && !chained) return { kind: "td", trbs, dequeue: address, cycle };
      } else if (!chained) {
        return { kind: "td", trbs, dequeue: address, cycle };
      }
    }
  }

  #readTrb(address: bigint): TrbRef {
    this.#dma!.readInto(address, this.#trb);
    const v = this.#trbView;
    const control = v.getUint32(12, true);
    return {
      address,
      parameter: v.getBigUint64(0, true),
      status: v.getUint32(8, true),
      control,
      type: trbType(control),
    };
  }

  #execute(slot: Slot, ep: Endpoint, trbs: readonly TrbRef[]): Outcome {
    const device = slot.device;
    if (slot.gone || !device) {
      const first = trbs[0]!;
      return this.#fail(slot, ep, first, CC.USB_TRANSACTION_ERROR, "the device is gone");
    }
    try {
      return ep.type === EP_TYPE.CONTROL
        ? this.#control(slot, ep, device, trbs)
        : this.#normal(slot, ep, device, trbs);
    } catch (error) {
      if (error instanceof DmaFaultError) throw error;
      return this.#fail(
        slot,
        ep,
        trbs[0]!,
        CC.USB_TRANSACTION_ERROR,
        `${device.name} failed: ${message(error)}`,
      );
    }
  }

  #control(slot: Slot, ep: Endpoint, device: UsbDevice, trbs: readonly TrbRef[]): Outcome {
    const setup = trbs[0]!;
    if (setup.type !== T.SETUP_STAGE) {
      if (trbs.every((t) => t.type === T.NO_OP)) return this.#noOps(slot, ep, trbs);
      return this.#fail(
        slot,
        ep,
        setup,
        CC.TRB_ERROR,
        `TRB type ${setup.type} starts a control TD`,
      );
    }
    if (!(setup.control & TRB.IDT) || trbLength(setup) !== 8) {
      return this.#fail(slot, ep, setup, CC.TRB_ERROR, "Setup Stage TRB without IDT or length 8");
    }
    const statusAt = trbs.findIndex((t) => t.type === T.STATUS_STAGE);
    const data = trbs.slice(1, statusAt);
    const status = trbs[statusAt]!;
    const bad =
      data.find((t, i) =>
        i === 0
          ? t.type !== T.DATA_STAGE
          : t.type !== T.NORMAL && t.type !== T.EVENT_DATA && t.type !== T.NO_OP
      ) ?? trbs.slice(statusAt + 1).find((t) => t.type !== T.EVENT_DATA);
    if (bad) {
      return this.#fail(slot, ep, bad, CC.TRB_ERROR, `TRB type ${bad.type} in a control transfer`);
    }
    const p = setup.parameter;
    const request: UsbSetup = {
      bmRequestType: Number(p & 0xffn),
      bRequest: Number((p >> 8n) & 0xffn),
      wValue: Number((p >> 16n) & 0xffffn),
      wIndex: Number((p >> 32n) & 0xffffn),
      wLength: Number((p >> 48n) & 0xffffn),
    };
    const input = (request.bmRequestType & 0x80) !== 0;
    const stage = data[0];
    if (stage && ((stage.control & TRB.DIR_IN) !== 0) !== input) {
      return this.#fail(
        slot,
        ep,
        stage,
        CC.TRB_ERROR,
        "Data Stage direction differs from the request's",
      );
    }
    const blame = stage ?? status;
    const total = dataLength(data);
    let moved: number;
    if (input) {
      const views = this.#inViews(data);
      if (!Array.isArray(views)) return this.#dataFault(slot, ep, views);
      const answer = device.control(request);
      if (answer === "stall") return this.#fail(slot, ep, blame, CC.STALL_ERROR);
      if (answer.length > total) {
        return this.#fail(slot, ep, blame, CC.BABBLE_DETECTED_ERROR, "more data than the buffers");
      }
      scatter(answer, views);
      moved = answer.length;
      this.#stats.bytesIn += moved;
    } else {
      const bytes = this.#outBytes(data);
      if (!(bytes instanceof Uint8Array)) return this.#dataFault(slot, ep, bytes);
      const answer = device.control(request, bytes.subarray(0, request.wLength));
      if (answer === "stall") return this.#fail(slot, ep, blame, CC.STALL_ERROR);
      moved = total;
      this.#stats.bytesOut += moved;
    }
    if (setup.control & TRB.IOC) this.#event(slot, ep, setup, CC.SUCCESS, 0);
    this.#completeData(slot, ep, data, moved, total);
    for (const t of trbs.slice(statusAt)) {
      if (!(t.control & TRB.IOC)) continue;
      const ed = t.type === T.EVENT_DATA;
      this.#post(
        transferEvent(slot.id, ep.dci, ed ? t.parameter : t.address, CC.SUCCESS, 0, ed),
      );
    }
    return "done";
  }

  #normal(slot: Slot, ep: Endpoint, device: UsbDevice, trbs: readonly TrbRef[]): Outcome {
    const bad = trbs.find((t) =>
      t.type !== T.NORMAL && t.type !== T.EVENT_DATA && t.type !== T.NO_OP
    );
    if (bad) {
      return this.#fail(
        slot,
        ep,
        bad,
        CC.TRB_ERROR,
        `TRB type ${bad.type} on a bulk or interrupt ring`,
      );
    }
    if (trbs.every((t) => t.type === T.NO_OP)) return this.#noOps(slot, ep, trbs);
    const number = ep.dci >> 1;
    const total = dataLength(trbs);
    const blame = trbs.find((t) => t.type === T.NORMAL) ?? trbs[0]!;
    let moved: number;
    if (ep.type === EP_TYPE.BULK_IN || ep.type === EP_TYPE.INTERRUPT_IN) {
      const views = this.#inViews(trbs);
      if (!Array.isArray(views)) return this.#dataFault(slot, ep, views);
      const answer = ep.type === EP_TYPE.INTERRUPT_IN
        ? device.interruptIn(number, total)
        : device.bulkIn(number, total);
      if (answer === "nak") return "nak";
      if (answer === "stall") return this.#fail(slot, ep, blame, CC.STALL_ERROR);
      if (answer.length > total) {
        return this.#fail(slot, ep, blame, CC.BABBLE_DETECTED_ERROR, "more data than the buffers");
      }
      scatter(answer, views);
      moved = answer.length;
      this.#stats.bytesIn += moved;
    } else {
      const bytes = this.#outBytes(trbs);
      if (!(bytes instanceof Uint8Array)) return this.#dataFault(slot, ep, bytes);
      const answer = device.bulkOut(number, bytes);
      if (answer === "nak") return "nak";
      if (answer === "stall") return this.#fail(slot, ep, blame, CC.STALL_ERROR);
      moved = total;
      this.#stats.bytesOut += moved;
    }
    this.#completeData(slot, ep, trbs, moved, total);
    return "done";
  }

  #noOps(slot: Slot, ep: Endpoint, trbs: readonly TrbRef[]): Outcome {
    for (const t of trbs) if (t.control & TRB.IOC) this.#event(slot, ep, t, CC.SUCCESS, 0);
    return "done";
  }

  /** Mapped views for an IN transfer's buffers, or the TRB whose buffer is not mapped. */
  #inViews(trbs: readonly TrbRef[]): Uint8Array[] | DataFault {
    const views: Uint8Array[] = [];
    for (const t of trbs) {
      if (!carriesData(t)) continue;
      const length = trbLength(t);
      if (length === 0) continue;
      if (t.control & TRB.IDT) {
        return { trb: t, code: CC.TRB_ERROR, why: "immediate data on an IN transfer" };
      }
      try {
        views.push(this.#dma!.view(t.parameter, length, "write"));
      } catch (error) {
        if (!(error instanceof DmaFaultError)) throw error;
        this.#stats.dmaFaults++;
        return { trb: t, code: CC.DATA_BUFFER_ERROR, why: error.message };
      }
    }
    return views;
  }

  /** The bytes of an OUT transfer, or the TRB whose buffer is not mapped. */
  #outBytes(trbs: readonly TrbRef[]): Uint8Array | DataFault {
    const parts: Uint8Array[] = [];
    for (const t of trbs) {
      if (!carriesData(t)) continue;
      const length = trbLength(t);
      if (length === 0) continue;
      if (t.control & TRB.IDT) {
        if (length > 8) {
          return {
            trb: t,
            code: CC.TRB_ERROR,
            why: `immediate data of ${length} bytes (at most 8)`,
          };
        }
        const immediate = new Uint8Array(8);
        new DataView(immediate.buffer).setBigUint64(0, t.parameter, true);
        parts.push(immediate.subarray(0, length));
        continue;
      }
      try {
        parts.push(this.#dma!.view(t.parameter, length, "read"));
      } catch (error) {
        if (!(error instanceof DmaFaultError)) throw error;
        this.#stats.dmaFaults++;
        return { trb: t, code: CC.DATA_BUFFER_ERROR, why: error.message };
      }
    }
    if (parts.length === 1) return parts[0]!; // the device must not keep it past the call
    const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of parts) {
      out.set(b, at);
      at += b.length;
    }
    return out;
  }

  #dataFault(slot: Slot, ep: Endpoint, f: DataFault): Outcome {
    return this.#fail(slot, ep, f.trb, f.code, f.why);
  }

  /** Events for the data TRBs of a TD that moved `moved` of `total` bytes. */
  #completeData(
    slot: Slot,
    ep: Endpoint,
    trbs: readonly TrbRef[],
    moved: number,
    total: number,
  ): void {
    let left = moved;
    let accumulated = 0;
    const short = moved < total;
    for (const t of trbs) {
      if (t.type === T.EVENT_DATA) {
        if (t.control & TRB.IOC) {
          const code = short ? CC.SHORT_PACKET : CC.SUCCESS;
          this.#post(transferEvent(slot.id, ep.dci, t.parameter, code, accumulated, true));
        }
        continue;
      }
      if (!carriesData(t)) {
        if (t.control & TRB.IOC) this.#event(slot, ep, t, CC.SUCCESS, 0);
        continue;
      }
      const length = trbLength(t);
      const done = Math.min(length, left);
      left -= done;
      accumulated += done;
      if (done < length) {
        if (t.control & (TRB.ISP | TRB.IOC)) {
          this.#event(slot, ep, t, CC.SHORT_PACKET, length - done);
        }
        const last = trbs[trbs.length - 1]!;
        if (last !== t && (last.control & TRB.IOC)) {
          const residue = carriesData(last) ? trbLength(last) : 0;
          const pointer = last.type === T.EVENT_DATA ? last.parameter : last.address;
          this.#post(
            transferEvent(
              slot.id,
              ep.dci,
              pointer,
              CC.SHORT_PACKET,
              last.type === T.EVENT_DATA ? accumulated : residue,
              last.type === T.EVENT_DATA,
            ),
          );
        }
        return;
      }
      if (t.control & TRB.IOC) this.#event(slot, ep, t, CC.SUCCESS, 0);
    }
  }

  #event(slot: Slot, ep: Endpoint, t: TrbRef, code: number, residue: number): void {
    this.#post(transferEvent(slot.id, ep.dci, t.address, code, residue));
  }

  /** An error completion: an event for the TRB (IOC or not); the endpoint halts. */
  #fail(slot: Slot, ep: Endpoint, t: TrbRef, code: number, why?: string): Outcome {
    if (why) this.#env?.log(`slot ${slot.id} DCI ${ep.dci}: ${why}`);
    this.#event(slot, ep, t, code, carriesData(t) ? trbLength(t) : 0);
    return "halt";
  }
}

/**
 * Creates a USB host controller. Attach it with
 * `machine.attachPci(XHCI_PCI_IDENTITY, controller)`, then plug devices in with `connect`.
 *
 * @example
 * ```ts
 * import { createXhciController } from "./xhci_controller.ts";
 * const usb = createXhciController({ name: "usb0" });
 * usb.windows[0]!.size; // 12288
 * ```
 */
export function createXhciController(options: XhciControllerOptions): XhciController {
  return new XhciController(options);
}

// --- helpers ------------------------------------------------------------------------------------

function emptyPort(): Port {
  return {
    device: undefined,
    enabled: false,
    resetting: false,
    link: PORT_LINK_STATE.RX_DETECT,
    changes: 0,
    control: 0,
  };
}

function speedId(device: UsbDevice): number {
  return device.speed === "high"
    ? PORT_SPEED.HIGH
    : device.speed === "low"
    ? PORT_SPEED.LOW
    : PORT_SPEED.FULL;
}

function nextPosition(ring: EventRing): { segment: number; index: number; wrapped: boolean } {
  if (ring.index + 1 < ring.segments[ring.segment]!.size) {
    return { segment: ring.segment, index: ring.index + 1, wrapped: false };
  }
  const segment = (ring.segment + 1) % ring.segments.length;
  return { segment, index: 0, wrapped: segment === 0 };
}

function event(parameter: bigint, status: number, control: number): Uint8Array {
  const b = new Uint8Array(TRB_SIZE);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, parameter, true);
  v.setUint32(8, status >>> 0, true);
  v.setUint32(12, control >>> 0, true);
  return b;
}

function transferEvent(
  slot: number,
  dci: number,
  pointer: bigint,
  code: number,
  length: number,
  eventData = false,
): Uint8Array {
  return event(
    pointer,
    (code << 24) | (length & 0xffffff),
    (T.TRANSFER_EVENT << TRB.TYPE_SHIFT) | (dci << TRB.ENDPOINT_SHIFT) | (slot << TRB.SLOT_SHIFT) |
      (eventData ? TRB.EVENT_DATA : 0),
  );
}

function commandEvent(pointer: bigint, code: number, slot: number): Uint8Array {
  return event(
    pointer,
    code << 24,
    (T.COMMAND_COMPLETION_EVENT << TRB.TYPE_SHIFT) | (slot << TRB.SLOT_SHIFT),
  );
}

function portEvent(port: number): Uint8Array {
  return event(
    BigInt(port) << 24n,
    CC.SUCCESS << 24,
    T.PORT_STATUS_CHANGE_EVENT << TRB.TYPE_SHIFT,
  );
}

function carriesData(t: TrbRef): boolean {
  return t.type === T.NORMAL || t.type === T.DATA_STAGE;
}

function trbLength(t: TrbRef): number {
  return t.status & 0x1ffff;
}

function dataLength(trbs: readonly TrbRef[]): number {
  return trbs.reduce((n, t) => n + (carriesData(t) ? trbLength(t) : 0), 0);
}

function scatter(data: Uint8Array, views: readonly Uint8Array[]): void {
  let at = 0;
  for (const v of views) {
    if (at >= data.length) break;
    const n = Math.min(v.length, data.length - at);
    v.set(data.subarray(at, at + n));
    at += n;
  }
}

function u32(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(offset, true);
}

function hex(n: number): string {
  return n.toString(16);
}

function addr(a: bigint): string {
  return `0x${a.toString(16).padStart(16, "0")}`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
