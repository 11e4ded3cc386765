// What a manager daemon holds, counted from /proc and the file system: the soak benchmarks and tests compare a
// census taken before a workload with one taken after it. Everything is read from outside the daemon, as an
// operator would see it, so nothing in the daemon has to cooperate.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";

export interface CensusScope {
  /** The manager daemon's pid. */
  pid: number;
  /** Its state directory: processes naming it in their argv or environment belong to it. */
  stateDir: string;
  /** The X display numbers its sandboxes can get ([first, last]), so other X servers on the host are not counted. */
  displays: readonly [number, number];
}

export interface Census {
  /** Open file descriptors of the daemon, and what they point at (socket:[…], pipe:[…], paths). */
  fds: string[];
  /** Resident set size of the daemon, KiB. */
  rssKiB: number;
  /** Files (not directories) under the state directory, relative paths. */
  stateFiles: string[];
  /** `/tmp/.X11-unix/X<n>` sockets and `/tmp/.X<n>-lock` files within the scope's displays. */
  x11Entries: string[];
  /** Descendants of the daemon, as "pid comm". */
  tree: string[];
  /** Other processes with the state directory in their argv or environment (the tmux server, pane writers). */
  referring: string[];
  /** Cgroups the daemon made for sandboxes ("<hierarchy>:<name>"), in every hierarchy it lives in. */
  cgroups: string[];
  /** Host-wide counts by command name: other programs on the machine change these too. */
  xvfbHostWide: number;
  tmuxHostWide: number;
}

/** The counted quantities, for tables; RSS is compared separately (it is never byte-identical). */
export const COUNTED = ["fds", "stateFiles", "x11Entries", "tree", "referring", "cgroups"] as const;
export type Counted = (typeof COUNTED)[number];

interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return fallback;
  }
}

function listProcesses(): ProcInfo[] {
  const result: ProcInfo[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(name)) continue;
    const stat = readOr(`/proc/${name}/stat`, "");
    const close = stat.lastIndexOf(")");
    if (close < 0) continue;
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    // Fields after the command: state, ppid, …; a zombie still counts (nobody reaped it).
    const ppid = Number(stat.slice(close + 2).split(" ")[1]);
    result.push({ pid: Number(name), ppid, comm });
  }
  return result;
}

function descendants(root: number, processes: ProcInfo[]): ProcInfo[] {
  const children = new Map<number, ProcInfo[]>();
  for (const p of processes) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const found: ProcInfo[] = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const child of children.get(stack.pop() as number) ?? []) {
      found.push(child);
      stack.push(child.pid);
    }
  }
  return found;
}

function listFilesUnder(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => !e.isDirectory())
      .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
      .sort();
  } catch {
    return [];
  }
}

/** The per-second tick count /proc's utime and stime are expressed in (USER_HZ, 100 on Linux). */
export const CLOCK_TICKS_PER_S = 100;

/** utime + stime of a process, in seconds of CPU. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command: state(0) ppid(1) … utime(11) stime(12).
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** Resident set size of a process, KiB. */
export function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readOr(`/proc/${pid}/status`, ""));
  return match === null ? Number.NaN : Number(match[1]);
}

export function takeCensus(scope: CensusScope): Census {
  const { pid, stateDir, displays } = scope;
  const fds: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      fds.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  fds.sort();
  const x11Entries: string[] = [];
  const inRange = (n: number) => n >= displays[0] && n <= displays[1];
  for (const name of safeReaddir("/tmp/.X11-unix")) {
    const n = /^X(\d+)$/.exec(name);
    if (n !== null && inRange(Number(n[1]))) x11Entries.push(`/tmp/.X11-unix/${name}`);
  }
  for (const name of safeReaddir("/tmp")) {
    const n = /^\.X(\d+)-lock$/.exec(name);
    if (n !== null && inRange(Number(n[1]))) x11Entries.push(`/tmp/${name}`);
  }
  const processes = listProcesses();
  const tree = descendants(pid, processes);
  const inTree = new Set(tree.map((p) => p.pid));
  const referring = processes
    .filter((p) => p.pid !== pid && !inTree.has(p.pid) && namesDir(p.pid, stateDir))
    .map((p) => `${p.pid} ${p.comm}`);
  return {
    fds,
    rssKiB: rssKiB(pid),
    stateFiles: listFilesUnder(stateDir),
    x11Entries: x11Entries.sort(),
    tree: tree.map((p) => `${p.pid} ${p.comm}`).sort(),
    referring: referring.sort(),
    cgroups: sandboxCgroups(pid, stateDir),
    xvfbHostWide: processes.filter((p) => p.comm === "Xvfb").length,
    tmuxHostWide: processes.filter((p) => p.comm.startsWith("tmux")).length,
  };
}

