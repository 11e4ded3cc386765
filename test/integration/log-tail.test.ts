import { spawn } from "node:child_process";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { DomainError } from "../../server/errors.js";
import { createLogHub, type LogHubWithStats } from "../../server/logs/create-log-hub.js";
import type { TailEvent } from "../../server/logs/log-hub.js";
import { inotifyWatches, openFdsTo } from "../helpers/open-files.js";
import { collectTail, type TailCollector } from "../helpers/tail-collector.js";
import { waitUntil } from "../helpers/wait.js";

let dir: string;
let hub: LogHubWithStats;
const controllers: AbortController[] = [];

function signal(): AbortSignal {
  const controller = new AbortController();
  controllers.push(controller);
  return controller.signal;
}

function lines(from: number, to: number): string {
  let text = "";
  for (let i = from; i <= to; i++) text += `line ${i}\n`;
  return text;
}

// Node warnings (a FileHandle closed by the garbage collector, too many listeners on a signal) are leaks.
const warnings: Error[] = [];
const onWarning = (warning: Error): void => {
  warnings.push(warning);
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "log-tail-"));
  hub = createLogHub({ keepaliveMs: 60_000 });
  process.on("warning", onWarning);
});

afterEach(() => {
  for (const controller of controllers.splice(0)) controller.abort();
  hub.close();
  rmSync(dir, { recursive: true, force: true });
  process.off("warning", onWarning);
  expect(warnings.splice(0).map((w) => `${w.name}: ${w.message}`)).toEqual([]);
});

describe("backlog", () => {
  it("sends the last N complete lines, then live lines with exact offsets", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, lines(1, 50));
    const c = collectTail(hub.tail("a", path, { backlogLines: 3, signal: signal() }));
    await waitUntil("backlog", () => c.text() === lines(48, 50));
    expect(c.events[0]).toMatchObject({ type: "chunk", offset: lines(1, 47).length });
    for (let i = 51; i <= 70; i++) {
      appendFileSync(path, `line ${i}\n`);
      await waitUntil(`line ${i}`, () => c.text().endsWith(`line ${i}\n`));
    }
    expect(c.text()).toBe(lines(48, 70));
    expect(c.problems).toEqual([]);
  });

  it("counts a trailing partial line as the last line", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, `${lines(1, 10)}prompt$ `);
    const c = collectTail(hub.tail("a", path, { backlogLines: 2, signal: signal() }));
    await waitUntil("backlog", () => c.text().length > 0);
    expect(c.text()).toBe("line 10\nprompt$ ");
    appendFileSync(path, "ls\n");
    await waitUntil("the rest of the partial line", () => c.text().endsWith("prompt$ ls\n"));
    expect(c.problems).toEqual([]);
  });

  it("sends the whole file when it has fewer than N lines, and nothing when N is 0", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, lines(1, 5));
    const all = collectTail(hub.tail("a", path, { signal: signal() }));
    const none = collectTail(hub.tail("a", path, { backlogLines: 0, signal: signal() }));
    await waitUntil("backlog", () => all.text() === lines(1, 5));
    appendFileSync(path, "live\n");
    await waitUntil("live line on both", () => all.text().endsWith("live\n") && none.text() === "live\n");
    // With no backlog to send, the tail first says where it stands.
    expect(none.events[0]).toEqual({ type: "keepalive", offset: lines(1, 5).length });
    expect(none.events[1]).toMatchObject({ type: "chunk", offset: lines(1, 5).length });
  });

  it("reads only the end of a huge file", async () => {
    const path = join(dir, "huge.log");
    // 2 GiB of sparse zeros without a newline, then lines: reading it all would take seconds and show in rchar.
    writeFileSync(path, "");
    truncateSync(path, 2 * 1024 ** 3);
    appendFileSync(path, `\n${lines(1, 2000)}`);
    const before = readCharCount();
    const c = collectTail(hub.tail("huge", path, { backlogLines: 1000, signal: signal() }));
    await waitUntil("backlog", () => c.text() === lines(1001, 2000));
    expect(readCharCount() - before).toBeLessThan(1024 * 1024);
    // Asking for more lines than the file has stops at the backlog byte bound (4 MiB), not at offset 0.
    const more = collectTail(hub.tail("huge", path, { backlogLines: 5000, signal: signal() }));
    await waitUntil("bounded backlog", () => more.text() === lines(1, 2000));
    expect(readCharCount() - before).toBeLessThan(16 * 1024 * 1024);
  });

  it("bounds a backlog of giant lines by bytes, starting at a line boundary when there is one", async () => {
    const small = createLogHub({ keepaliveMs: 60_000, maxBacklogBytes: 1000 });
    try {
      const path = join(dir, "wide.log");
      const wide = `${"x".repeat(600)}\n`;
      writeFileSync(path, wide.repeat(5));
      const c = collectTail(small.tail("wide", path, { backlogLines: 10, signal: signal() }));
      await waitUntil("backlog", () => c.text().length > 0);
      expect(c.text()).toBe(wide);
      const noBreak = join(dir, "nobreak.log");
      writeFileSync(noBreak, "y".repeat(5000));
      const d = collectTail(small.tail("nobreak", noBreak, { backlogLines: 10, signal: signal() }));
      await waitUntil("backlog", () => d.text().length > 0);
      expect(d.events[0]).toMatchObject({ type: "chunk", offset: 4000 });
      expect(d.text()).toBe("y".repeat(1000));
    } finally {
      small.close();
    }
  });
});

