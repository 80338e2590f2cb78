/**
 * The register map of the xHCI host controller model as data: offsets in its one register window
 * ("mmio", 3 pages), bit fields, reset values and which registers are posted to the model. The
 * semantics are documented in `xhci_controller.ts`.
 *
 * @module
 */

import type { SideEffectRegister } from "../device_model.ts";
import type { PciIdentity } from "../pci_bus.ts";

/** The PCI identity: QEMU's xHCI function (Red Hat 1b36:000d), class 0x0C/0x03/0x30. */
export const XHCI_PCI_IDENTITY: PciIdentity = {
  vendorId: 0x1b36,
  deviceId: 0x000d,
  classCode: 0x0c,
  subclass: 0x03,
  progIf: 0x30,
  revision: 1,
};

/** The name of the controller's register window (BAR 0). */
export const XHCI_WINDOW = "mmio";

/** The size of the window: capability and operational registers, runtime, doorbells. */
export const XHCI_WINDOW_SIZE = 0x3000;

/** Root hub ports: 1-4, all USB 2.0. */
export const XHCI_PORTS = 4;

/** Device slots (HCSPARAMS1 MaxSlots). */
export const XHCI_MAX_SLOTS = 16;

/** Event Ring Segment Table entries at most (2^ERST Max). */
export const XHCI_MAX_ERST = 16;

/** Register offsets in the window. */
export const XHCI_REG = {
  // Capability registers.
  CAPLENGTH: 0x00,
  HCIVERSION: 0x02,
  HCSPARAMS1: 0x04,
  HCSPARAMS2: 0x08,
  HCSPARAMS3: 0x0c,
  HCCPARAMS1: 0x10,
  DBOFF: 0x14,
  RTSOFF: 0x18,
  HCCPARAMS2: 0x1c,
  // Operational registers (CAPLENGTH = 0x20).
  USBCMD: 0x20,
  USBSTS: 0x24,
  PAGESIZE: 0x28,
  DNCTRL: 0x34,
  CRCR_LO: 0x38,
  CRCR_HI: 0x3c,
  DCBAAP_LO: 0x50,
  DCBAAP_HI: 0x54,
  CONFIG: 0x58,
  /** Port register sets: 0x420 + 0x10 * (port - 1): PORTSC, PORTPMSC, PORTLI, PORTHLPMC. */
  PORT_BASE: 0x420,
  // Extended capability: Supported Protocol (xECP).
  SUPPORTED_PROTOCOL: 0x800,
  // Runtime registers (RTSOFF = 0x1000) and interrupter 0.
  MFINDEX: 0x1000,
  IMAN: 0x1020,
  IMOD: 0x1024,
  ERSTSZ: 0x1028,
  ERSTBA_LO: 0x1030,
  ERSTBA_HI: 0x1034,
  ERDP_LO: 0x1038,
  ERDP_HI: 0x103c,
  /** Doorbell array (DBOFF = 0x2000): doorbell n at 0x2000 + 4 * n. */
  DOORBELL_BASE: 0x2000,
} as const;

/** USBCMD bits. */
export const USBCMD = { RS: 1 << 0, HCRST: 1 << 1, INTE: 1 << 2, HSEE: 1 << 3 } as const;

/** USBSTS bits. */
export const USBSTS = {
  HCH: 1 << 0,
  HSE: 1 << 2,
  EINT: 1 << 3,
  PCD: 1 << 4,
  CNR: 1 << 11,
  HCE: 1 << 12,
} as const;

/** CRCR bits (low dword). */
export const CRCR = { RCS: 1 << 0, CS: 1 << 1, CA: 1 << 2, CRR: 1 << 3 } as const;

/** PORTSC bits and fields. */
export const PORTSC = {
  CCS: 1 << 0,
  PED: 1 << 1,
  OCA: 1 << 3,
  PR: 1 << 4,
  PLS_SHIFT: 5,
  PLS_MASK: 0xf << 5,
  PP: 1 << 9,
  SPEED_SHIFT: 10,
  SPEED_MASK: 0xf << 10,
  PIC_MASK: 0x3 << 14,
  LWS: 1 << 16,
  CSC: 1 << 17,
  PEC: 1 << 18,
  WRC: 1 << 19,
  OCC: 1 << 20,
  PRC: 1 << 21,
  PLC: 1 << 22,
  CEC: 1 << 23,
  CAS: 1 << 24,
  WCE: 1 << 25,
  WDE: 1 << 26,
  WOE: 1 << 27,
  DR: 1 << 30,
  WPR: 2 ** 31,
} as const;

