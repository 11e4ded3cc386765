import type { SandboxClient, TailLogsResponse } from "../client/index.js";
import { LogEndReason } from "../client/index.js";
import { chunkFrame, controlFrame, type EndReason, OFFSET_BYTES } from "./log-wire.js";

/** A run of live log, framed once for every socket that shares it. */
export interface FeedChunk {
  offset: bigint;
  /** Offset right after the chunk. */
  next: bigint;
  /** The binary frame (log-wire.ts): offset, then the bytes. */
  frame: Buffer;
}

/** A socket following a feed. Called synchronously, in log order. */
export interface FeedSubscriber {
  feedChunk(chunk: FeedChunk): void;
  /** The log was truncated or replaced; the next chunk starts at 0. */
  feedReset(): void;
  /** `frame` is the keepalive control frame for `offset`, encoded once. */
  feedKeepalive(offset: bigint, frame: string): void;
  /** The feed is over: the sandbox was deleted, the manager is shutting down, or the feed failed ("error"). */
  feedEnd(reason: EndReason, message: string): void;
}

/**
 * Recent live log held to let a socket that caught up on its own tail join the feed without a gap: at the
 * rates where sharing matters (a steady agent), seconds of output.
 */
const RING_BYTES = 1024 * 1024;

/**
 * One sandbox's live log, tailed once for all its sockets that keep up: each chunk is framed once and the same
 * buffer written to every socket, instead of one TailLogs stream per socket each decoding and copying the same
 * bytes. Sockets start (backlog, resume offset) and fall back (when they stop keeping up) on a tail of their
 * own, which reads from the file at their pace; the feed replays its recent chunks to a socket joining it.
 */
export class LogFeed {
  /** The next byte the feed has not seen; undefined until its tail said where it starts. */
  position: bigint | undefined;
  /** Resets seen: a socket that caught up before a reset cannot be matched to the feed's offsets after it. */
  resets = 0;
  /** The feed ended; sockets stay on their own tails. */
  ended = false;
  private readonly ring: FeedChunk[] = [];
  private ringBytes = 0;
  private readonly subscribers = new Set<FeedSubscriber>();
  private readonly abort = new AbortController();

  constructor(reader: SandboxClient, id: string, onFailure: (err: unknown) => void) {
    // No backlog: the feed starts where the log is now; sockets bring their own history.
    const events = reader.tailLogs({ id, backlogLines: 0 }, { signal: this.abort.signal });
    void this.run(events).catch((err: unknown) => {
      if (!this.abort.signal.aborted) onFailure(err);
      this.finish("error", "the shared log feed failed");
    });
  }

  /**
   * The feed's recent chunks from `from` on, to replay before subscribing; undefined when `from` is older than
   * what the feed holds (the socket has further to catch up on its own).
   */
  since(from: bigint): FeedChunk[] | undefined {
    if (this.ended || this.position === undefined) return undefined;
    // A socket whose own tail got ahead of the feed: the feed reaches it shortly; the socket skips what it has.
    if (from >= this.position) return from - this.position <= BigInt(RING_BYTES) ? [] : undefined;
    const first = this.ring[0];
    if (first === undefined || first.offset > from) return undefined;
    const index = this.ring.findIndex((chunk) => chunk.next > from);
    return this.ring.slice(index);
  }

  subscribe(subscriber: FeedSubscriber): void {
    this.subscribers.add(subscriber);
  }

  unsubscribe(subscriber: FeedSubscriber): void {
    this.subscribers.delete(subscriber);
  }

  close(): void {
    this.abort.abort();
    this.ended = true;
    this.subscribers.clear();
  }

  private async run(events: AsyncIterable<TailLogsResponse>): Promise<void> {
    for await (const { event } of events) {
      if (event.case === "chunk") {
        const { offset, data, nextOffset } = event.value;
        if (this.position !== undefined && offset < this.position) this.reset();
        const chunk = { offset, next: nextOffset, frame: chunkFrame(offset, data) };
        this.position = nextOffset;
        this.remember(chunk);
        for (const subscriber of this.subscribers) subscriber.feedChunk(chunk);
      } else if (event.case === "keepalive") {
        const { offset } = event.value;
        if (this.position !== undefined && offset < this.position) this.reset();
        this.position = offset;
        const frame = controlFrame({ type: "keepalive", offset: Number(offset) });
        for (const subscriber of this.subscribers) subscriber.feedKeepalive(offset, frame);
      } else if (event.case === "end") {
        const { reason, message } = event.value;
        if (reason === LogEndReason.DELETED) this.finish("deleted", message);
        else if (reason === LogEndReason.SHUTDOWN) this.finish("shutdown", message);
        else this.finish("error", message);
        return;
      }
    }
    this.finish("error", "the shared log feed stopped");
  }

  private reset(): void {
    this.resets += 1;
    this.ring.length = 0;
    this.ringBytes = 0;
    for (const subscriber of this.subscribers) subscriber.feedReset();
  }

  private remember(chunk: FeedChunk): void {
    this.ring.push(chunk);
    this.ringBytes += chunk.frame.length - OFFSET_BYTES;
    while (this.ringBytes > RING_BYTES && this.ring.length > 1) {
      const dropped = this.ring.shift();
      if (dropped !== undefined) this.ringBytes -= dropped.frame.length - OFFSET_BYTES;
    }
  }

  private finish(reason: EndReason, message: string): void {
    if (this.ended) return;
    this.ended = true;
    this.abort.abort();
    const subscribers = [...this.subscribers];
    this.subscribers.clear();
    for (const subscriber of subscribers) subscriber.feedEnd(reason, message);
  }
}

/** The feeds of the sandboxes that have sockets, each kept while one of its sockets is open. */
export class LogFeeds {
  private readonly feeds = new Map<string, { feed: LogFeed; users: number }>();

  constructor(
    private readonly reader: SandboxClient,
    private readonly log: (line: string) => void,
  ) {}

  acquire(id: string): LogFeed {
    let entry = this.feeds.get(id);
    // A feed that failed is replaced for new sockets; the sockets that had it keep their own tails.
    if (entry === undefined || entry.feed.ended) {
      const feed = new LogFeed(this.reader, id, (err) =>
        this.log(`log feed of ${id} failed: ${err instanceof Error ? err.message : String(err)}`),
      );
      entry = { feed, users: 0 };
      this.feeds.set(id, entry);
    }
    entry.users += 1;
    return entry.feed;
  }

  release(id: string, feed: LogFeed): void {
    const entry = this.feeds.get(id);
    if (entry === undefined || entry.feed !== feed) return;
    entry.users -= 1;
    if (entry.users > 0) return;
    this.feeds.delete(id);
    feed.close();
  }

  closeAll(): void {
    for (const { feed } of this.feeds.values()) feed.close();
    this.feeds.clear();
  }
}
