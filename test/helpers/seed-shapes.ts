// The JSON shapes the seed documents, in the order its README lists their fields: the gateway may add fields
// after these, never rename or drop one.

export const SEED_SANDBOX_FIELDS = [
  "id",
  "name",
  "backend",
  "project_dir",
  "status",
  "display_num",
  "tmux_session",
  "pid_xvfb",
  "qemu_qmp_socket",
  "network",
  "created_at",
];

export const SEED_CLAUDE_METRICS_FIELDS = [
  "input_tokens",
  "output_tokens",
  "cache_creation_tokens",
  "cache_read_tokens",
  "message_count",
  "tool_use_count",
];

export const SEED_SYSTEM_METRICS_FIELDS = [
  "cpu_usage",
  "memory_used",
  "memory_total",
  "disk_used",
  "disk_total",
  "net_rx_bytes",
  "net_tx_bytes",
  "load_average",
];
