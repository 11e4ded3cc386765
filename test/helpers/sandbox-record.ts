// A stored sandbox record (state.json's shape) for unit tests, running and complete; `extra` overrides fields.
import type { SandboxRecord } from "../../server/sandbox/types.js";

export function sandboxRecord(id: string, extra: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    id,
    name: id,
    backend: "bubblewrap",
    project_dir: "/p",
    status: "running",
    display_num: 50,
    tmux_session: `sandbox-${id}`,
    pid_xvfb: 10,
    qemu_qmp_socket: null,
    network: true,
    created_at: "2026-01-01T00:00:00.000Z",
    stopped_at: null,
    exit_code: null,
    exit_signal: null,
    status_reason: "running",
    shell: false,
    agent_args: [],
    xvfb_start_time: "123",
    ...extra,
  };
}
