import { rm } from "node:fs/promises";
import type { SandboxCgroups } from "../tools/cgroup.js";
import {
  DEFAULT_KILL_GRACE_MS,
  handleOf,
  type ProcessHandle,
  REAP_TIMEOUT_MS,
  signalProcess,
  terminateProcesses,
  waitForExit,
  waitUntilGone,
} from "../tools/process-identity.js";
import type { Tmux } from "../tools/tmux.js";
import { removeStaleXFiles } from "../tools/xvfb.js";
import type { SandboxFiles } from "./sandbox-files.js";
import { cgroupMembers, sandboxProcesses } from "./sandbox-processes.js";
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
 * Ends the launcher's process tree, the tmux session and the Xvfb, each only if it is still the same process,
 * and resolves only once they are gone: reaped (not zombies waiting for init, as an adopted Xvfb and a
 * launcher whose wrapper died first are), the display's socket and lock removed, the files deleted. Bounded:
 * a process its parent does not reap within REAP_TIMEOUT_MS is left to it. Best effort: a step that fails
 * (tmux gone, say) does not keep the next from running.
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

  /**
   * Ends the members, the pane's own process (the wrapper) only after the rest: ended first, it would leave
   * the launcher to init, which reaps orphans only about once a second on some container inits, and the wait
   * for that reaping made every stop and delete slow. Ended in this order, each is reaped by a live parent at
   * once: the launcher by the wrapper, the wrapper by the tmux server.
   */
  async function stop(
    id: string,
    members: readonly ProcessHandle[],
    pane: ProcessHandle | null,
  ): Promise<void> {
    const inner = members.filter((m) => m.pid !== pane?.pid);
    if (inner.length > 0) await end(id, inner);
    const outer = members.filter((m) => m.pid === pane?.pid);
    if (outer.length > 0) await end(id, outer);
  }

  /** SIGTERM, and after the grace period cgroup.kill and SIGKILL for what still runs. */
  async function end(id: string, members: readonly ProcessHandle[]): Promise<void> {
    await Promise.all(members.map((h) => signalProcess(h, "SIGTERM")));
    if (await waitForExit(members, DEFAULT_KILL_GRACE_MS)) return;
    // cgroup.kill reaches every process in the sandbox's cgroup at once, including what they fork meanwhile.
    await cgroups?.remove(id).catch(() => {});
    await Promise.all(members.map((h) => signalProcess(h, "SIGKILL")));
    await waitForExit(members, 2000);
  }

  return async function teardown(id, session, target) {
    // Everything signalled, so that the end waits until it is gone from the process table.
    const ended = new Map<number, ProcessHandle>();
    if (target.hasSession) {
      const pane = target.pane ?? (await livePaneHandle(session).catch(() => null));
      // A process forked between a snapshot and the signals (the wrapper starting the launcher, say) is
      // caught by the next pass; the passes end when nothing of the sandbox is left.
      for (let pass = 0; pass < 3; pass++) {
        const members = await sandboxProcesses(
          files.authFile(id),
          pane,
          tmuxServer,
          cgroups?.dirOf(id) ?? null,
        );
        if (members.length === 0) break;
        for (const member of members) ended.set(member.pid, member);
        await stop(id, members, pane);
      }
      // The tmux server is the manager's, not the sandbox's: it stays up without sessions (Tmux.startServer).
      await tmux.killSession(session).catch(() => {});
    }
    // Whatever is left in the sandbox's cgroup, a process that left the tree and the XAUTHORITY trail included.
    if (cgroups !== null) {
      for (const member of await cgroupMembers(cgroups.dirOf(id))) ended.set(member.pid, member);
      await cgroups.remove(id).catch(() => {});
    }
    if (target.xvfb !== null) {
      await terminateProcesses([target.xvfb]);
      if (target.display !== null) await removeStaleXFiles(target.display, target.xvfb.pid);
    }
    await waitUntilGone([...ended.values()], REAP_TIMEOUT_MS);
    await Promise.all([
      rm(files.authFile(id), { force: true }),
      rm(files.xvfbLog(id), { force: true }),
      rm(files.goFifo(id), { force: true }),
    ]);
  };
}
