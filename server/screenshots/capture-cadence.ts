/** How often displays are grabbed: often while someone looks, rarely otherwise (idle work is most of it). */
export interface CaptureCadence {
  /** Interval for a display someone asked for at full size within `watchedForMs`. */
  watchedMs: number;
  /** Interval for the others: the thumbnail cadence, so a first look shows a recent frame. */
  idleMs: number;
  /** How long an ask keeps a display on the watched cadence. */
  watchedForMs: number;
  /** How long a format nobody asks for again is still encoded at each change (PNG full size always is). */
  formatKeptMs: number;
  /** How often the scheduler looks for due displays. */
  tickMs: number;
  /** Captures in flight at once: sharp encodes on libuv's pool (two threads here), so two keep both cores busy. */
  concurrency: number;
}

export const DEFAULT_CADENCE: CaptureCadence = {
  watchedMs: 2000,
  idleMs: 10_000,
  watchedForMs: 10_000,
  formatKeptMs: 60_000,
  tickMs: 250,
  concurrency: 2,
};
