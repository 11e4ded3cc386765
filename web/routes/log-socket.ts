import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebDeps } from "../web-deps.js";

export interface LogSocket {
  /** Takes an upgrade for /ws/sandboxes/:id/logs; anything else is answered 404. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every open socket (the daemon is shutting down). */
  close(): Promise<void>;
}

export function createLogSocket(_deps: WebDeps): LogSocket {
  return {
    upgrade(_req, socket) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    },
    async close() {},
  };
}
