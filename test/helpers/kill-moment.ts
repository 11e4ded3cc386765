// When a fault test kills the manager: after a delay, or as soon as a file event shows it reached a given step.
import { watch } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** A delay after the requests were sent, or the first event on a file whose name matches, in `dir` of the state dir. */
export type KillAt = { delayMs: number } | { dir: string; name: RegExp };

/** `rounds` random delays, one drawn from each equal slice of `spreadMs`, so together they cover all of it. */
export function spreadDelays(rounds: number, spreadMs: number): KillAt[] {
  return Array.from({ length: rounds }, (_, i) => ({
    delayMs: Math.floor(((i + Math.random()) * spreadMs) / rounds),
  }));
}

export function describeKill(at: KillAt): string {
  return "delayMs" in at
    ? `kill ${at.delayMs} ms after the requests`
    : `kill at the first ${at.dir}/${at.name.source}`;
}

/**
 * Resolves at the kill moment. Call it before sending the requests: a file watch must be in place before the
 * manager could touch the file.
 */
export function killMoment(stateDir: string, at: KillAt): Promise<void> {
  if ("delayMs" in at) return sleep(at.delayMs);
  return new Promise((resolve) => {
    const watcher = watch(join(stateDir, at.dir), (_event, name) => {
      if (typeof name === "string" && at.name.test(name)) {
        watcher.close();
        resolve();
      }
    });
  });
}
