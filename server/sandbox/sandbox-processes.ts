import {
  isRunning,
  type ProcessHandle,
  processesWithEnvironment,
  processTree,
} from "../tools/process-identity.js";
import type { TmuxServerHandle } from "./tmux-server-handle.js";

/**
 * The processes of a sandbox: the pane's tree, plus any that escaped it but carry its XAUTHORITY.
 * `authFile` is the sandbox's authority file; `pane` the process its tmux pane started, if known.
 */
export async function sandboxProcesses(
  authFile: string,
  pane: ProcessHandle | null,
  tmuxServer: TmuxServerHandle,
): Promise<ProcessHandle[]> {
  const members = new Map<number, ProcessHandle>();
  if (pane !== null) {
    const leaderAlive = await isRunning(pane);
    // With the leader gone its pid could be reused by a stranger; only its group and session members
    // (which keep the number allocated) and their descendants are ours then.
    for (const p of await processTree(pane.pid)) if (leaderAlive || p.pid !== pane.pid) members.set(p.pid, p);
  }
  // Processes that escaped the tree (setsid + parent exited) still carry the sandbox's own XAUTHORITY. The
  // pipe-pane `cat` carries it too but must live until the session ends, to log the launcher's last words.
  for (const p of await processesWithEnvironment(`XAUTHORITY=${authFile}`)) {
    if (!members.has(p.pid) && p.ppid !== tmuxServer.current()?.pid) members.set(p.pid, p);
  }
  return [...members.values()];
}
