import { existsSync, readFileSync } from "node:fs";
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
 * it, and no X server on this machine shows a lock file or socket for it. Everything is checked synchronously,
 * so reserving is atomic with respect to other creates in this process; a server elsewhere that takes the
 * number meanwhile makes Xvfb fail to listen, and the caller reserves the next one.
 */
export function createDisplayAllocator(options: DisplayAllocatorOptions): DisplayAllocator {
  const reserved = new Set<number>();

  const taken = (n: number, listening: ReadonlySet<number>): boolean =>
    reserved.has(n) ||
    options.usedBySandbox(n) ||
    listening.has(n) ||
    existsSync(`/tmp/.X${n}-lock`) ||
    existsSync(`/tmp/.X11-unix/X${n}`);

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
 * sockets). This sees a server whose socket file was deleted, which the file checks miss; trying its number
 * would only cost a failed Xvfb start.
 */
function listeningDisplays(): Set<number> {
  const found = new Set<number>();
  let table = "";
  try {
    table = readFileSync("/proc/net/unix", "latin1");
  } catch {
    return found;
  }
  for (const match of table.matchAll(/@?\/tmp\/\.X11-unix\/X(\d+)$/gm)) found.add(Number(match[1]));
  return found;
}
