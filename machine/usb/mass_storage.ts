/**
 * A USB mass storage device (USB Mass Storage Class, Bulk-Only Transport 1.0) with one logical
 * unit: a SCSI direct-access block device of 512-byte blocks backed by a {@linkcode DiskImage}.
 * Interface class 0x08, subclass 0x06 (SCSI transparent command set), protocol 0x50 (bulk-only);
 * bulk IN endpoint 0x81 and bulk OUT endpoint 0x02 (512-byte packets, high speed).
 *
 * Bulk-Only Transport: the host sends a 31-byte CBW (signature 0x43425355 "USBC", tag, data
 * transfer length, flags (bit 7: data in), LUN, CB length 1-16, CDB) on bulk OUT, moves the data
 * on the pipe the flags name, and reads a 13-byte CSW (signature 0x53425355 "USBS", the tag,
 * residue, status 0 passed / 1 failed / 2 phase error) on bulk IN. The device answers the thirteen
 * cases of BOT 6.7 thus:
 * - no data intended: host expects none -> CSW; host expects some -> that pipe is stalled, then
 *   the CSW (residue = the host's length) follows once the host cleared the halt;
 * - data in (Di): host expects none -> phase error; host sends (Ho) -> OUT stalled, phase error;
 *   Hi < Di -> the first Hi bytes, phase error; Hi >= Di -> Di bytes (a short transfer when
 *   less), residue Hi - Di;
 * - data out (Do): host expects none -> phase error; host reads (Hi) -> IN stalled, phase error;
 *   Ho < Do -> OUT stalled, phase error; Ho >= Do -> all Ho bytes are taken, the first Do used,
 *   residue Ho - Do.
 * A failed command (CHECK CONDITION) transfers no data. A CBW that is not 31 bytes or lacks the
 * signature is invalid: both bulk pipes stall and keep stalling (even after CLEAR_FEATURE) until
 * the class request Bulk-Only Mass Storage Reset (0xFF), then CLEAR_FEATURE(HALT) on each pipe
 * (Reset Recovery, BOT 5.3.4). A CB length outside 1-16 gives a phase error. A LUN other than 0
 * fails with LOGICAL UNIT NOT SUPPORTED. Get Max LUN (0xFE) answers 0. Until the CSW is read,
 * bulk OUT answers "nak"; bulk IN answers "nak" while a command is awaited; the device wakes the
 * pipe that can move again.
 *
 * SCSI (SPC-3, SBC-2): TEST UNIT READY, REQUEST SENSE (18-byte fixed format, then the sense is
 * cleared), INQUIRY (36-byte standard data, removable, SPC-2; VPD pages 0x00 and 0x80 serial),
 * MODE SENSE(6) (a 4-byte header, no block descriptor, and the caching page 0x08 for page 0x08
 * or 0x3F; write cache off), START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL (accepted, no
 * effect), READ CAPACITY(10) and (16), READ(10), WRITE(10), SYNCHRONIZE CACHE(10) (flushes the
 * image). Errors set sense data: unknown opcode ILLEGAL REQUEST 0x20/0x00; a range past the last
 * block ILLEGAL REQUEST 0x21/0x00 (LBA out of range); a bad field ILLEGAL REQUEST 0x24/0x00; a
 * failed image read MEDIUM ERROR 0x11/0x00, write or flush MEDIUM ERROR 0x0C/0x00. A command that
 * passes clears the sense data.
 *
 * Simplifications: no UNIT ATTENTION after a reset; the medium is always present and writable.
 *
 * @module
 */

import { type DiskImage, SECTOR_SIZE } from "../disk_image.ts";
import { USB_ENDPOINT_TYPE } from "./descriptors.ts";
import { UsbDeviceBase, type UsbInResult, type UsbOutResult, type UsbSetup } from "./usb_device.ts";

/** Bulk-Only class requests (BOT 3.1, 3.2). */
export const BOT_REQUEST = { GET_MAX_LUN: 0xfe, RESET: 0xff } as const;

/** "USBC", little-endian: the first field of a CBW. */
export const CBW_SIGNATURE = 0x43425355;

