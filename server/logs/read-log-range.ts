import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import { invalidArgument } from "../errors.js";
import type { LogRange } from "./log-hub.js";
import { checkOffset, MAX_READ_LIMIT } from "./log-limits.js";

const EMPTY = Buffer.alloc(0);

/**
 * Reads at most `limit` bytes of the file at `path`: from `offset` when given, else the last `limit` bytes.
 * A missing file reads as empty with size 0; an offset at or past the end gives empty data and the size.
 */
export async function readLogRange(
  path: string,
  options: { offset?: number | undefined; limit: number },
): Promise<LogRange> {
  const { offset, limit } = options;
  if (!Number.isSafeInteger(limit) || limit <= 0 || limit > MAX_READ_LIMIT) {
    throw invalidArgument(
      "limit",
      `must be an integer from 1 to ${MAX_READ_LIMIT} bytes, got ${String(limit)}`,
    );
  }
  if (offset !== undefined) checkOffset("offset", offset);

  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if (isNotFound(error)) return { data: EMPTY, offset: offset ?? 0, size: 0 };
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const start = offset ?? Math.max(0, size - limit);
    if (start >= size) return { data: EMPTY, offset: start, size };
    const data = await readFully(handle, start, Math.min(limit, size - start));
    return { data, offset: start, size };
  } finally {
    await handle.close();
  }
}

/** Reads up to `length` bytes at `position`; shorter only when the file ends (or shrank) first. */
export async function readFully(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === "ENOENT";
}
