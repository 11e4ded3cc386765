// A sandbox's resource limits: defaults relative to the host and the checks of a request's values. The same rules
// as the launcher's flags (launcher/bubblewrap/lib/limits.sh), so a sandbox gets the same limits either way.
import { totalmem } from "node:os";
import { invalidArgument } from "./errors.js";
import type { ResourceLimits } from "./types.js";

const MIB = 2 ** 20;
const GIB = 2 ** 30;
/** Past 1 PiB a size is a typo; it also keeps every byte count an exact JavaScript number. */
export const MAX_BYTES = 2 ** 50;
/** Below these the launch itself (bash, bwrap, pasta) cannot run, which would look like a broken sandbox. */
export const MIN_MEMORY_BYTES = 32 * MIB;
export const MIN_TMPFS_BYTES = MIB;
export const MIN_PROCESSES = 16;
export const MAX_PROCESSES = 4194304;
export const MAX_CPU_WEIGHT = 10000;

/**
 * Defaults for a host with `ram` bytes of memory:
 * - memory min(8 GiB, RAM/2): an agent with its builds and a browser fits, and one sandbox alone never pushes
 *   the host into its own OOM killer;
 * - swap 0: a sandbox at its limit is OOM-killed rather than dragging the host through swap;
 * - 4096 processes: far above what an agent, its builds and a browser use (a few hundred tasks, threads
 *   included), far below the host's pid_max, so a fork bomb stops there;
 * - cpu weight 100, cgroup v2's default: under contention a sandbox gets the share of any other group;
 * - each tmpfs min(1 GiB, RAM/8): several full together still leave most of the RAM, and what they hold is
 *   charged to the memory limit as well.
 */
export function defaultLimits(ram: number = totalmem()): ResourceLimits {
  return {
    memory_bytes: Math.min(8 * GIB, Math.floor(ram / 2)),
    swap_bytes: 0,
    max_processes: 4096,
    cpu_weight: 100,
    tmpfs_bytes: Math.max(MIN_TMPFS_BYTES, Math.min(GIB, Math.floor(ram / 8))),
  };
}

interface Rule {
  field: keyof ResourceLimits;
  min: number;
  max: number;
  unit: string;
}

const RULES: readonly Rule[] = [
  { field: "memory_bytes", min: MIN_MEMORY_BYTES, max: MAX_BYTES, unit: "bytes" },
  { field: "swap_bytes", min: 0, max: MAX_BYTES, unit: "bytes" },
  { field: "max_processes", min: MIN_PROCESSES, max: MAX_PROCESSES, unit: "processes" },
  { field: "cpu_weight", min: 1, max: MAX_CPU_WEIGHT, unit: "" },
  { field: "tmpfs_bytes", min: MIN_TMPFS_BYTES, max: MAX_BYTES, unit: "bytes" },
];

/** The request's limits with defaults for what is not set; errors name the field as the API spells it. */
export function validateLimits(value: unknown, defaults: ResourceLimits = defaultLimits()): ResourceLimits {
  if (value === undefined || value === null) return { ...defaults };
  if (typeof value !== "object" || Array.isArray(value)) throw invalidArgument("limits", "must be an object");
  const input = value as Record<string, unknown>;
  const known = new Set<string>(RULES.map((r) => r.field));
  for (const key of Object.keys(input)) {
    if (!known.has(key) && input[key] !== undefined) throw invalidArgument(`limits.${key}`, "is not a limit");
  }
  const limits = { ...defaults };
  for (const { field, min, max, unit } of RULES) {
    const raw = input[field];
    if (raw === undefined) continue;
    const n = typeof raw === "bigint" ? Number(raw) : raw;
    const name = `limits.${field}`;
    if (typeof n !== "number" || !Number.isInteger(n)) throw invalidArgument(name, "must be a whole number");
    const range = `${min} to ${max}${unit === "" ? "" : ` ${unit}`}`;
    if (n < min) throw invalidArgument(name, `is ${n}; it must be from ${range}`);
    if (n > max) throw invalidArgument(name, `is ${String(raw)}; it must be from ${range}`);
    limits[field] = n;
  }
  return limits;
}

/** "512 MiB", "8 GiB", or bytes where no binary unit divides evenly. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [
    ["GiB", GIB],
    ["MiB", MIB],
    ["KiB", 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  }
  return `${bytes} bytes`;
}

/**
 * The reason of a sandbox that ended after the OOM killer killed in it: said first, since it is why the launcher's
 * exit follows (a SIGKILL, status 137), which is kept after it.
 */
export function oomReason(kills: number, limits: ResourceLimits | undefined, how: string): string {
  const limit = limits === undefined ? "" : ` of ${formatBytes(limits.memory_bytes)}`;
  const what = kills === 1 ? "a process" : `${kills} processes`;
  return `killed by the OOM killer: it reached its memory limit${limit}, and the kernel killed ${what} in it (${how})`;
}
