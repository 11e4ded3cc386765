import { DomainError, invalidArgument } from "../errors.js";
import { ChunkQueue } from "./chunk-queue.js";
import type { ChannelSink, LogChannel } from "./log-channel.js";
import type { LogEndReason, TailEvent } from "./log-hub.js";

export interface TailSubscriptionOptions {
  backlogLines: number;
  fromOffset: number | undefined;
  signal: AbortSignal;
  /**
   * Live bytes a subscriber may hold in memory (more and it reads them from the file instead), and the bytes
   * of new log after which a client that stopped pulling is ended with "too_slow".
   */
  maxBufferBytes: number;
  /** Largest chunk handed out in one event. */
  maxChunkBytes: number;
  /** Most bytes the backlog search scans backwards. */
  maxBacklogBytes: number;
  keepaliveMs: number;
  /** Told at once when the tail is ended, before anyone pulls the end event. */
  onEnd?: (reason: LogEndReason) => void;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * One tail client. Live bytes arrive from the shared channel into a bounded queue and are coalesced into one
 * event per pull; history (backlog or a resume offset below the channel's live offset) is read from the file
 * on demand, so it never sits in memory. `position` is always the next byte the client has not received.
 *
 * A client that reads but is slower than the writer is never cut off: when its queue would exceed
 * maxBufferBytes the queue is dropped and those bytes become history, read from the file at the client's pace.
 * Only a client that stopped pulling (its transport does not drain) is ended with "too_slow", once more than
 * maxBufferBytes of new log arrived since it last took an event and before it asked for the next one.
 */
export class TailSubscription implements AsyncIterableIterator<TailEvent>, ChannelSink {
  private position = 0;
  /** Bytes [position, liveStart) are history to read from the file. */
  private liveStart = 0;
  private generation = 0;
  private started = false;
  private initialised = false;
  private readonly queue = new ChunkQueue();
  private pendingEnd: LogEndReason | null = null;
  private pendingError: Error | null = null;
  private finished = false;
  private wake: (() => void) | null = null;
  private lastEventAt = performance.now();
  private pull: Promise<unknown> = Promise.resolve();
  /** next() calls not answered yet: while one is, the client is waiting for us, not stalled. */
  private outstanding = 0;
  /** An event was handed out: only after that can the client be said to have stopped pulling. */
  private delivered = false;
  /** Bytes broadcast since the last event was handed out while no next() was outstanding. */
  private unpulled = 0;
  private readonly onAbort = (): void => this.finish();

  constructor(
    private readonly channel: LogChannel,
    private readonly options: TailSubscriptionOptions,
    /** Called once when this subscriber stops listening to the channel. */
    private readonly detach: (subscription: TailSubscription) => void,
  ) {
    if (options.signal.aborted) {
      this.finished = true;
      return;
    }
    options.signal.addEventListener("abort", this.onAbort, { once: true });
    channel.add(this);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<TailEvent, undefined>> {
    this.outstanding += 1;
    this.unpulled = 0;
    // Pulls run one at a time even if a caller does not await the previous one.
    const result = this.pull
      .then(() => this.produce())
      .finally(() => {
        this.outstanding -= 1;
      });
    this.pull = result.catch(() => undefined);
    return result;
  }

  async return(): Promise<IteratorResult<TailEvent, undefined>> {
    this.finish();
    return DONE;
  }

  /** Ends the tail: the next pull yields an end event with the position reached, then the iterator is done. */
  end(reason: LogEndReason): void {
    if (this.finished || this.pendingEnd !== null) return;
    this.pendingEnd = reason;
    this.dropQueue();
    this.stopListening();
    this.notify();
    this.options.onEnd?.(reason);
  }

  get isActive(): boolean {
    return !this.finished && this.pendingEnd === null;
  }

  // ChannelSink

  start(liveOffset: number, generation: number): void {
    this.liveStart = liveOffset;
    this.generation = generation;
    this.started = true;
    this.notify();
  }

  chunk(offset: number, data: Buffer): void {
    if (!this.isActive) return;
    if (this.delivered && this.outstanding === 0) {
      this.unpulled += data.length;
      if (this.unpulled > this.options.maxBufferBytes) {
        // The client stopped taking events (its socket is full and never drains): holding its place forever
        // would keep a dead reader attached to the channel.
        this.end("too_slow");
        return;
      }
    }
    if (
      this.queue.length === 0 &&
      offset === this.liveStart &&
      (!this.initialised || this.position < this.liveStart)
    ) {
      // Still reading history from the file: the new bytes are in the file too, so extend the history instead
      // of holding them in memory. A lagging client costs no memory; only one that holds a queue can overflow.
      this.liveStart += data.length;
      this.notify();
      return;
    }
    if (this.queue.bytes + data.length > this.options.maxBufferBytes) {
      if (this.generation !== this.channel.generation) {
        // A reset is queued: the bytes before it belong to a file that is gone, so they cannot be re-read.
        this.end("too_slow");
        return;
      }
      // A reader slower than the writer: everything queued is in the file, so read it from there at the
      // client's pace instead of holding it in memory.
      this.dropQueue();
      this.liveStart = offset + data.length;
      this.notify();
      return;
    }
    this.queue.push({ offset, data });
    this.notify();
  }

  reset(): void {
    if (!this.isActive) return;
    this.queue.push("reset");
    this.notify();
  }

  fail(error: Error): void {
    if (!this.isActive) return;
    this.pendingError = error;
    this.notify();
  }

  // Iteration

  private async produce(): Promise<IteratorResult<TailEvent, undefined>> {
    try {
      return await this.produceOrThrow();
    } catch (error) {
      // A failed tail must not keep its place in the channel.
      this.finish();
      throw error instanceof DomainError ? error : this.readFailure(error);
    }
  }

  private async produceOrThrow(): Promise<IteratorResult<TailEvent, undefined>> {
    if (!this.initialised && !this.finished) await this.initialise();
    for (;;) {
      if (this.finished) return DONE;
      if (this.pendingEnd !== null) {
        const event: TailEvent = {
          type: "end",
          reason: this.pendingEnd,
          message: endMessage(this.pendingEnd, this.position, this.options.maxBufferBytes),
          offset: this.position,
        };
        this.finish();
        return { done: false, value: event };
      }
      if (this.pendingError !== null) throw this.readFailure(this.pendingError);
      const event = (await this.history()) ?? this.fromQueue();
      if (event === "again") continue;
      if (event !== null) return this.emit(event);
      // Nothing to send at the start (resumed at the end, or an empty log): answer at once rather than after the
      // first byte or keepalive, so the transport sends its headers and the client learns the offset now.
      if (!this.delivered || (await this.idle()))
        return this.emit({ type: "keepalive", offset: this.position });
    }
  }

  private readFailure(cause: unknown): DomainError {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return new DomainError("internal", `reading the log ${this.channel.path} failed: ${reason}`, { cause });
  }

  /** Waits for the channel, then places `position` at the resume offset or the start of the backlog. */
  private async initialise(): Promise<void> {
    if (!this.started) await this.waitFor(() => this.started || !this.isActive || this.pendingError !== null);
    if (this.finished) return;
    const { fromOffset, backlogLines, maxBacklogBytes } = this.options;
    if (!this.started || this.pendingError !== null) {
      // Ended or failed before the channel was ready: report where the client asked to start.
      this.position = fromOffset ?? this.liveStart;
      this.initialised = true;
      return;
    }
    if (fromOffset !== undefined) {
      this.position = fromOffset;
      if (fromOffset > this.liveStart) {
        const size = await this.channel.currentSize();
        if (fromOffset > size) {
          throw invalidArgument(
            "from_offset",
            `${fromOffset} is past the end of the log (its size is ${size} bytes); resume from an offset this ` +
              "stream reported, or omit from_offset to start with the backlog",
          );
        }
      }
    } else {
      const start = await this.channel.backlogStart(
        this.generation,
        this.liveStart,
        backlogLines,
        maxBacklogBytes,
      );
      // null: the file was replaced meanwhile; the queued reset moves position to 0 anyway.
      this.position = start ?? this.liveStart;
    }
    this.initialised = true;
  }

  /** The next piece of history, "again" when the state moved on, or null when there is none to read. */
  private async history(): Promise<TailEvent | "again" | null> {
    if (this.position >= this.liveStart) return null;
    if (this.channel.generation !== this.generation) {
      // The file this history belonged to is gone or truncated: skip to the next generation.
      this.skipToReset();
      return "again";
    }
    const at = this.position;
    const length = Math.min(this.options.maxChunkBytes, this.liveStart - at);
    const data = await this.channel.readAt(this.generation, at, length);
    if (!this.isActive || this.position !== at) return "again";
    if (data === null || data.length === 0) {
      // The file went away or shrank below what was broadcast (the channel reports that as a reset, or did
      // already). The history is gone: stop reading it rather than retrying.
      if (data !== null || this.channel.generation === this.generation) this.liveStart = at;
      return "again";
    }
    this.position = at + data.length;
    return { type: "chunk", offset: at, data };
  }

  /** Coalesces queued live bytes (up to one chunk, never across a reset) into one event. */
  private fromQueue(): TailEvent | "again" | null {
    const parts: Buffer[] = [];
    let start = -1;
    let length = 0;
    while (this.queue.length > 0 && length < this.options.maxChunkBytes) {
      const item = this.queue.peek();
      if (item === undefined) break;
      if (item === "reset") {
        if (parts.length > 0) break;
        this.queue.shift();
        this.applyReset();
        continue;
      }
      const expected = start < 0 ? this.position : start + length;
      const end = item.offset + item.data.length;
      if (end <= expected && start < 0) {
        // Already delivered (a resume offset ahead of the channel, or history covered it).
        this.queue.shift();
        continue;
      }
      if (parts.length > 0 && item.offset !== expected) break;
      const skip = Math.max(0, expected - item.offset);
      const room = this.options.maxChunkBytes - length;
      const take = Math.min(item.data.length - skip, room);
      if (start < 0) start = item.offset + skip;
      parts.push(item.data.subarray(skip, skip + take));
      length += take;
      if (skip + take === item.data.length) this.queue.shift();
      else this.queue.trimHead(skip + take);
    }
    if (parts.length === 0) return this.queue.length > 0 ? "again" : null;
    this.position = start + length;
    const data = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, length);
    return { type: "chunk", offset: start, data };
  }

  private skipToReset(): void {
    while (this.queue.length > 0) {
      if (this.queue.shift() === "reset") {
        this.applyReset();
        return;
      }
    }
    // The reset is not queued yet (it arrives with the channel's next check); wait for it without history.
    this.liveStart = this.position;
  }

  private applyReset(): void {
    this.generation += 1;
    this.position = 0;
    this.liveStart = 0;
  }

  /** Waits for news; true when the quiet period passed and a keepalive is due. */
  private async idle(): Promise<boolean> {
    const remaining = this.options.keepaliveMs - (performance.now() - this.lastEventAt);
    if (remaining <= 0) return true;
    let timedOut = false;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timedOut = true;
        resolve();
      }, remaining);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = null;
    return timedOut && !this.finished && this.pendingEnd === null && this.pendingError === null;
  }

  private async waitFor(condition: () => boolean): Promise<void> {
    while (!condition()) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }

  private emit(event: TailEvent): IteratorResult<TailEvent, undefined> {
    this.lastEventAt = performance.now();
    this.delivered = true;
    this.unpulled = 0;
    return { done: false, value: event };
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private dropQueue(): void {
    this.queue.clear();
  }

  private stopListening(): void {
    this.options.signal.removeEventListener("abort", this.onAbort);
    this.channel.remove(this);
    this.detach(this);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.dropQueue();
    if (this.pendingEnd === null) this.stopListening();
    this.notify();
  }
}

/** The human half of an end event; `offset` is where to resume. */
export function endMessage(reason: LogEndReason, offset: number, maxBufferBytes: number): string {
  switch (reason) {
    case "deleted":
      return "the sandbox was deleted";
    case "shutdown":
      return `the manager is shutting down; reconnect with from_offset=${offset} to resume`;
    case "too_slow":
      return (
        `this client stopped reading while more than ${maxBufferBytes} bytes were written to the log; ` +
        `reconnect with from_offset=${offset} to resume`
      );
  }
}