/** The change bits of PORTSC: write 1 to clear. */
export const PORTSC_CHANGE_BITS: number = PORTSC.CSC | PORTSC.PEC | PORTSC.WRC | PORTSC.OCC |
  PORTSC.PRC | PORTSC.PLC | PORTSC.CEC;

/** Port link states (PLS) of a USB 2.0 port. */
export const PORT_LINK_STATE = { U0: 0, U3: 3, DISABLED: 4, RX_DETECT: 5, POLLING: 7 } as const;

/** Port speed ids (PORTSC 13:10, slot context speed). */
export const PORT_SPEED = { FULL: 1, LOW: 2, HIGH: 3 } as const;

/** IMAN bits. */
export const IMAN = { IP: 1 << 0, IE: 1 << 1 } as const;

/** ERDP bits (low dword). */
export const ERDP = { EHB: 1 << 3 } as const;

/**
 * The offset of a port's PORTSC (ports 1-4).
 *
 * @example
 * ```ts
 * import { xhciPortsc } from "./xhci_registers.ts";
 * xhciPortsc(2).toString(16); // "430"
 * ```
 */
export function xhciPortsc(port: number): number {
  return XHCI_REG.PORT_BASE + 0x10 * (port - 1);
}

/**
 * The offset of doorbell `n` (0: the command ring, 1-16: device slots).
 *
 * @example
 * ```ts
 * import { xhciDoorbell } from "./xhci_registers.ts";
 * xhciDoorbell(1).toString(16); // "2004"
 * ```
 */
export function xhciDoorbell(n: number): number {
  return XHCI_REG.DOORBELL_BASE + 4 * n;
}

/** How a register is accessed: read-only, read-write plain memory, or posted to the model. */
export type XhciAccess = "ro" | "rw" | "posted";

/** One register: a row of the table in `xhci_controller.ts`. */
export interface XhciRegister {
  readonly offset: number;
  readonly name: string;
  readonly width: 1 | 2 | 4;
  readonly access: XhciAccess;
  /** The value after a reset (ports: with nothing connected). */
  readonly reset: number;
}

/** HCSPARAMS1: MaxSlots 16, MaxIntrs 1, MaxPorts 4. */
const HCSPARAMS1 = XHCI_MAX_SLOTS | (1 << 8) | (XHCI_PORTS << 24);
/** HCSPARAMS2: IST 0, ERST Max 4 (16 entries), no scratchpad buffers. */
const HCSPARAMS2 = Math.log2(XHCI_MAX_ERST) << 4;
/** HCCPARAMS1: AC64, NSS (no secondary stream ids), xECP at 0x800 (in dwords). */
const HCCPARAMS1 = ((1 << 0) | (1 << 7) | ((XHCI_REG.SUPPORTED_PROTOCOL >> 2) << 16)) >>> 0;

/**
 * Every register of the window, with its access mode and reset value.
 *
 * @example
 * ```ts
 * import { XHCI_REGISTERS } from "./xhci_registers.ts";
 * XHCI_REGISTERS.find((r) => r.name === "HCSPARAMS1")!.reset.toString(16); // "4000110"
 * ```
 */
