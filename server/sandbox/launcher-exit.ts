import type { PaneState } from "../tools/tmux.js";
import { describeExit, type ExitDescription } from "./describe-exit.js";
import type { ExitWatcher } from "./exit-watcher.js";

export interface LauncherExitSources {
  exitWatcher: ExitWatcher;
  settledPanes: () => Promise<PaneState[]>;
}

/**
 * The launcher's exit, from the best source at hand: the exit recorder's file (written before the pane
 * died), else what tmux knows about the dead pane (waiting briefly for it to learn the status).
 */
export async function launcherExit(
  sources: LauncherExitSources,
  session: string,
  known: PaneState | null,
): Promise<ExitDescription> {
  const recorded = await sources.exitWatcher.recordedStatus(session);
  if (recorded !== null) return describeExit(recorded, null);
  let pane = known;
  if (pane === null || (pane.deadStatus === null && pane.deadSignal === null)) {
    pane = (await sources.settledPanes().catch(() => [])).find((p) => p.session === session) ?? pane;
  }
  const late = await sources.exitWatcher.recordedStatus(session);
  if (late !== null) return describeExit(late, null);
  return describeExit(pane?.deadStatus ?? null, pane?.deadSignal ?? null);
}
