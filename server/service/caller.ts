// The caller of a request (server/http/caller.ts), handed from the listener to the handlers through Connect's
// context values.
import {
  type ContextValues,
  createContextKey,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import type { Caller } from "../http/caller.js";

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
