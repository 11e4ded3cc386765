// TailSubscription against a scripted channel: the orderings that real inotify timing makes rare (a resume
// offset ahead of the shared reader, bytes arriving while a client initialises, resets between pulls) are
// played here exactly, one by one.
import { describe, expect, it } from "vitest";
import type { ChannelSink, LogChannel } from "../../server/logs/log-channel.js";
import type { TailEvent } from "../../server/logs/log-hub.js";
import { TailSubscription } from "../../server/logs/tail-subscription.js";

/** An in-memory log with the channel's contract: `broadcast` is the shared reader delivering new bytes. */
class ScriptedChannel implements LogChannel {
  readonly path = "/scripted.log";
  file = Buffer.alloc(0);
  liveOffset = 0;
  generation = 0;
  readonly sinks = new Set<ChannelSink>();
  get sinkCount(): number {
    return this.sinks.size;
  }
  add(sink: ChannelSink): void {
    this.sinks.add(sink);
    sink.start(this.liveOffset, this.generation);
  }
  remove(sink: ChannelSink): void {
    this.sinks.delete(sink);
  }
  /** Appends to the file without the reader noticing yet. */
  write(text: string): void {
    this.file = Buffer.concat([this.file, Buffer.from(text)]);
  }
  /** The reader catches up: everything past liveOffset goes to every sink. */
  broadcast(): void {
    const data = this.file.subarray(this.liveOffset);
    if (data.length === 0) return;
    const at = this.liveOffset;
    this.liveOffset = this.file.length;
    for (const sink of this.sinks) sink.chunk(at, Buffer.from(data));
  }
  truncate(): void {
    this.file = Buffer.alloc(0);
    this.generation += 1;
    this.liveOffset = 0;
    for (const sink of this.sinks) sink.reset();
  }
  async readAt(generation: number, offset: number, length: number): Promise<Buffer | null> {
    if (generation !== this.generation) return null;
    return Buffer.from(this.file.subarray(offset, offset + length));
  }
  async backlogStart(generation: number, end: number, lines: number): Promise<number | null> {
    if (generation !== this.generation) return null;
    let start = end;
    let found = 0;
    for (let i = end - 2; i >= 0 && found < lines; i--) {
      if (this.file[i] === 0x0a) {
        found += 1;
        if (found === lines) return i + 1;
      }
      start = i;
    }
    return lines === 0 ? end : Math.min(start, end);
  }
  async currentSize(): Promise<number> {
    return this.file.length;
  }
  resources() {
    return { watchers: 1, files: 1 };
  }
  close(): void {}
}

function subscribe(
  channel: ScriptedChannel,
  options: {
    fromOffset?: number;
    backlogLines?: number;
    maxBufferBytes?: number;
    maxChunkBytes?: number;
  } = {},
) {
  const detached: TailSubscription[] = [];
  const ended: string[] = [];
  const controller = new AbortController();
  const subscription = new TailSubscription(
    channel,
    {
      backlogLines: options.backlogLines ?? 1000,
      fromOffset: options.fromOffset,
      signal: controller.signal,
      maxBufferBytes: options.maxBufferBytes ?? 1024 * 1024,
      maxChunkBytes: options.maxChunkBytes ?? 1024 * 1024,
      maxBacklogBytes: 1024 * 1024,
      keepaliveMs: 60_000,
      onEnd: (reason) => ended.push(reason),
    },
    (s) => detached.push(s),
  );
  const next = async (): Promise<TailEvent> => {
    const result = await subscription.next();
    if (result.done) throw new Error("the tail finished");
    return result.value;
  };
  return { subscription, next, controller, detached, ended };
}

const chunk = (offset: number, text: string) => ({ type: "chunk", offset, data: Buffer.from(text) });

