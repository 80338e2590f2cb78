// Semantic checks on parsed IDL and construction of the runtime schema. Every walk is iterative or
// bounded by MAX_TYPE_DEPTH, so no input can exhaust the stack.

import type {
  FieldSchema,
  IdlSchema,
  InterfaceSchema,
  MethodSchema,
  TypeDef,
  TypeRef,
} from "./types.ts";
import type { Pos } from "./_lexer.ts";
import type { DeclNode, MethodNode, NameNode, SlotNode, TypeNode } from "./_parser.ts";

/**
 * Reports a semantic problem. `unknownName` marks "no such name" errors, which the caller drops
 * when the unit also had syntax errors (the definition may just have failed to parse).
 */
export type SemanticReport = (reason: string, pos: Pos, unknownName?: boolean) => void;

type Decl = DeclNode & { readonly prelude: boolean };
type InterfaceDecl = Extract<DeclNode, { kind: "interface" }> & { readonly prelude: boolean };

const INT32_MAX = 2 ** 31 - 1;

function at(pos: Pos): string {
  return `${pos.line}:${pos.column}`;
}

function kindName(decl: DeclNode): string {
  return decl.kind === "alias" ? "typedef" : decl.kind;
}

/** Strips positions from a type as written. */
function toTypeRef(node: TypeNode): TypeRef {
  switch (node.kind) {
    case "int":
      return { kind: "int", name: node.name };
    case "sequence":
      return { kind: "sequence", of: toTypeRef(node.of) };
    case "named":
      return { kind: "named", name: node.name };
    default:
      return { kind: node.kind };
  }
}

/** The named types a type refers to, with the position of each reference. */
function namedRefs(node: TypeNode): NameNode[] {
  let t = node;
  while (t.kind === "sequence") t = t.of;
  return t.kind === "named" ? [{ name: t.name, line: t.line, column: t.column }] : [];
}

/** Reports names used twice in `items` as "Duplicate WHAT "NAME" CONTEXT"; keeps the first of each. */
function unique<T extends NameNode>(
  items: readonly T[],
  what: string,
  context: string,
  report: SemanticReport,
): T[] {
  const seen = new Map<string, T>();
  for (const item of items) {
    const first = seen.get(item.name);
    if (first === undefined) {
      seen.set(item.name, item);
    } else {
      report(`Duplicate ${what} "${item.name}" ${context} (first declared at ${at(first)})`, item);
    }
  }
  return [...seen.values()];
}

/**
 * Checks prelude and unit definitions together and builds the schema. The schema is only
 * meaningful when nothing was reported.
 */
export function analyze(
  preludeDecls: readonly DeclNode[],
  unitDecls: readonly DeclNode[],
  report: SemanticReport,
): IdlSchema {
  const table = new Map<string, Decl>();
  const all: Decl[] = [
    ...preludeDecls.map((d) => ({ ...d, prelude: true })),
    ...unitDecls.map((d) => ({ ...d, prelude: false })),
  ];
  for (const decl of all) {
    const first = table.get(decl.name);
    if (first === undefined) table.set(decl.name, decl);
    else if (first.prelude) {
      report(`Cannot define "${decl.name}": the name is defined by the prelude`, decl);
    } else {
      report(
        `Duplicate definition of "${decl.name}" (first defined as ${kindName(first)} at ${
          at(first)
        })`,
        decl,
      );
    }
  }
  const decls = [...table.values()];

  const checkType = (node: TypeNode): void => {
    for (const ref of namedRefs(node)) {
      const target = table.get(ref.name);
      if (target === undefined) report(`Unknown type "${ref.name}"`, ref, true);
      else if (target.kind === "interface") {
        report(
          `"${ref.name}" is an interface, not a type (use cap_t to pass a reference to an object)`,
          ref,
        );
      }
    }
  };

  const types: Record<string, TypeDef> = {};
  for (const decl of decls) {
    switch (decl.kind) {
      case "struct": {
        const fields = unique(decl.fields, "field", `in struct "${decl.name}"`, report);
        for (const f of fields) checkType(f.type);
        types[decl.name] = {
          kind: "struct",
          name: decl.name,
          fields: fields.map((f): FieldSchema => ({ name: f.name, type: toTypeRef(f.type) })),
        };
        break;
      }
      case "enum":
        types[decl.name] = {
          kind: "enum",
          name: decl.name,
          values: enumValues(decl.name, decl.members, report),
        };
        break;
      case "alias":
        checkType(decl.type);
        types[decl.name] = { kind: "alias", name: decl.name, type: toTypeRef(decl.type) };
        break;
      case "interface":
        break;
    }
  }
  checkRecursion(decls, table, report);
  const interfaces = interfaceSchemas(
    decls.filter((d): d is InterfaceDecl => d.kind === "interface"),
    table,
    checkType,
    report,
  );
  return { types, interfaces };
}

