// Who made a request, handed from the listener to the handlers through Connect's context values: the peer of a
// Unix socket connection as the kernel recorded it, or, for a request carrying the TCP token, the daemon's own
// user (a token holder acts as the daemon).
import {
  type ContextValues,
  createContextKey,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import { ownIdentity } from "../sandbox/project-access.js";
import type { Requester } from "../sandbox/types.js";

export interface Caller extends Requester {
  /** Process that connected, when known (Unix socket). */
  pid: number | null;
  /** How the caller was identified. */
  via: "unix-peer" | "tcp-token";
}

export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "the caller" });

/** Context values naming the caller, for handlers (and for the gateway's in-process calls on its behalf). */
export function callerValues(caller: Caller | undefined): ContextValues {
  const values = createContextValues();
  if (caller !== undefined) values.set(callerKey, caller);
  return values;
}

/** A server interceptor naming `caller` as the caller of every request (in-process transports). */
export function actAs(caller: Caller | undefined): Interceptor {
  return (next) => (req) => {
    if (caller !== undefined) req.contextValues.set(callerKey, caller);
    return next(req);
  };
}

/** What a TCP token holder acts as: the daemon's own user. */
export function tokenCaller(): Caller {
  return { ...ownIdentity(), pid: null, via: "tcp-token" };
}