/** "USBS", little-endian: the first field of a CSW. */
export const CSW_SIGNATURE = 0x53425355;

/** The size of a CBW. */
export const CBW_SIZE = 31;

/** The size of a CSW. */
export const CSW_SIZE = 13;

/** bCSWStatus values. */
export const CSW_STATUS = { PASSED: 0, FAILED: 1, PHASE_ERROR: 2 } as const;

/** The bulk endpoints' addresses. */
export const MASS_STORAGE_ENDPOINT = { IN: 0x81, OUT: 0x02 } as const;

/** The SCSI operation codes the device implements. */
export const SCSI_OP = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  INQUIRY: 0x12,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  PREVENT_ALLOW_MEDIUM_REMOVAL: 0x1e,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  SYNCHRONIZE_CACHE_10: 0x35,
  SERVICE_ACTION_IN_16: 0x9e,
} as const;

/** Service action of READ CAPACITY(16) under SERVICE ACTION IN(16). */
export const SCSI_READ_CAPACITY_16 = 0x10;

/** Sense keys (SPC-3 table 27). */
export const SENSE_KEY = {
  NO_SENSE: 0x0,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
} as const;

/** Additional sense codes the device reports (ASC, ASCQ 0). */
export const SENSE_ASC = {
  NONE: 0x00,
  WRITE_ERROR: 0x0c,
  UNRECOVERED_READ_ERROR: 0x11,
  INVALID_COMMAND_OPERATION_CODE: 0x20,
  LBA_OUT_OF_RANGE: 0x21,
  INVALID_FIELD_IN_CDB: 0x24,
  LOGICAL_UNIT_NOT_SUPPORTED: 0x25,
} as const;

/** A command block wrapper. */
export interface Cbw {
  readonly tag: number;
  /** dCBWDataTransferLength: bytes the host expects to move. */
  readonly dataLength: number;
  /** Direction of the data (flags bit 7). */
  readonly dataIn: boolean;
  readonly lun: number;
  /** The CDB, 1-16 bytes. */
  readonly cdb: Uint8Array;
}

/** A command status wrapper. */
export interface Csw {
  readonly signature: number;
  readonly tag: number;
  readonly residue: number;
  readonly status: number;
}

/**
 * Encodes a CBW (for a host: a driver or a test).
 *
 * @example
 * ```ts
 * import { encodeCbw } from "./mass_storage.ts";
 * const cbw = encodeCbw({ tag: 1, dataLength: 0, dataIn: false, lun: 0, cdb: Uint8Array.of(0) });
 * [cbw.length, cbw[0], cbw[14]]; // [31, 0x55, 1]
 * ```
 */
export function encodeCbw(cbw: Cbw): Uint8Array {
  if (cbw.cdb.length < 1 || cbw.cdb.length > 16) {
    throw new RangeError(`Cannot encode a CBW with a ${cbw.cdb.length}-byte CDB: 1-16 bytes`);
  }
  const b = new Uint8Array(CBW_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, CBW_SIGNATURE, true);
  v.setUint32(4, cbw.tag >>> 0, true);
  v.setUint32(8, cbw.dataLength >>> 0, true);
  b[12] = cbw.dataIn ? 0x80 : 0;
  b[13] = cbw.lun & 0x0f;
  b[14] = cbw.cdb.length;
  b.set(cbw.cdb, 15);
  return b;
}

/**
 * Decodes a CSW; fewer than 13 bytes is a TypeError (the signature is returned, not checked).
 *
 * @example
 * ```ts
 * import { CSW_SIGNATURE, decodeCsw } from "./mass_storage.ts";
 * const b = new Uint8Array(13);
 * new DataView(b.buffer).setUint32(0, CSW_SIGNATURE, true);
 * decodeCsw(b).status; // 0
 * ```
 */
export function decodeCsw(bytes: Uint8Array): Csw {
  if (bytes.length < CSW_SIZE) {
    throw new TypeError(`Cannot decode a CSW from ${bytes.length} bytes: it has ${CSW_SIZE}`);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, CSW_SIZE);
  return {
    signature: v.getUint32(0, true),
    tag: v.getUint32(4, true),
    residue: v.getUint32(8, true),
    status: bytes[12]!,
  };
}

