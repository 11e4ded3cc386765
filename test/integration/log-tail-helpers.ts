import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { TailEvent } from "../../server/logs/log-hub.js";

/** Polls `condition` until it holds or `ms` pass; the failure names what was awaited. */
export async function waitUntil(what: string, condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Consumes a tail in the background, recording every event with its arrival time. */
export interface Collector {
  events: TailEvent[];
  arrivals: number[];
  /** Concatenated chunk bytes, checked to be contiguous as they arrive. */
  bytes(): Buffer;
  text(): string;
  /** Offset right after the last chunk (or the start offset of the first). */
  nextOffset(): number;
  ended(): Extract<TailEvent, { type: "end" }> | undefined;
  done: Promise<void>;
  /** Problems seen: offset gaps or overlaps, events after end. */
  problems: string[];
}

export function collect(tail: AsyncIterable<TailEvent>): Collector {
  const events: TailEvent[] = [];
  const arrivals: number[] = [];
  const problems: string[] = [];
  const parts: Buffer[] = [];
  let next = -1;
  let ended = false;
  const done = (async () => {
    for await (const event of tail) {
      if (ended) problems.push("event after end");
      ended ||= event.type === "end";
      events.push(event);
      arrivals.push(performance.now());
      if (event.type === "chunk") {
        if (next >= 0 && event.offset !== next) problems.push(`chunk at ${event.offset}, expected ${next}`);
        if (event.data.length === 0) problems.push(`empty chunk at ${event.offset}`);
        next = event.offset + event.data.length;
        parts.push(event.data);
      }
    }
  })();
  return {
    events,
    arrivals,
    problems,
    bytes: () => Buffer.concat(parts),
    text: () => Buffer.concat(parts).toString(),
    nextOffset: () => next,
    ended: () => events.find((e): e is Extract<TailEvent, { type: "end" }> => e.type === "end"),
    done,
  };
}

/** File descriptors of this process that point at `path`. */
export function openFdsTo(path: string): number {
  let count = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(path)) count += 1;
    } catch {
      // The fd closed while we looked.
    }
  }
  return count;
}

/** inotify watches held by this process (one line per watch in the fdinfo of each inotify fd). */
export function inotifyWatches(): number {
  let count = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) !== "anon_inode:inotify") continue;
      count += readFileSync(`/proc/self/fdinfo/${fd}`, "utf8")
        .split("\n")
        .filter((line) => line.startsWith("inotify wd:")).length;
    } catch {
      // The fd closed while we looked.
    }
  }
  return count;
}
