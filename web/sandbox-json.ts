// The one mapping between the service's messages and the gateway's JSON: the seed's snake_case shape with
// lowercase enum values, fields added (never renamed) for what this manager knows beyond the seed.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Backend, type Sandbox, SandboxStatus } from "../client/index.js";

export const BACKEND_NAMES: Readonly<Record<string, Backend>> = {
  bubblewrap: Backend.BUBBLEWRAP,
  container: Backend.CONTAINER,
  vm: Backend.VM,
};

const BACKEND_JSON: Readonly<Record<Backend, string>> = {
  [Backend.UNSPECIFIED]: "unspecified",
  [Backend.BUBBLEWRAP]: "bubblewrap",
  [Backend.CONTAINER]: "container",
  [Backend.VM]: "vm",
};

const STATUS_JSON: Readonly<Record<SandboxStatus, string>> = {
  [SandboxStatus.UNSPECIFIED]: "unspecified",
  [SandboxStatus.RUNNING]: "running",
  [SandboxStatus.STOPPED]: "stopped",
  [SandboxStatus.DEAD]: "dead",
};

export interface SandboxJson {
  id: string;
  name: string;
  backend: string;
  project_dir: string;
  status: string;
  display_num: number | null;
  tmux_session: string | null;
  pid_xvfb: number | null;
  qemu_qmp_socket: string | null;
  network: boolean;
  created_at: string | null;
  // Beyond the seed:
  stopped_at: string | null;
  exit_code: number | null;
  exit_signal: string | null;
  status_reason: string;
  shell: boolean;
  agent_args: string[];
  tmux_socket: string;
  limits: {
    memory_bytes: number | null;
    swap_bytes: number | null;
    max_processes: number | null;
    cpu_weight: number | null;
    tmpfs_bytes: number | null;
  } | null;
  limits_applied: boolean;
  limits_note: string;
  usage: {
    memory_current_bytes: number | null;
    memory_max_bytes: number | null;
    pids_current: number | null;
    pids_max: number | null;
  } | null;
}

export function backendName(backend: Backend): string {
  return BACKEND_JSON[backend] ?? "unspecified";
}

export function statusName(status: SandboxStatus): string {
  return STATUS_JSON[status] ?? "unspecified";
}

const num = (value: bigint | number | undefined): number | null =>
  value === undefined ? null : Number(value);

export function toSandboxJson(s: Sandbox): SandboxJson {
  return {
    id: s.id,
    name: s.name,
    backend: backendName(s.backend),
    project_dir: s.projectDir,
    status: statusName(s.status),
    display_num: s.displayNum ?? null,
    tmux_session: s.tmuxSession ?? null,
    pid_xvfb: s.pidXvfb ?? null,
    qemu_qmp_socket: s.qemuQmpSocket ?? null,
    network: s.network,
    created_at: s.createdAt === undefined ? null : timestampDate(s.createdAt).toISOString(),
    stopped_at: s.stoppedAt === undefined ? null : timestampDate(s.stoppedAt).toISOString(),
    exit_code: s.exitCode ?? null,
    exit_signal: s.exitSignal ?? null,
    status_reason: s.statusReason,
    shell: s.shell,
    agent_args: [...s.agentArgs],
    tmux_socket: s.tmuxSocket,
    limits:
      s.limits === undefined
        ? null
        : {
            memory_bytes: num(s.limits.memoryBytes),
            swap_bytes: num(s.limits.swapBytes),
            max_processes: num(s.limits.maxProcesses),
            cpu_weight: num(s.limits.cpuWeight),
            tmpfs_bytes: num(s.limits.tmpfsBytes),
          },
    limits_applied: s.limitsApplied,
    limits_note: s.limitsNote,
    usage:
      s.usage === undefined
        ? null
        : {
            memory_current_bytes: num(s.usage.memoryCurrentBytes),
            memory_max_bytes: num(s.usage.memoryMaxBytes),
            pids_current: num(s.usage.pidsCurrent),
            pids_max: num(s.usage.pidsMax),
          },
  };
}
