// The host's load and each sandbox's share of it, sampled in the background so that GetSystemMetrics is a read of
// the last figures: no process is spawned and nothing is scanned on the request path (the seed built a new
// sysinfo System per request and so always reported 0 % CPU; systeminformation spawns df and ps for some calls).
// CPU figures are the use between two samples, about SAMPLE_INTERVAL_MS apart. Samples are taken only while
// someone asks (WATCHED_MS after the last request): an idle manager with nobody watching spends nothing on them
// (with 20 sandboxes without cgroups a sample scans /proc for 16 ms, which alone doubled the idle manager's CPU).
import { readFile, statfs } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { cgroupMembers } from "../sandbox/sandbox-processes.js";
import type { SandboxUsageSource } from "../sandbox/types.js";
import { readUsage } from "../tools/cgroup-usage.js";
import { listProcesses, type ProcessInfo, parseProcStat, treeOf } from "../tools/process-identity.js";
import { readProcFile } from "../tools/read-proc-file.js";
import {
  type CpuTimes,
  cpuUsagePercent,
  parseCgroupCpuStat,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseProcStatCpu,
  parseUptime,
} from "./proc-parsers.js";

export const SAMPLE_INTERVAL_MS = 2000;
/** How long after the last request samples go on being taken. */
export const WATCHED_MS = 60_000;
/** Linux reports process CPU times in USER_HZ ticks, 100 a second on every architecture it runs on. */
const TICKS_PER_SECOND = 100;

export interface SandboxLoad {
  id: string;
  /** CPU over the last interval, percent of one core (200 = two cores busy); null before a second sample. */
  cpuPercent: number | null;
  /** Memory in use: the cgroup's (page cache and tmpfs included) where it has one, else its processes' RSS. */
  memoryBytes: number | null;
}

export interface SystemSnapshot {
  /** Percent of all cores busy over the last interval. */
  cpuUsage: number;
  cpuCount: number;
  loadAverage: [number, number, number];
  memoryUsed: number;
  memoryTotal: number;
  /** Of the file system holding the state directory. */
  diskUsed: number;
  diskTotal: number;
  /** Since boot, loopback left out. */
  netRxBytes: number;
  netTxBytes: number;
  uptimeSeconds: number;
  sampledAt: Date;
  sandboxes: SandboxLoad[];
}

export interface SystemSampler {
  /** The last sample, however old; asking keeps samples coming for WATCHED_MS. */
  latest(): SystemSnapshot;
  /**
   * A sample at most about intervalMs old: the last one, or after a quiet spell a new one (then its CPU figures
   * are the averages since the previous sample). Asking keeps samples coming for WATCHED_MS.
   */
  current(): Promise<SystemSnapshot>;
  /** Stops sampling; no timer is left. */
  close(): void;
}

export interface SystemSamplerOptions {
  /** The directory whose file system's size is reported. */
  stateDir: string;
  /** The running sandboxes and where to read their use. */
  sandboxes: () => SandboxUsageSource[];
  intervalMs?: number;
  watchedMs?: number;
}

/** A sandbox's cumulative CPU time at one instant, and how it was read (readings of different kinds do not mix). */
interface CpuMark {
  kind: "cgroup" | "processes";
  seconds: number;
  at: number;
}

/**
 * Takes a first sample (so latest() has figures at once: CPU then is the average since boot, and sandboxes have no
 * CPU figure yet), then, from the first request until WATCHED_MS after the last, one every intervalMs on an unref'd
 * timer, never two at once.
 */
