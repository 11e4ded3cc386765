import { Code } from "@connectrpc/connect";

/**
 * The one table from Connect codes to HTTP statuses for the gateway's answers (REST and pages alike). It follows
 * the Connect protocol's own mapping, except that a bad argument is the client's 400, and a refusal for lack
 * of space is 507 (the state file system is full), which tells an operator more than 429 would.
 */
export const HTTP_STATUS_BY_CODE: Readonly<Record<Code, number>> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 507,
  [Code.FailedPrecondition]: 409,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};
