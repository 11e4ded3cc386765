// What is left of a daemon's sandboxes after they were stopped or deleted: processes (a zombie too: it still
// shows in ps and answers kill -0), tmux sessions, X display files and the sandboxes' own files. A teardown is
// complete when this finds nothing.
import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { managerTmux, tmuxServerPid } from "./manager-tmux.js";
import { staleXFiles } from "./x-display-files.js";

export interface SandboxTrace {
  id: string;
  displayNum: number;
  tmuxSession: string;
}

/** A process seen at some moment, by pid and start time (so a reused pid is not mistaken for it). */
export interface SeenProcess {
  pid: number;
  startTime: string;
  what: string;
}

interface ProcState {
  startTime: string;
  state: string;
  argv: string[];
  environ: string[];
}

async function procState(pid: number): Promise<ProcState | null> {
  const read = (file: string) => readFile(`/proc/${pid}/${file}`, "utf8").catch(() => "");
  const [stat, cmdline, environ] = await Promise.all([read("stat"), read("cmdline"), read("environ")]);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (stat === "" || fields[19] === undefined) return null;
  const split = (text: string) => text.split("\0").filter((a) => a !== "");
  return { startTime: fields[19], state: fields[0] ?? "", argv: split(cmdline), environ: split(environ) };
}

async function allPids(): Promise<number[]> {
  return (await readdir("/proc")).filter((n) => /^\d+$/.test(n)).map(Number);
}

/**
 * Processes that belong to one of `sandboxes` now: their command line or environment names the sandbox's id
 * or session (its files are named by them: cookie, FIFO, logs, exit status, Xvfb's -auth), and every process
 * running on one of their X displays. `exclude`: pids never counted (the test, the manager).
 */
export async function sandboxProcesses(
  sandboxes: readonly SandboxTrace[],
  exclude: readonly number[] = [],
): Promise<SeenProcess[]> {
  const skip = new Set([process.pid, ...exclude]);
  const marks = sandboxes.flatMap((s) => [s.id, s.tmuxSession]).filter((m) => m !== "");
  const found: SeenProcess[] = [];
  for (const pid of await allPids()) {
    if (skip.has(pid)) continue;
    const proc = await procState(pid);
    if (proc === null) continue;
    if ([...proc.argv, ...proc.environ].some((entry) => marks.some((mark) => entry.includes(mark)))) {
      found.push({ pid, startTime: proc.startTime, what: proc.argv.join(" ").slice(0, 200) });
    }
  }
  return found;
}

/** Of the processes seen before, those that still exist, even as a zombie nobody has reaped yet. */
export async function stillThere(seen: readonly SeenProcess[]): Promise<string[]> {
  const left: string[] = [];
  for (const p of seen) {
    const now = await procState(p.pid);
    if (now !== null && now.startTime === p.startTime) {
      left.push(`process ${p.pid}${now.state === "Z" ? " (zombie)" : ""}: ${p.what}`);
    }
  }
  return left;
}

/** The manager's tmux server, if one runs on the state directory's socket. */
export async function tmuxServerOf(stateDir: string): Promise<SeenProcess | null> {
  const pid = await tmuxServerPid(stateDir);
  const proc = pid !== null ? await procState(pid) : null;
  return pid === null || proc === null
    ? null
    : { pid, startTime: proc.startTime, what: proc.argv.join(" ").slice(0, 200) };
}

/**
 * Everything that still exists of `sandboxes`, one line each: the processes seen before (`before`) that still
 * exist, processes that belong to them now, their sessions on the manager's tmux server, X sockets nobody
 * listens on, X lock files, and their cookie, FIFO, Xvfb log, and terminal log.
 */
export async function leftovers(
  stateDir: string,
  sandboxes: readonly SandboxTrace[],
  before: readonly SeenProcess[],
  exclude: readonly number[] = [],
): Promise<string[]> {
  const found = await stillThere(before);
  for (const p of await sandboxProcesses(sandboxes, exclude)) {
    if (!before.some((b) => b.pid === p.pid)) found.push(`process ${p.pid}: ${p.what}`);
  }
  const sessions = await managerTmux(stateDir, ["list-sessions", "-F", "#{session_name}"]).then(
    (out) => out.split("\n"),
    () => [] as string[],
  );
  for (const sandbox of sandboxes) {
    if (sessions.includes(sandbox.tmuxSession)) found.push(`tmux session ${sandbox.tmuxSession}`);
    found.push(...(await staleXFiles(sandbox.displayNum, { zombieHoldsLock: true })));
    for (const file of [
      `run/${sandbox.id}.xauth`,
      `run/${sandbox.id}.go`,
      `run/${sandbox.id}.xvfb.log`,
      `logs/${sandbox.id}.log`,
    ]) {
      if (await exists(join(stateDir, file))) found.push(file);
    }
  }
  return found;
}

function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
