import { DomainError } from "../errors.js";
import { createLogChannel, type LogChannel } from "./log-channel.js";
import type { LogEndReason, LogHub, LogRange, TailEvent, TailOptions } from "./log-hub.js";
import { checkOffset, DEFAULT_BACKLOG_LINES } from "./log-limits.js";
import { readLogRange } from "./read-log-range.js";
import { endMessage, TailSubscription } from "./tail-subscription.js";

export interface LogHubOptions {
  /** Quiet time after which a tail yields a keepalive event; default 15 s. */
  keepaliveMs?: number;
  /**
   * Live bytes held in memory for one tail client (beyond that it reads from the file), and the new log a client
   * that stopped pulling may let pass before it is ended with "too_slow"; default 8 MiB.
   */
  maxBufferBytes?: number;
  /**
   * Largest chunk in one event; default 256 KiB. Each client that lags holds about three copies of its current
   * chunk in flight (the read, the encoded message, the envelope): small enough that fifty of them cost tens of
   * MiB, not hundreds, and still few messages (24 a second at 6 MB/s).
   */
  maxChunkBytes?: number;
  /** Most bytes the backlog may span, however short its lines; default 4 MiB. */
  maxBacklogBytes?: number;
  /** Interval of the stat-polling fallback, used only where fs.watch fails (e.g. inotify limits); default 250 ms. */
  pollFallbackMs?: number;
  /**
   * For this long after end(key, "deleted"), a new tail of that key ends at once with "deleted" instead of
   * waiting for a log that will never come (a TailLogs call that raced the deletion); default 30 s.
   */
  deletedGraceMs?: number;
}

/** Live resources of a hub, for leak checks and diagnostics. */
export interface LogHubStats {
  /** Keys with at least one tail. */
  keys: number;
  /** Tails still attached to a watcher. */
  subscribers: number;
  /** fs watchers (or fallback poll timers) held open. */
  watchers: number;
  /** Log files held open. */
  openFiles: number;
}

export type LogHubWithStats = LogHub & { stats(): LogHubStats };

interface KeyEntry {
  channel: LogChannel;
  subscribers: Set<TailSubscription>;
}

const MIB = 1024 * 1024;

export function createLogHub(options: LogHubOptions = {}): LogHubWithStats {
  const keepaliveMs = positive("keepaliveMs", options.keepaliveMs ?? 15_000);
  const maxBufferBytes = positive("maxBufferBytes", options.maxBufferBytes ?? 8 * MIB);
  const maxChunkBytes = positive("maxChunkBytes", options.maxChunkBytes ?? 256 * 1024);
  const maxBacklogBytes = positive("maxBacklogBytes", options.maxBacklogBytes ?? 4 * MIB);
  const pollFallbackMs = positive("pollFallbackMs", options.pollFallbackMs ?? 250);
  const deletedGraceMs = positive("deletedGraceMs", options.deletedGraceMs ?? 30_000);
  const keys = new Map<string, KeyEntry>();
  /** Keys recently ended as deleted, with when; in insertion (= time) order, so pruning stops early. */
  const deleted = new Map<string, number>();
  let closed = false;

  const wasJustDeleted = (key: string): boolean => {
    const now = performance.now();
    for (const [old, at] of deleted) {
      if (now - at < deletedGraceMs) break;
      deleted.delete(old);
    }
    return deleted.has(key);
  };

  const release = (key: string, entry: KeyEntry, subscription: TailSubscription): void => {
    entry.subscribers.delete(subscription);
    if (entry.subscribers.size === 0 && keys.get(key) === entry) {
      keys.delete(key);
      entry.channel.close();
    }
  };

  const tail = (key: string, path: string, tailOptions: TailOptions): AsyncIterable<TailEvent> => {
    const { backlogLines = DEFAULT_BACKLOG_LINES, fromOffset, signal, onEnd } = tailOptions;
    // Bad input and a closed hub surface from the first next(), like every other failure of a tail.
    try {
      checkOffset("backlog_lines", backlogLines);
      if (fromOffset !== undefined) checkOffset("from_offset", fromOffset);
    } catch (error) {
      return failing(error);
    }
    if (closed) return endedAtOnce("shutdown", fromOffset ?? 0);
    if (wasJustDeleted(key)) return endedAtOnce("deleted", fromOffset ?? 0);

    let entry = keys.get(key);
    if (entry === undefined) {
      entry = { channel: createLogChannel(path, { pollFallbackMs }), subscribers: new Set() };
      keys.set(key, entry);
    } else if (entry.channel.path !== path) {
      return failing(
        new DomainError(
          "internal",
          `log key ${JSON.stringify(key)} is tailed at ${entry.channel.path}, not ${path}`,
        ),
      );
    }
    const owner = entry;
    const subscription = new TailSubscription(
      owner.channel,
      {
        backlogLines,
        fromOffset,
        signal,
        maxBufferBytes,
        maxChunkBytes,
        maxBacklogBytes,
        keepaliveMs,
        onEnd,
      },
      (done) => release(key, owner, done),
    );
    if (subscription.isActive) owner.subscribers.add(subscription);
    else if (owner.subscribers.size === 0) release(key, owner, subscription);
    return subscription;
  };

  const end = (key: string, reason: LogEndReason): void => {
    if (reason === "deleted") {
      deleted.delete(key);
      deleted.set(key, performance.now());
      wasJustDeleted(key);
    }
    const entry = keys.get(key);
    if (entry === undefined) return;
    for (const subscription of [...entry.subscribers]) subscription.end(reason);
  };

  return {
    read: (path: string, readOptions: { offset?: number; limit: number }): Promise<LogRange> =>
      readLogRange(path, readOptions),
    tail,
    end,
    close() {
      closed = true;
      for (const key of [...keys.keys()]) end(key, "shutdown");
    },
    stats() {
      let subscribers = 0;
      let watchers = 0;
      let openFiles = 0;
      for (const entry of keys.values()) {
        subscribers += entry.subscribers.size;
        const resources = entry.channel.resources();
        watchers += resources.watchers;
        openFiles += resources.files;
      }
      return { keys: keys.size, subscribers, watchers, openFiles };
    },
  };
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`createLogHub: ${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

function failing(error: unknown): AsyncIterable<TailEvent> {
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.reject(error),
      return: () => Promise.resolve({ done: true, value: undefined }),
    }),
  };
}

function endedAtOnce(reason: "shutdown" | "deleted", offset: number): AsyncIterable<TailEvent> {
  const message = endMessage(reason, offset, 0);
  return (async function* () {
    yield { type: "end", reason, message, offset } satisfies TailEvent;
  })();
}
