import { type FSWatcher, watch } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { findBacklogStart } from "./find-backlog-start.js";
import { isNotFound, readFully } from "./read-log-range.js";

/** What a channel tells each subscriber. Calls are synchronous and in file order. */
export interface ChannelSink {
  /** The channel is watching; bytes from `liveOffset` on will arrive through chunk(). */
  start(liveOffset: number, generation: number): void;
  /** New bytes of the current generation at `offset`. The buffer is shared: do not modify it. */
  chunk(offset: number, data: Buffer): void;
  /** The file was truncated or replaced; the next chunk starts again at offset 0. */
  reset(): void;
  /** The file cannot be read any more (an I/O error, not a missing file). */
  fail(error: Error): void;
}

export interface LogChannelOptions {
  /** Interval of the stat-polling fallback, used only when fs.watch cannot be set up (e.g. inotify limits). */
  pollFallbackMs: number;
}

/**
 * One watcher and one reader of new bytes for one log file, shared by every tail of it. Bytes before
 * `liveOffset` are history that subscribers read themselves (readAt); bytes from it on are read once here
 * and handed to every sink.
 */
export interface LogChannel {
  readonly path: string;
  /** Bytes before this offset of the current generation were broadcast already or predate the channel. */
  readonly liveOffset: number;
  /** Increases each time the file is truncated or replaced. */
  readonly generation: number;
  add(sink: ChannelSink): void;
  remove(sink: ChannelSink): void;
  readonly sinkCount: number;
  /** Reads history of `generation`; null when the file has moved on to another generation meanwhile. */
  readAt(generation: number, offset: number, length: number): Promise<Buffer | null>;
  /** Where the last `lines` lines before `end` start, or null when the generation changed. */
  backlogStart(generation: number, end: number, lines: number, maxBytes: number): Promise<number | null>;
  /** Current size of the file (0 when it does not exist). */
  currentSize(): Promise<number>;
  /** Open watchers and poll timers (0 or 1), and open file handles (0 or 1): for leak checks. */
  resources(): { watchers: number; files: number };
  close(): void;
}

const READ_BLOCK = 64 * 1024;

