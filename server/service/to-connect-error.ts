import { Code, ConnectError } from "@connectrpc/connect";
import { DomainError, type ErrorKind } from "../errors.js";

/** The one table from domain error kinds to Connect codes (the sandbox core's and the log tails' alike). */
export const CODE_BY_KIND: Readonly<Record<ErrorKind, Code>> = {
  invalid_argument: Code.InvalidArgument,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
};

// Failures the person running the daemon should hear about (a missing tool, a broken host), as opposed to a
// client's own mistakes (bad input, unknown id), which only the client needs to see.
const REPORTED_KINDS: ReadonlySet<ErrorKind> = new Set([
  "failed_precondition",
  "resource_exhausted",
  "unavailable",
  "internal",
]);

export const INTERNAL_MESSAGE = "internal error in the manager; its log has the details";

/**
 * Turns anything a handler caught into a ConnectError for the client. Domain errors keep their message
 * (written for the caller) and the operator's ones are reported too; anything else becomes Internal with a
 * generic message, and `report` receives the original so the details land in the server log, not on the wire.
 */
export function toConnectError(err: unknown, report: (err: unknown) => void): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DomainError) {
    if (REPORTED_KINDS.has(err.kind)) report(err);
    return new ConnectError(err.message, CODE_BY_KIND[err.kind]);
  }
  report(err);
  return new ConnectError(INTERNAL_MESSAGE, Code.Internal);
}
