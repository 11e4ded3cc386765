/** One event of a log tail. Offsets are byte offsets in the log file. */
export type TailEvent =
  | { type: "chunk"; offset: number; data: Buffer }
  | { type: "keepalive"; offset: number }
  | { type: "end"; reason: LogEndReason; message: string; offset: number };

export type LogEndReason = "deleted" | "shutdown" | "too_slow";

export interface TailOptions {
  /** Lines of backlog before live output when fromOffset is not given; default 1000. */
  backlogLines?: number;
  /** Resume exactly at this byte offset (no backlog). */
  fromOffset?: number;
  /** Ends the tail (client went away). */
  signal: AbortSignal;
}

export interface LogRange {
  data: Buffer;
  offset: number;
  /** Size of the whole file when read. */
  size: number;
}

/**
 * Reads and tails sandbox logs. Tails of one key (sandbox id) share one file watcher; each subscriber has a
 * bounded buffer so a slow reader cannot stall the others.
 */
export interface LogHub {
  /** A bounded byte range; with no offset, the last `limit` bytes. A missing file reads as empty. */
  read(path: string, options: { offset?: number; limit: number }): Promise<LogRange>;
  /** Backlog, then live chunks as the file grows; works before the file exists. */
  tail(key: string, path: string, options: TailOptions): AsyncIterable<TailEvent>;
  /** Ends every tail of `key` with a final end event. */
  end(key: string, reason: LogEndReason): void;
  /** Ends every tail with reason "shutdown" and releases all watchers. */
  close(): void;
}
