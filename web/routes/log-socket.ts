import { type IncomingMessage, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { Code, ConnectError } from "@connectrpc/connect";
import { WebSocketServer } from "ws";
import { HttpError, toHttpError } from "../http-error.js";
import { LogFeeds } from "../log-feed.js";
import { LogSocketStream, type OwnTail } from "../log-socket-stream.js";
import type { WebDeps } from "../web-deps.js";

export interface LogSocket {
  /** Takes an upgrade for /ws/sandboxes/:id/logs; anything else is answered 404. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes every open socket (the daemon is shutting down). */
  close(): Promise<void>;
}

export interface LogSocketOptions {
  /** Between pings; a socket that did not answer the previous one is cut. Default 30 s. */
  pingIntervalMs?: number;
  /** Unsent bytes a socket may hold before its stream waits (log-socket-stream.ts). Default 512 KiB. */
  highWaterBytes?: number;
}

/** Lines of log a new stream starts with, as the seed documents. */
export const BACKLOG_LINES = 1000;
const LOG_PATH = /^\/ws\/sandboxes\/([^/]+)\/logs$/;
// A shutdown's closing handshakes get this long before the remaining sockets are cut.
const SHUTDOWN_CLOSE_MS = 1000;
const CLOSE_GRACE_MS = 5000;

interface Target {
  id: string;
  from: bigint | undefined;
}

/**
 * GET /ws/sandboxes/:id/logs[?from=<offset>]: the sandbox's terminal log over a WebSocket (log-wire.ts, and
 * web/README.md). Each socket starts on a TailLogs stream of its own, whose first event is awaited before the
 * upgrade is accepted: an unknown sandbox is a plain 404 and a socket only opens on a stream that works. Sockets
 * that catch up then share their sandbox's feed (log-feed.ts).
 */
export function createLogSocket(deps: WebDeps, options: LogSocketOptions = {}): LogSocket {
  const highWaterBytes = options.highWaterBytes ?? 512 * 1024;
  // No compression: terminal output through an ssh tunnel is compressed by ssh if at all, and deflating each
  // frame for a hundred browsers would cost the daemon more than everything else it does for them.
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: 1024,
  });
  const streams = new Set<LogSocketStream>();
  const heartbeat = setInterval(() => {
    for (const stream of streams) stream.heartbeat();
  }, options.pingIntervalMs ?? 30_000);
  heartbeat.unref();

  const feeds = new LogFeeds(deps.reader, deps.log);

  /** A TailLogs stream of one socket, opened and its first event in: an error is the answer to the upgrade. */
  const openTail = async (id: string, from: bigint | undefined, until: AbortSignal): Promise<OwnTail> => {
    const abort = new AbortController();
    const stop = () => abort.abort();
    until.addEventListener("abort", stop, { once: true });
    abort.signal.addEventListener("abort", () => until.removeEventListener("abort", stop), { once: true });
    const events = deps.reader
      .tailLogs(
        { id, backlogLines: from === undefined ? BACKLOG_LINES : undefined, fromOffset: from },
        { signal: abort.signal },
      )
      [Symbol.asyncIterator]();
    try {
      return { events, first: await events.next(), abort };
    } catch (err) {
      abort.abort();
      throw err;
    }
  };

  const accept = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const { id, from } = parseTarget(req);
    if (deps.shutdown.aborted) throw new HttpError(503, "the manager is shutting down");
    const gone = new AbortController();
    socket.once("close", () => gone.abort());
    let tail: OwnTail;
    let resetFirst = false;
    try {
      tail = await openTail(id, from, gone.signal);
    } catch (err) {
      // The only argument TailLogs can refuse once `from` is a valid number: past the end of the log. The log
      // the browser was reading was truncated or replaced while it was away; it starts anew with the backlog.
      if (!(from !== undefined && err instanceof ConnectError && err.code === Code.InvalidArgument))
        throw err;
      tail = await openTail(id, undefined, gone.signal);
      resetFirst = true;
    }
    if (socket.destroyed || deps.shutdown.aborted) {
      tail.abort.abort();
      // close() has run: a socket opened now would never be told.
      if (deps.shutdown.aborted) throw new HttpError(503, "the manager is shutting down");
      return;
    }
    // When the handshake is bad, ws answers it (400) and destroys the socket, whose close aborts the tail.
    wss.handleUpgrade(req, socket, head, (ws) => {
      const feed = feeds.acquire(id);
      const stream = new LogSocketStream(ws, feed, tail, {
        highWaterBytes,
        closeGraceMs: CLOSE_GRACE_MS,
        resetFirst,
        openTail: (at) => openTail(id, at, gone.signal),
        log: deps.log,
      });
      streams.add(stream);
      void stream.closed.then(() => {
        streams.delete(stream);
        feeds.release(id, feed);
      });
    });
  };

  return {
    upgrade(req, socket, head) {
      socket.on("error", () => socket.destroy());
      accept(req, socket, head).catch((err: unknown) => {
        const http = toHttpError(err);
        if (http.status >= 500 && !(err instanceof HttpError) && !(err instanceof ConnectError)) {
          deps.log(
            `upgrade ${req.url} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
          );
        }
        refuse(socket, http.status, http.message);
      });
    },
    async close() {
      clearInterval(heartbeat);
      const open = [...streams];
      for (const stream of open) stream.shutdown();
      const all = Promise.all(open.map((stream) => stream.closed));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_CLOSE_MS);
      });
      await Promise.race([all, late]);
      clearTimeout(timer);
      for (const stream of open) stream.terminate();
      feeds.closeAll();
    },
  };
}

/** The sandbox id and resume offset of an upgrade request, or the HttpError to refuse it with. */
function parseTarget(req: IncomingMessage): Target {
  const url = new URL(req.url ?? "/", "http://gateway");
  const match = LOG_PATH.exec(url.pathname);
  if (match === null) throw new HttpError(404, `no such WebSocket endpoint: ${url.pathname}`);
  if (req.method !== "GET") throw new HttpError(405, "a WebSocket upgrade must be a GET");
  const id = decodeId(match[1] ?? "");
  const values = url.searchParams.getAll("from");
  if (values.length > 1) throw new HttpError(400, "from: give one offset, not several", "from");
  const raw = values[0];
  if (raw === undefined) return { id, from: undefined };
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new HttpError(
      400,
      `from: must be a non-negative integer byte offset (the offset a message of this stream gave), got ${JSON.stringify(raw.slice(0, 40))}`,
      "from",
    );
  }
  return { id, from: BigInt(raw) };
}

function decodeId(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(404, `no such sandbox: ${JSON.stringify(segment.slice(0, 40))}`);
  }
}

/** Answers an upgrade with a plain HTTP status instead of 101. */
function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
      "Connection: close\r\n" +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      "Cache-Control: no-store\r\n" +
      "X-Content-Type-Options: nosniff\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
