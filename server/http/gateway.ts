import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Transport } from "@connectrpc/connect";

/**
 * The web gateway's hooks into the daemon's HTTP/1.1 server. Every request reaching them has passed the same
 * Host/Origin checks and the same access check (peer credentials or token) as the RPCs; HTTP/2 requests never
 * reach them (Express cannot take them).
 */
export interface Gateway {
  /** HTTP/1.1 requests that are not RPCs (pages, REST, static files). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** HTTP/1.1 upgrade requests (WebSocket). Without it, upgrades are answered 404. */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Runs at shutdown once RPC streams have ended and before connections are cut (close WebSockets here). */
  close?(): Promise<void> | void;
}

/**
 * Builds the gateway. `rpc` is an in-process transport to the same SandboxService the daemon serves
 * (createClient(SandboxService, rpc)): no socket, and its streams end like the network ones at shutdown. It
 * names no caller, so CreateSandbox refuses it; `rpcAs(req)` is the same transport acting as the caller of a
 * gateway request (the peer of its connection, or the daemon's user for a TCP token holder), for the calls
 * made on that request's behalf.
 */
export type GatewayFactory = (rpc: Transport, rpcAs: (req: IncomingMessage) => Transport) => Gateway;
