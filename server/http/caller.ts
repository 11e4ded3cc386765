// Who made a request, as the listener established it: the peer of a Unix socket connection as the kernel
// recorded it, or, for a request carrying the TCP token, the daemon's own user (a token holder acts as the
// daemon). The handlers receive it through Connect's context values (server/service/caller.ts).
import { ownIdentity } from "../sandbox/project-access.js";
import type { Requester } from "../sandbox/types.js";

export interface Caller extends Requester {
  /** Process that connected, when known (Unix socket). */
  pid: number | null;
  /** How the caller was identified. */
  via: "unix-peer" | "tcp-token";
}

/** What a TCP token holder acts as: the daemon's own user. */
export function tokenCaller(): Caller {
  return { ...ownIdentity(), pid: null, via: "tcp-token" };
}