describe("resume", () => {
  it("from an offset in the middle of a line gives exactly the missing bytes", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "");
    const first = new AbortController();
    const c = collectTail(hub.tail("a", path, { signal: first.signal }));
    appendFileSync(path, "hello wor");
    await waitUntil("partial line", () => c.text() === "hello wor");
    first.abort();
    await c.done;
    // Written while no client was connected.
    appendFileSync(path, "ld\nsecond line\nthird");
    const resumed = collectTail(hub.tail("a", path, { fromOffset: c.nextOffset(), signal: signal() }));
    await waitUntil("missing bytes", () => resumed.text().endsWith("third"));
    appendFileSync(path, " and live\n");
    await waitUntil("live bytes", () => resumed.text().endsWith("and live\n"));
    expect(Buffer.concat([c.bytes(), resumed.bytes()])).toEqual(readFileSync(path));
    expect(resumed.events[0]).toMatchObject({ type: "chunk", offset: 9 });
    expect([...c.problems, ...resumed.problems]).toEqual([]);
  });

  it("at the current end waits for new bytes; past the end is invalid_argument naming from_offset and size", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "12345");
    const atEnd = collectTail(hub.tail("a", path, { fromOffset: 5, signal: signal() }));
    const past = hub.tail("a", path, { fromOffset: 6, signal: signal() })[Symbol.asyncIterator]();
    const error = await past.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ kind: "invalid_argument", field: "from_offset" });
    expect((error as Error).message).toMatch(/from_offset.*6.*size is 5 bytes/);
    appendFileSync(path, "6\n");
    await waitUntil("new byte", () => atEnd.text() === "6\n");
    expect(atEnd.events[0]).toMatchObject({ offset: 5 });
    // The failed tail let go of the channel; only the good one is left.
    expect(hub.stats().subscribers).toBe(1);
  });

  it("with nothing to send yet answers at once with a keepalive at its offset, long before keepaliveMs", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "12345");
    const starts = [
      { key: "a", path, options: { fromOffset: 5 }, offset: 5 },
      { key: "b", path: join(dir, "empty.log"), options: {}, offset: 0 },
      { key: "c", path: join(dir, "missing.log"), options: { fromOffset: 0 }, offset: 0 },
    ];
    writeFileSync(join(dir, "empty.log"), "");
    for (const { key, path: logPath, options, offset } of starts) {
      const began = performance.now();
      const c = collectTail(hub.tail(key, logPath, { ...options, signal: signal() }));
      await waitUntil(`first event of ${key}`, () => c.events.length > 0, 1000);
      expect(c.events[0]).toEqual({ type: "keepalive", offset });
      // The hub's keepaliveMs is 60 s: this was the immediate answer, not a quiet-period keepalive.
      expect(c.arrivals[0] ?? Number.POSITIVE_INFINITY).toBeLessThan(began + 1000);
    }
    // A tail with backlog starts with it.
    const withBacklog = collectTail(hub.tail("a", path, { signal: signal() }));
    await waitUntil("backlog", () => withBacklog.events.length > 0);
    expect(withBacklog.events[0]).toMatchObject({ type: "chunk", offset: 0 });
  });

  it("rejects a negative or fractional offset and backlog before touching the file", async () => {
    const path = join(dir, "a.log");
    for (const options of [{ fromOffset: -1 }, { fromOffset: 1.5 }, { backlogLines: -2 }]) {
      const it = hub.tail("a", path, { ...options, signal: signal() })[Symbol.asyncIterator]();
      await expect(it.next()).rejects.toMatchObject({ kind: "invalid_argument" });
    }
    expect(hub.stats()).toEqual({ keys: 0, subscribers: 0, watchers: 0, openFiles: 0 });
  });

  it("resumes from 0 on a missing file (the log has not started yet)", async () => {
    const path = join(dir, "later.log");
    const c = collectTail(hub.tail("later", path, { fromOffset: 0, signal: signal() }));
    appendFileSync(path, "first\n");
    await waitUntil("first line", () => c.text() === "first\n");
  });
});

