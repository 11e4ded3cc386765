// Waiting in tests: every wait has a deadline, and a wait that runs out says what it waited for.
import { readFileSync } from "node:fs";

/** A check's answer: a value (or true) once the awaited state holds; false, undefined or null until then. */
type Pending<T> = T | false | undefined | null;

/**
 * Polls `check` until it returns a value other than false/undefined/null and resolves with it; rejects after
 * `timeoutMs` with an error naming `what`.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Pending<T> | Promise<Pending<T>>,
  timeoutMs = 10_000,
  intervalMs = 20,
): Promise<T> {
  const found = await poll(check, timeoutMs, intervalMs);
  if (found === undefined) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  return found.value;
}

/**
 * Whether `check` comes true within `timeoutMs`, for tests that assert on the answer themselves (with their
 * own message) or go on either way.
 */
export async function holdsWithin(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<boolean> {
  return (await poll(check, timeoutMs, intervalMs)) !== undefined;
}

async function poll<T>(
  check: () => Pending<T> | Promise<Pending<T>>,
  timeoutMs: number,
  intervalMs: number,
): Promise<{ value: T } | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== false && value !== undefined && value !== null) return { value };
    if (performance.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Whether a process exists and is not a zombie awaiting its parent. */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
