/**
 * USB for the simulated machine: an xHCI host controller on the PCI bus, and USB devices to plug
 * into its root hub ports (mass storage, a HID boot keyboard), with the descriptor, TRB and
 * register formats a driver (or a test playing one) needs.
 *
 * @example
 * ```ts
 * import { createKeyboard, createXhciController, XHCI_PCI_IDENTITY } from "./mod.ts";
 * import { Machine } from "../machine.ts";
 * const machine = new Machine();
 * const usb = createXhciController({ name: "usb0" });
 * await machine.attachPci(XHCI_PCI_IDENTITY, usb);
 * usb.connect(1, createKeyboard());
 * await machine.stop();
 * ```
 *
 * @module
 */

export * from "./descriptors.ts";
export * from "./hid_keyboard.ts";
export * from "./hid_usage.ts";
export * from "./mass_storage.ts";
export * from "./usb_device.ts";
export * from "./xhci_controller.ts";
export * from "./xhci_registers.ts";
export * from "./xhci_trb.ts";
