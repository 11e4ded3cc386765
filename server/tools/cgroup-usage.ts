// What a running sandbox uses now against its limits, from its cgroup files. Read synchronously when a sandbox is
// turned into a message (Get, List, Watch): four small reads of cgroupfs, a few microseconds each, cheaper than
// the bookkeeping an asynchronous read would need in every caller.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { UsageCgroups } from "../sandbox/types.js";

export interface ResourceUsageReading {
  memoryCurrentBytes?: bigint;
  memoryMaxBytes?: bigint;
  pidsCurrent?: number;
  pidsMax?: number;
}

function readNumber(dir: string, file: string): bigint | undefined {
  try {
    const text = readFileSync(join(dir, file), "utf8").trim();
    // "max" (v2) is no limit; v1 says the same with a huge number, which is passed on as it is.
    return /^\d+$/.test(text) ? BigInt(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Undefined when neither cgroup can be read (the sandbox has none, or it is gone). */
export function readUsage(cgroups: UsageCgroups | undefined): ResourceUsageReading | undefined {
  if (cgroups === undefined) return undefined;
  const reading: ResourceUsageReading = {};
  const { memory, pids } = cgroups;
  if (memory !== null) {
    const v2 = memory.version === 2;
    reading.memoryCurrentBytes = readNumber(memory.dir, v2 ? "memory.current" : "memory.usage_in_bytes");
    reading.memoryMaxBytes = readNumber(memory.dir, v2 ? "memory.max" : "memory.limit_in_bytes");
  }
  if (pids !== null) {
    const current = readNumber(pids.dir, "pids.current");
    const max = readNumber(pids.dir, "pids.max");
    if (current !== undefined) reading.pidsCurrent = Number(current);
    if (max !== undefined) reading.pidsMax = Number(max);
  }
  return Object.values(reading).some((v) => v !== undefined) ? reading : undefined;
}
