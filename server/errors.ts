// Errors whose message is written for the person who made the request, with a kind that each edge maps to its
// own codes in one table (Connect: server/service/to-connect-error.ts). Neutral ground: the sandbox core and the
// log tails both throw these, and neither has to import the other to do so.

export type ErrorKind =
  | "invalid_argument"
  | "permission_denied"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "resource_exhausted"
  | "unavailable"
  | "internal";

export class DomainError extends Error {
  override readonly name: string = "DomainError";
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown; field?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.field = options?.field;
  }
  /** The request field the error is about, when there is one (`from_offset`, `limit`). */
  readonly field: string | undefined;
}

/** A bad request field: the message starts with the field's name. */
export const invalidArgument = (field: string, message: string): DomainError =>
  new DomainError("invalid_argument", `${field}: ${message}`, { field });
