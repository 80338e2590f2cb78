// The work behind checkIdl and parseIdl, on plain data: a caller wanting only the first problem
// builds only one error object (constructing errors dominates the cost of checking garbage).

import type { IdlSchema } from "./types.ts";
import { PRELUDE } from "./prelude.ts";
import type { Pos } from "./_lexer.ts";
import { type DeclNode, parseUnit } from "./_parser.ts";
import { analyze } from "./_analyze.ts";

/** Stop collecting after this many errors; garbage input would otherwise list every byte. */
const MAX_ERRORS = 100;

let preludeDecls: readonly DeclNode[] | undefined;

function prelude(): readonly DeclNode[] {
  if (preludeDecls === undefined) {
    const problems: string[] = [];
    const decls = parseUnit(
      PRELUDE,
      (reason, pos) => problems.push(`${pos.line}:${pos.column}: ${reason}`),
    );
    if (problems.length > 0) throw new Error(`The IDL prelude is broken: ${problems.join("; ")}`);
    preludeDecls = decls;
  }
  return preludeDecls;
}

/** A problem found in a unit, before it becomes an `IdlSyntaxError`. */
export interface Problem extends Pos {
  readonly reason: string;
}

/**
 * Parses and checks a unit with the prelude: the schema (only if there were no problems) and up
 * to MAX_ERRORS problems in source order. "Unknown name" problems are left out when there were
 * syntax errors, since the missing definition may simply have failed to parse.
 */
export function compileUnit(source: string): { schema?: IdlSchema; problems: Problem[] } {
  const problems: Problem[] = [];
  const add = (reason: string, pos: Pos): void => {
    if (problems.length < MAX_ERRORS) problems.push({ reason, line: pos.line, column: pos.column });
  };
  const decls = parseUnit(String(source), add);
  const syntaxFailed = problems.length > 0;
  const schema = analyze(prelude(), decls, (reason, pos, unknownName) => {
    if (!(syntaxFailed && unknownName)) add(reason, pos);
  });
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return problems.length === 0 ? { schema, problems } : { problems };
}
