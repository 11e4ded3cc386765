import { existsSync, readFileSync, statSync } from "node:fs";
import { SandboxError } from "./errors.js";

/** How many display numbers above the base are tried before giving up. */
export const DISPLAY_RANGE = 1000;

export interface DisplayAllocator {
  /** The lowest free number ≥ base that is not in `skip`; it stays reserved until released. */
  reserve(skip?: ReadonlySet<number>): number;
  release(display: number): void;
}

export interface DisplayAllocatorOptions {
  base: number;
  /** True for numbers a sandbox of this manager holds (its records). */
  usedBySandbox: (display: number) => boolean;
}

/**
 * Hands out X display numbers. A number is free when no sandbox holds it, no create in flight has reserved
 * it, no X server listens on it (per /proc/net/unix, which also sees a server whose socket file was deleted)
 * and no live process holds its lock file. A socket file nobody listens on, or a lock naming a dead process,
 * is what a crashed server left: that number is reused (Xvfb replaces the stale socket) instead of numbers
 * creeping upward forever. Everything is checked synchronously, so reserving is atomic with respect to other
 * creates in this process; a server elsewhere that takes the number meanwhile makes Xvfb fail to listen, and
 * the caller reserves the next one.
 */
export function createDisplayAllocator(options: DisplayAllocatorOptions): DisplayAllocator {
  const reserved = new Set<number>();

  const taken = (n: number, listening: ReadonlySet<number> | null): boolean =>
    reserved.has(n) ||
    options.usedBySandbox(n) ||
    lockHeld(n) ||
    // Without /proc/net/unix, any socket file counts as in use.
    (listening === null ? existsSync(`/tmp/.X11-unix/X${n}`) : listening.has(n) || staleOfOther(n));

  return {
    reserve(skip = new Set()) {
      const listening = listeningDisplays();
      for (let n = options.base; n < options.base + DISPLAY_RANGE; n++) {
        if (skip.has(n) || taken(n, listening)) continue;
        reserved.add(n);
        return n;
      }
      throw new SandboxError(
        "unavailable",
        `no free X display number between :${options.base} and :${options.base + DISPLAY_RANGE - 1}`,
      );
    },
    release(display) {
      reserved.delete(display);
    },
  };
}

/**
 * Display numbers some X server listens on, from /proc/net/unix (abstract `@/tmp/.X11-unix/X<n>` or path
 * sockets); null if the table cannot be read.
 */
function listeningDisplays(): Set<number> | null {
  let table: string;
  try {
    table = readFileSync("/proc/net/unix", "latin1");
  } catch {
    return null;
  }
  const found = new Set<number>();
  for (const match of table.matchAll(/@?\/tmp\/\.X11-unix\/X(\d+)$/gm)) found.add(Number(match[1]));
  return found;
}

/**
 * True if the display's socket file exists but belongs to another user: /tmp/.X11-unix is sticky, so only its
 * owner (or root) can replace it, and an Xvfb of ours would fail to listen there.
 */
function staleOfOther(display: number): boolean {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return false;
  try {
    return statSync(`/tmp/.X11-unix/X${display}`).uid !== uid;
  } catch {
    return false;
  }
}

/** True if the display's lock file exists and names a live process (or cannot be read: assume it is held). */
function lockHeld(display: number): boolean {
  let text: string;
  try {
    text = readFileSync(`/tmp/.X${display}-lock`, "latin1");
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ENOENT";
  }
  const pid = Number(text.trim());
  return !Number.isSafeInteger(pid) || pid <= 0 || existsSync(`/proc/${pid}`);
}
