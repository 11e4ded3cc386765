import type { IncomingMessage } from "node:http";
import type { SandboxClient } from "../client/index.js";

/** What every route of the gateway works with. */
export interface WebDeps {
  /** The service, acting as the caller of `req` (the peer of its connection): for creates and other changes. */
  clientFor(req: IncomingMessage): SandboxClient;
  /** The service with no caller: enough for reads (lists, watches, log tails), refused for creates. */
  reader: SandboxClient;
  /** Aborted when the daemon shuts down: long-lived responses (event streams, sockets) end then. */
  shutdown: AbortSignal;
  log(line: string): void;
}
