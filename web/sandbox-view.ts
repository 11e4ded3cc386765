// What the dashboard's templates show of a sandbox: the API's JSON fields plus the few things written out for
// people (short id, age, the tmux attach command, limits and usage in units). Templates escape every value.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Sandbox } from "../client/index.js";
import { formatAge, formatBytes, formatCount, formatTime, percent, shellWord } from "./format.js";
import { type SandboxJson, toSandboxJson } from "./sandbox-json.js";

/** What a card in the list shows. */
export interface SandboxView extends SandboxJson {
  short_id: string;
  age: string;
  created: string;
  display: string;
  running: boolean;
}

/** What the sandbox's own page shows besides. */
export interface SandboxDetailView extends SandboxView {
  stopped: string;
  /** The command that attaches a terminal to the sandbox's tmux session, or null without a session. */
  attach_command: string | null;
  /** One line for the exit, or null while it runs: "exit 3", "SIGKILL". */
  exit: string | null;
  limit_rows: { label: string; value: string }[];
  usage_rows: { label: string; value: string; percent: number | null }[];
}

// The fields are added to the fresh JSON object rather than spread into a new one: spreading its two dozen
// fields was most of the time a list of 100 took to render.
export function toSandboxView(sandbox: Sandbox, now: Date): SandboxView {
  const json = toSandboxJson(sandbox);
  const created = sandbox.createdAt === undefined ? undefined : timestampDate(sandbox.createdAt);
  return Object.assign(json, {
    short_id: json.id.slice(0, 8),
    age: formatAge(created, now),
    created: formatTime(created),
    display: json.display_num === null ? "—" : `:${json.display_num}`,
    running: json.status === "running",
  });
}

export function toSandboxDetailView(sandbox: Sandbox, now: Date): SandboxDetailView {
  const json = toSandboxView(sandbox, now);
  return Object.assign(json, {
    stopped: formatTime(sandbox.stoppedAt === undefined ? undefined : timestampDate(sandbox.stoppedAt)),
    attach_command:
      json.tmux_session === null || json.tmux_socket === ""
        ? null
        : `tmux -S ${shellWord(json.tmux_socket)} attach -t ${shellWord(json.tmux_session)}`,
    exit:
      json.exit_signal !== null
        ? json.exit_signal
        : json.exit_code !== null
          ? `exit ${json.exit_code}`
          : null,
    limit_rows: limitRows(json.limits),
    usage_rows: usageRows(json.usage),
  });
}

function limitRows(limits: SandboxJson["limits"]): SandboxDetailView["limit_rows"] {
  if (limits === null) return [];
  return [
    { label: "Memory", value: formatBytes(limits.memory_bytes) },
    { label: "Swap", value: formatBytes(limits.swap_bytes) },
    { label: "Processes", value: formatCount(limits.max_processes) },
    { label: "CPU weight", value: formatCount(limits.cpu_weight) },
    { label: "tmpfs (each)", value: formatBytes(limits.tmpfs_bytes) },
  ];
}

function usageRows(usage: SandboxJson["usage"]): SandboxDetailView["usage_rows"] {
  if (usage === null) return [];
  const rows: SandboxDetailView["usage_rows"] = [];
  if (usage.memory_current_bytes !== null) {
    rows.push({
      label: "Memory",
      value: `${formatBytes(usage.memory_current_bytes)} of ${formatBytes(usage.memory_max_bytes)}`,
      percent:
        usage.memory_max_bytes === null ? null : percent(usage.memory_current_bytes, usage.memory_max_bytes),
    });
  }
  if (usage.pids_current !== null) {
    rows.push({
      label: "Processes",
      value: `${formatCount(usage.pids_current)} of ${formatCount(usage.pids_max)}`,
      percent: usage.pids_max === null ? null : percent(usage.pids_current, usage.pids_max),
    });
  }
  return rows;
}