/** Options of {@linkcode createMassStorage}. */
export interface MassStorageOptions {
  /** The medium; the device owns it from now on and closes it in `close()`. */
  readonly image: DiskImage;
  /** INQUIRY vendor identification, at most 8 ASCII characters; default "MUNGI". */
  readonly vendor?: string;
  /** INQUIRY product identification (and the product string), at most 16; default "USB DISK". */
  readonly product?: string;
  /**
   * The serial number string: at least 12 characters 0-9 and A-F, as BOT 4.1.1 requires; default
   * a fresh one per device.
   */
  readonly serial?: string;
  /** idVendor; default 0x1209 (pid.codes). */
  readonly vendorId?: number;
  /** idProduct; default 0x0002 (a pid.codes test id). */
  readonly productId?: number;
}

/** Counters for tests and benchmarks. */
export interface MassStorageStats {
  /** CBWs accepted (valid ones). */
  readonly commands: number;
  /** Commands that ended with status 1 (CHECK CONDITION). */
  readonly failed: number;
  /** Commands that ended with status 2. */
  readonly phaseErrors: number;
  /** CBWs rejected as invalid (bad size or signature). */
  readonly invalidCbws: number;
  /** Bulk-Only Mass Storage Resets. */
  readonly resets: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** Phases of the bulk-only transport; "reset-needed" after an invalid CBW. */
export type BotPhase = "command" | "data-in" | "data-out" | "status" | "reset-needed";

/** Sense data: key, ASC, ASCQ. */
interface Sense {
  readonly key: number;
  readonly asc: number;
  readonly ascq: number;
}

/** What a command does, before it is matched with what the host expects. */
interface Plan {
  status: number;
  sense: Sense;
  /** Data in: its length and how to produce a piece of it. */
  dataIn?: { readonly length: number; read(offset: number, into: Uint8Array): void };
  /** Data out: its length and what to do with a piece of it. */
  dataOut?: { readonly length: number; write(offset: number, data: Uint8Array): void };
}

type Phase =
  | { readonly kind: "command" }
  | {
    readonly kind: "data-in";
    readonly plan: Plan;
    readonly tag: number;
    sent: number;
    readonly send: number;
    readonly residue: number;
    readonly status: number;
  }
  | {
    readonly kind: "data-out";
    readonly plan: Plan;
    readonly tag: number;
    received: number;
    readonly expect: number;
    readonly residue: number;
  }
  | { readonly kind: "status"; readonly csw: Uint8Array }
  | { readonly kind: "reset-needed" };

const NO_SENSE: Sense = { key: SENSE_KEY.NO_SENSE, asc: 0, ascq: 0 };
const EP_IN = MASS_STORAGE_ENDPOINT.IN & 0x0f;
const EP_OUT = MASS_STORAGE_ENDPOINT.OUT;
let serialCounter = 0;

/**
 * The mass storage model. Create it with {@linkcode createMassStorage}.
 *
 * @example
 * ```ts
 * import { createMassStorage } from "./mass_storage.ts";
 * import { DiskImage } from "../disk_image.ts";
 * const disk = createMassStorage({ image: DiskImage.memory(1 << 20) });
 * disk.descriptors.configuration[9 + 5]; // 0x08: mass storage interface class
 * disk.close();
 * ```
 */
export class MassStorage extends UsbDeviceBase {
  /** The medium. */
  readonly image: DiskImage;
  #vendor: string;
  #product: string;
  #serial: string;
  #phase: Phase = { kind: "command" };
  #sense: Sense = NO_SENSE;
  #stats = {
    commands: 0,
    failed: 0,
    phaseErrors: 0,
    invalidCbws: 0,
    resets: 0,
    bytesRead: 0,
    bytesWritten: 0,
  };

