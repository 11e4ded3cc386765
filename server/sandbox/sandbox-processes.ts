import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  handleOf,
  isRunning,
  type ProcessHandle,
  processesWithEnvironment,
  processTree,
} from "../tools/process-identity.js";
import type { TmuxServerHandle } from "./tmux-server-handle.js";

/**
 * The processes of a sandbox: the pane's tree, the members of its cgroup (`cgroupDir`, where it has one: that
 * includes processes that left the tree and cleared their environment), plus any that escaped the tree but carry
 * its XAUTHORITY. `authFile` is the sandbox's authority file; `pane` the process its tmux pane started, if known.
 */
export async function sandboxProcesses(
  authFile: string,
  pane: ProcessHandle | null,
  tmuxServer: TmuxServerHandle,
  cgroupDir: string | null,
): Promise<ProcessHandle[]> {
  const members = new Map<number, ProcessHandle>();
  if (pane !== null) {
    const leaderAlive = await isRunning(pane);
    // With the leader gone its pid could be reused by a stranger; only its group and session members
    // (which keep the number allocated) and their descendants are ours then.
    for (const p of await processTree(pane.pid)) if (leaderAlive || p.pid !== pane.pid) members.set(p.pid, p);
  }
  if (cgroupDir !== null) {
    for (const member of await cgroupMembers(cgroupDir))
      if (!members.has(member.pid)) members.set(member.pid, member);
  }
  // Processes that escaped the tree (setsid + parent exited) still carry the sandbox's own XAUTHORITY. The
  // pipe-pane `cat` carries it too but must live until the session ends, to log the launcher's last words.
  for (const p of await processesWithEnvironment(`XAUTHORITY=${authFile}`)) {
    if (!members.has(p.pid) && p.ppid !== tmuxServer.current()?.pid) members.set(p.pid, p);
  }
  return [...members.values()];
}

/** The processes in a cgroup and the cgroups below it; none when it does not exist. */
export async function cgroupMembers(dir: string): Promise<ProcessHandle[]> {
  const handles = await Promise.all((await cgroupProcs(dir)).map(handleOf));
  return handles.filter((h): h is ProcessHandle => h !== null);
}

/** The pids in a cgroup and the cgroups below it (the launcher may make some); none when it does not exist. */
async function cgroupProcs(dir: string): Promise<number[]> {
  const own = (await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => ""))
    .split("\n")
    .filter((line) => /^\d+$/.test(line))
    .map(Number);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.filter((e) => e.isDirectory()).map((e) => cgroupProcs(join(dir, e.name))),
  );
  return [...own, ...nested.flat()];
}