function enumValues(
  enumName: string,
  members: Extract<DeclNode, { kind: "enum" }>["members"],
  report: SemanticReport,
): { name: string; value: number }[] {
  const values: { name: string; value: number }[] = [];
  const byValue = new Map<number, string>();
  let next: number | null = 0;
  for (const member of unique(members, "member", `in enum "${enumName}"`, report)) {
    let value: number | null;
    if (member.value === undefined) {
      value = next;
      if (value === null) {
        report(
          `Enum member "${member.name}" would be ${INT32_MAX + 1}, out of range for int`,
          member,
        );
      }
    } else {
      value = member.value.value;
      if (value === null) {
        report(
          `Enum value of "${member.name}" is out of range (-2147483648..2147483647)`,
          member.value.pos,
        );
      }
    }
    if (value === null) {
      next = null;
      continue;
    }
    const clash = byValue.get(value);
    if (clash !== undefined) {
      report(`Enum member "${member.name}" has value ${value}, the same as "${clash}"`, member);
    } else byValue.set(value, member.name);
    values.push({ name: member.name, value });
    next = value === INT32_MAX ? null : value + 1;
  }
  return values;
}

/** One edge of the containment graph: `from` holds `to` through field `via` (or is an alias of it). */
interface Edge {
  readonly to: number;
  readonly via: string;
  readonly pos: Pos;
}

/** Rejects structs and aliases that contain themselves, directly or through others. */
function checkRecursion(
  decls: readonly Decl[],
  table: ReadonlyMap<string, Decl>,
  report: SemanticReport,
): void {
  const index = new Map<string, number>();
  decls.forEach((d, i) => index.set(d.name, i));
  const edges: Edge[][] = decls.map((decl) => {
    const slots: { via: string; type: TypeNode }[] = decl.kind === "struct"
      ? decl.fields.map((f: SlotNode) => ({ via: `${decl.name}.${f.name}`, type: f.type }))
      : decl.kind === "alias"
      ? [{ via: decl.name, type: decl.type }]
      : [];
    const out: Edge[] = [];
    for (const slot of slots) {
      for (const ref of namedRefs(slot.type)) {
        const target = table.get(ref.name);
        if (target?.kind !== "struct" && target?.kind !== "alias") continue;
        out.push({ to: index.get(ref.name)!, via: slot.via, pos: ref });
      }
    }
    return out;
  });
  for (const component of stronglyConnected(edges)) {
    const members = new Set(component);
    const start = component.reduce((a, b) => Math.min(a, b));
    const first = edges[start]!.find((e) => members.has(e.to));
    if (first === undefined) continue; // a single node without a self-loop
    const path = pathWithin(edges, members, first.to, start);
    const hops = [first.via, ...path].join(" -> ");
    const what = decls[start]!.kind === "struct" ? "Struct" : "Typedef";
    report(
      `${what} "${decls[start]!.name}" is recursive: ${hops} -> ${decls[start]!.name}`,
      first.pos,
    );
  }
}

/** Tarjan's algorithm without recursion; returns components in no particular order. */
function stronglyConnected(edges: readonly (readonly Edge[])[]): number[][] {
  const n = edges.length;
  const order = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const onStack = new Array<boolean>(n).fill(false);
  const stack: number[] = [];
  const components: number[][] = [];
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (order[root] !== -1) continue;
    const work: [number, number][] = [[root, 0]];
    order[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = true;
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const [v, i] = frame;
      const out = edges[v]!;
      if (i < out.length) {
        frame[1]++;
        const w = out[i]!.to;
        if (order[w] === -1) {
          order[w] = low[w] = counter++;
          stack.push(w);
          onStack[w] = true;
          work.push([w, 0]);
        } else if (onStack[w]) {
          low[v] = Math.min(low[v]!, order[w]!);
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low[parent[0]] = Math.min(low[parent[0]]!, low[v]!);
      if (low[v] === order[v]) {
        const component: number[] = [];
        for (;;) {
          const w = stack.pop()!;
          onStack[w] = false;
          component.push(w);
          if (w === v) break;
        }
        components.push(component);
      }
    }
  }
  return components;
}

/** The `via` labels of a shortest path from `from` to `to` inside `members` (breadth first). */
function pathWithin(
  edges: readonly (readonly Edge[])[],
  members: ReadonlySet<number>,
  from: number,
  to: number,
): string[] {
  if (from === to) return [];
  const previous = new Map<number, { node: number; via: string }>();
  const queue = [from];
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head]!;
    for (const e of edges[v]!) {
      if (!members.has(e.to) || e.to === from || previous.has(e.to)) continue;
      previous.set(e.to, { node: v, via: e.via });
      if (e.to === to) {
        const labels: string[] = [];
        for (let at = to; at !== from;) {
          const step = previous.get(at)!;
          labels.push(step.via);
          at = step.node;
        }
        return labels.reverse();
      }
      queue.push(e.to);
    }
  }
  return [];
}