  constructor(options: MassStorageOptions) {
    const vendor = inquiryText("vendor", options.vendor ?? "MUNGI", 8);
    const product = inquiryText("product", options.product ?? "USB DISK", 16);
    const serial = options.serial ?? (0x4d5547000000 + ++serialCounter).toString(16).toUpperCase();
    if (!/^[0-9A-F]{12,126}$/.test(serial)) {
      throw new TypeError(
        `Cannot create a mass storage device: serial "${serial}" is not 12 or more digits 0-9, A-F`,
      );
    }
    super({
      name: `mass storage "${product.trim()}"`,
      speed: "high",
      strings: ["Mungi", product.trim(), serial],
      device: {
        deviceClass: 0,
        deviceSubClass: 0,
        deviceProtocol: 0,
        maxPacketSize0: 64,
        idVendor: options.vendorId ?? 0x1209,
        idProduct: options.productId ?? 0x0002,
        bcdDevice: 0x0100,
        iManufacturer: 1,
        iProduct: 2,
        iSerialNumber: 3,
      },
      configuration: {
        value: 1,
        maxPowerMa: 200,
        interfaces: [{
          number: 0,
          interfaceClass: 0x08,
          interfaceSubClass: 0x06,
          interfaceProtocol: 0x50,
          endpoints: [
            {
              address: MASS_STORAGE_ENDPOINT.IN,
              type: USB_ENDPOINT_TYPE.BULK,
              maxPacketSize: 512,
              interval: 0,
            },
            {
              address: MASS_STORAGE_ENDPOINT.OUT,
              type: USB_ENDPOINT_TYPE.BULK,
              maxPacketSize: 512,
              interval: 0,
            },
          ],
        }],
      },
    });
    this.image = options.image;
    this.#vendor = vendor;
    this.#product = product;
    this.#serial = serial;
  }