describe("TailSubscription", () => {
  it("resuming ahead of the shared reader skips the bytes before the resume offset", async () => {
    const channel = new ScriptedChannel();
    channel.write("0123456789");
    channel.broadcast();
    channel.write("abcdef");
    // The client saw up to "abc" (from a previous connection); the reader has not read "abcdef" yet.
    const { next } = subscribe(channel, { fromOffset: 13 });
    // Nothing the reader has broadcast lies past 13 yet: the client is told at once where it stands.
    expect(await next()).toEqual({ type: "keepalive", offset: 13 });
    const waiting = next();
    await new Promise((resolve) => setTimeout(resolve, 0));
    channel.broadcast();
    expect(await waiting).toEqual(chunk(13, "def"));
    channel.write("!");
    channel.broadcast();
    expect(await next()).toEqual(chunk(16, "!"));
  });

  it("bytes broadcast while a client is still reading history are read from the file, not queued", async () => {
    const channel = new ScriptedChannel();
    channel.write("a\nb\nc\n");
    channel.broadcast();
    const { next, subscription } = subscribe(channel, { fromOffset: 0, maxBufferBytes: 4, maxChunkBytes: 2 });
    channel.write("more than four bytes\n");
    channel.broadcast();
    // More than maxBufferBytes arrived, but the client is behind anyway: no too_slow.
    expect(subscription.isActive).toBe(true);
    const received: string[] = [];
    while (received.join("").length < "a\nb\nc\nmore than four bytes\n".length) {
      const event = await next();
      expect(event.type).toBe("chunk");
      if (event.type === "chunk") received.push(event.data.toString());
    }
    expect(received.join("")).toBe("a\nb\nc\nmore than four bytes\n");
    expect(Math.max(...received.map((r) => r.length))).toBe(2);
  });

  it("a caught-up client that lets more than maxBufferBytes pile up ends with too_slow at its offset", async () => {
    const channel = new ScriptedChannel();
    const { next, detached, subscription, ended } = subscribe(channel, { maxBufferBytes: 8 });
    channel.write("1234");
    channel.broadcast();
    expect(await next()).toEqual(chunk(0, "1234"));
    channel.write("5678");
    channel.broadcast();
    channel.write("9");
    channel.broadcast();
    expect(await next()).toEqual(chunk(4, "56789"));
    channel.write("abcdefgh");
    channel.broadcast();
    channel.write("i");
    channel.broadcast();
    expect(detached).toEqual([subscription]);
    expect(channel.sinkCount).toBe(0);
    // Told before anyone pulls: a client that stopped pulling never takes the end event itself.
    expect(ended).toEqual(["too_slow"]);
    expect(await next()).toMatchObject({ type: "end", reason: "too_slow", offset: 9 });
    expect(await subscription.next()).toEqual({ done: true, value: undefined });
  });

  it("a reader slower than the writer reads its backlog from the file instead of being cut off", async () => {
    const channel = new ScriptedChannel();
    const { next, subscription } = subscribe(channel, { maxBufferBytes: 8, maxChunkBytes: 2 });
    channel.write("ab");
    channel.broadcast();
    expect(await next()).toEqual(chunk(0, "ab"));
    let written = "ab";
    let received = "ab";
    // Each round the writer adds 4 bytes (less than maxBufferBytes) and the reader takes 2: it falls ever
    // further behind while always asking for more.
    for (let round = 0; round < 20; round++) {
      const text = `${round % 10}`.repeat(4);
      written += text;
      channel.write(text);
      channel.broadcast();
      const event = await next();
      expect(event).toMatchObject({ type: "chunk", offset: received.length });
      if (event.type === "chunk") received += event.data.toString();
    }
    expect(subscription.isActive).toBe(true);
    expect(written.length - received.length).toBeGreaterThan(8);
    while (received.length < written.length) {
      const event = await next();
      expect(event).toMatchObject({ type: "chunk", offset: received.length });
      if (event.type === "chunk") received += event.data.toString();
    }
    expect(received).toBe(written);
    // Caught up again, it follows live output as before.
    channel.write("z");
    channel.broadcast();
    expect(await next()).toEqual(chunk(written.length, "z"));
  });

  it("a client behind on history that stops pulling is ended with too_slow at its offset", async () => {
    const channel = new ScriptedChannel();
    channel.write("0123456789");
    channel.broadcast();
    const { next, detached, subscription } = subscribe(channel, {
      fromOffset: 0,
      maxBufferBytes: 8,
      maxChunkBytes: 2,
    });
    expect(await next()).toEqual(chunk(0, "01"));
    // It takes nothing more: new output beyond maxBufferBytes while it is not pulling cuts it off, although
    // its missing bytes were in the file and cost no memory.
    for (let i = 0; i < 3; i++) {
      channel.write("abc");
      channel.broadcast();
    }
    expect(detached).toEqual([subscription]);
    expect(await next()).toMatchObject({ type: "end", reason: "too_slow", offset: 2 });
    expect(await subscription.next()).toEqual({ done: true, value: undefined });
  });

  it("tells onEnd once when ended, and not when the client goes away", async () => {
    const channel = new ScriptedChannel();
    const ending = subscribe(channel);
    ending.subscription.end("deleted");
    ending.subscription.end("shutdown");
    expect(ending.ended).toEqual(["deleted"]);
    expect(await ending.next()).toMatchObject({ type: "end", reason: "deleted" });
    const leaving = subscribe(channel);
    leaving.controller.abort();
    leaving.subscription.end("shutdown");
    expect(leaving.ended).toEqual([]);
  });

  it("output arriving while a pull is waiting never counts against the client", async () => {
    const channel = new ScriptedChannel();
    const { next, subscription } = subscribe(channel, { maxBufferBytes: 8 });
    channel.write("xy");
    channel.broadcast();
    expect(await next()).toEqual(chunk(0, "xy"));
    const pending = subscription.next();
    channel.write("0123456789abcdef");
    channel.broadcast();
    expect(await pending).toEqual({ done: false, value: chunk(2, "0123456789abcdef") });
    expect(subscription.isActive).toBe(true);
  });

  it("delivers the old bytes it had queued, then the new log from 0 after a truncation", async () => {
    const channel = new ScriptedChannel();
    const { next } = subscribe(channel);
    channel.write("x\n");
    channel.broadcast();
    expect(await next()).toEqual(chunk(0, "x\n"));
    channel.write("old\n");
    channel.broadcast();
    channel.write("older\n");
    channel.broadcast();
    channel.truncate();
    channel.write("new\n");
    channel.broadcast();
    expect(await next()).toEqual(chunk(2, "old\nolder\n"));
    expect(await next()).toEqual(chunk(0, "new\n"));
  });

  it("skips history that vanished with a truncation and continues with the new log", async () => {
    const channel = new ScriptedChannel();
    channel.write("history that will vanish\n");
    channel.broadcast();
    const { next } = subscribe(channel, { fromOffset: 0, maxChunkBytes: 8 });
    expect(await next()).toEqual(chunk(0, "history "));
    channel.truncate();
    channel.write("fresh\n");
    channel.broadcast();
    expect(await next()).toEqual(chunk(0, "fresh\n"));
  });

  it("with nothing to send at the start it answers with a keepalive at once, then waits quietly", async () => {
    // keepaliveMs is 60 s here, so any keepalive within the test is the immediate one.
    const cases = [
      { options: { fromOffset: 5 }, offset: 5, text: "0123\n" },
      { options: { backlogLines: 0 }, offset: 5, text: "0123\n" },
      { options: { fromOffset: 0 }, offset: 0, text: "" },
      { options: {}, offset: 0, text: "" },
    ];
    for (const { options, offset, text } of cases) {
      const log = new ScriptedChannel();
      log.write(text);
      log.broadcast();
      const { next, controller } = subscribe(log, options);
      expect(await next()).toEqual({ type: "keepalive", offset });
      // Only the first pull is answered at once; the next waits for output like any other.
      const waiting = next();
      const raced = await Promise.race([waiting, new Promise((resolve) => setTimeout(resolve, 30, "quiet"))]);
      expect(raced).toBe("quiet");
      log.write("x");
      log.broadcast();
      expect(await waiting).toEqual(chunk(offset, "x"));
      controller.abort();
    }
  });

  it("a tail with backlog starts with it, not with a keepalive", async () => {
    const channel = new ScriptedChannel();
    channel.write("0123\n");
    channel.broadcast();
    const { next } = subscribe(channel, { fromOffset: 2 });
    expect(await next()).toEqual(chunk(2, "23\n"));
  });

  it("starts the backlog at the last N lines of what existed when it joined", async () => {
    const channel = new ScriptedChannel();
    channel.write("1\n2\n3\n4\n");
    channel.broadcast();
    const { next } = subscribe(channel, { backlogLines: 2 });
    expect(await next()).toEqual(chunk(4, "3\n4\n"));
  });
});