describe("fan-out", () => {
  it("two clients receive identical byte streams from one watcher", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, lines(1, 10));
    const a = collectTail(hub.tail("a", path, { fromOffset: 0, signal: signal() }));
    const b = collectTail(hub.tail("a", path, { fromOffset: 0, signal: signal() }));
    expect(hub.stats()).toMatchObject({ keys: 1, subscribers: 2 });
    for (let i = 11; i <= 300; i++) {
      appendFileSync(path, `line ${i}\n`);
      if (i % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const whole = readFileSync(path);
    await waitUntil(
      "both complete",
      () => a.bytes().length === whole.length && b.bytes().length === whole.length,
    );
    expect(a.bytes()).toEqual(whole);
    expect(b.bytes()).toEqual(whole);
    expect(hub.stats().watchers).toBe(1);
    expect([...a.problems, ...b.problems]).toEqual([]);
  });

  it("a client that stops reading does not delay the other and is ended with too_slow at its offset", async () => {
    const tight = createLogHub({ keepaliveMs: 60_000, maxBufferBytes: 16 * 1024 });
    try {
      const path = join(dir, "a.log");
      writeFileSync(path, "");
      const stalled = tight.tail("a", path, { signal: signal() })[Symbol.asyncIterator]();
      appendFileSync(path, "before stall\n");
      const first = await stalled.next();
      expect(first.value).toMatchObject({ type: "chunk", offset: 0 });
      const reader = collectTail(tight.tail("a", path, { fromOffset: 0, signal: signal() }));
      const delays: number[] = [];
      for (let i = 1; i <= 400; i++) {
        const line = `live ${i} ${"-".repeat(80)}\n`;
        const written = performance.now();
        appendFileSync(path, line);
        // Polled every 5 ms: the delay measured includes the poll.
        await waitUntil(`line ${i} at the fast reader`, () => reader.text().endsWith(line), 5_000, 5);
        delays.push(performance.now() - written);
      }
      delays.sort((x, y) => x - y);
      // The stalled client holds 16 KiB at most, then is cut off; the reader never waits on it.
      expect(delays[Math.floor(delays.length * 0.9)]).toBeLessThan(100);
      expect(tight.stats().subscribers).toBe(1);
      const end = await stalled.next();
      expect(end.value).toMatchObject({ type: "end", reason: "too_slow", offset: "before stall\n".length });
      expect((end.value as Extract<TailEvent, { type: "end" }>).message).toMatch(/from_offset=13/);
      expect(await stalled.next()).toMatchObject({ done: true });
      const resumed = collectTail(tight.tail("a", path, { fromOffset: 13, signal: signal() }));
      const whole = readFileSync(path);
      await waitUntil("resumed to the end", () => resumed.bytes().length === whole.length - 13);
      expect(Buffer.concat([Buffer.from("before stall\n"), resumed.bytes()])).toEqual(whole);
    } finally {
      tight.close();
    }
  });

  it("a single write far larger than one read arrives whole, with no later write to prompt it", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "");
    const c = collectTail(hub.tail("a", path, { fromOffset: 0, signal: signal() }));
    // A first line proves the shared reader is live, so the big write is read by it, not as history.
    appendFileSync(path, "hi\n");
    await waitUntil("the first line", () => c.text() === "hi\n");
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, "z");
    appendFileSync(path, big);
    await waitUntil("every byte", () => c.nextOffset() === big.length + 3);
    expect(c.bytes().equals(Buffer.concat([Buffer.from("hi\n"), big]))).toBe(true);
  });

  it("coalesces what piled up into one event per pull", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "");
    const tail = hub.tail("a", path, { fromOffset: 0, signal: signal() })[Symbol.asyncIterator]();
    appendFileSync(path, "x\n");
    expect((await tail.next()).value).toMatchObject({ type: "chunk", data: Buffer.from("x\n") });
    // A second client shows when the shared channel has read everything the paused one has queued.
    const witness = collectTail(hub.tail("a", path, { fromOffset: 0, signal: signal() }));
    for (let i = 0; i < 50; i++) {
      appendFileSync(path, `${i}\n`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await waitUntil("the channel read everything", () => witness.text().endsWith("\n49\n"));
    const next = await tail.next();
    expect(next.value).toMatchObject({ type: "chunk", offset: 2 });
    const expected = Array.from({ length: 50 }, (_, i) => `${i}\n`).join("");
    expect((next.value as Extract<TailEvent, { type: "chunk" }>).data.toString()).toBe(expected);
  });
});

