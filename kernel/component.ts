/**
 * Component instances (paper §2): an instance of a component class lives at its own address and
 * serves only the interfaces its class declares and it has exported. Everything else about it is
 * hidden; callers reach it only through {@link Kernel.invoke}.
 *
 * @module
 */

import type { IdlSchema, InterfaceSchema, MethodSchema } from "../idl/types.ts";
import { type Address, formatAddress } from "./address.ts";

/** Calls one method with already-validated positional arguments. */
export type Dispatch = (iface: string, method: string, args: unknown[]) => Promise<unknown>;

/** An implementation of one interface: a function per method. */
// deno-lint-ignore no-explicit-any
export type Implementation = Readonly<Record<string, (...args: any[]) => unknown>>;

/** A method as the kernel resolves it for an invocation. */
export interface ResolvedMethod {
  readonly iface: InterfaceSchema;
  readonly method: MethodSchema;
  /** `Interface.method` */
  readonly qualified: string;
  /**
   * Whether the exporter checks the arguments against the method's signature itself, before
   * they reach the implementation (a driver's framework in its worker): the kernel then leaves
   * them to it. The result is always checked by the kernel.
   */
  readonly checksArgs?: boolean;
}

/** Life-cycle states of an instance. */
export type ComponentState = "starting" | "running" | "failed" | "destroyed";

/** Counters kept per instance. */
export interface ComponentStats {
  calls: number;
  errors: number;
  denied: number;
}

/** What it takes to make an instance. */
export interface ComponentOptions {
  /** The component class (a driver package name, or a service name). */
  readonly className: string;
  /** Types and interfaces the class uses. */
  readonly schema: IdlSchema;
  /** Interfaces the class declares; only these can be exported. */
  readonly provides: readonly string[];
  /** Shown in listings and events, e.g. `ide0`. Defaults to the class name. */
  readonly label?: string;
  /** Where it runs: `kernel`, `worker`, ... Shown in listings. Default `kernel`. */
  readonly host?: string;
}

/**
 * One component instance, as the kernel holds it.
 *
 * @example
 * ```ts ignore
 * const c = kernel.createComponent({ className: "echo", schema, provides: ["IEcho"] });
 * c.export("IEcho", { echo: (s: string) => s });
 * ```
 */
export class Component {
  readonly kind = "component" as const;
  readonly address: Address;
  readonly className: string;
  readonly label: string;
  readonly host: string;
  readonly schema: IdlSchema;
  readonly declared: ReadonlyMap<string, InterfaceSchema>;
  readonly stats: ComponentStats = { calls: 0, errors: 0, denied: 0 };
  state: ComponentState = "running";
  #exported = new Map<string, Dispatch>();
  #byMethod = new Map<string, ResolvedMethod[]>();
  #onDestroy: (() => void)[] = [];

  constructor(address: Address, options: ComponentOptions) {
    this.address = address;
    this.className = options.className;
    this.label = options.label ?? options.className;
    this.host = options.host ?? "kernel";
    this.schema = options.schema;
    const declared = new Map<string, InterfaceSchema>();
    for (const name of options.provides) {
      const iface = options.schema.interfaces[name];
      if (!iface) {
        throw new TypeError(
          `Component class "${options.className}" declares interface ${name}, but its schema has no such interface (it has ${
            Object.keys(options.schema.interfaces).join(", ") || "none"
          })`,
        );
      }
      declared.set(name, iface);
    }
    this.declared = declared;
  }

