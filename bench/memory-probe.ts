// Memory of a manager daemon after a forced full GC, through test/fixtures/gc-probe.mjs preloaded into it:
// RSS alone mixes live memory with garbage not collected yet, so a trend is read from the post-GC figures.

import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { repoRoot } from "./repo-root.js";

export interface MemoryAfterGc {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** Environment that preloads the probe into a node process (the daemon), to merge into its environment. */
export function memoryProbeEnv(): Record<string, string> {
  return { NODE_OPTIONS: `--import=${join(repoRoot(), "test/fixtures/gc-probe.mjs")}` };
}

const LINE = /gc-probe rss=(\d+) heapUsed=(\d+) heapTotal=(\d+) external=(\d+) arrayBuffers=(\d+)/g;

/**
 * Signals the daemon (SIGUSR2) and waits for the probe's next line on its stderr; `stderr` returns all of the
 * daemon's stderr so far.
 */
export async function memoryAfterGc(
  pid: number,
  stderr: () => string,
  timeoutMs = 10_000,
): Promise<MemoryAfterGc> {
  const seen = [...stderr().matchAll(LINE)].length;
  process.kill(pid, "SIGUSR2");
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const lines = [...stderr().matchAll(LINE)];
    const line = lines[seen];
    if (line !== undefined) {
      const [rss, heapUsed, heapTotal, external, arrayBuffers] = line.slice(1).map(Number) as number[];
      return {
        rss: rss ?? 0,
        heapUsed: heapUsed ?? 0,
        heapTotal: heapTotal ?? 0,
        external: external ?? 0,
        arrayBuffers: arrayBuffers ?? 0,
      };
    }
    if (performance.now() > deadline) {
      throw new Error(`no gc-probe line within ${timeoutMs} ms: is test/fixtures/gc-probe.mjs preloaded?`);
    }
    await sleep(10);
  }
}

/** Least-squares slope of `ys` over `xs` (per unit of x). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i] as number;
    sy += ys[i] as number;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx;
    num += dx * ((ys[i] as number) - my);
    den += dx * dx;
  }
  return den === 0 ? 0 : num / den;
}

export const MIB = 1024 * 1024;
