/**
 * The `mungi` command line: `deno task mungi <command> ...`. Each command is a small function that
 * takes its arguments and returns an exit status; output goes to stdout, problems to stderr.
 *
 * @module
 */

import { parseArgs } from "@std/cli/parse-args";
import { dirname, fromFileUrl, relative, resolve } from "@std/path";
import { checkIdl, compileIdlToTs, formatCheckReport } from "../idl/mod.ts";
import { checkRegs, formatRegsReport } from "../regs/mod.ts";

const USAGE = `mungi: the Mungi user-level driver framework, simulated

usage: deno task mungi <command> [arguments]

commands:
  shell [--data DIR] [--script FILE]   start the interactive shell (also: deno task shell)
  idl check FILE...                    parse IDL files, print their interfaces or FILE:LINE:COL errors
  idl compile FILE [--out FILE.ts]     compile an IDL file to TypeScript (stdout without --out)
  regs check FILE...                   parse register descriptions, print the map or errors
  names [PREFIX] [--data DIR]          list names bound in a data directory's name database
  help                                 this text

exit status: 0 on success, 1 when a check finds errors, 2 for bad usage`;

/** Runs the CLI with the given arguments; returns the exit status. */
export async function main(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    case "idl":
      return await idlCommand(rest);
    case "regs":
      return await regsCommand(rest);
    case "names":
      return await namesCommand(rest);
    case "shell": {
      const { runShellCli } = await import("../shell/cli.ts");
      return await runShellCli(rest);
    }
    default:
      return usageError(`unknown command "${command}"`);
  }
}

function usageError(message: string): number {
  console.error(`mungi: ${message}\nRun "deno task mungi help" for the commands.`);
  return 2;
}

async function readSource(file: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    console.error(`${file}: cannot read: ${(error as Error).message}`);
    return undefined;
  }
}

async function idlCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const flags = parseArgs(rest, { string: ["out"] });
  const files = flags._.map(String);
  if (sub === "check") {
    if (files.length === 0) return usageError("idl check: expected at least one FILE");
    return await checkFiles(
      files,
      (file, source) => formatCheckReport(file, checkIdl(source, { file })),
    );
  }
  if (sub === "compile") {
    if (files.length !== 1) return usageError("idl compile: expected exactly one FILE");
    const file = files[0]!;
    const source = await readSource(file);
    if (source === undefined) return 1;
    const result = checkIdl(source, { file });
    if (!result.schema || result.errors.length > 0) {
      console.error(formatCheckReport(file, result).text);
      return 1;
    }
    const out = flags.out;
    const text = compileIdlToTs(result.schema, {
      source: file,
      kernelTypesImport: typesImportFor(out),
    });
    if (out) await Deno.writeTextFile(out, text);
    else console.log(text);
    return 0;
  }
  return usageError(`idl: unknown subcommand "${sub ?? ""}"; expected check or compile`);
}

/** The relative import of idl/types.ts from an output file (or from the working directory). */
function typesImportFor(out: string | undefined): string {
  const types = fromFileUrl(new URL("../idl/types.ts", import.meta.url));
  const rel = relative(out ? dirname(resolve(out)) : Deno.cwd(), types);
  return rel.startsWith(".") ? rel : "./" + rel;
}

async function regsCommand(args: string[]): Promise<number> {
  const [sub, ...files] = args;
  if (sub !== "check") return usageError(`regs: unknown subcommand "${sub ?? ""}"; expected check`);
  if (files.length === 0) return usageError("regs check: expected at least one FILE");
  return await checkFiles(
    files,
    (file, source) => formatRegsReport(file, checkRegs(source, { file })),
  );
}

/**
 * Checks each file with `check`: a report on stdout when it is good, on stderr when not.
 * Returns 1 when any file could not be read or has errors.
 */
async function checkFiles(
  files: readonly string[],
  check: (file: string, source: string) => { text: string; ok: boolean },
): Promise<number> {
  let status = 0;
  for (const file of files) {
    const source = await readSource(file);
    const report = source === undefined ? undefined : check(file, source);
    if (report) (report.ok ? console.log : console.error)(report.text);
    if (!report?.ok) status = 1;
  }
  return status;
}

async function namesCommand(args: string[]): Promise<number> {
  const flags = parseArgs(args, { string: ["data"], default: { data: "./.mungi" } });
  const prefix = flags._.length > 0 ? String(flags._[0]) : "";
  const { NameService } = await import("../naming/name_service.ts");
  const { formatAddress } = await import("../kernel/address.ts");
  let names;
  try {
    names = await NameService.open(`${flags.data}/names.kv`);
  } catch (error) {
    console.error(
      `names: cannot open the name database in ${flags.data}: ${(error as Error).message}`,
    );
    return 1;
  }
  try {
    for (const { name, address } of await names.list(prefix)) {
      console.log(`${formatAddress(address)}  ${name}`);
    }
  } finally {
    names.close();
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
