// The /proc and cgroupfs parsers of the system sampler, on text copied from real files.
import { describe, expect, it } from "vitest";
import {
  cpuUsagePercent,
  parseCgroupCpuStat,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseProcStatCpu,
  parseUptime,
} from "../../server/metrics/proc-parsers.js";

const STAT_BEFORE = `cpu  384233 6015 133193 432434 1294 0 544 800 0 0
cpu0 192000 3000 66000 216000 600 0 300 400 0 0
cpu1 192233 3015 67193 216434 694 0 244 400 0 0
intr 123456 0 0
ctxt 987654
btime 1733300000
`;
// 200 ticks later (2 cores × 1 s): 100 user, 20 system, 70 idle, 10 iowait.
const STAT_AFTER = `cpu  384333 6015 133213 432504 1304 0 544 800 0 0
cpu0 192050 3000 66010 216035 605 0 300 400 0 0
`;

describe("/proc/stat", () => {
  it("sums the aggregate line, guest time left out, iowait counted as idle", () => {
    expect(parseProcStatCpu(STAT_BEFORE)).toEqual({
      total: 384233 + 6015 + 133193 + 432434 + 1294 + 0 + 544 + 800,
      idle: 432434 + 1294,
    });
  });

  it("gives the busy share of all cores between two samples", () => {
    const before = parseProcStatCpu(STAT_BEFORE);
    const after = parseProcStatCpu(STAT_AFTER);
    if (before === null || after === null) throw new Error("unparsed");
    // 200 ticks passed, 80 of them idle or waiting: 60 % busy.
    expect(cpuUsagePercent(before, after)).toBeCloseTo(60, 10);
    expect(cpuUsagePercent(after, after)).toBe(0);
  });

  it("refuses text without a cpu line", () => {
    expect(parseProcStatCpu("cpu0 1 2 3 4\n")).toBeNull();
    expect(parseProcStatCpu("cpu  a b c d\n")).toBeNull();
  });
});

describe("/proc/loadavg and /proc/uptime", () => {
  it("reads the three averages", () => {
    expect(parseLoadavg("1.42 1.43 2.05 3/326 21519\n")).toEqual([1.42, 1.43, 2.05]);
    expect(parseLoadavg("")).toBeNull();
  });
  it("reads seconds since boot", () => {
    expect(parseUptime("352807.25 680000.10\n")).toBe(352807.25);
    expect(parseUptime("")).toBeNull();
  });
});

describe("/proc/meminfo", () => {
  it("counts used as total minus available, in bytes", () => {
    const text = `MemTotal:       24608892 kB
MemFree:         1000000 kB
MemAvailable:   20000000 kB
Buffers:          300000 kB
Cached:         15000000 kB
`;
    expect(parseMeminfo(text)).toEqual({
      totalBytes: 24608892 * 1024,
      usedBytes: (24608892 - 20000000) * 1024,
    });
  });
  it("falls back to free + buffers + cached without MemAvailable", () => {
    const text = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n";
    expect(parseMeminfo(text)).toEqual({ totalBytes: 1000 * 1024, usedBytes: 600 * 1024 });
  });
});

describe("/proc/net/dev", () => {
  it("sums every interface but loopback", () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 2224637592  115191    0    0    0     0          0         0 2224637592  115191    0    0    0     0       0          0
  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0
 wlan0:500 5 0 0 0 0 0 0 700 7 0 0 0 0 0 0
`;
    expect(parseNetDev(text)).toEqual({ rxBytes: 1500, txBytes: 2700 });
  });
});

describe("cgroup cpu.stat", () => {
  it("reads usage_usec", () => {
    expect(parseCgroupCpuStat("usage_usec 573926\nuser_usec 573926\nsystem_usec 0\n")).toBe(573926);
    expect(parseCgroupCpuStat("")).toBeNull();
  });
});