describe("before the file exists", () => {
  it("waits for the file to appear", async () => {
    const path = join(dir, "new.log");
    const c = collectTail(hub.tail("new", path, { signal: signal() }));
    await waitUntil("watching", () => hub.stats().watchers === 1);
    appendFileSync(path, "appeared\n");
    await waitUntil("first bytes", () => c.text() === "appeared\n");
    expect(c.events[0]).toEqual({ type: "keepalive", offset: 0 });
    expect(c.events[1]).toMatchObject({ type: "chunk", offset: 0 });
  });

  it("waits for a directory that does not exist yet", async () => {
    const sub = join(dir, "not", "yet");
    const path = join(sub, "x.log");
    const quick = createLogHub({ keepaliveMs: 60_000, pollFallbackMs: 20 });
    try {
      const c = collectTail(quick.tail("x", path, { signal: signal() }));
      await new Promise((resolve) => setTimeout(resolve, 50));
      mkdirSync(sub, { recursive: true });
      appendFileSync(path, "late\n");
      await waitUntil("first bytes", () => c.text() === "late\n");
      appendFileSync(path, "more\n");
      await waitUntil("watched afterwards", () => c.text() === "late\nmore\n");
    } finally {
      quick.close();
    }
  });
});

describe("ending", () => {
  it("end(key, deleted) ends every tail of that key and only that key", async () => {
    const a = join(dir, "a.log");
    const b = join(dir, "b.log");
    writeFileSync(a, "a\n");
    writeFileSync(b, "b\n");
    const a1 = collectTail(hub.tail("a", a, { signal: signal() }));
    const a2 = collectTail(hub.tail("a", a, { signal: signal() }));
    const b1 = collectTail(hub.tail("b", b, { signal: signal() }));
    await waitUntil("backlogs", () => a1.text() === "a\n" && a2.text() === "a\n" && b1.text() === "b\n");
    hub.end("a", "deleted");
    await Promise.all([a1.done, a2.done]);
    for (const c of [a1, a2]) {
      expect(c.events.at(-1)).toMatchObject({ type: "end", reason: "deleted", offset: 2 });
      expect(c.ended()?.message).toMatch(/deleted/);
    }
    expect(hub.stats()).toEqual({ keys: 1, subscribers: 1, watchers: 1, openFiles: 1 });
    appendFileSync(b, "still\n");
    await waitUntil("b still live", () => b1.text() === "b\nstill\n");
    expect(b1.ended()).toBeUndefined();
  });

  it("abort and break release the watcher and the file", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "x\n");
    const baseline = inotifyWatches();
    const controller = new AbortController();
    const c = collectTail(hub.tail("a", path, { signal: controller.signal }));
    await waitUntil("backlog", () => c.text() === "x\n");
    expect(inotifyWatches()).toBe(baseline + 1);
    expect(openFdsTo(path)).toBe(1);
    const aborted = performance.now();
    controller.abort();
    await c.done;
    expect(performance.now() - aborted).toBeLessThan(500);
    expect(hub.stats()).toEqual({ keys: 0, subscribers: 0, watchers: 0, openFiles: 0 });
    await waitUntil("fd closed", () => openFdsTo(path) === 0, 2000);
    expect(inotifyWatches()).toBe(baseline);

    for await (const event of hub.tail("a", path, { signal: signal() })) {
      expect(event.type).toBe("chunk");
      break;
    }
    expect(hub.stats()).toEqual({ keys: 0, subscribers: 0, watchers: 0, openFiles: 0 });
    await waitUntil("fd closed after break", () => openFdsTo(path) === 0, 2000);
    expect(inotifyWatches()).toBe(baseline);
  });

  it("a consumer waiting for data is released at once by abort", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "");
    const controller = new AbortController();
    const tail = hub.tail("a", path, { signal: controller.signal })[Symbol.asyncIterator]();
    const pending = tail.next();
    await waitUntil("subscribed", () => hub.stats().subscribers === 1);
    controller.abort();
    expect(await pending).toMatchObject({ done: true });
    expect(hub.stats().keys).toBe(0);
  });

  it("close() ends every tail with shutdown and its offset; later tails end at once", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "abc\n");
    const c = collectTail(hub.tail("a", path, { signal: signal() }));
    await waitUntil("backlog", () => c.text() === "abc\n");
    hub.close();
    await c.done;
    expect(c.ended()).toMatchObject({ reason: "shutdown", offset: 4 });
    expect(c.ended()?.message).toMatch(/from_offset=4/);
    expect(hub.stats()).toEqual({ keys: 0, subscribers: 0, watchers: 0, openFiles: 0 });
    const late = collectTail(hub.tail("a", path, { fromOffset: 4, signal: signal() }));
    await late.done;
    expect(late.events).toEqual([expect.objectContaining({ type: "end", reason: "shutdown", offset: 4 })]);
  });

  it("sends keepalives with the current offset when the log is quiet", async () => {
    const quick = createLogHub({ keepaliveMs: 100 });
    try {
      const path = join(dir, "a.log");
      writeFileSync(path, "12345\n");
      const c = collectTail(quick.tail("a", path, { signal: signal() }));
      await waitUntil("two keepalives", () => c.events.filter((e) => e.type === "keepalive").length >= 2);
      expect(c.events.find((e) => e.type === "keepalive")).toEqual({ type: "keepalive", offset: 6 });
      appendFileSync(path, "x");
      await waitUntil("chunk", () => c.text().endsWith("x"));
      await waitUntil("keepalive after chunk", () => c.events.at(-1)?.type === "keepalive");
      expect(c.events.at(-1)).toEqual({ type: "keepalive", offset: 7 });
    } finally {
      quick.close();
    }
  });
});

