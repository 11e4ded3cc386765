// Parsers of the /proc and cgroupfs files the system sampler reads. Pure functions over the files' text, so they
// are tested on fixture text; the sampler does the reading.

/** Cumulative CPU time of all cores since boot, in clock ticks (the "cpu" line of /proc/stat). */
export interface CpuTimes {
  /** Every field summed except guest and guest_nice, which user and nice already include. */
  total: number;
  /** idle + iowait: time no task ran (iowait is idle time spent waiting on I/O). */
  idle: number;
}

/** The aggregate "cpu " line of /proc/stat; null when it is missing or malformed. */
export function parseProcStatCpu(text: string): CpuTimes | null {
  const line = /^cpu\s+(.*)$/m.exec(text)?.[1];
  if (line === undefined) return null;
  const fields = line.trim().split(/\s+/).map(Number);
  if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return null;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  return { total: user + nice + system + idle + iowait + irq + softirq + steal, idle: idle + iowait };
}

/** Percent of all cores busy between two readings (0–100); 0 when no time passed. */
export function cpuUsagePercent(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  if (total <= 0) return 0;
  const busy = total - (after.idle - before.idle);
  return Math.min(100, Math.max(0, (busy / total) * 100));
}

/** The 1, 5 and 15 minute load averages of /proc/loadavg; null when malformed. */
export function parseLoadavg(text: string): [number, number, number] | null {
  const [one, five, fifteen] = text.trim().split(/\s+/).map(Number);
  if (one === undefined || five === undefined || fifteen === undefined) return null;
  if (![one, five, fifteen].every(Number.isFinite)) return null;
  return [one, five, fifteen];
}

export interface MemoryReading {
  totalBytes: number;
  /** Total minus MemAvailable: what programs hold, page cache the kernel can drop not counted. */
  usedBytes: number;
}

/** MemTotal and MemAvailable of /proc/meminfo (kB there); null without MemTotal. */
export function parseMeminfo(text: string): MemoryReading | null {
  const kb = (name: string): number | undefined => {
    const value = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(text)?.[1];
    return value === undefined ? undefined : Number(value) * 1024;
  };
  const total = kb("MemTotal");
  if (total === undefined) return null;
  // Kernels before 3.14 have no MemAvailable: free + buffers + cached is the old approximation.
  const available = kb("MemAvailable") ?? (kb("MemFree") ?? 0) + (kb("Buffers") ?? 0) + (kb("Cached") ?? 0);
  return { totalBytes: total, usedBytes: Math.max(0, total - available) };
}

export interface NetReading {
  rxBytes: number;
  txBytes: number;
}

/**
 * Bytes received and sent since boot by every interface of /proc/net/dev except loopback (`lo`): traffic between
 * processes of this host is not load on its network.
 */
export function parseNetDev(text: string): NetReading {
  let rxBytes = 0;
  let txBytes = 0;
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    // The two header lines have "|" and no "name:" prefix.
    if (colon < 0 || line.includes("|")) continue;
    if (line.slice(0, colon).trim() === "lo") continue;
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    // 8 receive fields, then transmit: bytes are the first of each.
    const rx = fields[0];
    const tx = fields[8];
    if (rx === undefined || tx === undefined || !Number.isFinite(rx) || !Number.isFinite(tx)) continue;
    rxBytes += rx;
    txBytes += tx;
  }
  return { rxBytes, txBytes };
}

/** usage_usec of a cgroup v2 cpu.stat, in microseconds; null when it is missing. */
export function parseCgroupCpuStat(text: string): number | null {
  const value = /^usage_usec (\d+)$/m.exec(text)?.[1];
  return value === undefined ? null : Number(value);
}

/** Seconds since boot, the first figure of /proc/uptime; null when malformed. */
export function parseUptime(text: string): number | null {
  const value = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(value) && text.trim() !== "" ? value : null;
}
