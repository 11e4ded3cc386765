import { readdir } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { readProcFile, scanProc } from "./read-proc-file.js";

/**
 * A process named by pid AND start time (field 22 of /proc/<pid>/stat, clock ticks since boot). A pid alone can
 * be reused after the process exits; the pair cannot (until reboot, when every saved handle is stale anyway).
 */
export interface ProcessHandle {
  pid: number;
  startTime: string;
}

export interface ProcessInfo extends ProcessHandle {
  ppid: number;
  pgid: number;
  sid: number;
  /** One-letter state from /proc (R, S, D, Z, …). */
  state: string;
  /** CPU time it ran itself (utime + stime), clock ticks. */
  cpuTicks: number;
  /** CPU time of its children that it has waited for (cutime + cstime), clock ticks. */
  childCpuTicks: number;
  /** Resident set, in pages. */
  rssPages: number;
}

/**
 * Reads /proc/<pid>/stat; null when the process does not exist (or vanished while being read). A scan passes
 * its reader's buffer; a single read takes a small one (a stat line is a few hundred bytes).
 */
export async function readProcessInfo(
  pid: number,
  scratch: Buffer = Buffer.allocUnsafe(1024),
): Promise<ProcessInfo | null> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  let text: string;
  try {
    text = (await readProcFile(`/proc/${pid}/stat`, scratch)).toString("utf8");
  } catch {
    return null;
  }
  return parseProcStat(text);
}

/** Parses one /proc/<pid>/stat line. The command name may contain spaces and parentheses: split after the last ')'. */
export function parseProcStat(text: string): ProcessInfo | null {
  const close = text.lastIndexOf(")");
  const open = text.indexOf("(");
  if (close < 0 || open < 0) return null;
  const pid = Number(text.slice(0, open).trim());
  const fields = text
    .slice(close + 1)
    .trim()
    .split(" ");
  const [state, ppid, pgid, sid] = fields;
  const startTime = fields[19];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return null;
  // Fields 14–17 and 24 of proc(5); fields[0] is field 3.
  const ticks = (i: number): number => Number(fields[i]) || 0;
  return {
    pid,
    state,
    ppid: Number(ppid),
    pgid: Number(pgid),
    sid: Number(sid),
    startTime,
    cpuTicks: ticks(11) + ticks(12),
    childCpuTicks: ticks(13) + ticks(14),
    rssPages: ticks(21),
  };
}

export async function handleOf(pid: number): Promise<ProcessHandle | null> {
  const info = await readProcessInfo(pid);
  return info === null ? null : { pid: info.pid, startTime: info.startTime };
}

/** True while the very process of the handle exists and has not exited (a zombie counts as exited). */
export async function isRunning(handle: ProcessHandle): Promise<boolean> {
  const info = await readProcessInfo(handle.pid);
  return info !== null && info.startTime === handle.startTime && info.state !== "Z" && info.state !== "X";
}

export async function listProcesses(): Promise<ProcessInfo[]> {
  const names = await readdir("/proc");
  const pids = names.filter((n) => /^\d+$/.test(n)).map(Number);
  const infos = await scanProc(pids, readProcessInfo);
  return infos.filter((i): i is ProcessInfo => i !== null);
}

/**
 * Everything that belongs to the tree of `rootPid`: the root, the members of its process group and session
 * (Linux keeps a pid allocated while any process still uses it as a group or session id, so members remain
 * identifiable after the leader exits), and all their descendants, including ones that moved to a new session
 * (setsid, bwrap --new-session). Zombies are left out: they are already dead.
 */
export async function processTree(rootPid: number): Promise<ProcessInfo[]> {
  return treeOf(await listProcesses(), rootPid);
}

/** processTree over a list already read (one scan of /proc shared by several trees). */
export function treeOf(all: readonly ProcessInfo[], rootPid: number): ProcessInfo[] {
  const children = new Map<number, ProcessInfo[]>();
  for (const info of all) {
    const list = children.get(info.ppid) ?? [];
    list.push(info);
    children.set(info.ppid, list);
  }
  const found = new Map<number, ProcessInfo>();
  const queue = all.filter((i) => i.pid === rootPid || i.pgid === rootPid || i.sid === rootPid);
  while (queue.length > 0) {
    const info = queue.pop() as ProcessInfo;
    if (found.has(info.pid)) continue;
    found.set(info.pid, info);
    queue.push(...(children.get(info.pid) ?? []));
  }
  return [...found.values()].filter((i) => i.state !== "Z" && i.state !== "X");
}

