// Screenshots of running sandboxes' Xvfb displays, taken in the background and cached, so GetScreenshot answers
// from memory and never waits on a grab. One long-lived X connection per display. Two gates keep idle displays
// cheap: no grab while X DAMAGE reports nothing drawn, and no encode when the raw pixels hash the same as the
// last frame's (drawing the same pixels again, as a terminal repainting its text does).
import { createHash } from "node:crypto";
import { DomainError } from "../errors.js";
import type { SandboxEvent, SandboxRecord } from "../sandbox/types.js";
import { bgrxToRgb, encodeRgb, type ImageFormat, MIME_TYPES } from "../tools/encode-image.js";
import { openDisplay, type RawFrame, type XDisplayConnection } from "../tools/x11-display.js";
import { type CaptureCadence, DEFAULT_CADENCE } from "./capture-cadence.js";

/** A display the capturer may grab: a running sandbox's Xvfb and its authority file. */
export interface DisplaySource {
  id: string;
  display: number;
  authFile: string;
}

export interface ScreenshotRequest {
  format: ImageFormat;
  /** 0: full size. */
  maxWidth: number;
}

export interface Screenshot {
  data: Buffer;
  mimeType: string;
  width: number;
  height: number;
  /** When the display first showed this content (the grab that found it changed). */
  capturedAt: Date;
}

export interface CaptureStats {
  /** Grabs done (changed or not). */
  grabs: number;
  /** Captures that needed no grab: X DAMAGE reported nothing drawn since the last one. */
  skipped: number;
  /** Images encoded: grabs of changed content times the formats wanted. */
  encodes: number;
  /** X connections opened. */
  connections: number;
}

export interface ScreenshotCapturerOptions {
  /** The displays of running sandboxes, read at every tick (cheap: the manager's records). */
  displays(): DisplaySource[];
  /** The manager's events: a stopped or deleted sandbox's frames and connection are released at once. */
  onEvent(listener: (event: SandboxEvent) => void): () => void;
  cadence?: Partial<CaptureCadence>;
  /** Reported once per failure streak of a display (the daemon logs it). */
  log?: (line: string) => void;
}

export interface ScreenshotCapturer {
  /**
   * The latest frame of a sandbox in the asked format, encoding it now if that format was not wanted before.
   * not_found while there is none (not running, no display, or not captured yet).
   */
  latest(record: SandboxRecord, request: ScreenshotRequest): Promise<Screenshot>;
  /**
   * Calls `onFrame` with each new frame of the sandbox in the asked format (the display then counts as watched),
   * and `onEnd` once, when the sandbox stops or is deleted or the capturer closes. Throws as latest() does for a
   * sandbox with no display. Returns the unsubscribe function.
   */
  watch(
    record: SandboxRecord,
    request: ScreenshotRequest,
    onFrame: (frame: Screenshot) => void,
    onEnd: () => void,
  ): () => void;
  stats(): CaptureStats;
  /** Stops capturing and closes every X connection; waits for captures in flight. */
  close(): Promise<void>;
}

interface Frame extends Screenshot {
  /** Hash of the raw frame it was encoded from. */
  hash: string;
}

interface DisplayState {
  source: DisplaySource;
  connection: XDisplayConnection | null;
  /** Hash of the last raw frame, and when that content was first grabbed. */
  hash: string | null;
  contentSince: number;
  frames: Map<string, Frame>;
  /** Formats asked for (key → last ask, ms); PNG at full size is always encoded. */
  wanted: Map<string, { request: ScreenshotRequest; at: number }>;
  lastAsked: number;
  lastCapture: number;
  capturing: Promise<void> | null;
  lastError: string | null;
  released: boolean;
  watchers: Set<Watcher>;
}

interface Watcher {
  key: string;
  request: ScreenshotRequest;
  onFrame: (frame: Screenshot) => void;
  onEnd: () => void;
}

const DEFAULT_REQUEST: ScreenshotRequest = { format: "png", maxWidth: 0 };
const keyOf = (request: ScreenshotRequest): string => `${request.format}:${request.maxWidth}`;

