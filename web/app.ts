// The web gateway: the documented REST endpoints, the dashboard's pages and fragments, its live events and the
// WebSocket log stream, mounted on the daemon's HTTP/1.1 side through createApp({ gateway }). Every request
// reaching it has passed the daemon's Host/Origin guard and access check; it talks to SandboxService only as a
// Connect client over the in-process transports it is given.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { createClient, type Transport } from "@connectrpc/connect";
import express, { type NextFunction, type Request, type Response } from "express";
import { SandboxService } from "../gen/claude_sandbox/v1/sandbox_service_pb.js";
import { errorHandler, notFound } from "./error-handler.js";
import { apiRouter } from "./routes/api.js";
import { eventsRouter } from "./routes/events.js";
import { createLogSocket } from "./routes/log-socket.js";
import { pagesRouter } from "./routes/pages.js";
import { staticRouter } from "./routes/static.js";
import { securityHeaders } from "./security-headers.js";
import type { WebDeps } from "./web-deps.js";
import { VIEWS_DIR } from "./web-dirs.js";

/** The daemon's gateway hooks (server/http/gateway.ts), restated here as web/ does not import server/. */
export interface WebGateway {
  handle(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  close(): Promise<void>;
}

export interface WebGatewayOptions {
  /** Where the gateway's own problems go (one line each); the daemon's log by default. */
  log?: (line: string) => void;
}

/** Builds the gateway factory that createApp({ gateway }) calls with its in-process transports. */
export function createWebGateway(
  options: WebGatewayOptions = {},
): (rpc: Transport, rpcAs: (req: IncomingMessage) => Transport) => WebGateway {
  const log =
    options.log ?? ((line: string) => process.stderr.write(`claude-sandbox-manager: web: ${line}\n`));
  return (rpc, rpcAs) => {
    // One client per transport: rpcAs() hands out one transport per connection's caller.
    const clients = new WeakMap<Transport, ReturnType<typeof createClient<typeof SandboxService>>>();
    const clientOf = (transport: Transport) => {
      let client = clients.get(transport);
      if (client === undefined) {
        client = createClient(SandboxService, transport);
        clients.set(transport, client);
      }
      return client;
    };
    const shutdown = new AbortController();
    const deps: WebDeps = {
      clientFor: (req) => clientOf(rpcAs(req)),
      reader: clientOf(rpc),
      shutdown: shutdown.signal,
      log,
    };
    const app = express();
    app.disable("x-powered-by");
    app.set("views", VIEWS_DIR);
    app.set("view engine", "ejs");
    // Templates compiled once, not re-read for every render (Express caches them only under NODE_ENV=production).
    app.set("view cache", true);
    app.use(securityHeaders);
    app.use("/static", staticRouter());
    app.use("/api", apiRouter(deps));
    app.use(eventsRouter(deps));
    app.use(pagesRouter(deps));
    app.use(notFound);
    app.use((err: unknown, req: Request, res: Response, next: NextFunction) =>
      errorHandler(err, req, res, next, log),
    );
    const logSocket = createLogSocket(deps);
    return {
      handle: (req, res) => app(req, res),
      upgrade: (req, socket, head) => logSocket.upgrade(req, socket, head),
      async close() {
        shutdown.abort();
        await logSocket.close();
      },
    };
  };
}
