import type { TailEvent } from "../../server/logs/log-hub.js";
import { collect } from "./stream-collector.js";

type EndEvent = Extract<TailEvent, { type: "end" }>;

/** A log tail read in the background (collect()), with its bytes put together and checked. */
export interface TailCollector {
  /** Every event so far, in order. */
  readonly events: TailEvent[];
  /** When each event arrived (performance.now()). */
  readonly arrivals: number[];
  /** Concatenated chunk bytes. */
  bytes(): Buffer;
  text(): string;
  /** Offset right after the last chunk; -1 before the first. */
  nextOffset(): number;
  ended(): EndEvent | undefined;
  /** Settles when the tail ends; rejects with its error. */
  readonly done: Promise<void>;
  /** Problems seen: offset gaps or overlaps, empty chunks, events after the end. */
  readonly problems: string[];
}

export function collectTail(tail: AsyncIterable<TailEvent>): TailCollector {
  const collected = collect(tail);
  const events = collected.items;
  const chunks = () => events.filter((e): e is Extract<TailEvent, { type: "chunk" }> => e.type === "chunk");
  const bytes = () => Buffer.concat(chunks().map((c) => c.data));
  return {
    events,
    arrivals: collected.arrivals,
    bytes,
    text: () => bytes().toString(),
    nextOffset() {
      const last = chunks().at(-1);
      return last === undefined ? -1 : last.offset + last.data.length;
    },
    ended: () => events.find((e): e is EndEvent => e.type === "end"),
    // A chain of its own, so a tail that fails with nobody awaiting it still fails the run as unhandled.
    done: collected.done.then(() => undefined),
    get problems() {
      const problems: string[] = [];
      let next = -1;
      let ended = false;
      for (const event of events) {
        if (ended) problems.push("event after end");
        ended ||= event.type === "end";
        if (event.type !== "chunk") continue;
        if (next >= 0 && event.offset !== next) problems.push(`chunk at ${event.offset}, expected ${next}`);
        if (event.data.length === 0) problems.push(`empty chunk at ${event.offset}`);
        next = event.offset + event.data.length;
      }
      return problems;
    },
  };
}
