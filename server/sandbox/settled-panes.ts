import { setTimeout as sleep } from "node:timers/promises";
import type { PaneState, Tmux } from "../tools/tmux.js";

/**
 * tmux marks a pane dead when its terminal closes, which can be a moment before it has reaped the process and
 * knows the exit status. Re-reads briefly so a launcher that just exited gets its status recorded.
 * `tmux` is null when tmux is not installed: then no server, and so no pane, can exist.
 */
export async function settledPanes(tmux: Tmux | null): Promise<PaneState[]> {
  if (tmux === null) return [];
  const deadline = Date.now() + 1000;
  for (;;) {
    const panes = await tmux.listPanes();
    const unsettled = panes.some((p) => p.dead && p.deadStatus === null && p.deadSignal === null);
    if (!unsettled || Date.now() > deadline) return panes;
    await sleep(25);
  }
}