export const XHCI_REGISTERS: readonly XhciRegister[] = [
  { offset: 0x00, name: "CAPLENGTH", width: 1, access: "ro", reset: 0x20 },
  { offset: 0x02, name: "HCIVERSION", width: 2, access: "ro", reset: 0x0110 },
  { offset: 0x04, name: "HCSPARAMS1", width: 4, access: "ro", reset: HCSPARAMS1 },
  { offset: 0x08, name: "HCSPARAMS2", width: 4, access: "ro", reset: HCSPARAMS2 },
  { offset: 0x0c, name: "HCSPARAMS3", width: 4, access: "ro", reset: 0 },
  { offset: 0x10, name: "HCCPARAMS1", width: 4, access: "ro", reset: HCCPARAMS1 },
  { offset: 0x14, name: "DBOFF", width: 4, access: "ro", reset: XHCI_REG.DOORBELL_BASE },
  { offset: 0x18, name: "RTSOFF", width: 4, access: "ro", reset: XHCI_REG.MFINDEX },
  { offset: 0x1c, name: "HCCPARAMS2", width: 4, access: "ro", reset: 0 },
  { offset: 0x20, name: "USBCMD", width: 4, access: "posted", reset: 0 },
  { offset: 0x24, name: "USBSTS", width: 4, access: "posted", reset: USBSTS.HCH },
  { offset: 0x28, name: "PAGESIZE", width: 4, access: "ro", reset: 1 },
  { offset: 0x34, name: "DNCTRL", width: 4, access: "rw", reset: 0 },
  { offset: 0x38, name: "CRCR_LO", width: 4, access: "posted", reset: 0 },
  { offset: 0x3c, name: "CRCR_HI", width: 4, access: "posted", reset: 0 },
  { offset: 0x50, name: "DCBAAP_LO", width: 4, access: "rw", reset: 0 },
  { offset: 0x54, name: "DCBAAP_HI", width: 4, access: "rw", reset: 0 },
  { offset: 0x58, name: "CONFIG", width: 4, access: "rw", reset: 0 },
  ...Array.from({ length: XHCI_PORTS }, (_, i): XhciRegister[] => {
    const at = xhciPortsc(i + 1);
    const idle = PORTSC.PP | (PORT_LINK_STATE.RX_DETECT << PORTSC.PLS_SHIFT);
    return [
      { offset: at, name: `PORTSC${i + 1}`, width: 4, access: "posted", reset: idle },
      { offset: at + 4, name: `PORTPMSC${i + 1}`, width: 4, access: "rw", reset: 0 },
      { offset: at + 8, name: `PORTLI${i + 1}`, width: 4, access: "ro", reset: 0 },
      { offset: at + 12, name: `PORTHLPMC${i + 1}`, width: 4, access: "rw", reset: 0 },
    ];
  }).flat(),
  // Supported Protocol capability: id 2, USB 2.0, name "USB ", ports 1-4, slot type 0.
  { offset: 0x800, name: "SUPPORTED_PROTOCOL0", width: 4, access: "ro", reset: 0x0200_0002 },
  { offset: 0x804, name: "SUPPORTED_PROTOCOL1", width: 4, access: "ro", reset: 0x2042_5355 },
  {
    offset: 0x808,
    name: "SUPPORTED_PROTOCOL2",
    width: 4,
    access: "ro",
    reset: 1 | (XHCI_PORTS << 8),
  },
  { offset: 0x80c, name: "SUPPORTED_PROTOCOL3", width: 4, access: "ro", reset: 0 },
  { offset: 0x1000, name: "MFINDEX", width: 4, access: "ro", reset: 0 },
  { offset: 0x1020, name: "IMAN", width: 4, access: "posted", reset: 0 },
  { offset: 0x1024, name: "IMOD", width: 4, access: "rw", reset: 0x0fa0 },
  { offset: 0x1028, name: "ERSTSZ", width: 4, access: "rw", reset: 0 },
  { offset: 0x1030, name: "ERSTBA_LO", width: 4, access: "posted", reset: 0 },
  { offset: 0x1034, name: "ERSTBA_HI", width: 4, access: "posted", reset: 0 },
  { offset: 0x1038, name: "ERDP_LO", width: 4, access: "posted", reset: 0 },
  { offset: 0x103c, name: "ERDP_HI", width: 4, access: "posted", reset: 0 },
  ...Array.from({ length: XHCI_MAX_SLOTS + 1 }, (_, n): XhciRegister => ({
    offset: xhciDoorbell(n),
    name: `DOORBELL${n}`,
    width: 4,
    access: "posted",
    reset: 0,
  })),
];

/**
 * The posted registers in the form the machine's contract wants: every write goes to the model;
 * no read has side effects.
 *
 * @example
 * ```ts
 * import { XHCI_SIDE_EFFECTS } from "./xhci_registers.ts";
 * XHCI_SIDE_EFFECTS.some((r) => r.offset === 0x2000); // true: doorbell 0
 * ```
 */
export const XHCI_SIDE_EFFECTS: readonly SideEffectRegister[] = XHCI_REGISTERS
  .filter((r) => r.access === "posted")
  .map((r) => ({ window: XHCI_WINDOW, offset: r.offset, read: false, write: true }));