interface Inherited {
  readonly method: MethodSchema;
  readonly origin: string;
}

function interfaceSchemas(
  decls: readonly InterfaceDecl[],
  table: ReadonlyMap<string, Decl>,
  checkType: (node: TypeNode) => void,
  report: SemanticReport,
): Record<string, InterfaceSchema> {
  // The valid direct bases of each interface.
  const bases = new Map<string, NameNode[]>();
  for (const decl of decls) {
    const valid: NameNode[] = [];
    for (const base of unique(decl.bases, "base", `of interface "${decl.name}"`, report)) {
      const target = table.get(base.name);
      if (target === undefined) report(`Unknown interface "${base.name}"`, base, true);
      else if (target.kind !== "interface") {
        report(`"${base.name}" is a ${kindName(target)}, not an interface`, base);
      } else if (base.name === decl.name) {
        report(`Interface "${decl.name}" cannot extend itself`, base);
      } else valid.push(base);
    }
    bases.set(decl.name, valid);
  }

  // Visit bases before the interfaces that extend them; a base edge closing a cycle is reported
  // and ignored.
  const state = new Map<string, "open" | "done">();
  const order: InterfaceDecl[] = [];
  const byName = new Map(decls.map((d) => [d.name, d]));
  for (const root of decls) {
    if (state.has(root.name)) continue;
    const work: [InterfaceDecl, number][] = [[root, 0]];
    state.set(root.name, "open");
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const [decl, i] = frame;
      const list = bases.get(decl.name)!;
      if (i < list.length) {
        frame[1]++;
        const base = list[i]!;
        const s = state.get(base.name);
        if (s === "open") {
          const from = work.findIndex(([d]) => d.name === base.name);
          const cycle = [...work.slice(from).map(([d]) => d.name), base.name];
          report(`Interface "${base.name}" inherits from itself: ${cycle.join(" -> ")}`, base);
          list.splice(i, 1);
          frame[1]--;
        } else if (s === undefined) {
          state.set(base.name, "open");
          work.push([byName.get(base.name)!, 0]);
        }
        continue;
      }
      work.pop();
      state.set(decl.name, "done");
      order.push(decl);
    }
  }

  const methods = new Map<string, Inherited[]>();
  const schemas = new Map<string, InterfaceSchema>();
  for (const decl of order) {
    const list: Inherited[] = [];
    const seen = new Map<string, Inherited>();
    for (const base of bases.get(decl.name)!) {
      for (const entry of methods.get(base.name)!) {
        const other = seen.get(entry.method.name);
        if (other === undefined) {
          seen.set(entry.method.name, entry);
          list.push(entry);
        } else if (other.origin !== entry.origin) {
          report(
            `Method "${entry.method.name}" inherited from "${entry.origin}" clashes with ` +
              `"${other.method.name}" inherited from "${other.origin}"`,
            base,
          );
        }
      }
    }
    for (const m of unique(decl.methods, "method", `in interface "${decl.name}"`, report)) {
      const other = seen.get(m.name);
      if (other !== undefined) {
        report(`Method "${m.name}" clashes with "${m.name}" inherited from "${other.origin}"`, m);
        continue;
      }
      const entry = { method: methodSchema(m, checkType, report), origin: decl.name };
      seen.set(m.name, entry);
      list.push(entry);
    }
    methods.set(decl.name, list);
    schemas.set(decl.name, {
      name: decl.name,
      extends: decl.bases.map((b) => b.name),
      methods: list.map((e) => e.method),
    });
  }
  // Source order, not dependency order, for the schema.
  const result: Record<string, InterfaceSchema> = {};
  for (const decl of decls) result[decl.name] = schemas.get(decl.name)!;
  return result;
}

function methodSchema(
  m: MethodNode,
  checkType: (node: TypeNode) => void,
  report: SemanticReport,
): MethodSchema {
  checkType(m.returns);
  const params = unique(m.params, "parameter", `in method "${m.name}"`, report);
  for (const p of params) checkType(p.type);
  return {
    name: m.name,
    params: params.map((p) => ({ name: p.name, type: toTypeRef(p.type) })),
    returns: toTypeRef(m.returns),
  };
}
