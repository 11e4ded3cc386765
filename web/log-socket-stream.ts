import { Code, ConnectError } from "@connectrpc/connect";
import { WebSocket } from "ws";
import { LogEndReason, type TailLogsResponse } from "../client/index.js";
import { CLOSE_CODE, type ControlMessage, chunkFrame, controlFrame, type EndReason } from "./log-wire.js";

export interface LogSocketStreamOptions {
  /**
   * Bytes the socket may hold unsent before the stream stops pulling from TailLogs until they are written out.
   * A browser that stops reading then costs at most this plus the kernel's buffers; the tail itself ends it with
   * too_slow once the log moved on far enough, which reaches the browser as soon as it reads again.
   */
  highWaterBytes: number;
  /** How long an ended socket may take to finish its closing handshake before it is cut. */
  closeGraceMs: number;
  /** The stream starts with a reset: the offset the browser resumed from belongs to a log that is gone. */
  resetFirst: boolean;
  log(line: string): void;
}

type Events = AsyncIterator<TailLogsResponse>;

const END_REASONS: Partial<Record<LogEndReason, EndReason>> = {
  [LogEndReason.DELETED]: "deleted",
  [LogEndReason.SHUTDOWN]: "shutdown",
  [LogEndReason.TOO_SLOW]: "too_slow",
};

/**
 * One browser's log stream: TailLogs events, in order, as frames on its WebSocket (log-wire.ts). Pulls the next
 * event only once the socket has room, so memory per browser stays bounded whatever the browser does.
 */
export class LogSocketStream {
  /** Resolves once the socket is closed and the tail let go. */
  readonly closed: Promise<void>;
  /** The next log byte this browser has not been sent; undefined until the first event says where it starts. */
  private position: bigint | undefined;
  private ended = false;
  private answeredPing = true;

  constructor(
    private readonly ws: WebSocket,
    private readonly events: Events,
    first: IteratorResult<TailLogsResponse>,
    private readonly abort: AbortController,
    private readonly options: LogSocketStreamOptions,
  ) {
    this.closed = new Promise((resolve) => ws.once("close", () => resolve()));
    ws.on("pong", () => {
      this.answeredPing = true;
    });
    // The browser has nothing to say on this socket; maxPayload bounds what it may send anyway.
    ws.on("error", () => ws.terminate());
    ws.once("close", () => {
      this.ended = true;
      abort.abort();
    });
    void this.run(first);
  }

  /** Pings; a peer that did not answer the previous ping (dead, or not reading at all) is cut. */
  heartbeat(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (!this.answeredPing) {
      this.ws.terminate();
      return;
    }
    this.answeredPing = false;
    this.ws.ping();
  }

  /** The manager is shutting down: ends the stream with where to resume, unless it ended already. */
  shutdown(offset = this.position ?? 0n): void {
    this.end("shutdown", `the manager is shutting down; ${resumeAt(offset)}`, offset);
  }

  /** Cuts the connection without a closing handshake. */
  terminate(): void {
    this.ws.terminate();
  }

  private async run(first: IteratorResult<TailLogsResponse>): Promise<void> {
    try {
      if (this.options.resetFirst) this.control({ type: "reset", offset: 0 });
      let result = first;
      while (!result.done && !this.ended) {
        await this.forward(result.value.event);
        if (this.ended) break;
        result = await this.events.next();
      }
      // The tail ended without a final message: only an abort does that, and an abort means the socket is gone.
      if (!this.ended) this.end("error", "the log stream stopped unexpectedly", this.position ?? 0n);
    } catch (err) {
      if (this.ended || this.abort.signal.aborted) return;
      const code = err instanceof ConnectError ? err.code : Code.Internal;
      if (code === Code.Unavailable) {
        this.shutdown();
        return;
      }
      this.options.log(`log socket: TailLogs failed: ${err instanceof Error ? err.message : String(err)}`);
      const message = err instanceof ConnectError ? err.rawMessage : "reading the log failed";
      this.end("error", message, this.position ?? 0n);
    } finally {
      this.abort.abort();
      void this.events.return?.().catch(() => {});
    }
  }

  private async forward(event: TailLogsResponse["event"]): Promise<void> {
    switch (event.case) {
      case "chunk": {
        const { offset, data, nextOffset } = event.value;
        // The tail starts a truncated or replaced log again at 0; the browser must drop what it shows.
        if (this.position !== undefined && offset < this.position) this.control({ type: "reset", offset: 0 });
        this.position = nextOffset;
        await this.send(chunkFrame(offset, data), true);
        return;
      }
      case "keepalive": {
        const { offset } = event.value;
        if (this.position !== undefined && offset < this.position) this.control({ type: "reset", offset: 0 });
        this.position = offset;
        await this.send(controlFrame({ type: "keepalive", offset: Number(offset) }), false);
        return;
      }
      case "end": {
        const { reason, message, offset } = event.value;
        const why = END_REASONS[reason] ?? "error";
        // The tail's own words name the RPC's from_offset; a browser resumes with ?from=.
        if (why === "too_slow") {
          this.end(why, `this browser stopped reading while the log moved on; ${resumeAt(offset)}`, offset);
        } else if (why === "shutdown") {
          this.shutdown(offset);
        } else {
          this.end(why, message, offset);
        }
        return;
      }
      default:
        return;
    }
  }

  /** Sends; waits for the socket to write everything out when it holds more than the high-water mark. */
  private send(data: Buffer | string, binary: boolean): Promise<void> | undefined {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return undefined;
    if (ws.bufferedAmount + data.length <= this.options.highWaterBytes) {
      ws.send(data, { binary });
      return undefined;
    }
    // The callback runs once this frame, and so everything before it, is in the kernel (or the socket failed).
    return new Promise((resolve) => ws.send(data, { binary }, () => resolve()));
  }

  private control(message: ControlMessage): void {
    void this.send(controlFrame(message), false);
  }

  private end(reason: EndReason, message: string, offset: bigint): void {
    if (this.ended) return;
    this.ended = true;
    this.abort.abort();
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    ws.send(controlFrame({ type: "end", reason, message, offset: Number(offset) }));
    // Close reasons are at most 123 bytes; the end message carries the full text.
    ws.close(CLOSE_CODE[reason], reason);
    // A peer that does not read will not answer the close either.
    setTimeout(() => ws.terminate(), this.options.closeGraceMs).unref();
  }
}

function resumeAt(offset: bigint): string {
  return `reconnect with ?from=${offset} to resume`;
}
