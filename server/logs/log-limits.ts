import { invalidArgument } from "../errors.js";

/** GetLogs answers at most this many bytes when the request names no limit (or 0). */
export const DEFAULT_READ_LIMIT = 256 * 1024;
/** GetLogs never answers more than this many bytes in one response. */
export const MAX_READ_LIMIT = 4 * 1024 * 1024;
/** Lines of backlog a tail sends first when the request names none. */
export const DEFAULT_BACKLOG_LINES = 1000;

/**
 * The byte limit for one read: `undefined` or 0 means the default; above MAX_READ_LIMIT is refused rather than
 * silently clamped, so a client that asked for more learns why it got less.
 */
export function resolveReadLimit(limit: number | undefined): number {
  if (limit === undefined || limit === 0) return DEFAULT_READ_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw invalidArgument("limit", `must be a non-negative integer, got ${String(limit)}`);
  }
  if (limit > MAX_READ_LIMIT) {
    throw invalidArgument("limit", `at most ${MAX_READ_LIMIT} bytes per read, got ${limit}`);
  }
  return limit;
}

/** Throws invalid_argument naming `field` unless `value` is a non-negative safe integer. */
export function checkOffset(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(field, `must be a non-negative integer byte offset, got ${String(value)}`);
  }
}
