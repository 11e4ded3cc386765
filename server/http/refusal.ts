// How a refused request is answered: the one place that turns a Refusal (server/http/access.ts) into HTTP, for
// requests and for upgrades alike.
import type { ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Refusal } from "./access.js";

const STATUS_LINES: Readonly<Record<Refusal["status"] | 404, string>> = {
  401: "401 Unauthorized",
  403: "403 Forbidden",
  404: "404 Not Found",
};

/** A Host/Origin check's refusal (server/http/request-guard.ts), in the access check's terms. */
export function guardRefusal(message: string): Refusal {
  return { status: 403, code: "permission_denied", message };
}

/** Answers with the Connect protocol's error body, so Connect clients show the reason; others see the status. */
export function writeRefusal(res: ServerResponse, refusal: Refusal): void {
  res.writeHead(refusal.status, {
    "content-type": "application/json",
    ...(refusal.status === 401 ? { "www-authenticate": 'Bearer realm="claude-sandbox-manager"' } : {}),
  });
  res.end(JSON.stringify({ code: refusal.code, message: refusal.message }));
}

/** Ends an upgrade request nobody takes: refused, or (no refusal) with no handler for it. */
export function endUpgrade(socket: Duplex, refusal: Refusal | undefined): void {
  const status = STATUS_LINES[refusal?.status ?? 404];
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