export async function createSystemSampler(options: SystemSamplerOptions): Promise<SystemSampler> {
  const intervalMs = options.intervalMs ?? SAMPLE_INTERVAL_MS;
  const scratch = Buffer.allocUnsafe(16 * 1024);
  const pageBytes = await pageSize();
  // Zero at boot: the first sample's CPU figure is the average since boot, not a made-up 0.
  let previousCpu: CpuTimes = { total: 0, idle: 0 };
  const previousSandboxCpu = new Map<string, CpuMark>();
  let closed = false;

  // Only ever one read at a time uses the scratch buffer (sample() runs its reads in turn, and never twice at once).
  const read = async (path: string): Promise<string> => (await readProcFile(path, scratch)).toString("utf8");

  /**
   * One sandbox's figures. CPU from its cgroup's cpu.stat where it is in its cgroup (that counts processes that
   * exited too), memory from its memory cgroup; what those do not tell is summed over its processes, taken from
   * `all` (the sample's one scan of /proc): the cgroup's members, else the pane's tree as processTree finds it.
   */
  async function sandboxLoad(
    source: SandboxUsageSource,
    populated: boolean,
    all: readonly ProcessInfo[] | null,
    now: number,
  ): Promise<SandboxLoad> {
    let mark: CpuMark | null = null;
    if (populated && source.cgroupDir !== null) {
      const usec = parseCgroupCpuStat(await read(join(source.cgroupDir, "cpu.stat")).catch(() => ""));
      if (usec !== null) mark = { kind: "cgroup", seconds: usec / 1e6, at: now };
    }
    const memory = readUsage(source.usageCgroups)?.memoryCurrentBytes;
    let memoryBytes = memory === undefined ? null : Number(memory);
    if ((mark === null || memoryBytes === null) && all !== null) {
      const members = await membersOf(source, populated, all);
      // Children a member waited for count through its cutime/cstime: a short-lived process still counts.
      let ticks = 0;
      let pages = 0;
      for (const p of members) {
        ticks += p.cpuTicks + p.childCpuTicks;
        pages += p.rssPages;
      }
      mark ??= { kind: "processes", seconds: ticks / TICKS_PER_SECOND, at: now };
      memoryBytes ??= pages * pageBytes;
    }
    const before = previousSandboxCpu.get(source.id);
    if (mark !== null) previousSandboxCpu.set(source.id, mark);
    let cpuPercent: number | null = null;
    if (mark !== null && before !== undefined && before.kind === mark.kind && mark.at > before.at) {
      // A member reaped by a stranger takes its time along: never report less than nothing.
      cpuPercent = Math.max(0, ((mark.seconds - before.seconds) / ((mark.at - before.at) / 1000)) * 100);
    }
    return { id: source.id, cpuPercent, memoryBytes };
  }

  async function membersOf(
    source: SandboxUsageSource,
    populated: boolean,
    all: readonly ProcessInfo[],
  ): Promise<ProcessInfo[]> {
    if (populated && source.cgroupDir !== null) {
      const pids = new Set((await cgroupMembers(source.cgroupDir)).map((h) => h.pid));
      return all.filter((p) => pids.has(p.pid));
    }
    const pane = source.pane;
    if (pane === null) return [];
    // With the leader gone its pid may be a stranger's: only its group and session members are ours then.
    const leaderAlive = all.some((p) => p.pid === pane.pid && p.startTime === pane.startTime);
    return treeOf(all, pane.pid).filter((p) => leaderAlive || p.pid !== pane.pid);
  }

  async function sample(): Promise<SystemSnapshot> {
    // One after another: they share one scratch buffer, and each is a few microseconds.
    const stat = await read("/proc/stat");
    const loadavg = await read("/proc/loadavg");
    const meminfo = await read("/proc/meminfo");
    const netdev = await read("/proc/net/dev");
    const uptime = await read("/proc/uptime");
    const fs = await statfs(options.stateDir).catch(() => null);
    const cpu = parseProcStatCpu(stat);
    const cpuUsage = cpu === null ? 0 : cpuUsagePercent(previousCpu, cpu);
    if (cpu !== null) previousCpu = cpu;
    const memory = parseMeminfo(meminfo);
    const net = parseNetDev(netdev);
    const sources = options.sandboxes();
    const populated = await Promise.all(
      sources.map((source) => (source.cgroupDir === null ? false : cgroupPopulated(source.cgroupDir))),
    );
    // One scan of /proc for every sandbox whose cgroups do not tell both figures, none when all do.
    const needsScan = sources.some(
      (source, i) => !populated[i] || readUsage(source.usageCgroups)?.memoryCurrentBytes === undefined,
    );
    const all = needsScan ? await listProcesses().catch(() => null) : null;
    const now = performance.now();
    const sandboxes: SandboxLoad[] = [];
    // One at a time: they share the scratch buffer.
    for (const [i, source] of sources.entries()) {
      sandboxes.push(await sandboxLoad(source, populated[i] === true, all, now));
    }
    const running = new Set(sources.map((s) => s.id));
    for (const id of previousSandboxCpu.keys()) if (!running.has(id)) previousSandboxCpu.delete(id);
    const diskTotal = fs === null ? 0 : fs.blocks * fs.bsize;
    return {
      cpuUsage,
      cpuCount: cpus().length,
      loadAverage: parseLoadavg(loadavg) ?? [0, 0, 0],
      memoryUsed: memory?.usedBytes ?? 0,
      memoryTotal: memory?.totalBytes ?? 0,
      // Used as df counts it: total minus free (bfree), root's reserve counted as used by nobody; bavail is what
      // an unprivileged user may still write.
      diskTotal,
      diskUsed: fs === null ? 0 : diskTotal - fs.bfree * fs.bsize,
      netRxBytes: net.rxBytes,
      netTxBytes: net.txBytes,
      uptimeSeconds: parseUptime(uptime) ?? 0,
      sampledAt: new Date(),
      sandboxes,
    };
  }

  const watchedMs = options.watchedMs ?? WATCHED_MS;
  let latest = await sample();
  let lastAsked = 0;
  let pending: Promise<SystemSnapshot> | null = null;
  let timer: NodeJS.Timeout | null = null;

  // Never two at once: a request that finds one running shares it.
  const refresh = (): Promise<SystemSnapshot> => {
    pending ??= sample()
      .then((snapshot) => {
        if (!closed) latest = snapshot;
        return latest;
      })
      // A failed sample (a /proc file unreadable for a moment) keeps the previous figures.
      .catch(() => latest)
      .finally(() => {
        pending = null;
      });
    return pending;
  };
  const watch = (): void => {
    lastAsked = performance.now();
    if (timer !== null || closed) return;
    timer = setInterval(() => {
      if (performance.now() - lastAsked > watchedMs) {
        if (timer !== null) clearInterval(timer);
        timer = null;
        return;
      }
      if (pending === null) void refresh();
    }, intervalMs);
    timer.unref();
  };
  // Not watched until someone asks: the first sample stays the only one of a manager nobody looks at.

  return {
    latest() {
      watch();
      return latest;
    },
    async current() {
      watch();
      const age = Date.now() - latest.sampledAt.getTime();
      return age > intervalMs * 1.5 ? refresh() : latest;
    },
    close() {
      closed = true;
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}

/** Whether a cgroup v2 holds any process (its own or a child's); an empty one's cpu.stat says nothing of the sandbox. */
async function cgroupPopulated(dir: string): Promise<boolean> {
  const events = await readFile(join(dir, "cgroup.events"), "utf8").catch(() => "");
  return /^populated 1$/m.test(events);
}

/**
 * The kernel's page size, which /proc/<pid>/stat counts RSS in: this process's VmRSS (kB, /proc/self/status) over
 * its rss in pages, rounded to a power of two. 4096 when that cannot be read.
 */
async function pageSize(): Promise<number> {
  try {
    const [status, stat] = await Promise.all([
      readFile("/proc/self/status", "utf8"),
      readFile("/proc/self/stat", "utf8"),
    ]);
    const rssKb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
    const pages = parseProcStat(stat)?.rssPages;
    if (!Number.isFinite(rssKb) || pages === undefined || pages <= 0) return 4096;
    return 2 ** Math.round(Math.log2((rssKb * 1024) / pages));
  } catch {
    return 4096;
  }
}
