import type { Response } from "express";

// Comments keep the stream from looking idle to proxies and ssh tunnels that drop quiet connections.
export const SSE_KEEPALIVE_MS = 15_000;

export interface SseResponse {
  /** Aborted when the client goes away, the daemon shuts down or end() is called. */
  readonly signal: AbortSignal;
  /** Sends one event; resolves once the client has taken it (the socket drained), or at once when it is gone. */
  send(event: string, data: string): Promise<void>;
  end(): void;
}

/** One event in the wire format: each line of `data` on its own `data:` line, so HTML may span lines. */
export function formatSseEvent(event: string, data: string): string {
  const lines = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`);
  return `event: ${event}\n${lines.join("")}\n`;
}

/** Starts a text/event-stream answer that ends on `shutdown`, when the client disconnects, or by end(). */
export function openSse(res: Response, shutdown: AbortSignal): SseResponse {
  const done = new AbortController();
  const end = () => {
    if (done.signal.aborted) return;
    done.abort();
    clearInterval(keepalive);
    shutdown.removeEventListener("abort", end);
    if (!res.writableEnded) res.end();
  };
  res.status(200);
  res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("X-Accel-Buffering", "no");
  res.flushHeaders();
  // How long EventSource waits before reconnecting after the stream ends (a restart of the daemon).
  res.write("retry: 2000\n\n");
  const keepalive = setInterval(() => {
    if (!res.writableNeedDrain) res.write(": keepalive\n\n");
  }, SSE_KEEPALIVE_MS);
  // The response's close, not the request's: a GET's request closes as soon as its (empty) body is read.
  res.once("close", end);
  if (shutdown.aborted) end();
  else shutdown.addEventListener("abort", end, { once: true });
  return {
    signal: done.signal,
    end,
    async send(event, data) {
      if (done.signal.aborted) return;
      if (res.write(formatSseEvent(event, data))) return;
      await new Promise<void>((resolve) => {
        const settle = () => {
          res.off("drain", settle);
          done.signal.removeEventListener("abort", settle);
          resolve();
        };
        res.once("drain", settle);
        done.signal.addEventListener("abort", settle, { once: true });
      });
    },
  };
}