describe("edge cases", () => {
  it("end and close before the first pull still end the tail at once", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "abc\n");
    const early = hub.tail("a", path, { signal: signal() })[Symbol.asyncIterator]();
    hub.end("a", "deleted");
    expect((await early.next()).value).toMatchObject({ type: "end", reason: "deleted" });
    const resuming = hub.tail("b", path, { fromOffset: 2, signal: signal() })[Symbol.asyncIterator]();
    hub.close();
    expect((await resuming.next()).value).toMatchObject({ type: "end", reason: "shutdown", offset: 2 });
    expect(hub.stats()).toEqual({ keys: 0, subscribers: 0, watchers: 0, openFiles: 0 });
  });

  it("a tail that races the deletion of its sandbox ends at once instead of waiting forever", async () => {
    const path = join(dir, "gone.log");
    hub.end("gone", "deleted");
    const c = collectTail(hub.tail("gone", path, { signal: signal() }));
    await c.done;
    expect(c.events).toEqual([expect.objectContaining({ type: "end", reason: "deleted" })]);
    expect(hub.stats().keys).toBe(0);
  });

  it("a log path that cannot be read fails the tail with an internal error naming it, and lets go", async () => {
    const path = join(dir, "is-a-directory");
    mkdirSync(path);
    for (let attempt = 0; attempt < 2; attempt++) {
      const tail = hub.tail("d", path, { signal: signal() })[Symbol.asyncIterator]();
      const error = await tail.next().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DomainError);
      expect(error).toMatchObject({ kind: "internal" });
      expect((error as Error).message).toContain(path);
    }
    expect(hub.stats()).toEqual({ keys: 0, subscribers: 0, watchers: 0, openFiles: 0 });
  });

  it("a tail that joins after the shared reader failed is told too, rather than waiting forever", async () => {
    const path = join(dir, "is-a-directory");
    mkdirSync(path);
    // Resume at the end so that neither tail reads history itself: only the shared reader touches the file.
    const end = statSync(path).size;
    const first = hub.tail("d", path, { fromOffset: end, signal: signal() })[Symbol.asyncIterator]();
    // Never pulled: keeps the failed channel alive for the late joiner.
    const idle = hub.tail("d", path, { fromOffset: end, signal: signal() })[Symbol.asyncIterator]();
    // It may first be told where it stands (the channel started before its read failed); then it fails.
    const untilFailure = async () => {
      for (;;) expect((await first.next()).value).toEqual({ type: "keepalive", offset: end });
    };
    await expect(untilFailure()).rejects.toMatchObject({ kind: "internal" });
    expect(hub.stats()).toMatchObject({ keys: 1, subscribers: 1, watchers: 0 });
    const late = hub.tail("d", path, { fromOffset: end, signal: signal() })[Symbol.asyncIterator]();
    await expect(late.next()).rejects.toMatchObject({ kind: "internal" });
    await expect(idle.next()).rejects.toMatchObject({ kind: "internal" });
    expect(hub.stats()).toEqual({ keys: 0, subscribers: 0, watchers: 0, openFiles: 0 });
  });

  it("a client catching up on a long history is not cut off by live output, and misses nothing", async () => {
    const tight = createLogHub({ keepaliveMs: 60_000, maxBufferBytes: 16 * 1024, maxChunkBytes: 4096 });
    try {
      const path = join(dir, "a.log");
      writeFileSync(path, lines(1, 20_000));
      const tail = tight.tail("a", path, { fromOffset: 0, signal: signal() })[Symbol.asyncIterator]();
      const parts: Buffer[] = [];
      let next = 0;
      let written = 20_000;
      for (;;) {
        const result = await tail.next();
        const event = result.value as TailEvent;
        expect(event.type).toBe("chunk");
        if (event.type !== "chunk") break;
        expect(event.offset).toBe(next);
        expect(event.data.length).toBeLessThanOrEqual(4096);
        next = event.offset + event.data.length;
        parts.push(event.data);
        // Keep writing faster than 16 KiB per pull while the client is behind.
        if (written < 25_000) {
          appendFileSync(path, lines(written + 1, written + 400));
          written += 400;
        } else if (next === readFileSync(path).length) {
          break;
        }
      }
      expect(Buffer.concat(parts)).toEqual(readFileSync(path));
    } finally {
      tight.close();
    }
  });

  it("a caught-up client that reads slower than the writer is never cut off, and misses nothing", async () => {
    const tight = createLogHub({ keepaliveMs: 60_000, maxBufferBytes: 16 * 1024, maxChunkBytes: 4096 });
    try {
      const path = join(dir, "a.log");
      writeFileSync(path, "start\n");
      const tail = tight.tail("a", path, { signal: signal() })[Symbol.asyncIterator]();
      const parts: Buffer[] = [];
      let next = 0;
      let written = 0;
      let mostBehind = 0;
      for (;;) {
        const result = await tail.next();
        const event = result.value as TailEvent;
        expect(event.type).toBe("chunk");
        if (event.type !== "chunk") break;
        expect(event.offset).toBe(next);
        next = event.offset + event.data.length;
        parts.push(event.data);
        // It takes at most 4 KiB per pull while about 8 KiB arrive: far more than the 16 KiB buffer piles up.
        if (written < 40_000) {
          appendFileSync(path, lines(written + 1, written + 800));
          written += 800;
          mostBehind = Math.max(mostBehind, statSync(path).size - next);
        } else if (next === statSync(path).size) {
          break;
        }
      }
      expect(mostBehind).toBeGreaterThan(64 * 1024);
      expect(Buffer.concat(parts)).toEqual(readFileSync(path));
      expect(tight.stats().subscribers).toBe(1);
    } finally {
      tight.close();
    }
  });

  it("splits a large backlog and large bursts into chunks of at most maxChunkBytes", async () => {
    const small = createLogHub({ keepaliveMs: 60_000, maxChunkBytes: 1000 });
    try {
      const path = join(dir, "a.log");
      writeFileSync(path, lines(1, 1000));
      const c = collectTail(small.tail("a", path, { backlogLines: 500, signal: signal() }));
      await waitUntil("backlog", () => c.text() === lines(501, 1000));
      appendFileSync(path, lines(1001, 1500));
      await waitUntil("burst", () => c.text() === lines(501, 1500));
      expect(c.events.length).toBeGreaterThan(lines(501, 1500).length / 1000);
      expect(Math.max(...c.events.map((e) => (e.type === "chunk" ? e.data.length : 0)))).toBe(1000);
      expect(c.problems).toEqual([]);
    } finally {
      small.close();
    }
  });
});