  /** Interfaces exported so far, in export order. */
  get exported(): string[] {
    return [...this.#exported.keys()];
  }

  /**
   * Serves `iface` with an in-process implementation. Every method of the interface must be
   * present; the interface must be declared by the class.
   */
  export(iface: string, implementation: Implementation): void {
    checkExport(this.label, this.className, this.declared, iface, implementation);
    this.exportDispatch(iface, (_iface, method, args) => {
      try {
        return Promise.resolve(implementation[method]!(...args));
      } catch (error) {
        return Promise.reject(error);
      }
    });
  }

  /**
   * Serves `iface` through a dispatch function (how out-of-isolate hosts plug in). With
   * `checksArgs`, the dispatcher promises to check every call's arguments against the method's
   * signature before the implementation sees them, and to fail the call with the `TypeError`
   * `validateArgs` throws; the kernel then does not check them itself.
   */
  exportDispatch(iface: string, dispatch: Dispatch, options: { checksArgs?: boolean } = {}): void {
    const schema = declaredOrThrow(this.label, this.className, this.declared, iface);
    if (this.#exported.has(iface)) {
      throw new TypeError(`Cannot export ${iface} from ${this.label}: already exported`);
    }
    this.#exported.set(iface, dispatch);
    for (const m of schema.methods) {
      const resolved: ResolvedMethod = {
        iface: schema,
        method: m,
        qualified: `${iface}.${m.name}`,
        checksArgs: options.checksArgs === true,
      };
      const list = this.#byMethod.get(m.name) ?? [];
      list.push(resolved);
      this.#byMethod.set(m.name, list);
      this.#byMethod.set(resolved.qualified, [resolved]);
    }
  }

  /**
   * Resolves `Interface.method`, or a bare `method` when exactly one exported interface has it.
   * Returns undefined when nothing matches, and the candidates when a bare name is ambiguous.
   */
  resolve(name: string): ResolvedMethod | ResolvedMethod[] | undefined {
    const list = this.#byMethod.get(name);
    if (!list) return undefined;
    return list.length === 1 ? list[0]! : list;
  }

  /** Hands a resolved call to the exporter. */
  dispatch(resolved: ResolvedMethod, args: unknown[]): Promise<unknown> {
    const d = this.#exported.get(resolved.iface.name)!;
    return d(resolved.iface.name, resolved.method.name, args);
  }

  /** Runs `fn` when the instance is destroyed (release mappings, lines, workers). */
  onDestroy(fn: () => void): void {
    this.#onDestroy.push(fn);
  }

  /** Marks the instance destroyed and runs its clean-ups, newest first. */
  destroy(): void {
    if (this.state === "destroyed") return;
    this.state = "destroyed";
    for (const fn of this.#onDestroy.reverse()) {
      try {
        fn();
      } catch {
        // A failing clean-up must not stop the others.
      }
    }
    this.#onDestroy = [];
    this.#exported.clear();
    this.#byMethod.clear();
  }

  /** A short description for errors. */
  toString(): string {
    return `${this.label} at ${formatAddress(this.address)}`;
  }
}

function declaredOrThrow(
  label: string,
  className: string,
  declared: ReadonlyMap<string, InterfaceSchema>,
  iface: string,
): InterfaceSchema {
  const schema = declared.get(iface);
  if (!schema) {
    throw new TypeError(
      `Cannot export ${iface} from ${label}: class "${className}" does not declare it (it declares ${
        [...declared.keys()].join(", ") || "nothing"
      })`,
    );
  }
  return schema;
}

/**
 * Throws the `TypeError` that {@link Component.export} throws for an implementation that cannot
 * serve `iface`: an interface the class does not declare, or a method of it missing. Both hosts
 * check an export with it, so a driver gets the same error wherever it runs.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { checkExport } from "./component.ts";
 * import type { InterfaceSchema } from "../idl/types.ts";
 * const echo: InterfaceSchema = {
 *   name: "IEcho",
 *   extends: [],
 *   methods: [{ name: "echo", params: [], returns: { kind: "void" } }],
 * };
 * const declared = new Map([["IEcho", echo]]);
 * assertThrows(() => checkExport("e0", "echo", declared, "IEcho", {}), TypeError, "echo is missing");
 * checkExport("e0", "echo", declared, "IEcho", { echo: () => {} });
 * ```
 */
export function checkExport(
  label: string,
  className: string,
  declared: ReadonlyMap<string, InterfaceSchema>,
  iface: string,
  implementation: Implementation,
): void {
  const schema = declaredOrThrow(label, className, declared, iface);
  for (const m of schema.methods) {
    if (typeof implementation[m.name] !== "function") {
      throw new TypeError(
        `Cannot export ${iface} from ${label}: method ${m.name} is missing from the implementation`,
      );
    }
  }
}

/**
 * Throws the `TypeError` for an object implementation (`ctx.objects.create`) that lacks a method
 * of `iface` in `schema`, on either host.
 */
export function checkObjectImplementation(
  schema: IdlSchema,
  iface: string,
  implementation: Implementation,
): void {
  for (const m of schema.interfaces[iface]?.methods ?? []) {
    if (typeof implementation[m.name] !== "function") {
      throw new TypeError(`Cannot create a ${iface} object: method ${m.name} is missing`);
    }
  }
}
