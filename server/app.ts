// The daemon's network side: one listener (TCP or Unix socket) carrying Connect and gRPC-Web over HTTP/1.1 and
// native gRPC/Connect over h2c, told apart by the HTTP/2 client preface. Non-RPC HTTP/1.1 requests and
// upgrades go to the web gateway when one is mounted. Who may use it is decided per connection (Unix socket:
// the peer's credentials) or per request (TCP: the token) before any of that runs (http/access.ts).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttp2Server, type Http2Server, type Http2Session } from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Code, ConnectError, createRouterTransport, type Transport } from "@connectrpc/connect";
import { type ConnectNodeAdapterOptions, connectNodeAdapter } from "@connectrpc/connect-node";
import type { ClaudeUsage } from "./claude-usage/claude-usage.js";
import { describeListen, type ListenAddress } from "./config.js";
import { DomainError } from "./errors.js";
import { type AccessRequest, createAccess, type Refusal } from "./http/access.js";
import { createBrowserLogin } from "./http/browser-login.js";
import type { Caller } from "./http/caller.js";
import type { GatewayFactory } from "./http/gateway.js";
import { listenError } from "./http/listen-error.js";
import { endUpgrade, guardRefusal, writeRefusal } from "./http/refusal.js";
import { createRequestGuard } from "./http/request-guard.js";
import { responseDeadlineKey, responseDeadlineOf, withResponseDeadline } from "./http/response-deadline.js";
import { sniffProtocol } from "./http/sniff-protocol.js";
import { blockedFor, listenUnixSocket, removeOwnSocket } from "./http/unix-socket.js";
import type { LogHub } from "./logs/log-hub.js";
import type { SystemSampler } from "./metrics/system-sampler.js";
import { createRoutes } from "./routes.js";
import type { SandboxManager } from "./sandbox/sandbox-manager.js";
import type { ScreenshotCapturer } from "./screenshots/screenshot-capturer.js";
import { actAs, callerValues } from "./service/caller.js";
import { loadPeerCredentials } from "./tools/peer-credentials.js";

export interface AppOptions {
  listen: ListenAddress;
  /** TCP, and required there: the bearer token every request must carry (`Authorization: Bearer …`). */
  token?: string;
  /** Unix socket: the group given the socket, whose members may connect; default the daemon's group. */
  socketGid?: number;
  manager: SandboxManager;
  /** Closed by App.close() so that open tails end with LogEnd SHUTDOWN. */
  logHub: LogHub;
  /** One line per notable event, for the daemon's stderr. */
  log: (line: string) => void;
  /** Host names besides the loopback ones that requests may name (MANAGER_HOSTNAMES). */
  hostnames?: readonly string[];
  /** Mounts the web gateway on the HTTP/1.1 side; without one, non-RPC requests are answered 404. */
  gateway?: GatewayFactory;
  /** Keepalive interval of quiet WatchSandboxes streams. */
  watchKeepaliveMs?: number;
  /** The host's sampled load for GetSystemMetrics; left to the caller to close, like the manager. */
  systemMetrics?: SystemSampler;
  /** Serves GetScreenshot; left to the caller to close, like the manager. */
  screenshots?: ScreenshotCapturer;
  /** How long close() lets open responses finish before cutting their connections. */
  drainMs?: number;
  /** Claude session metrics (GetSandboxMetrics); without it the RPC is unimplemented. */
  claudeUsage?: ClaudeUsage;
}

export interface App {
  /** Binds the listener; resolves with its description (`http://127.0.0.1:3000`, `unix:/path`). */
  listen(): Promise<string>;
  /**
   * Ends open streams with their final message or code, stops listening, closes connections and removes the
   * Unix socket. The manager is left to the caller.
   */
  close(): Promise<void>;
}

type NodeHandlerFn = ReturnType<typeof connectNodeAdapter>;

const DEFAULT_DRAIN_MS = 2000;
// A connection that sends nothing is dropped rather than held forever.
const FIRST_BYTES_TIMEOUT_MS = 10_000;
// Largest request message; the biggest legitimate one (CreateSandbox with agent args) is under 100 KiB.
const MAX_REQUEST_BYTES = 1024 * 1024;
/** Messages smaller than this go uncompressed whatever the client accepts (see adapterOptions). */
const COMPRESS_MIN_BYTES = 64 * 1024;