describe("concurrency", () => {
  it("clients joining at random moments and offsets while a process writes each get an exact slice", async () => {
    const path = join(dir, "busy.log");
    writeFileSync(path, lines(1, 100));
    const writer = spawn(
      process.execPath,
      [
        "-e",
        `const fs = require("node:fs"); const fd = fs.openSync(process.argv[1], "a"); let n = 0;
         const end = Date.now() + 1500;
         const tick = () => { let t = ""; for (let i = 0; i < 20; i++) t += "w " + ++n + " " + "#".repeat(n % 50) + "\\n";
           fs.writeSync(fd, t); if (Date.now() < end) setTimeout(tick, 1); };
         tick();`,
        path,
      ],
      { stdio: "ignore" },
    );
    const exited = new Promise((resolve) => writer.once("exit", resolve));
    try {
      const clients: { collector: TailCollector; backlog: boolean }[] = [];
      let seed = 7;
      const random = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      for (let i = 0; i < 24; i++) {
        await new Promise((resolve) => setTimeout(resolve, random() * 60));
        const backlog = i % 3 === 0;
        const size = statSync(path).size;
        const options = backlog
          ? { backlogLines: Math.floor(random() * 50), signal: signal() }
          : { fromOffset: Math.floor(random() * size), signal: signal() };
        clients.push({ collector: collectTail(hub.tail("busy", path, options)), backlog });
      }
      await exited;
      const whole = readFileSync(path);
      await waitUntil(
        "every client at the end of the log",
        () => clients.every(({ collector }) => collector.nextOffset() === whole.length),
        20_000,
      );
      for (const [i, { collector, backlog }] of clients.entries()) {
        // A tail with nothing to send yet (no backlog asked, or resumed at the end) answers at once with a
        // keepalive at its offset; the bytes then start exactly there.
        const at = collector.events.findIndex((e) => e.type === "chunk");
        const first = collector.events[at];
        expect(first?.type).toBe("chunk");
        for (const e of collector.events.slice(0, at))
          expect([e.type, e.offset]).toEqual(["keepalive", first?.offset]);
        const start = first?.offset ?? -1;
        // Buffer#equals: a generic deep equality over ~1 MB per client is needlessly slow.
        const exact = collector.bytes().equals(whole.subarray(start));
        expect(exact, `client ${i} (from ${start}) received exactly the file from its first offset`).toBe(
          true,
        );
        if (backlog) expect(start === 0 || whole[start - 1] === 0x0a).toBe(true);
        expect(collector.problems).toEqual([]);
      }
      expect(hub.stats()).toMatchObject({ keys: 1, subscribers: 24, watchers: 1, openFiles: 1 });
    } finally {
      writer.kill();
      await exited;
    }
  });

  it("a client that disconnects and resumes over and over while a process writes ends with exactly the file", async () => {
    const path = join(dir, "resume.log");
    const writer = spawn(
      process.execPath,
      [
        "-e",
        // Random-sized writes, mostly not ending on a line boundary.
        `const fs = require("node:fs"); const fd = fs.openSync(process.argv[1], "a"); let n = 0;
         const end = Date.now() + 1200;
         const tick = () => { const size = 1 + Math.floor(Math.random() * 300); let t = "";
           while (t.length < size) t += "r" + ++n + (n % 7 === 0 ? "\\n" : " ");
           fs.writeSync(fd, t.slice(0, size)); if (Date.now() < end) setTimeout(tick, 1); };
         tick();`,
        path,
      ],
      { stdio: "ignore" },
    );
    let running = true;
    const exited = new Promise((resolve) => writer.once("exit", resolve)).then(() => {
      running = false;
    });
    try {
      const parts: Buffer[] = [];
      let received = 0;
      let connections = 0;
      const size = (): number => statSync(path, { throwIfNoEntry: false })?.size ?? 0;
      let controller = new AbortController();
      // Once the writer is done and everything arrived, the last tail would wait for more: let it go.
      const watchdog = setInterval(() => {
        if (!running && received === size()) controller.abort();
      }, 10);
      onTestFinished(() => clearInterval(watchdog));
      while (running || received < size()) {
        connections += 1;
        controller = new AbortController();
        const tail = hub.tail("resume", path, { fromOffset: received, signal: controller.signal });
        let budget = 1 + (connections % 4);
        for await (const event of tail) {
          if (event.type !== "chunk") continue;
          expect(event.offset).toBe(received);
          parts.push(event.data);
          received += event.data.length;
          budget -= 1;
          if (budget === 0) break;
        }
        controller.abort();
      }
      await exited;
      expect(connections).toBeGreaterThan(20);
      expect(Buffer.concat(parts).equals(readFileSync(path))).toBe(true);
      expect(hub.stats()).toEqual({ keys: 0, subscribers: 0, watchers: 0, openFiles: 0 });
    } finally {
      writer.kill();
      await exited;
    }
  });

  it("many sandboxes' logs in one directory, some not yet created, never cross and all release", async () => {
    const baseline = inotifyWatches();
    const tails: {
      key: string;
      path: string;
      collector: TailCollector;
      controller: AbortController;
    }[] = [];
    for (let i = 0; i < 40; i++) {
      const key = `sb-${i}`;
      const path = join(dir, `${key}.log`);
      if (i % 2 === 0) writeFileSync(path, `${key} existed\n`);
      const controller = new AbortController();
      tails.push({
        key,
        path,
        controller,
        collector: collectTail(hub.tail(key, path, { signal: controller.signal })),
      });
    }
    // Stop half of the tails that wait in the directory: the other waiters must keep their watch.
    for (const t of tails.filter((_, i) => i % 4 === 1)) t.controller.abort();
    for (const [i, t] of tails.entries()) appendFileSync(t.path, `${t.key} live ${i}\n`);
    for (const [i, t] of tails.entries()) {
      if (i % 4 === 1) continue;
      const expected = `${i % 2 === 0 ? `${t.key} existed\n` : ""}${t.key} live ${i}\n`;
      await waitUntil(`${t.key}'s own lines`, () => t.collector.text() === expected);
    }
    expect(hub.stats()).toMatchObject({ keys: 30, subscribers: 30 });
    hub.close();
    await Promise.all(tails.map((t) => t.collector.done));
    expect(hub.stats()).toEqual({ keys: 0, subscribers: 0, watchers: 0, openFiles: 0 });
    await waitUntil("every file closed", () => tails.every((t) => openFdsTo(t.path) === 0), 2000);
    expect(inotifyWatches()).toBe(baseline);
  });

  it("refuses a second path for a key that is already tailed", async () => {
    const a = join(dir, "a.log");
    writeFileSync(a, "");
    collectTail(hub.tail("k", a, { signal: signal() }));
    const other = hub.tail("k", join(dir, "b.log"), { signal: signal() })[Symbol.asyncIterator]();
    await expect(other.next()).rejects.toMatchObject({ kind: "internal" });
    expect(hub.stats().subscribers).toBe(1);
  });

  it("a client paused across a truncation gets the old bytes it had not seen, then the new log from 0", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "old1\n");
    const paused = hub.tail("a", path, { signal: signal() })[Symbol.asyncIterator]();
    expect((await paused.next()).value).toMatchObject({ offset: 0, data: Buffer.from("old1\n") });
    const witness = collectTail(hub.tail("a", path, { fromOffset: 5, signal: signal() }));
    appendFileSync(path, "old2\n");
    await waitUntil("old2 broadcast", () => witness.text() === "old2\n");
    truncateSync(path, 0);
    appendFileSync(path, "new\n");
    await waitUntil("new content broadcast", () => witness.text() === "old2\nnew\n");
    expect((await paused.next()).value).toMatchObject({ offset: 5, data: Buffer.from("old2\n") });
    expect((await paused.next()).value).toMatchObject({ offset: 0, data: Buffer.from("new\n") });
  });
});

