import type { SandboxManager } from "./sandbox/sandbox-manager.js";
import type { SandboxRecord, SandboxStatus } from "./sandbox/types.js";

/**
 * Logs one line per sandbox status change (created, stopped, died, deleted) and nothing for updates that
 * leave the status as it was, so the daemon's log reads as a history of its sandboxes without noise.
 * Returns the unsubscribe function.
 */
export function logSandboxEvents(manager: SandboxManager, log: (line: string) => void): () => void {
  const known = new Map<string, SandboxStatus>(manager.list().map((r) => [r.id, r.status]));
  return manager.onEvent((event) => {
    if (event.type === "deleted") {
      if (known.delete(event.id)) log(`sandbox ${event.id.slice(0, 8)} deleted`);
      return;
    }
    const record = event.sandbox;
    const before = known.get(record.id);
    if (before === record.status) return;
    known.set(record.id, record.status);
    log(describe(record, before === undefined));
  });
}

function describe(record: SandboxRecord, isNew: boolean): string {
  const who = `sandbox ${record.id.slice(0, 8)} (${JSON.stringify(record.name)}, ${record.backend})`;
  if (isNew && record.status === "running") {
    return `${who} created: display :${record.display_num ?? "-"}, tmux session ${record.tmux_session ?? "-"}`;
  }
  const reason = record.status_reason === "" ? "" : `: ${record.status_reason}`;
  return `${who} ${record.status}${reason}`;
}
