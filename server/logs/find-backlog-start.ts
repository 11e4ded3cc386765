import type { FileHandle } from "node:fs/promises";

const NEWLINE = 0x0a;
const BLOCK = 64 * 1024;

/**
 * Offset where the last `lines` lines before `end` begin, found by reading backwards in blocks so a huge log
 * costs only what the backlog spans. A trailing partial line counts as a line; a newline right at `end`
 * closes the last line rather than starting a new one. At most `maxBytes` are scanned: when the lines span
 * more, the backlog starts at the first line boundary inside that window (or mid-line if there is none).
 */
export async function findBacklogStart(
  handle: FileHandle,
  end: number,
  lines: number,
  maxBytes: number,
): Promise<number> {
  if (lines <= 0 || end <= 0) return end;
  const floor = Math.max(0, end - maxBytes);
  const buffer = Buffer.allocUnsafe(Math.min(BLOCK, end - floor));
  let found = 0;
  let earliestBoundary = -1;
  let blockEnd = end;
  while (blockEnd > floor) {
    const blockStart = Math.max(floor, blockEnd - buffer.length);
    const length = blockEnd - blockStart;
    const { bytesRead } = await handle.read(buffer, 0, length, blockStart);
    // The file shrank under us; what we have is the best answer left.
    if (bytesRead < length) return Math.min(blockEnd, end);
    let i = length - 1;
    for (;;) {
      i = buffer.lastIndexOf(NEWLINE, i);
      if (i < 0 || i >= length) break;
      const boundary = blockStart + i + 1;
      if (boundary < end) {
        found += 1;
        if (found === lines) return boundary;
        earliestBoundary = boundary;
      }
      if (i === 0) break;
      i -= 1;
    }
    blockEnd = blockStart;
  }
  if (floor === 0) return 0;
  return earliestBoundary >= 0 ? earliestBoundary : floor;
}