describe("truncation and replacement", () => {
  it("a truncated log starts again at offset 0", async () => {
    const path = join(dir, "a.log");
    writeFileSync(path, "old old old\n");
    const c = collectTail(hub.tail("a", path, { signal: signal() }));
    await waitUntil("backlog", () => c.text() === "old old old\n");
    truncateSync(path, 0);
    appendFileSync(path, "new\n");
    await waitUntil("new content", () => c.text().endsWith("new\n"));
    const chunks = c.events.filter((e) => e.type === "chunk");
    expect(chunks.at(-1)).toMatchObject({ offset: 0 });
    expect(c.text()).toBe("old old old\nnew\n");
  });

  for (const how of ["deleted and recreated", "replaced by rename", "moved away"] as const) {
    it(`a log ${how} is followed to the new file from offset 0`, async () => {
      const path = join(dir, "a.log");
      writeFileSync(path, "first file\n");
      const c = collectTail(hub.tail("a", path, { signal: signal() }));
      await waitUntil("backlog", () => c.text() === "first file\n");
      if (how === "deleted and recreated") {
        unlinkSync(path);
        await new Promise((resolve) => setTimeout(resolve, 20));
        writeFileSync(path, "second\n");
      } else if (how === "replaced by rename") {
        writeFileSync(`${path}.tmp`, "second\n");
        renameSync(`${path}.tmp`, path);
      } else {
        renameSync(path, `${path}.1`);
        appendFileSync(`${path}.1`, "into the old file\n");
        await new Promise((resolve) => setTimeout(resolve, 20));
        writeFileSync(path, "second\n");
      }
      await waitUntil("new file's content", () => c.text().endsWith("second\n"));
      expect(c.events.filter((e) => e.type === "chunk").at(-1)).toMatchObject({ offset: 0 });
      appendFileSync(path, "third\n");
      await waitUntil("followed", () => c.text().endsWith("second\nthird\n"));
      await waitUntil("one file open", () => openFdsTo(path) === 1, 2000);
    });
  }
});

function readCharCount(): number {
  const line = readFileSync("/proc/self/io", "utf8")
    .split("\n")
    .find((l) => l.startsWith("rchar:"));
  return Number(line?.split(/\s+/)[1]);
}
