// The wire format of GET /ws/sandboxes/:id/logs (documented in web/README.md; web/public/terminal.js reads it).
// Log bytes travel as binary frames, untouched: terminal output is not UTF-8-safe at chunk boundaries, and a
// text frame would have to be valid UTF-8. Everything else is a small JSON text frame.

/** Bytes of the big-endian offset that starts every binary frame. */
export const OFFSET_BYTES = 8;

/** Why a stream ended: the proto's LogEndReason in lowercase, or "error" when the tail failed. */
export type EndReason = "deleted" | "shutdown" | "too_slow" | "error";

export type ControlMessage =
  /** Nothing new; the stream is at `offset`. Also the first message when there is nothing to send yet. */
  | { type: "keepalive"; offset: number }
  /** The log was truncated or replaced: what was shown is gone; the log starts anew at `offset` (0). */
  | { type: "reset"; offset: number }
  /** The last message: why, for people, and the offset to resume from (`?from=`) when it makes sense. */
  | { type: "end"; reason: EndReason; message: string; offset: number };

/**
 * The WebSocket close code sent after each end: deleted is a normal end, shutdown is "going away", too_slow is
 * "try again later" and a failed tail an internal error. A close without an end message (a cut connection)
 * is the browser's 1006.
 */
export const CLOSE_CODE: Readonly<Record<EndReason, number>> = {
  deleted: 1000,
  shutdown: 1001,
  too_slow: 1013,
  error: 1011,
};

/** One binary frame: the offset of the first byte, then the bytes. One copy, so the frame is one write. */
export function chunkFrame(offset: bigint, data: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(OFFSET_BYTES + data.length);
  frame.writeBigUInt64BE(offset, 0);
  frame.set(data, OFFSET_BYTES);
  return frame;
}

export function controlFrame(message: ControlMessage): string {
  return JSON.stringify(message);
}