export function createLogChannel(path: string, options: LogChannelOptions): LogChannel {
  const sinks = new Set<ChannelSink>();
  const scratch = Buffer.allocUnsafe(READ_BLOCK);
  let handle: FileHandle | null = null;
  let ino = -1;
  let liveOffset = 0;
  let generation = 0;
  let ready = false;
  let closed = false;
  let watcher: FSWatcher | null = null;
  let watching: "file" | "dir" | null = null;
  let pollTimer: NodeJS.Timeout | null = null;
  let checking = false;
  let dirty = false;
  let pathSuspect = false;
  /** Set once the file proved unreadable; every sink, present or future, is told. */
  let failure: Error | null = null;

  const failAll = (error: unknown): void => {
    failure = error instanceof Error ? error : new Error(String(error));
    stopWatching();
    for (const sink of [...sinks]) sink.fail(failure);
  };

  const request = (suspectPath: boolean): void => {
    if (closed || failure !== null) return;
    if (suspectPath) pathSuspect = true;
    if (checking) {
      dirty = true;
      return;
    }
    checking = true;
    void runChecks().finally(() => {
      checking = false;
    });
  };

  const runChecks = async (): Promise<void> => {
    try {
      do {
        dirty = false;
        await checkOnce();
      } while (dirty && !closed);
    } catch (error) {
      if (!closed) failAll(error);
    }
  };

  const checkOnce = async (): Promise<void> => {
    if (closed) return;
    if (handle === null) {
      if (!(await tryOpen(false))) return;
    }
    const gained = await drain();
    if (gained === 0 || pathSuspect) await verify();
  };

  /** Reads and broadcasts everything past liveOffset; returns the bytes read. */
  const drain = async (): Promise<number> => {
    let total = 0;
    for (;;) {
      const current = handle;
      if (current === null || closed) return total;
      const at = liveOffset;
      const { bytesRead } = await current.read(scratch, 0, READ_BLOCK, at);
      if (closed || current !== handle || at !== liveOffset || bytesRead === 0) return total;
      // A memory of its own, not a slice of Node's shared 8 KiB pool: a client that stopped reading holds its
      // queued chunks for a while, and pooled slices would keep whole slabs of unrelated data alive with them.
      const data = Buffer.allocUnsafeSlow(bytesRead);
      scratch.copy(data, 0, 0, bytesRead);
      liveOffset = at + bytesRead;
      total += bytesRead;
      for (const sink of [...sinks]) sink.chunk(at, data);
      if (bytesRead < READ_BLOCK) return total;
    }
  };

  /** Notices truncation (size below what we read), deletion (no links left) and replacement of the path. */
  const verify = async (): Promise<void> => {
    const current = handle;
    if (current === null) return;
    const checkPath = pathSuspect;
    pathSuspect = false;
    const info = await current.stat();
    if (closed || current !== handle) return;
    if (info.nlink === 0) {
      await detach();
      return;
    }
    if (checkPath) {
      const atPath = await stat(path).catch((error: unknown) => {
        if (isNotFound(error)) return null;
        throw error;
      });
      if (closed || current !== handle) return;
      if (atPath === null || atPath.ino !== ino) {
        await detach();
        return;
      }
    }
    if (info.size < liveOffset) {
      startGeneration();
      await drain();
    }
  };

  const startGeneration = (): void => {
    generation += 1;
    liveOffset = 0;
    for (const sink of [...sinks]) sink.reset();
  };

  /** The file at `path` is gone or another one: forget this one and wait for the path to reappear. */
  const detach = async (): Promise<void> => {
    const old = handle;
    handle = null;
    ino = -1;
    stopWatching();
    startGeneration();
    if (old !== null) await old.close().catch(() => undefined);
    if (closed) return;
    if (!(await tryOpen(false))) return;
    await drain();
  };

  /**
   * Opens the file if it exists and watches it; otherwise watches the directory for it to appear. The
   * watcher is set up before the size is taken, so no write can fall between the two.
   */
  const tryOpen = async (initial: boolean): Promise<boolean> => {
    let opened: FileHandle;
    try {
      opened = await open(path, "r");
    } catch (error) {
      if (!isNotFound(error)) throw error;
      if (watching !== "dir" && pollTimer === null) watchDirectory();
      // The file may have appeared between open() and the directory watch.
      try {
        opened = await open(path, "r");
      } catch (again) {
        if (isNotFound(again)) return false;
        throw again;
      }
    }
    if (closed) {
      await opened.close();
      return false;
    }
    handle = opened;
    watchFile();
    const info = await opened.stat();
    ino = info.ino;
    if (initial) liveOffset = info.size;
    return true;
  };

  // Each watch starter checks `closed`: they run after awaits, and a channel closed meanwhile must not leak
  // a watcher that nothing will ever close.
  const watchFile = (): void => {
    stopWatching();
    if (closed) return;
    try {
      watcher = watch(path, { persistent: true }, (event) => request(event === "rename"));
      watcher.on("error", () => fallBackToPolling());
      watching = "file";
    } catch {
      fallBackToPolling();
    }
  };

  const watchDirectory = (): void => {
    stopWatching();
    if (closed) return;
    const name = basename(path);
    try {
      watcher = watch(dirname(path), { persistent: true }, (_event, filename) => {
        if (filename === null || filename === name) request(true);
      });
      watcher.on("error", () => fallBackToPolling());
      watching = "dir";
    } catch {
      // Typically the directory itself does not exist yet.
      fallBackToPolling();
    }
  };

  const fallBackToPolling = (): void => {
    stopWatching();
    if (closed) return;
    // Each tick re-checks the path too, so a file appearing in a directory that did not exist is found and
    // then watched properly (tryOpen replaces this timer with a watcher).
    pollTimer = setInterval(() => request(true), options.pollFallbackMs);
  };

  const stopWatching = (): void => {
    watcher?.close();
    watcher = null;
    watching = null;
    if (pollTimer !== null) clearInterval(pollTimer);
    pollTimer = null;
  };

  /** The result of a read on `current`, or null if the file was replaced or closed while it ran. */
  const unlessMoved = async <T>(wanted: number, current: FileHandle, work: Promise<T>): Promise<T | null> => {
    try {
      const result = await work;
      return wanted === generation && current === handle ? result : null;
    } catch (error) {
      if (current !== handle) return null;
      throw error;
    }
  };

  const startup = async (): Promise<void> => {
    try {
      await tryOpen(true);
    } catch (error) {
      if (closed) return;
      ready = true;
      for (const sink of [...sinks]) sink.start(liveOffset, generation);
      failAll(error);
      return;
    }
    if (closed) return;
    ready = true;
    for (const sink of [...sinks]) sink.start(liveOffset, generation);
    // Writes between the watch and the size were counted in the size; anything later raised an event.
    if (handle !== null) request(false);
  };
  void startup();

  return {
    path,
    get liveOffset() {
      return liveOffset;
    },
    get generation() {
      return generation;
    },
    get sinkCount() {
      return sinks.size;
    },
    add(sink) {
      sinks.add(sink);
      if (ready) sink.start(liveOffset, generation);
      if (failure !== null) sink.fail(failure);
    },
    remove(sink) {
      sinks.delete(sink);
    },
    async readAt(wanted, offset, length) {
      const current = handle;
      if (current === null || wanted !== generation) return null;
      return unlessMoved(wanted, current, readFully(current, offset, length));
    },
    async backlogStart(wanted, end, lines, maxBytes) {
      const current = handle;
      if (current === null || wanted !== generation) return wanted === generation ? end : null;
      return unlessMoved(wanted, current, findBacklogStart(current, end, lines, maxBytes));
    },
    async currentSize() {
      const current = handle;
      if (current !== null) return (await current.stat()).size;
      try {
        return (await stat(path)).size;
      } catch (error) {
        if (isNotFound(error)) return 0;
        throw error;
      }
    },
    resources() {
      return { watchers: watcher !== null || pollTimer !== null ? 1 : 0, files: handle !== null ? 1 : 0 };
    },
    close() {
      if (closed) return;
      closed = true;
      stopWatching();
      sinks.clear();
      const old = handle;
      handle = null;
      // FileHandle.close waits for reads in flight, so this cannot pull the fd from under them.
      void old?.close().catch(() => undefined);
    },
  };
}