/**
 * Sends a signal only if the pid still names the same process. Returns false when it is gone or was reused.
 * A window between the check and kill() remains (Node has no pidfd); it is a few microseconds against the
 * minutes-to-days window of signalling a remembered bare pid.
 */
export async function signalProcess(handle: ProcessHandle, signal: NodeJS.Signals): Promise<boolean> {
  if (!(await isRunning(handle))) return false;
  try {
    process.kill(handle.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * True once the process of the handle no longer exists at all: not even as a zombie. A zombie has exited but
 * still shows in ps and answers kill(pid, 0) until its parent reaps it; for a process this one did not start
 * (an adopted Xvfb, a launcher whose wrapper died first) that parent is init or a subreaper, which may take a
 * while (about a second on some container inits).
 */
export async function isGone(handle: ProcessHandle): Promise<boolean> {
  const info = await readProcessInfo(handle.pid);
  return info === null || info.startTime !== handle.startTime;
}

/** Resolves true once none of the handles is running, false at the deadline. */
export function waitForExit(handles: readonly ProcessHandle[], timeoutMs: number): Promise<boolean> {
  return waitFor(handles, async (h) => !(await isRunning(h)), timeoutMs);
}

/** Resolves true once every handle's process is gone (reaped, see isGone), false at the deadline. */
export function waitUntilGone(handles: readonly ProcessHandle[], timeoutMs: number): Promise<boolean> {
  return waitFor(handles, isGone, timeoutMs);
}

async function waitFor(
  handles: readonly ProcessHandle[],
  done: (handle: ProcessHandle) => Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 50)) {
    if ((await Promise.all(handles.map(done))).every(Boolean)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(delay);
  }
}

export const DEFAULT_KILL_GRACE_MS = 2000;

/** How long an exited process may take to be reaped by its parent before an end is reported anyway. */
export const REAP_TIMEOUT_MS = 5000;

/**
 * SIGTERM to every process, then SIGKILL to those still running after the grace period, then waits until each
 * is gone from the process table (reaped, see isGone; bounded by REAP_TIMEOUT_MS), so that when this resolves
 * nobody sees the processes any more. Handles that no longer match a live process are skipped, so a stale or
 * reused pid is never signalled.
 */
export async function terminateProcesses(
  handles: readonly ProcessHandle[],
  graceMs: number = DEFAULT_KILL_GRACE_MS,
): Promise<void> {
  if (handles.length === 0) return;
  await Promise.all(handles.map((h) => signalProcess(h, "SIGTERM")));
  if (!(await waitForExit(handles, graceMs))) {
    await Promise.all(handles.map((h) => signalProcess(h, "SIGKILL")));
    await waitForExit(handles, 2000);
  }
  await waitUntilGone(handles, REAP_TIMEOUT_MS);
}

/**
 * Live processes whose initial environment holds exactly `entry` (e.g. `XAUTHORITY=<per-sandbox file>`). This
 * finds members of a sandbox that left its process tree (double fork + setsid after the launcher exited, so
 * they were reparented to init). Only processes whose environ this user may read are seen.
 */
export function processesWithEnvironment(entry: string): Promise<ProcessInfo[]> {
  return processesHolding("environ", entry);
}

/** Live processes with `arg` as one of their command-line arguments (e.g. an Xvfb's `-auth` file). */
export function processesWithArgument(arg: string): Promise<ProcessInfo[]> {
  return processesHolding("cmdline", arg);
}

async function processesHolding(file: "environ" | "cmdline", entry: string): Promise<ProcessInfo[]> {
  const names = (await readdir("/proc")).filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid);
  const matches = await scanProc(names, async (name, scratch) => {
    try {
      if (!holdsEntry(await readProcFile(`/proc/${name}/${file}`, scratch), entry)) return null;
      const info = await readProcessInfo(Number(name), scratch);
      return info !== null && info.state !== "Z" ? info : null;
    } catch {
      return null;
    }
  });
  return matches.filter((i): i is ProcessInfo => i !== null);
}

/** Whether NUL-separated `content` (an environ or cmdline) has `entry` as one whole element. */
function holdsEntry(content: Buffer, entry: string): boolean {
  const bytes = Buffer.from(entry);
  for (let at = content.indexOf(bytes); at >= 0; at = content.indexOf(bytes, at + 1)) {
    const end = at + bytes.length;
    if ((at === 0 || content[at - 1] === 0) && (end === content.length || content[end] === 0)) return true;
  }
  return false;
}
