// Translation between domain records (server/sandbox/types.ts) and the generated messages. Kept apart from the
// handlers so the mapping is one table per enum and can be tested on its own.
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  Backend,
  LogEndReason,
  type Sandbox,
  SandboxSchema,
  SandboxStatus,
} from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { LogEndReason as DomainLogEndReason } from "../logs/log-hub.js";
import type { BackendName, SandboxStatus as DomainStatus, SandboxRecord } from "../sandbox/types.js";

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
  });
}

function toTimestamp(rfc3339: string): Timestamp | undefined {
  const date = new Date(rfc3339);
  // A record with an unparsable time is still worth showing; the field is simply left out.
  return Number.isNaN(date.getTime()) ? undefined : timestampFromDate(date);
}
