/**
 * One event of a log tail. Offsets are byte offsets in the log file; chunks are raw bytes (not split on lines)
 * and each one starts where the previous one ended, except after the log was truncated or replaced: then the
 * next chunk starts again at offset 0 (an offset below the previous chunk's end means "the log starts anew").
 * An `end` event is always the last one; its offset is the next byte this client has not received.
 */
export type TailEvent =
  | { type: "chunk"; offset: number; data: Buffer }
  | { type: "keepalive"; offset: number }
  | { type: "end"; reason: LogEndReason; message: string; offset: number };

export type LogEndReason = "deleted" | "shutdown" | "too_slow";

export interface TailOptions {
  /** Lines of backlog before live output when fromOffset is not given; default 1000. */
  backlogLines?: number;
  /**
   * Resume exactly at this byte offset (no backlog): the stream continues with byte `fromOffset`, so a client
   * that passes the end of what it received gets no gap and no duplicate. An offset past the current size is
   * refused (DomainError invalid_argument naming from_offset and the size) by the first next().
   */
  fromOffset?: number;
  /** Ends the tail (client went away): the iterator finishes without an end event and lets go at once. */
  signal: AbortSignal;
  /**
   * Called once, at once, when the hub ends this tail (end(), close(), or too_slow). Its end event only comes
   * with the next pull, and a client that stopped pulling never makes one: this is the transport's cue to
   * give the stream a deadline of its own.
   */
  onEnd?: (reason: LogEndReason) => void;
}

export interface LogRange {
  data: Buffer;
  offset: number;
  /** Size of the whole file when read. */
  size: number;
}

/**
 * Reads and tails sandbox logs. Tails of one key (sandbox id) share one file watcher and one read of new bytes;
 * each subscriber has a bounded buffer, and a reader slower than the writer reads what it misses from the file
 * instead, so it stalls no one and costs no memory. Only a client that stops pulling events while more than
 * the buffer's size of new log is written is ended with "too_slow".
 * Every failure of a tail (bad options, unreadable file) surfaces as a DomainError from its first next().
 */
export interface LogHub {
  /** A bounded byte range; with no offset, the last `limit` bytes. A missing file reads as empty. */
  read(path: string, options: { offset?: number; limit: number }): Promise<LogRange>;
  /**
   * Backlog (the last `backlogLines` lines, a trailing partial line included), then live chunks as the file
   * grows; works before the file (or its directory) exists. If the file is truncated, deleted or replaced the
   * tail follows the new content from offset 0. A tail with nothing to send at first (resumed at the end, or an
   * empty log) starts with a keepalive at once, so its client learns the offset without waiting for output.
   */
  tail(key: string, path: string, options: TailOptions): AsyncIterable<TailEvent>;
  /**
   * Ends every tail of `key` with a final end event (at its next pull). After "deleted", new tails of the key
   * end at once for a short grace period, so a TailLogs call that raced the deletion does not hang.
   */
  end(key: string, reason: LogEndReason): void;
  /** Ends every tail with reason "shutdown" and releases all watchers. */
  close(): void;
}