/** Whether a process has `dir` (or a path in it) in its argv or its environment. */
function namesDir(pid: number, dir: string): boolean {
  if (pid === process.pid) return false;
  const names = (s: string) => s.startsWith(dir) || s.includes(`=${dir}`);
  return (
    readOr(`/proc/${pid}/cmdline`, "").split("\0").some(names) ||
    readOr(`/proc/${pid}/environ`, "").split("\0").some(names)
  );
}

/** Every process (but this one) with `dir` in its argv or environment: what to end when cleaning up. */
export function pidsNaming(dir: string): number[] {
  return listProcesses()
    .map((p) => p.pid)
    .filter((pid) => namesDir(pid, dir));
}

/**
 * The sandbox cgroups below the manager's own directory (`claude-sandbox-manager.<sha256(state dir)[:12]>`, as
 * server/tools/cgroup.ts names it) in each hierarchy the daemon is in: the unified one and the v1 ones.
 */
function sandboxCgroups(pid: number, stateDir: string): string[] {
  const tag = createHash("sha256").update(stateDir).digest("hex").slice(0, 12);
  const found: string[] = [];
  for (const line of readOr(`/proc/${pid}/cgroup`, "").split("\n")) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (match === null) continue;
    const [, controllers = "", path = ""] = match;
    const hierarchy = controllers === "" ? "unified" : (controllers.split(",")[0] ?? "");
    if (hierarchy.startsWith("name=")) continue;
    const dir = join("/sys/fs/cgroup", hierarchy, path, `claude-sandbox-manager.${tag}`);
    for (const name of safeReaddir(dir)) if (name.startsWith("sandbox-")) found.push(`${hierarchy}:${name}`);
  }
  return found.sort();
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * What differs between two lists, ignoring what legitimately changes (pids, socket and pipe inode numbers,
 * UUIDs in file names): "+x" for what is new in `after`, "-x" for what went. Pids are stripped so that a tmux
 * server replaced by another counts as equal.
 */
export function listDelta(before: readonly string[], after: readonly string[]): string[] {
  // Spare files are renamed into use and made anew under a fresh UUID: the same file for this purpose.
  const key = (s: string) =>
    s
      .replace(/^\d+ /, "")
      .replace(/\[\d+\]$/, "[]")
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>");
  const counts = new Map<string, number>();
  for (const s of before) counts.set(key(s), (counts.get(key(s)) ?? 0) - 1);
  for (const s of after) counts.set(key(s), (counts.get(key(s)) ?? 0) + 1);
  const delta: string[] = [];
  for (const [k, n] of counts) {
    for (let i = 0; i < Math.abs(n); i++) delta.push(`${n > 0 ? "+" : "-"}${k}`);
  }
  return delta.sort();
}

/** A before/after table of the counted quantities and RSS, one row each, with what changed. */
export function censusTable(
  columns: { title: string; census: Census }[],
  rows: readonly Counted[] = COUNTED,
): string {
  const [first] = columns;
  if (first === undefined) return "";
  const label: Record<Counted, string> = {
    fds: "manager open fds",
    stateFiles: "files in the state dir",
    x11Entries: "X11 sockets + locks (own displays)",
    tree: "processes in the manager's tree",
    referring: "other processes naming the state dir",
    cgroups: "sandbox cgroups",
  };
  const width = Math.max(...columns.map((c) => c.title.length), 8);
  const lines = [`${"".padEnd(38)}${columns.map((c) => c.title.padStart(width + 2)).join("")}`];
  for (const row of rows) {
    lines.push(
      `${label[row].padEnd(38)}${columns.map((c) => String(c.census[row].length).padStart(width + 2)).join("")}`,
    );
  }
  lines.push(
    `${"manager RSS (MiB)".padEnd(38)}${columns.map((c) => (c.census.rssKiB / 1024).toFixed(1).padStart(width + 2)).join("")}`,
  );
  lines.push(
    `${"Xvfb / tmux processes, host-wide".padEnd(38)}${columns
      .map((c) => `${c.census.xvfbHostWide}/${c.census.tmuxHostWide}`.padStart(width + 2))
      .join("")}`,
  );
  for (const column of columns.slice(1)) {
    for (const row of rows) {
      const delta = listDelta(first.census[row], column.census[row]);
      if (delta.length > 0) lines.push(`  ${column.title}, ${label[row]}: ${delta.join(", ")}`);
    }
  }
  return lines.join("\n");
}

/** The counted quantities that differ between two censuses (by content, pids and fd numbers aside). */
export function changedCounts(before: Census, after: Census): Counted[] {
  return COUNTED.filter((row) => listDelta(before[row], after[row]).length > 0);
}
