/**
 * Named errors that callers catch, and their (de)serialisation across hosts and nodes.
 *
 * Plain `TypeError`, `RangeError` and `SyntaxError` are used for wrong shapes, out-of-range values
 * and unparsable text; the classes here exist because callers tell them apart.
 *
 * @module
 */

/** An invocation was refused: forged, revoked or too narrow a capability. Says nothing more. */
export class PermissionDeniedError extends Error {
  override name = "PermissionDeniedError";
}

/** A name is not bound in the name service. */
export class NameNotFoundError extends Error {
  override name = "NameNotFoundError";
}

/** A name is already bound and replacing was not asked for. */
export class NameExistsError extends Error {
  override name = "NameExistsError";
}

/** The component exists and the capability is good, but it provides no such method. */
export class MethodNotFoundError extends Error {
  override name = "MethodNotFoundError";
}

/** The device behind a request went away (unplugged) before the request completed. */
export class DeviceRemovedError extends Error {
  override name = "DeviceRemovedError";
}

/** A driver or device misbehaved (a fault, a bad result, a crash); the kernel stayed up. */
export class DriverFaultError extends Error {
  override name = "DriverFaultError";
}

const KNOWN: Record<string, new (message: string) => Error> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  PermissionDeniedError,
  NameNotFoundError,
  NameExistsError,
  MethodNotFoundError,
  DeviceRemovedError,
  DriverFaultError,
};

/** The plain-data form of an error, for postMessage, shared rings and the network. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
}

/**
 * Turns any thrown value into plain data that keeps its class name and message.
 *
 * @example
 * ```ts
 * import { serializeError } from "./errors.ts";
 * serializeError(new RangeError("too big")); // { name: "RangeError", message: "too big" }
 * ```
 */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

/**
 * Rebuilds an error from its plain-data form. Known classes come back as themselves; any other
 * name comes back as an `Error` whose `name` is kept.
 *
 * @example
 * ```ts
 * import { deserializeError, NameNotFoundError } from "./errors.ts";
 * const e = deserializeError({ name: "NameNotFoundError", message: "x" });
 * e instanceof NameNotFoundError; // true
 * ```
 */
export function deserializeError(data: SerializedError): Error {
  const Class = KNOWN[data.name];
  if (Class) return new Class(data.message);
  const error = new Error(data.message);
  error.name = data.name;
  return error;
}
