import { handleOf, isRunning, processTree, terminateProcesses } from "../tools/process-identity.js";
import { type PaneState, STAY_WHEN_EMPTY, type Tmux } from "../tools/tmux.js";
import type { ExitWatcher } from "./exit-watcher.js";
import { launcherExit } from "./launcher-exit.js";
import type { EndInfo, SandboxRegistry } from "./registry.js";
import { type OrphanDirs, removeOrphans } from "./remove-orphans.js";
import { type Teardown, targetOf } from "./teardown.js";
import type { TmuxServerHandle } from "./tmux-server-handle.js";

export interface ReconcileOptions {
  /** Holds the records loaded from state.json: live ones are adopted, ended ones marked dead. */
  registry: SandboxRegistry;
  tmux: Tmux;
  tmuxServer: TmuxServerHandle;
  exitWatcher: ExitWatcher;
  settledPanes: () => Promise<PaneState[]>;
  teardown: Teardown;
  /** The state directory's run/, logs/ and exits/ folders. */
  dirs: OrphanDirs;
}

/**
 * On start, makes what state.json says agree with what is running: adopts live sandboxes, marks the rest dead
 * and tears down what is left of them, and cleans up after stops, deletes and creates a crash interrupted.
 */
export async function reconcile(options: ReconcileOptions): Promise<void> {
  const { registry, tmux, teardown } = options;
  const panes = await options.settledPanes();
  await options.tmuxServer.refresh().catch(() => {});
  // The server stays up while the manager runs, even with no session (see Tmux.startServer); one an older
  // manager started may still exit when empty.
  if (options.tmuxServer.current() !== null) await tmux.run(STAY_WHEN_EMPTY).catch(() => {});
  const paneOf = new Map<string, PaneState>(panes.map((p) => [p.session, p]));
  for (const record of registry.records()) {
    const session = registry.sessionOf(record);
    registry.bindSession(session, record.id);
    const pane = paneOf.get(session);
    paneOf.delete(session);
    if (record.status !== "running") {
      // Left over from a stop or delete that a crash interrupted.
      if (pane !== undefined)
        await teardown(record.id, session, { ...targetOf(record, undefined), xvfb: null });
      continue;
    }
    const xvfb = targetOf(record, undefined).xvfb;
    const xvfbAlive = xvfb !== null && (await isRunning(xvfb));
    let end: EndInfo | null = null;
    if (pane === undefined) end = { reason: "its tmux session was gone when the manager started" };
    else if (pane.dead) end = await launcherExit(options, session, pane);
    else if (!xvfbAlive)
      end = { reason: `Xvfb (display :${record.display_num}) was gone when the manager started` };
    if (end === null && pane !== undefined) {
      registry.adopt(record.id, {
        xvfb,
        xvfbChild: null,
        pane: await handleOf(pane.panePid),
        starting: false,
        pendingEnd: null,
        ending: false,
      });
      continue;
    }
    await teardown(record.id, session, { ...targetOf(record, undefined), hasSession: pane !== undefined });
    await registry.markEnded(record.id, "dead", end ?? { reason: "ended" });
  }
  await removeOrphans(options.dirs, registry);
  // Sessions on our private server that no record owns: a create interrupted by a crash.
  for (const [session, pane] of paneOf) {
    if (!/^sandbox-[0-9a-f]{8}$/.test(session)) continue;
    const leader = pane.dead ? null : await handleOf(pane.panePid);
    if (leader !== null) await terminateProcesses(await processTree(leader.pid));
    await tmux.killSession(session);
  }
  await registry.save();
}