  /** A snapshot of the counters. */
  get stats(): MassStorageStats {
    return { ...this.#stats };
  }

  /** The transport phase, for tests. */
  get phase(): BotPhase {
    return this.#phase.kind;
  }

  /** Flushes and closes the image. */
  override close(): void {
    this.image.close();
  }

  // --- transport -------------------------------------------------------------------------------

  /** A CBW, or data of a data-out phase. */
  protected override onBulkOut(endpoint: number, data: Uint8Array): UsbOutResult {
    if (endpoint !== EP_OUT) return "stall";
    const p = this.#phase;
    switch (p.kind) {
      case "command":
        this.#command(data);
        return "ack";
      case "data-out": {
        const take = Math.min(data.length, p.expect - p.received);
        const usable = p.plan.dataOut!.length;
        if (p.received < usable) {
          const n = Math.min(take, usable - p.received);
          p.plan.dataOut!.write(p.received, data.subarray(0, n));
        }
        p.received += take;
        if (p.received >= p.expect) this.#toStatus(p.tag, p.residue, p.plan.status);
        return "ack";
      }
      case "reset-needed":
        return "stall";
      default:
        return "nak";
    }
  }

  /** Data of a data-in phase, or the CSW. */
  protected override onBulkIn(endpoint: number, maxLength: number): UsbInResult {
    if (endpoint !== EP_IN) return "stall";
    const p = this.#phase;
    switch (p.kind) {
      case "data-in": {
        const n = Math.min(maxLength, p.send - p.sent);
        const out = new Uint8Array(n);
        p.plan.dataIn!.read(p.sent, out);
        p.sent += n;
        if (p.sent >= p.send) {
          // The plan's status may have changed while reading (a medium error).
          const status = p.status === CSW_STATUS.PHASE_ERROR ? p.status : p.plan.status;
          this.#toStatus(p.tag, p.residue, status);
        }
        return out;
      }
      case "status":
        this.#phase = { kind: "command" };
        this.wake(EP_OUT);
        return p.csw.length > maxLength ? p.csw.slice(0, maxLength) : p.csw;
      case "reset-needed":
        return "stall";
      default:
        return "nak";
    }
  }

  /** Bulk-Only Mass Storage Reset and Get Max LUN, to interface 0. */
  protected override classRequest(setup: UsbSetup, _dataOut: Uint8Array): Uint8Array | "stall" {
    if ((setup.bmRequestType & 0x7f) !== 0x21 || setup.wIndex !== 0 || setup.wValue !== 0) {
      return "stall";
    }
    const input = (setup.bmRequestType & 0x80) !== 0;
    if (setup.bRequest === BOT_REQUEST.RESET && !input && setup.wLength === 0) {
      this.#phase = { kind: "command" };
      this.#stats.resets++;
      return new Uint8Array(0);
    }
    if (setup.bRequest === BOT_REQUEST.GET_MAX_LUN && input && setup.wLength >= 1) {
      return Uint8Array.of(0);
    }
    return "stall";
  }

  /** While Reset Recovery is pending, a cleared halt comes straight back. */
  protected override clearHalt(endpointAddress: number): void {
    if (this.#phase.kind === "reset-needed") this.halt(endpointAddress);
  }

  /** A bus reset or a new configuration returns the transport to "command". */
  protected override onReset(): void {
    this.#phase = { kind: "command" };
    this.#sense = NO_SENSE;
  }

  /** See {@linkcode onReset}. */
  protected override onConfigured(_value: number): void {
    this.#phase = { kind: "command" };
  }

  #command(data: Uint8Array): void {
    const v = new DataView(data.buffer, data.byteOffset, data.length);
    if (data.length !== CBW_SIZE || v.getUint32(0, true) !== CBW_SIGNATURE) {
      this.#stats.invalidCbws++;
      this.#phase = { kind: "reset-needed" };
      this.halt(MASS_STORAGE_ENDPOINT.IN);
      this.halt(MASS_STORAGE_ENDPOINT.OUT);
      return;
    }
    this.#stats.commands++;
    const tag = v.getUint32(4, true);
    const hostLength = v.getUint32(8, true);
    const hostIn = (data[12]! & 0x80) !== 0;
    const lun = data[13]! & 0x0f;
    const cbLength = data[14]! & 0x1f;
    let plan: Plan;
    if (cbLength < 1 || cbLength > 16) {
      plan = { status: CSW_STATUS.PHASE_ERROR, sense: this.#sense };
    } else if (lun !== 0) {
      plan = fail(SENSE_KEY.ILLEGAL_REQUEST, SENSE_ASC.LOGICAL_UNIT_NOT_SUPPORTED);
    } else {
      plan = this.#execute(data.slice(15, 15 + 16));
    }
    if (plan.status !== CSW_STATUS.PHASE_ERROR) this.#sense = plan.sense;
    this.#dataPhase(tag, hostLength, hostIn, plan);
  }

  /** Matches what the device intends with what the host expects (BOT 6.7). */
  #dataPhase(tag: number, h: number, hostIn: boolean, plan: Plan): void {
    const PHASE = CSW_STATUS.PHASE_ERROR;
    const di = plan.dataIn?.length ?? 0;
    const dout = plan.dataOut?.length ?? 0;
    if (di === 0 && dout === 0) {
      if (h > 0) this.halt(hostIn ? MASS_STORAGE_ENDPOINT.IN : MASS_STORAGE_ENDPOINT.OUT);
      this.#toStatus(tag, h, plan.status);
      return;
    }
    if (h === 0) {
      this.#toStatus(tag, 0, PHASE);
      return;
    }
    if (di > 0) {
      if (!hostIn) {
        this.halt(MASS_STORAGE_ENDPOINT.OUT);
        this.#toStatus(tag, h, PHASE);
        return;
      }
      const send = Math.min(h, di);
      const status = h < di ? PHASE : plan.status;
      this.#phase = { kind: "data-in", plan, tag, sent: 0, send, residue: h - send, status };
      this.wake(MASS_STORAGE_ENDPOINT.IN);
      return;
    }
    if (hostIn || h < dout) {
      this.halt(hostIn ? MASS_STORAGE_ENDPOINT.IN : MASS_STORAGE_ENDPOINT.OUT);
      this.#toStatus(tag, h, PHASE);
      return;
    }
    this.#phase = { kind: "data-out", plan, tag, received: 0, expect: h, residue: h - dout };
  }

  #toStatus(tag: number, residue: number, status: number): void {
    if (status === CSW_STATUS.FAILED) this.#stats.failed++;
    if (status === CSW_STATUS.PHASE_ERROR) this.#stats.phaseErrors++;
    const csw = new Uint8Array(CSW_SIZE);
    const v = new DataView(csw.buffer);
    v.setUint32(0, CSW_SIGNATURE, true);
    v.setUint32(4, tag, true);
    v.setUint32(8, residue, true);
    csw[12] = status;
    this.#phase = { kind: "status", csw };
    this.wake(MASS_STORAGE_ENDPOINT.IN);
  }