export function createApp(options: AppOptions): App {
  const { manager, logHub, log } = options;
  if (options.listen.kind === "tcp" && (options.token === undefined || options.token === "")) {
    throw new Error("a TCP listener needs a token: any local user can reach the port");
  }
  const socketGid = options.socketGid ?? process.getegid?.() ?? 0;
  const access =
    options.listen.kind === "tcp"
      ? createAccess({ kind: "tcp", token: options.token ?? "" })
      : createAccess({ kind: "unix", where: describeListen(options.listen), socketGid, log });
  const shutdown = new AbortController();
  const routes = createRoutes({
    manager,
    logHub,
    shutdownSignal: shutdown.signal,
    watchKeepaliveMs: options.watchKeepaliveMs,
    claudeUsage: options.claudeUsage,
    systemMetrics: options.systemMetrics,
    screenshots: options.screenshots,
    // A domain error's message says it all; anything else gets its stack for whoever debugs it.
    reportError: (rpc, err) =>
      log(
        `${rpc} failed: ${err instanceof DomainError && err.kind !== "internal" ? err.message : describeError(err)}`,
      ),
  });
  const adapterOptions = {
    routes,
    shutdownSignal: shutdown.signal,
    readMaxBytes: MAX_REQUEST_BYTES,
    // Connect gzips every message from 1 KiB for a client that accepts it, with a zlib context of its own each
    // time: for 50 tails of a fast log that was 40 % of the daemon's CPU. Big messages (a backlog, history read
    // at a lagging client's pace) still shrink on their way through a tunnel; live output goes as it is.
    compressMinBytes: COMPRESS_MIN_BYTES,
    contextValues: (req: AccessRequest) =>
      callerValues(access.callerOf(req)).set(responseDeadlineKey, responseDeadlineOf(req)),
  };
  const guard = createRequestGuard(options.listen, { hostnames: options.hostnames });
  // Host/Origin first (browser-borne attacks), then who is asking.
  const check = (req: IncomingMessage | AccessRequest): { refusal?: Refusal; byGuard: boolean } => {
    const guarded = guard(req);
    if (guarded !== undefined) return { refusal: guardRefusal(guarded), byGuard: true };
    return { refusal: access.check(req), byGuard: false };
  };
  const login =
    options.listen.kind === "tcp" && options.token !== undefined
      ? createBrowserLogin(options.token)
      : undefined;
  let activeRequests = 0;
  const counted =
    (handler: NodeHandlerFn): NodeHandlerFn =>
    (req, res) => {
      activeRequests++;
      res.once("close", () => activeRequests--);
      const { refusal, byGuard } = check(req);
      if (refusal === undefined) {
        // Streams that end while their client has stopped reading (TailLogs) bound how long the response lingers.
        withResponseDeadline(req, res, () => handler(req, res));
        return;
      }
      // A browser without the token on a TCP listener may sign in (and is sent to do so from a page).
      if (!byGuard && login?.handle(req as IncomingMessage, res as ServerResponse)) return;
      // A refused peer (Unix socket) was logged once, when it connected.
      const peerRefused = !byGuard && options.listen.kind === "unix";
      if (!peerRefused) log(`refused ${req.method} ${req.url}: ${refusal.message}`);
      writeRefusal(res as ServerResponse, refusal);
    };
  const inProcess = (caller: Caller | undefined) =>
    createRouterTransport(routes, {
      router: { shutdownSignal: shutdown.signal, interceptors: [actAs(caller)] },
    });
  // One transport per caller (per connection), not per request.
  const transports = new WeakMap<Caller, Transport>();
  const gateway = options.gateway?.(inProcess(undefined), (req) => {
    const caller = access.callerOf(req);
    if (caller === undefined) return inProcess(undefined);
    const known = transports.get(caller);
    if (known !== undefined) return known;
    const transport = inProcess(caller);
    transports.set(caller, transport);
    return transport;
  });
  // The gateway's RPCs run in-process: their calls carry no response deadline (a stream of theirs that ends is
  // not the gateway's response), as the router transport has no HTTP request to find one from.
  const gatewayHandler = gateway && ((req: IncomingMessage, res: ServerResponse) => gateway.handle(req, res));
  const http1 = createServer(
    counted(
      connectNodeAdapter({
        ...adapterOptions,
        fallback: gatewayHandler as ConnectNodeAdapterOptions["fallback"],
      }),
    ),
  );
  http1.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const { refusal } = check(req);
    if (refusal !== undefined) log(`refused upgrade ${req.url}: ${refusal.message}`);
    if (refusal === undefined && gateway?.upgrade !== undefined) {
      gateway.upgrade(req, socket, head);
      return;
    }
    endUpgrade(socket, refusal);
  });
  const http2: Http2Server = createHttp2Server({}, counted(connectNodeAdapter(adapterOptions)));
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  http2.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  const front: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    access.onConnection(socket);
    socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, () => socket.destroy());
    sniffProtocol(socket, (isHttp2) => {
      socket.setTimeout(0);
      (isHttp2 ? http2 : http1).emit("connection", socket);
    });
  });

  // A deleted sandbox's log is gone: its tails end now rather than wait for output that never comes.
  const unsubscribe = manager.onEvent((event) => {
    if (event.type === "deleted") logHub.end(event.id, "deleted");
  });

  let closing: Promise<void> | undefined;
  let socketInode: number | undefined;

  return {
    async listen() {
      if (options.listen.kind === "unix") {
        // Fail closed: a manager that cannot tell who connects does not listen.
        loadPeerCredentials();
        socketInode = await listenUnixSocket(front, options.listen.path, { gid: socketGid });
        const blocked = await blockedFor(options.listen.path, socketGid);
        if (blocked !== undefined && socketGid !== process.getegid?.()) {
          log(
            `warning: members of group ${socketGid} cannot reach ${options.listen.path}: ${blocked} gives them ` +
              "no search permission (the state directory is 0700 on purpose; put the socket elsewhere, e.g. " +
              "MANAGER_LISTEN=unix:/run/claude-sandbox/api.sock)",
          );
        }
      } else {
        const { host, port } = options.listen;
        await new Promise<void>((resolve, reject) => {
          front.once("error", reject);
          front.listen({ host, port }, () => {
            front.off("error", reject);
            resolve();
          });
        }).catch((err: unknown) => {
          throw listenError(options.listen, err);
        });
      }
      return describeListen(options.listen);
    },
    close() {
      closing ??= (async () => {
        unsubscribe();
        const closed = new Promise<void>((resolve) => front.close(() => resolve()));
        logHub.close();
        shutdown.abort(new ConnectError("manager shutting down", Code.Unavailable));
        const deadline = Date.now() + (options.drainMs ?? DEFAULT_DRAIN_MS);
        while (activeRequests > 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        try {
          await gateway?.close?.();
        } catch (err) {
          log(`web gateway failed to close: ${describeError(err)}`);
        }
        for (const session of sessions) session.close();
        for (const socket of sockets) socket.destroy();
        await closed;
        if (options.listen.kind === "unix" && socketInode !== undefined) {
          await removeOwnSocket(options.listen.path, socketInode);
        }
      })();
      return closing;
    },
  };
}

function describeError(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}
