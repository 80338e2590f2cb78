/**
 * The register description language: a small text format describing a device's register
 * windows, registers and bit fields, compiled to typed TypeScript accessors or to Python.
 *
 * A driver uses the generated accessors over the windows the kernel maps for it:
 *
 * ```ts ignore
 * import { AtaRegs, Cmd } from "../drivers/ide/ata_regs.ts";
 * const regs = new AtaRegs({ cmd, ctl, bm });
 * regs.device.write((w) => w.lba().dev(Dev.DEVICE0));
 * regs.command.write((w) => w.cmd(Cmd.READ_DMA));
 * if (regs.status.read().err()) throw new Error("command failed");
 * ```
 *
 * See `parse.ts` for the syntax, `compile_ts.ts` for what the accessors look like, and
 * `runtime.ts` for register windows and doorbells. `generate.ts` compiles every
 * `drivers/**\/*.regs` file to a sibling `*_regs.ts`.
 *
 * @module
 */

export { checkRegs, type CheckRegsResult, parseRegs, type ParseRegsOptions } from "./parse.ts";
export { RegsSyntaxError, type RegsSyntaxErrorOptions } from "./syntax_error.ts";
export type * from "./types.ts";
export { compileRegsToTs, type CompileRegsToTsOptions } from "./compile_ts.ts";
export { compileRegsToPython, type CompileRegsToPythonOptions } from "./compile_python.ts";
export { formatRegsReport, type RegsReport } from "./report.ts";
export * from "./runtime.ts";