  // --- SCSI ------------------------------------------------------------------------------------

  #execute(cdb: Uint8Array): Plan {
    const v = new DataView(cdb.buffer, cdb.byteOffset, cdb.length);
    switch (cdb[0]) {
      case SCSI_OP.TEST_UNIT_READY:
      case SCSI_OP.START_STOP_UNIT:
      case SCSI_OP.PREVENT_ALLOW_MEDIUM_REMOVAL:
        return pass();
      case SCSI_OP.REQUEST_SENSE: {
        const sense = this.#sense;
        const data = new Uint8Array(18);
        data[0] = 0x70; // current error, fixed format
        data[2] = sense.key;
        data[7] = 10; // additional sense length
        data[12] = sense.asc;
        data[13] = sense.ascq;
        return pass(bytesIn(data, cdb[4]!));
      }
      case SCSI_OP.INQUIRY:
        return this.#inquiry(cdb, v.getUint16(3));
      case SCSI_OP.MODE_SENSE_6:
        return modeSense(cdb);
      case SCSI_OP.READ_CAPACITY_10: {
        const data = new Uint8Array(8);
        const d = new DataView(data.buffer);
        d.setUint32(0, Math.min(this.image.sectors - 1, 0xffff_ffff));
        d.setUint32(4, SECTOR_SIZE);
        return pass(bytesIn(data, 8));
      }
      case SCSI_OP.SERVICE_ACTION_IN_16: {
        if ((cdb[1]! & 0x1f) !== SCSI_READ_CAPACITY_16) {
          return fail(SENSE_KEY.ILLEGAL_REQUEST, SENSE_ASC.INVALID_FIELD_IN_CDB);
        }
        const data = new Uint8Array(32);
        const d = new DataView(data.buffer);
        d.setBigUint64(0, BigInt(this.image.sectors - 1));
        d.setUint32(8, SECTOR_SIZE);
        return pass(bytesIn(data, v.getUint32(10)));
      }
      case SCSI_OP.READ_10:
      case SCSI_OP.WRITE_10:
        return this.#readWrite(cdb[0] === SCSI_OP.WRITE_10, v.getUint32(2), v.getUint16(7));
      case SCSI_OP.SYNCHRONIZE_CACHE_10:
        try {
          this.image.flush();
          return pass();
        } catch {
          return fail(SENSE_KEY.MEDIUM_ERROR, SENSE_ASC.WRITE_ERROR);
        }
      default:
        return fail(SENSE_KEY.ILLEGAL_REQUEST, SENSE_ASC.INVALID_COMMAND_OPERATION_CODE);
    }
  }

  #inquiry(cdb: Uint8Array, allocation: number): Plan {
    const evpd = (cdb[1]! & 0x01) !== 0;
    const page = cdb[2]!;
    if (!evpd) {
      if (page !== 0) return fail(SENSE_KEY.ILLEGAL_REQUEST, SENSE_ASC.INVALID_FIELD_IN_CDB);
      const data = new Uint8Array(36);
      data[0] = 0x00; // connected direct-access block device
      data[1] = 0x80; // removable medium
      data[2] = 0x04; // SPC-2
      data[3] = 0x02; // response data format 2
      data[4] = 36 - 5;
      ascii(data, 8, this.#vendor);
      ascii(data, 16, this.#product);
      ascii(data, 32, "0.1 ");
      return pass(bytesIn(data, allocation));
    }
    if (page === 0x00) return pass(bytesIn(Uint8Array.of(0, 0x00, 0, 2, 0x00, 0x80), allocation));
    if (page === 0x80) {
      const data = new Uint8Array(4 + this.#serial.length);
      data[1] = 0x80;
      data[3] = this.#serial.length;
      ascii(data, 4, this.#serial);
      return pass(bytesIn(data, allocation));
    }
    return fail(SENSE_KEY.ILLEGAL_REQUEST, SENSE_ASC.INVALID_FIELD_IN_CDB);
  }

  #readWrite(write: boolean, lba: number, blocks: number): Plan {
    if (lba + blocks > this.image.sectors) {
      return fail(SENSE_KEY.ILLEGAL_REQUEST, SENSE_ASC.LBA_OUT_OF_RANGE);
    }
    if (blocks === 0) return pass();
    const base = lba * SECTOR_SIZE;
    const length = blocks * SECTOR_SIZE;
    const plan: Plan = pass();
    const medium = (asc: number) => {
      plan.status = CSW_STATUS.FAILED;
      plan.sense = { key: SENSE_KEY.MEDIUM_ERROR, asc, ascq: 0 };
      this.#sense = plan.sense;
    };
    if (write) {
      plan.dataOut = {
        length,
        write: (offset, data) => {
          if (plan.status !== CSW_STATUS.PASSED) return;
          try {
            this.image.writeAt(base + offset, data);
            this.#stats.bytesWritten += data.length;
          } catch {
            medium(SENSE_ASC.WRITE_ERROR);
          }
        },
      };
    } else {
      plan.dataIn = {
        length,
        read: (offset, into) => {
          try {
            this.image.readAt(base + offset, into);
            this.#stats.bytesRead += into.length;
          } catch {
            into.fill(0);
            medium(SENSE_ASC.UNRECOVERED_READ_ERROR);
          }
        },
      };
    }
    return plan;
  }
}

/**
 * Creates a mass storage device over a disk image. Plug it in with
 * `controller.connect(port, disk)`; the device closes the image in `close()`.
 *
 * @example
 * ```ts
 * import { createMassStorage } from "./mass_storage.ts";
 * import { DiskImage } from "../disk_image.ts";
 * const disk = createMassStorage({ image: DiskImage.memory(1 << 20), product: "STICK" });
 * disk.name; // 'mass storage "STICK"'
 * disk.close();
 * ```
 */
export function createMassStorage(options: MassStorageOptions): MassStorage {
  return new MassStorage(options);
}

function pass(dataIn?: Plan["dataIn"]): Plan {
  const plan: Plan = { status: CSW_STATUS.PASSED, sense: NO_SENSE };
  if (dataIn) plan.dataIn = dataIn;
  return plan;
}

function fail(key: number, asc: number): Plan {
  return { status: CSW_STATUS.FAILED, sense: { key, asc, ascq: 0 } };
}

/** Data in from fixed bytes, cut to the CDB's allocation length. */
function bytesIn(data: Uint8Array, allocation: number): Plan["dataIn"] {
  const length = Math.min(data.length, allocation);
  return { length, read: (offset, into) => into.set(data.subarray(offset, offset + into.length)) };
}

function modeSense(cdb: Uint8Array): Plan {
  const page = cdb[2]! & 0x3f;
  if (page !== 0x08 && page !== 0x3f) {
    return fail(SENSE_KEY.ILLEGAL_REQUEST, SENSE_ASC.INVALID_FIELD_IN_CDB);
  }
  const data = new Uint8Array(4 + 20);
  data[0] = data.length - 1; // mode data length
  data[4] = 0x08; // caching page
  data[5] = 0x12;
  // Byte 6 (WCE 0, RCD 0: write-through, read cache on) is 0 both as current and changeable.
  return pass(bytesIn(data, cdb[4]!));
}

function inquiryText(what: string, text: string, width: number): string {
  if (text.length > width || !/^[\x20-\x7e]*$/.test(text)) {
    throw new RangeError(
      `Cannot create a mass storage device: ${what} "${text}" is not at most ${width} printable ASCII characters`,
    );
  }
  return text.padEnd(width, " ");
}

function ascii(into: Uint8Array, at: number, text: string): void {
  for (let i = 0; i < text.length; i++) into[at + i] = text.charCodeAt(i);
}
