// A sandbox cgroup's resource limits (memory, swap, processes, CPU weight), in cgroup v2 where the controller
// reaches the sandbox's cgroup, else in the controller's cgroup v1 hierarchy where the host still mounts one (a
// hybrid layout, whose cgroup2 then offers none of them), else not at all, and then the note says why. The same
// rules as the launcher's (launcher/bubblewrap/lib/cgroup.sh), so a sandbox is held alike either way.
import { constants } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CgroupDir, ResourceLimits, UsageCgroups } from "../sandbox/types.js";

export const LIMIT_CONTROLLERS = ["memory", "pids", "cpu"] as const;
export type LimitController = (typeof LIMIT_CONTROLLERS)[number];

/** What enter() made of a sandbox's limits. */
export interface AppliedLimits {
  /** Whether every limit is held. */
  applied: boolean;
  /** Which limits are not held and why; "" when all are. */
  note: string;
  /** Where its use can be read while it runs. */
  usage: UsageCgroups;
}

/**
 * The cgroup v1 directories of a process (this one's by default) for memory, pids and cpu, from /proc/PID/cgroup
 * ("N:controllers:/path") and the v1 mounts in /proc/self/mountinfo (whose last field lists the controllers).
 */
export async function cgroupV1DirsOf(pid: number | "self" = "self"): Promise<Map<LimitController, string>> {
  const dirs = new Map<LimitController, string>();
  const cgroup = await readFile(`/proc/${pid}/cgroup`, "utf8").catch(() => "");
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8").catch(() => "");
  for (const controller of LIMIT_CONTROLLERS) {
    const path = cgroup
      .split("\n")
      .map((line) => /^\d+:([^:]*):(\/.*)$/.exec(line))
      .find((m) => m?.[1]?.split(",").includes(controller))?.[2];
    if (path === undefined || path.includes("/..")) continue;
    for (const line of mountinfo.split("\n")) {
      const [fields, fsPart] = line.split(" - ");
      if (fsPart === undefined || !fsPart.startsWith("cgroup ")) continue;
      if (!(fsPart.split(" ")[2] ?? "").split(",").includes(controller)) continue;
      const [, , , root, mountPoint] = (fields ?? "").split(" ");
      if (root === undefined || mountPoint === undefined || root.includes("\\") || mountPoint.includes("\\"))
        continue;
      const base = root === "/" ? "" : root;
      if (base !== "" && path !== base && !path.startsWith(`${base}/`)) continue;
      dirs.set(controller, join(mountPoint, path.slice(base.length)));
      break;
    }
  }
  return dirs;
}

// Without O_CREAT: never creates the file. A cgroup's files are the kernel's; one that is missing is a controller or feature
// (memsw without swap accounting) this host does not offer, and that limit is not held.
const write = (dir: string, file: string, value: number | string): Promise<boolean> =>
  writeFile(join(dir, file), `${value}\n`, { flag: constants.O_WRONLY | constants.O_TRUNC }).then(
    () => true,
    () => false,
  );

/** v1's cpu.shares for a v2 cpu.weight: 1024 is v1's default as 100 is v2's; 2 is v1's least. */
export const cpuShares = (weight: number): number => Math.max(2, Math.floor((weight * 1024) / 100));

export interface LimitTargets {
  /** The sandbox's cgroup v2 directory (made already). */
  v2: string;
  /** The controllers cgroup v2 offers the sandbox's cgroup (its cgroup.controllers). */
  v2Controllers: ReadonlySet<string>;
  /** Per controller, the v1 directory to make for the sandbox where v2 lacks the controller. */
  v1: ReadonlyMap<LimitController, string>;
  /** Why v2 lacks the controllers it lacks, for the note. */
  v2Why: string;
}

/**
 * Writes the limits into the sandbox's cgroups, making its v1 cgroups where needed, before any process is moved
 * in (so nothing runs unlimited in between). Returns the v1 directories made (the process goes into them too) and
 * what is held.
 */
export async function writeLimits(
  targets: LimitTargets,
  limits: ResourceLimits,
): Promise<AppliedLimits & { v1Dirs: string[] }> {
  const held = { memory: false, swap: false, pids: false, cpu: false };
  const usage: UsageCgroups = { memory: null, pids: null };
  const v1Dirs: string[] = [];
  const { v2, v2Controllers } = targets;
  if (v2Controllers.has("memory") && (await write(v2, "memory.max", limits.memory_bytes))) {
    held.memory = true;
    usage.memory = { version: 2, dir: v2 };
    held.swap = await write(v2, "memory.swap.max", limits.swap_bytes);
  }
  if (v2Controllers.has("pids") && (await write(v2, "pids.max", limits.max_processes))) {
    held.pids = true;
    usage.pids = { version: 2, dir: v2 };
  }
  if (v2Controllers.has("cpu")) held.cpu = await write(v2, "cpu.weight", limits.cpu_weight);

  const v1Missing: string[] = [];
  for (const controller of LIMIT_CONTROLLERS) {
    if (controller === "memory" ? held.memory : controller === "pids" ? held.pids : held.cpu) continue;
    const dir = targets.v1.get(controller);
    if (dir === undefined) {
      v1Missing.push(controller);
      continue;
    }
    const made = await mkdir(dir, { recursive: true }).then(
      () => true,
      () => false,
    );
    if (!made) {
      v1Missing.push(controller);
      continue;
    }
    v1Dirs.push(dir);
    const entry: CgroupDir = { version: 1, dir };
    if (controller === "memory" && (await write(dir, "memory.limit_in_bytes", limits.memory_bytes))) {
      held.memory = true;
      usage.memory = entry;
      // memsw is memory plus swap, and exists only with swap accounting (swapaccount=1).
      held.swap = await write(dir, "memory.memsw.limit_in_bytes", limits.memory_bytes + limits.swap_bytes);
    } else if (controller === "pids" && (await write(dir, "pids.max", limits.max_processes))) {
      held.pids = true;
      usage.pids = entry;
    } else if (controller === "cpu") {
      held.cpu = await write(dir, "cpu.shares", cpuShares(limits.cpu_weight));
    }
  }
  const notes: string[] = [];
  const missing = [
    held.memory ? null : "memory",
    held.pids ? null : "processes",
    held.cpu ? null : "cpu weight",
  ].filter((m): m is string => m !== null);
  if (missing.length > 0) {
    notes.push(
      `${missing.join(", ")} not limited: ${targets.v2Why}, and ${
        v1Missing.length > 0
          ? `no cgroup v1 ${v1Missing.join("/")} hierarchy is writable`
          : "cgroup v1 refused them"
      }`,
    );
  }
  if (held.memory && !held.swap) {
    notes.push(
      usage.memory?.version === 1
        ? "swap not limited: cgroup v1 has no swap accounting here (memory.memsw.limit_in_bytes is missing; boot with swapaccount=1)"
        : "swap not limited: memory.swap.max could not be written",
    );
  }
  return { applied: notes.length === 0, note: notes.join("; "), usage, v1Dirs };
}

/** How many times the OOM killer killed in the sandbox's memory cgroup (0 when unknown). */
export async function oomKillCount(memory: CgroupDir | null): Promise<number> {
  if (memory === null) return 0;
  const file = join(memory.dir, memory.version === 2 ? "memory.events" : "memory.oom_control");
  const text = await readFile(file, "utf8").catch(() => "");
  return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
}
