import { rm } from "node:fs/promises";
import type { SandboxCgroups } from "../tools/cgroup.js";
import { handleOf, type ProcessHandle, terminateProcesses } from "../tools/process-identity.js";
import type { Tmux } from "../tools/tmux.js";
import { removeStaleXFiles } from "../tools/xvfb.js";
import type { SandboxFiles } from "./sandbox-files.js";
import { sandboxProcesses } from "./sandbox-processes.js";
import type { SandboxRuntime } from "./sandbox-runtime.js";
import type { TmuxServerHandle } from "./tmux-server-handle.js";
import type { SandboxRecord } from "./types.js";

/** What there is to end of one sandbox. */
export interface TeardownTarget {
  xvfb: ProcessHandle | null;
  display: number | null;
  pane: ProcessHandle | null;
  hasSession: boolean;
}

/** The target of a sandbox from its record, preferring what this process knows (its runtime) when it has one. */
export function targetOf(record: SandboxRecord, runtime: SandboxRuntime | undefined): TeardownTarget {
  const xvfb =
    runtime?.xvfb ??
    (record.pid_xvfb !== null && record.xvfb_start_time !== null
      ? { pid: record.pid_xvfb, startTime: record.xvfb_start_time }
      : null);
  return { xvfb, display: record.display_num, pane: runtime?.pane ?? null, hasSession: true };
}

/**
 * Ends the launcher's process tree, the tmux session and the Xvfb, each only if it is still the same process.
 * Best effort: a step that fails (tmux gone, say) does not keep the next from running.
 */
export type Teardown = (id: string, session: string, target: TeardownTarget) => Promise<void>;

export interface TeardownOptions {
  tmux: Tmux;
  tmuxServer: TmuxServerHandle;
  files: SandboxFiles;
  /** Each sandbox's own cgroup, where the manager may make them. */
  cgroups: SandboxCgroups | null;
}

export function createTeardown({ tmux, tmuxServer, files, cgroups }: TeardownOptions): Teardown {
  async function livePaneHandle(session: string): Promise<ProcessHandle | null> {
    const pane = (await tmux.listPanes()).find((p) => p.session === session);
    if (pane === undefined || pane.dead) return null;
    return handleOf(pane.panePid);
  }

  return async function teardown(id, session, target) {
    if (target.hasSession) {
      const pane = target.pane ?? (await livePaneHandle(session).catch(() => null));
      // A process forked between a snapshot and the signals (the wrapper starting the launcher, say) is
      // caught by the next pass; the passes end when nothing of the sandbox is left.
      for (let pass = 0; pass < 3; pass++) {
        const members = await sandboxProcesses(files.authFile(id), pane, tmuxServer);
        if (members.length === 0) break;
        await terminateProcesses(members);
      }
      await tmux.killSession(session).catch(() => {});
    }
    // Whatever is left in the sandbox's cgroup, a process that left the tree and the XAUTHORITY trail included.
    await cgroups?.remove(id).catch(() => {});
    if (target.xvfb !== null) {
      await terminateProcesses([target.xvfb]);
      if (target.display !== null) await removeStaleXFiles(target.display, target.xvfb.pid);
    }
    await Promise.all([
      rm(files.authFile(id), { force: true }),
      rm(files.xvfbLog(id), { force: true }),
      rm(files.goFifo(id), { force: true }),
    ]);
  };
}
