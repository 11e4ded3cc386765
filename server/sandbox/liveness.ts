import { isRunning } from "../tools/process-identity.js";
import type { PaneState, Tmux } from "../tools/tmux.js";
import type { RunningXvfb } from "../tools/xvfb.js";
import { describeExit } from "./describe-exit.js";
import type { ExitWatcher, SessionExit } from "./exit-watcher.js";
import { launcherExit } from "./launcher-exit.js";
import type { EndInfo, SandboxRegistry } from "./registry.js";
import { oomReason } from "./resource-limits.js";
import { type Teardown, targetOf } from "./teardown.js";
import type { TmuxServerHandle } from "./tmux-server-handle.js";

export interface LivenessOptions {
  registry: SandboxRegistry;
  /** True once the manager is closing: no new ends are started then. */
  isClosed: () => boolean;
  tmux: Tmux;
  tmuxServer: TmuxServerHandle;
  exitWatcher: ExitWatcher;
  settledPanes: () => Promise<PaneState[]>;
  teardown: Teardown;
  /** How many processes the OOM killer killed in the sandbox (its cgroup); read before the teardown removes it. */
  oomKills?: (id: string) => Promise<number>;
}

/** Notices sandboxes that end on their own (launcher exit, session closed, Xvfb or tmux server gone). */
export interface Liveness {
  /** A sandbox ended on its own: mark it dead and clean up. */
  endUnexpectedly(id: string, info: EndInfo): void;
  /** Handles what a tmux hook reported through the exit watcher. */
  onSessionExit(exit: SessionExit): void;
  /** Ends the sandbox when the Xvfb this process started exits. */
  watchXvfbChild(id: string, xvfb: RunningXvfb): void;
  /** Ends the sandboxes whose sessions went with the tmux server, if it has gone. */
  checkTmuxServer(): Promise<void>;
  /** One round of the periodic check for ends no hook or event reported. */
  poll(): Promise<void>;
}

export function createLiveness(options: LivenessOptions): Liveness {
  const { registry, tmux, tmuxServer, exitWatcher, teardown } = options;

  function endUnexpectedly(id: string, info: EndInfo): void {
    const runtime = registry.runtime(id);
    if (runtime === undefined || runtime.ending || options.isClosed()) return;
    if (runtime.starting) {
      runtime.pendingEnd ??= () => endUnexpectedly(id, info);
      return;
    }
    runtime.ending = true;
    void registry
      .withIdLock(id, async () => {
        const record = registry.get(id);
        if (record === undefined || record.status !== "running") return;
        // A sandbox whose memory ran out ends with a SIGKILL that says nothing by itself: its cgroup knows.
        const kills = (await options.oomKills?.(id).catch(() => 0)) ?? 0;
        await teardown(id, registry.sessionOf(record), targetOf(record, runtime)).catch(() => {});
        const end = kills > 0 ? { ...info, reason: oomReason(kills, record.limits, info.reason) } : info;
        // Recorded even while closing: the teardown happened, and the next start must not adopt it.
        await registry.markEnded(id, "dead", end);
      })
      .catch(() => {});
  }

  function exitOf(session: string, known: PaneState | null): Promise<EndInfo> {
    return launcherExit(options, session, known);
  }

  function onSessionExit(exit: SessionExit): void {
    const id = registry.idOfSession(exit.session);
    const record = id === undefined ? undefined : registry.get(id);
    const runtime = id === undefined ? undefined : registry.runtime(id);
    if (id === undefined || (runtime === undefined && record?.status !== "running")) {
      // Not (or no longer) a running sandbox: the file is a leftover of a stop or delete.
      if (record === undefined || record.status !== "running") void exitWatcher.discard(exit.session);
      return;
    }
    if (exit.kind === "closed") {
      endUnexpectedly(id, { reason: "its tmux session was closed outside the manager" });
      return;
    }
    if (exit.exitCode !== null || exit.exitSignal !== null) {
      endUnexpectedly(id, describeExit(exit.exitCode, exit.exitSignal));
      return;
    }
    void exitOf(exit.session, null).then((end) => endUnexpectedly(id, end));
  }

  function watchXvfbChild(id: string, xvfb: RunningXvfb): void {
    xvfb.child.once("exit", (code, signal) => {
      const how = signal === null ? `status ${code}` : signal;
      endUnexpectedly(id, { reason: `Xvfb (display :${xvfb.display}) exited unexpectedly (${how})` });
    });
  }

  /**
   * Notices that the tmux server we knew has gone (killed, crashed), taking every session on it: those
   * sandboxes end. A create may have started a new server since, so the current one is asked which sessions
   * exist rather than ending everything. Runs from the poll and before a create relies on the server.
   */
  async function checkTmuxServer(): Promise<void> {
    const server = tmuxServer.current();
    if (server !== null && (await isRunning(server))) return;
    const live = new Set((await tmux.listPanes()).map((p) => p.session));
    if (tmuxServer.current() === server) await tmuxServer.refresh();
    if (server === null) return;
    for (const { record, runtime } of registry.running()) {
      if (runtime.starting || runtime.ending) continue;
      if (!live.has(registry.sessionOf(record))) {
        endUnexpectedly(record.id, { reason: "the manager's tmux server exited" });
      }
    }
  }

  async function poll(): Promise<void> {
    if (options.isClosed()) return;
    if (tmuxServer.current() !== null) await checkTmuxServer();
    for (const { record, runtime } of registry.running()) {
      if (runtime.starting || runtime.ending) continue;
      if (runtime.xvfbChild === null && runtime.xvfb !== null && !(await isRunning(runtime.xvfb))) {
        endUnexpectedly(record.id, { reason: `Xvfb (display :${record.display_num}) is no longer running` });
      } else if (runtime.pane !== null && !(await isRunning(runtime.pane))) {
        // Normally the pane-died hook reports this at once; this catches a hook that could not run.
        const session = registry.sessionOf(record);
        const panes = await options.settledPanes().catch(() => null);
        const pane = panes?.find((p) => p.session === session);
        if (panes !== null && pane === undefined) {
          endUnexpectedly(record.id, { reason: "its tmux session is gone" });
        } else if (pane?.dead) {
          endUnexpectedly(record.id, await exitOf(session, pane));
        }
      }
    }
  }

  return { endUnexpectedly, onSessionExit, watchXvfbChild, checkTmuxServer, poll };
}