export function createScreenshotCapturer(options: ScreenshotCapturerOptions): ScreenshotCapturer {
  const cadence: CaptureCadence = { ...DEFAULT_CADENCE, ...options.cadence };
  const states = new Map<string, DisplayState>();
  const stats: CaptureStats = { grabs: 0, skipped: 0, encodes: 0, connections: 0 };
  let running = 0;
  let closed = false;

  function release(id: string): void {
    const state = states.get(id);
    if (state === undefined) return;
    states.delete(id);
    state.released = true;
    state.connection?.close();
    state.connection = null;
    state.frames.clear();
    const watchers = [...state.watchers];
    state.watchers.clear();
    for (const watcher of watchers) watcher.onEnd();
  }

  /** The state of a running sandbox's display, or not_found saying why there is none. */
  function displayOf(record: SandboxRecord): DisplayState {
    const { id } = record;
    if (record.status !== "running") {
      throw new DomainError(
        "not_found",
        `sandbox ${JSON.stringify(id)} is ${record.status}: screenshots exist only while its display runs`,
      );
    }
    if (!states.has(id)) sync();
    const state = states.get(id);
    if (state === undefined) {
      throw new DomainError(
        "not_found",
        `sandbox ${JSON.stringify(id)} has no display to take screenshots of`,
      );
    }
    return state;
  }

  /** Follows the set of running displays: new ones get a state, gone ones (or renumbered) are released. */
  function sync(): void {
    const current = new Map(options.displays().map((source) => [source.id, source]));
    for (const [id, state] of states) {
      const source = current.get(id);
      if (source === undefined || source.display !== state.source.display) release(id);
    }
    for (const [id, source] of current) {
      if (states.has(id)) continue;
      states.set(id, {
        source,
        connection: null,
        hash: null,
        contentSince: 0,
        frames: new Map(),
        wanted: new Map(),
        lastAsked: 0,
        lastCapture: 0,
        capturing: null,
        lastError: null,
        released: false,
        watchers: new Set(),
      });
    }
  }

  const unsubscribe = options.onEvent((event) => {
    if (event.type === "deleted") release(event.id);
    else if (event.sandbox.status !== "running") release(event.sandbox.id);
    else if (!states.has(event.sandbox.id)) {
      sync();
      tick();
    }
  });

  function capture(state: DisplayState): Promise<void> {
    state.capturing ??= (async () => {
      running++;
      try {
        await captureOnce(state);
        if (state.lastError !== null) options.log?.(`screenshots of sandbox ${state.source.id} work again`);
        state.lastError = null;
      } catch (error) {
        const message = (error as Error).message;
        if (state.lastError === null && !state.released) {
          options.log?.(`cannot capture the display of sandbox ${state.source.id}: ${message}`);
        }
        state.lastError = message;
        state.connection?.close();
        state.connection = null;
      } finally {
        state.lastCapture = Date.now();
        state.capturing = null;
        running--;
      }
    })();
    return state.capturing;
  }

  async function captureOnce(state: DisplayState): Promise<void> {
    if (state.connection === null || state.connection.closed) {
      state.connection = await openDisplay(state.source);
      stats.connections++;
      // Released while connecting: nobody else will close it.
      if (state.released) {
        state.connection.close();
        return;
      }
    }
    const now = Date.now();
    const requests = [DEFAULT_REQUEST];
    for (const [key, want] of state.wanted) {
      if (now - want.at > cadence.formatKeptMs) {
        state.wanted.delete(key);
        state.frames.delete(key);
      } else if (key !== keyOf(DEFAULT_REQUEST)) requests.push(want.request);
    }
    // Nothing drawn since the last grab and every wanted format encoded from it: the frames are current.
    const current =
      state.hash !== null && requests.every((r) => state.frames.get(keyOf(r))?.hash === state.hash);
    if (current && !state.connection.drawnSinceGrab()) {
      stats.skipped++;
      return;
    }
    const connection = state.connection;
    const raw = await connection.grab();
    stats.grabs++;
    if (state.released) return;
    try {
      await encodeChanged(state, raw, requests);
    } finally {
      // A display grabbed every 10 s gives its frame-sized segment back between grabs (re-made at the next one);
      // one grabbed every 2 s keeps it. Memory then follows the displays watched, not the displays running.
      if (!watched(state, Date.now())) connection.releaseSegment();
    }
  }

  function watched(state: DisplayState, now: number): boolean {
    return state.watchers.size > 0 || now - state.lastAsked < cadence.watchedForMs;
  }

  async function encodeChanged(
    state: DisplayState,
    raw: RawFrame,
    requests: ScreenshotRequest[],
  ): Promise<void> {
    const hash = createHash("sha1").update(raw.data).digest("base64");
    if (hash !== state.hash) {
      state.hash = hash;
      state.contentSince = Date.now();
    }
    let rgb: Buffer | null = null;
    for (const request of requests) {
      const key = keyOf(request);
      if (state.frames.get(key)?.hash === hash) continue;
      rgb ??= bgrxToRgb(raw.data, raw.width * raw.height);
      const image = await encodeRgb(rgb, raw.width, raw.height, request);
      stats.encodes++;
      if (state.released) return;
      const frame = {
        data: image.data,
        width: image.width,
        height: image.height,
        mimeType: MIME_TYPES[request.format],
        capturedAt: new Date(state.contentSince),
      };
      state.frames.set(key, { ...frame, hash });
      for (const watcher of state.watchers) if (watcher.key === key) watcher.onFrame(frame);
    }
  }

  /** Starts the captures that are due, most overdue first, at most `concurrency` at a time. */
  function tick(): void {
    if (closed) return;
    const now = Date.now();
    const due: { state: DisplayState; overdue: number }[] = [];
    for (const state of states.values()) {
      // A watcher is someone looking all the time: its display and formats stay wanted.
      for (const watcher of state.watchers) {
        if (watcher.request.maxWidth === 0) state.lastAsked = now;
        state.wanted.set(watcher.key, { request: watcher.request, at: now });
      }
      if (state.capturing !== null) continue;
      const interval = now - state.lastAsked < cadence.watchedForMs ? cadence.watchedMs : cadence.idleMs;

      const overdue = now - state.lastCapture - interval;
      if (overdue >= 0) due.push({ state, overdue });
    }
    due.sort((a, b) => b.overdue - a.overdue);
    for (const { state } of due) {
      if (running >= cadence.concurrency) break;
      void capture(state).then(tick);
    }
  }

  sync();
  const timer = setInterval(() => {
    sync();
    tick();
  }, cadence.tickMs);
  timer.unref();
  tick();

  return {
    async latest(record, request) {
      if (closed) throw new DomainError("unavailable", "the manager is shutting down");
      const { id } = record;
      const state = displayOf(record);
      const key = keyOf(request);
      const now = Date.now();
      // A full-size ask is someone looking at the display; thumbnails (a grid of them) keep the idle cadence.
      if (request.maxWidth === 0) state.lastAsked = now;
      state.wanted.set(key, { request, at: now });
      let frame = state.frames.get(key);
      if (frame === undefined) {
        // A format nobody asked for yet (or a display not captured yet): capture now rather than at the next
        // round; a grab and an encode take tens of milliseconds.
        if (state.capturing !== null) await state.capturing;
        frame = state.frames.get(key);
        if (frame === undefined && !state.released) {
          await capture(state);
          frame = state.frames.get(key);
        }
      }
      if (frame === undefined) {
        const why = state.lastError === null ? "its display has not been captured yet" : state.lastError;
        throw new DomainError("not_found", `sandbox ${JSON.stringify(id)} has no screenshot yet: ${why}`);
      }
      const { hash: _hash, ...screenshot } = frame;
      return screenshot;
    },
    watch(record, request, onFrame, onEnd) {
      if (closed) throw new DomainError("unavailable", "the manager is shutting down");
      const state = displayOf(record);
      const watcher: Watcher = { key: keyOf(request), request, onFrame, onEnd };
      state.watchers.add(watcher);
      return () => state.watchers.delete(watcher);
    },
    stats: () => ({ ...stats }),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      unsubscribe();
      const inFlight = [...states.values()].map((state) => state.capturing);
      await Promise.allSettled(inFlight);
      for (const id of [...states.keys()]) release(id);
    },
  };
}
