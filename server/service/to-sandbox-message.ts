// Translation between domain records (server/sandbox/types.ts) and the generated messages. Kept apart from the
// handlers so the mapping is one table per enum and can be tested on its own.
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  Backend,
  LogEndReason,
  type ResourceLimits,
  ResourceLimitsSchema,
  ResourceUsageSchema,
  type Sandbox,
  SandboxSchema,
  SandboxStatus,
} from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { LogEndReason as DomainLogEndReason } from "../logs/log-hub.js";
import type {
  BackendName,
  ResourceLimits as DomainLimits,
  SandboxStatus as DomainStatus,
  LimitsInput,
  SandboxRecord,
} from "../sandbox/types.js";
import { readUsage } from "../tools/cgroup-usage.js";

const BACKEND_TO_MESSAGE: Readonly<Record<BackendName, Backend>> = {
  bubblewrap: Backend.BUBBLEWRAP,
  container: Backend.CONTAINER,
  vm: Backend.VM,
};

const STATUS_TO_MESSAGE: Readonly<Record<DomainStatus, SandboxStatus>> = {
  running: SandboxStatus.RUNNING,
  stopped: SandboxStatus.STOPPED,
  dead: SandboxStatus.DEAD,
};

const LOG_END_TO_MESSAGE: Readonly<Record<DomainLogEndReason, LogEndReason>> = {
  deleted: LogEndReason.DELETED,
  shutdown: LogEndReason.SHUTDOWN,
  too_slow: LogEndReason.TOO_SLOW,
};

/** The domain backend for a request's enum, or undefined for UNSPECIFIED and numbers this build does not know. */
export function backendFromMessage(backend: Backend): BackendName | undefined {
  for (const [name, value] of Object.entries(BACKEND_TO_MESSAGE)) {
    if (value === backend) return name as BackendName;
  }
  return undefined;
}

export function logEndReasonToMessage(reason: DomainLogEndReason): LogEndReason {
  return LOG_END_TO_MESSAGE[reason];
}

/** @param tmuxSocket the manager's tmux socket, so a client can attach without asking for it separately */
export function toSandboxMessage(record: SandboxRecord, tmuxSocket: string): Sandbox {
  return create(SandboxSchema, {
    id: record.id,
    name: record.name,
    backend: BACKEND_TO_MESSAGE[record.backend],
    projectDir: record.project_dir,
    status: STATUS_TO_MESSAGE[record.status],
    displayNum: record.display_num ?? undefined,
    tmuxSession: record.tmux_session ?? undefined,
    pidXvfb: record.pid_xvfb ?? undefined,
    qemuQmpSocket: record.qemu_qmp_socket ?? undefined,
    network: record.network,
    createdAt: toTimestamp(record.created_at),
    stoppedAt: record.stopped_at === null ? undefined : toTimestamp(record.stopped_at),
    exitCode: record.exit_code ?? undefined,
    exitSignal: record.exit_signal ?? undefined,
    statusReason: record.status_reason,
    shell: record.shell,
    agentArgs: [...record.agent_args],
    tmuxSocket,
    limits: record.limits === undefined ? undefined : limitsToMessage(record.limits),
    limitsApplied: record.limits_applied ?? false,
    limitsNote:
      record.limits_note ?? (record.limits === undefined ? "created before sandboxes had limits" : ""),
    usage: record.status === "running" ? usageMessage(record) : undefined,
  });
}

function usageMessage(record: SandboxRecord) {
  const reading = readUsage(record.usage_cgroups);
  return reading === undefined ? undefined : create(ResourceUsageSchema, reading);
}

function limitsToMessage(limits: DomainLimits): ResourceLimits {
  return create(ResourceLimitsSchema, {
    memoryBytes: BigInt(limits.memory_bytes),
    swapBytes: BigInt(limits.swap_bytes),
    maxProcesses: limits.max_processes,
    cpuWeight: limits.cpu_weight,
    tmpfsBytes: BigInt(limits.tmpfs_bytes),
  });
}

/**
 * A request's limits in the domain's spelling, only the fields it sets (validation fills in the rest and checks
 * the values; uint64s stay bigints, so one past 2^53 is refused with its exact value).
 */
export function limitsFromMessage(limits: ResourceLimits | undefined): LimitsInput | undefined {
  if (limits === undefined) return undefined;
  const out: LimitsInput = {};
  if (limits.memoryBytes !== undefined) out.memory_bytes = limits.memoryBytes;
  if (limits.swapBytes !== undefined) out.swap_bytes = limits.swapBytes;
  if (limits.maxProcesses !== undefined) out.max_processes = limits.maxProcesses;
  if (limits.cpuWeight !== undefined) out.cpu_weight = limits.cpuWeight;
  if (limits.tmpfsBytes !== undefined) out.tmpfs_bytes = limits.tmpfsBytes;
  return out;
}

function toTimestamp(rfc3339: string): Timestamp | undefined {
  const date = new Date(rfc3339);
  // A record with an unparsable time is still worth showing; the field is simply left out.
  return Number.isNaN(date.getTime()) ? undefined : timestampFromDate(date);
}
