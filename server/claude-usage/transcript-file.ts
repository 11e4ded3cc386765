// Reads a transcript incrementally: an offset per file, so a refresh parses only the bytes appended since the
// last one; a last line without its newline waits for it. The directory is the sandbox's to write, so a file is
// opened without following symlinks or blocking on a FIFO, and an endless line is dropped, not buffered.
import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** A line longer than this is counted as malformed and skipped up to its newline. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;
const NEWLINE = 0x0a;

export interface FileCursor {
  /** Identity of the file read so far: a different inode is a replaced file, read from its start. */
  ino: number;
  /** Bytes consumed, including a pending partial line. */
  offset: number;
  /** The start of a line whose newline has not been written yet. */
  partial: Buffer | undefined;
  /** Inside a line longer than MAX_LINE_BYTES: bytes are dropped up to its newline. */
  skipping: boolean;
}

export const newCursor = (): FileCursor => ({ ino: -1, offset: 0, partial: undefined, skipping: false });

/**
 * Feeds the complete lines appended since `cursor` to `onLine` (overlong ones to `onOverlong`) and advances it.
 * "reset": the file shrank or was replaced, so what was read of it no longer holds; "skipped": not a regular
 * file (or gone).
 */
export async function readAppended(
  path: string,
  cursor: FileCursor,
  onLine: (line: string) => void,
  onOverlong: () => void,
): Promise<"read" | "reset" | "skipped"> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return "skipped";
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return "skipped";
    if (cursor.ino !== -1 && (info.ino !== cursor.ino || info.size < cursor.offset)) return "reset";
    cursor.ino = info.ino;
    let remaining = info.size - cursor.offset;
    if (remaining <= 0) return "read";
    const buffer = Buffer.allocUnsafe(Math.min(remaining, CHUNK_BYTES));
    while (remaining > 0) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(remaining, buffer.length), cursor.offset);
      if (bytesRead === 0) break;
      cursor.offset += bytesRead;
      remaining -= bytesRead;
      splitLines(buffer.subarray(0, bytesRead), cursor, onLine, onOverlong);
    }
    return "read";
  } finally {
    await handle.close();
  }
}

function splitLines(
  chunk: Buffer,
  cursor: FileCursor,
  onLine: (line: string) => void,
  onOverlong: () => void,
): void {
  let start = 0;
  for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
    if (cursor.skipping) {
      cursor.skipping = false;
    } else if (cursor.partial !== undefined) {
      const line = Buffer.concat([cursor.partial, chunk.subarray(start, nl)]);
      if (line.length > MAX_LINE_BYTES) onOverlong();
      else emit(line, 0, line.length, onLine);
    } else if (nl - start > MAX_LINE_BYTES) {
      onOverlong();
    } else {
      emit(chunk, start, nl, onLine);
    }
    cursor.partial = undefined;
    start = nl + 1;
  }
  if (start >= chunk.length || cursor.skipping) return;
  // The chunk's tail is a line still being written (or cut by the chunk): it waits for the rest. It is copied,
  // since the chunk's buffer is reused.
  const tail = Buffer.from(chunk.subarray(start));
  const pending = cursor.partial === undefined ? tail : Buffer.concat([cursor.partial, tail]);
  if (pending.length > MAX_LINE_BYTES) {
    onOverlong();
    cursor.partial = undefined;
    cursor.skipping = true;
  } else {
    cursor.partial = pending;
  }
}

function emit(buffer: Buffer, start: number, end: number, onLine: (line: string) => void): void {
  // Blank lines (a trailing CR, an empty write) are not lines.
  let e = end;
  while (e > start && (buffer[e - 1] === 0x0d || buffer[e - 1] === 0x20)) e--;
  if (e > start) onLine(buffer.toString("utf8", start, e));
}
