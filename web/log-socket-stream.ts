import { Code, ConnectError } from "@connectrpc/connect";
import { WebSocket } from "ws";
import { LogEndReason, type TailLogsResponse } from "../client/index.js";
import type { FeedChunk, FeedSubscriber, LogFeed } from "./log-feed.js";
import {
  CLOSE_CODE,
  type ControlMessage,
  chunkFrame,
  controlFrame,
  type EndReason,
  OFFSET_BYTES,
} from "./log-wire.js";

/** A TailLogs stream of this socket's own, already opened, with its first event. */
export interface OwnTail {
  events: AsyncIterator<TailLogsResponse>;
  first: IteratorResult<TailLogsResponse>;
  abort: AbortController;
}

export interface LogSocketStreamOptions {
  /**
   * Bytes the socket may hold unsent. Past it, a socket on the shared feed leaves it for a tail of its own, and
   * a socket on its own tail stops pulling until they are written out: a browser that stops reading costs at
   * most this plus the kernel's buffers; its tail ends it with too_slow once the log moved on far enough,
   * which reaches the browser as soon as it reads again.
   */
  highWaterBytes: number;
  /** How long an ended socket may take to finish its closing handshake before it is cut. */
  closeGraceMs: number;
  /** The stream starts with a reset: the offset the browser resumed from belongs to a log that is gone. */
  resetFirst: boolean;
  /** Opens a tail of this socket's own from `from` (to fall back on when it stops keeping up with the feed). */
  openTail(from: bigint): Promise<OwnTail>;
  log(line: string): void;
}

const END_REASONS: Partial<Record<LogEndReason, EndReason>> = {
  [LogEndReason.DELETED]: "deleted",
  [LogEndReason.SHUTDOWN]: "shutdown",
  [LogEndReason.TOO_SLOW]: "too_slow",
};

/**
 * One browser's log stream: log events, in order, as frames on its WebSocket (log-wire.ts). It starts on a
 * TailLogs stream of its own (the backlog or the resume offset), and once that has caught up with the
 * sandbox's shared feed (log-feed.ts) it follows the feed instead; if it stops keeping up it goes back to a
 * tail of its own from the next byte it has not sent. Memory per browser stays bounded whatever it does.
 */
export class LogSocketStream implements FeedSubscriber {
  /** Resolves once the socket is closed and its tails let go. */
  readonly closed: Promise<void>;
  /** The next log byte this browser has not been sent; undefined until the first event says where it starts. */
  private position: bigint | undefined;
  private mode: "own" | "shared" = "own";
  /** The log was reset since this socket started: its offsets cannot be matched to the feed's any more. */
  private sawReset = false;
  private readonly feedResets: number;
  private ownAbort: AbortController | undefined;
  private ended = false;
  private answeredPing = true;

