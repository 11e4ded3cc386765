// Domain types of the sandbox manager. Nothing here knows about protobuf, Connect or HTTP: the service layer
// (server/service/) translates between these and the generated messages.

import type { ProcessHandle } from "../tools/process-identity.js";

export const BACKENDS = ["bubblewrap", "container", "vm"] as const;
export type BackendName = (typeof BACKENDS)[number];

export type SandboxStatus = "running" | "stopped" | "dead";

/** One sandbox as persisted in state.json (field names are the documented JSON names). */
export interface SandboxRecord {
  id: string;
  name: string;
  backend: BackendName;
  /** Real path of the project directory. */
  project_dir: string;
  status: SandboxStatus;
  display_num: number | null;
  tmux_session: string | null;
  pid_xvfb: number | null;
  qemu_qmp_socket: string | null;
  network: boolean;
  /** RFC 3339 UTC. */
  created_at: string;
  stopped_at: string | null;
  exit_code: number | null;
  exit_signal: string | null;
  status_reason: string;
  shell: boolean;
  agent_args: string[];
  /**
   * Start time of the Xvfb process (field 22 of /proc/<pid>/stat, clock ticks since boot). Together with
   * pid_xvfb it identifies the process, so a pid reused after a crash or reboot is never signalled.
   */
  xvfb_start_time: string | null;
  /** The limits it was started with; absent in records written before the manager had limits. */
  limits?: ResourceLimits;
  /** Whether every limit is held (see limits_note). */
  limits_applied?: boolean;
  /** Which limits are not held and why; "" when all are. */
  limits_note?: string;
  /** Where its memory and process use can be read while it runs (its cgroup in the hierarchy holding each). */
  usage_cgroups?: UsageCgroups;
}

/** Resource limits of one sandbox, every field set. Byte counts stay below 2^53 (validation caps them at 2^50). */
export interface ResourceLimits {
  memory_bytes: number;
  swap_bytes: number;
  max_processes: number;
  cpu_weight: number;
  tmpfs_bytes: number;
}

/** Limits as a request gives them: any subset, byte counts possibly past 2^53 (refused by validation). */
export type LimitsInput = Partial<Record<keyof ResourceLimits, number | bigint>>;

/** A cgroup directory and the cgroup version it belongs to (the files to read differ). */
export interface CgroupDir {
  version: 1 | 2;
  dir: string;
}

export interface UsageCgroups {
  memory: CgroupDir | null;
  pids: CgroupDir | null;
}

export interface CreateSandboxInput {
  name: string;
  backend: BackendName;
  projectDir: string;
  /** Defaults to true. */
  network?: boolean;
  shell?: boolean;
  agentArgs?: string[];
  /** Fields not set get the defaults (resource-limits.ts); a protobuf uint64 may come as a bigint. */
  limits?: LimitsInput;
}

/**
 * Who asks for a sandbox. The sandbox runs as the manager's own user, but its project must be a directory this
 * identity could write itself, so sharing a manager hands nobody a directory they could not already change.
 */
export interface Requester {
  uid: number;
  /** Primary group at the time of the request. */
  gid: number;
  /** Supplementary groups at the time of the request (the user database's are added when checking). */
  groups: readonly number[];
}

/** A change to the set of sandboxes, for WatchSandboxes. */
export type SandboxEvent = { type: "upserted"; sandbox: SandboxRecord } | { type: "deleted"; id: string };

/**
 * Where the CPU and memory use of one running sandbox can be read, for metrics sampling: its cgroups where the
 * manager made them, else its processes.
 */
export interface SandboxUsageSource {
  id: string;
  /**
   * The sandbox's own cgroup v2 directory, where the manager may make cgroups (it may be empty when the sandbox
   * could not be moved in): its cpu.stat counts everything the sandbox ran, processes that exited included.
   */
  cgroupDir: string | null;
  /** Where its memory and process use is read (the record's usage_cgroups). */
  usageCgroups: UsageCgroups | undefined;
  /** The process its tmux pane started, whose tree is measured where no cgroup tells (null when not known). */
  pane: ProcessHandle | null;
}