  constructor(
    private readonly ws: WebSocket,
    private readonly feed: LogFeed,
    tail: OwnTail,
    private readonly options: LogSocketStreamOptions,
  ) {
    this.feedResets = feed.resets;
    this.closed = new Promise((resolve) => ws.once("close", () => resolve()));
    ws.on("pong", () => {
      this.answeredPing = true;
    });
    // The browser has nothing to say on this socket; maxPayload bounds what it may send anyway.
    ws.on("error", () => ws.terminate());
    ws.once("close", () => {
      this.ended = true;
      this.leave();
    });
    if (options.resetFirst) this.control({ type: "reset", offset: 0 });
    void this.runOwn(tail);
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

  // The shared feed (FeedSubscriber)

  feedChunk(chunk: FeedChunk): void {
    const position = this.position;
    if (this.mode !== "shared" || position === undefined || chunk.next <= position) return;
    if (chunk.offset > position) {
      // Cannot happen for a socket that joined inside the feed's ring; never leave a gap if it does.
      this.fallBack();
      return;
    }
    const frame =
      chunk.offset === position
        ? chunk.frame
        : chunkFrame(position, chunk.frame.subarray(OFFSET_BYTES + Number(position - chunk.offset)));
    this.position = chunk.next;
    this.ws.send(frame, { binary: true });
    if (this.ws.bufferedAmount > this.options.highWaterBytes) this.fallBack();
  }

  feedReset(): void {
    if (this.mode !== "shared") return;
    this.position = 0n;
    this.control({ type: "reset", offset: 0 });
  }

  feedKeepalive(offset: bigint, frame: string): void {
    if (this.mode !== "shared" || offset !== this.position) return;
    this.ws.send(frame);
  }

  feedEnd(reason: EndReason, message: string): void {
    if (this.mode !== "shared") return;
    if (reason === "deleted") this.end(reason, message, this.position ?? 0n);
    else if (reason === "shutdown") this.shutdown();
    else this.fallBack();
  }

  // Its own tail

  private async runOwn(tail: OwnTail): Promise<void> {
    const { events, abort } = tail;
    this.ownAbort = abort;
    try {
      let result = tail.first;
      while (!result.done && !this.ended) {
        await this.forward(result.value.event);
        if (this.ended || this.joinFeed()) return;
        result = await events.next();
      }
      // The tail ended without a final message: only an abort does that, and an abort means the socket is gone.
      if (!this.ended) this.end("error", "the log stream stopped unexpectedly", this.position ?? 0n);
    } catch (err) {
      if (this.ended || abort.signal.aborted) return;
      const code = err instanceof ConnectError ? err.code : Code.Internal;
      if (code === Code.Unavailable) {
        this.shutdown();
        return;
      }
      this.options.log(`log socket: TailLogs failed: ${err instanceof Error ? err.message : String(err)}`);
      const message = err instanceof ConnectError ? err.rawMessage : "reading the log failed";
      this.end("error", message, this.position ?? 0n);
    } finally {
      abort.abort();
      void events.return?.().catch(() => {});
    }
  }

  /** Switches to the shared feed if this socket has caught up with it; true when it did. */
  private joinFeed(): boolean {
    const { feed, position } = this;
    if (position === undefined || this.sawReset || feed.resets !== this.feedResets) return false;
    // A socket that just drained a backlog may still be writing it: join once it keeps up.
    if (this.ws.bufferedAmount > this.options.highWaterBytes / 4) return false;
    const replay = feed.since(position);
    if (replay === undefined) return false;
    this.mode = "shared";
    for (const chunk of replay) this.feedChunk(chunk);
    if (this.mode === "shared") feed.subscribe(this);
    return true;
  }

  /** Leaves the feed for a tail of its own from the next byte not sent, read at this socket's pace. */
  private fallBack(): void {
    if (this.mode !== "shared") return;
    this.mode = "own";
    this.feed.unsubscribe(this);
    const from = this.position ?? 0n;
    this.options.openTail(from).then(
      (tail) => {
        if (this.ended) tail.abort.abort();
        else void this.runOwn(tail);
      },
      (err: unknown) => {
        const message = err instanceof ConnectError ? err.rawMessage : "reading the log failed";
        if (err instanceof ConnectError && err.code === Code.NotFound) this.end("deleted", message, from);
        else this.end("error", message, from);
      },
    );
  }

  private async forward(event: TailLogsResponse["event"]): Promise<void> {
    switch (event.case) {
      case "chunk": {
        const { offset, data, nextOffset } = event.value;
        // The tail starts a truncated or replaced log again at 0; the browser must drop what it shows.
        if (this.position !== undefined && offset < this.position) this.reset();
        this.position = nextOffset;
        await this.send(chunkFrame(offset, data), true);
        return;
      }
      case "keepalive": {
        const { offset } = event.value;
        if (this.position !== undefined && offset < this.position) this.reset();
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

  private reset(): void {
    this.sawReset = true;
    this.control({ type: "reset", offset: 0 });
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

  private leave(): void {
    this.feed.unsubscribe(this);
    this.ownAbort?.abort();
  }

  private end(reason: EndReason, message: string, offset: bigint): void {
    if (this.ended) return;
    this.ended = true;
    this.leave();
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
