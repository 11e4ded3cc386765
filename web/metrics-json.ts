// The seed's metrics JSON (ClaudeMetrics, SystemMetrics) from the service's answers: snake_case, plain numbers.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { GetSandboxMetricsResponse, GetSystemMetricsResponse } from "../client/index.js";

export interface ClaudeMetricsJson {
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  message_count: number;
  tool_use_count: number;
  models: {
    model: string;
    input_tokens: number;
    output_tokens: number;
    cache_creation_tokens: number;
    cache_read_tokens: number;
    cost_usd: number;
    priced: boolean;
  }[];
  /** Tool name → calls. */
  tool_uses: Record<string, number>;
  cost_usd: number;
  unpriced_models: string[];
  price_table_date: string;
  /** The agent's own cost-state totals; null when no session wrote one. */
  agent_reported: {
    cost_usd: number;
    input_tokens: number;
    output_tokens: number;
    cache_creation_tokens: number;
    cache_read_tokens: number;
    sessions: number;
  } | null;
  sessions: number;
  /** RFC 3339; null while there is no transcript line. */
  last_activity: string | null;
  malformed_lines: number;
}

export interface SystemMetricsJson {
  cpu_usage: number;
  memory_used: number;
  memory_total: number;
  disk_used: number;
  disk_total: number;
  net_rx_bytes: number;
  net_tx_bytes: number;
  load_average: number[];
  cpu_count: number;
  uptime_seconds: number;
  /** RFC 3339: when the manager read these figures (it samples every 2 s). */
  sampled_at: string | null;
  sandboxes: SandboxLoadJson[];
}

/** One running sandbox's use: CPU in percent of one core; null until it has been sampled twice. */
export interface SandboxLoadJson {
  id: string;
  cpu_percent: number | null;
  memory_bytes: number | null;
}

export function toClaudeMetricsJson(m: GetSandboxMetricsResponse): ClaudeMetricsJson {
  return {
    input_tokens: Number(m.inputTokens),
    output_tokens: Number(m.outputTokens),
    cache_creation_tokens: Number(m.cacheCreationTokens),
    cache_read_tokens: Number(m.cacheReadTokens),
    message_count: Number(m.messageCount),
    tool_use_count: Number(m.toolUseCount),
    models: m.models.map((u) => ({
      model: u.model,
      input_tokens: Number(u.inputTokens),
      output_tokens: Number(u.outputTokens),
      cache_creation_tokens: Number(u.cacheCreationTokens),
      cache_read_tokens: Number(u.cacheReadTokens),
      cost_usd: u.costUsd,
      priced: u.priced,
    })),
    tool_uses: Object.fromEntries(m.tools.map((t) => [t.name, Number(t.count)])),
    cost_usd: m.costUsd,
    unpriced_models: [...m.unpricedModels],
    price_table_date: m.priceTableDate,
    agent_reported:
      m.agentReported === undefined
        ? null
        : {
            cost_usd: m.agentReported.costUsd,
            input_tokens: Number(m.agentReported.inputTokens),
            output_tokens: Number(m.agentReported.outputTokens),
            cache_creation_tokens: Number(m.agentReported.cacheCreationTokens),
            cache_read_tokens: Number(m.agentReported.cacheReadTokens),
            sessions: Number(m.agentReported.sessions),
          },
    sessions: Number(m.sessions),
    last_activity: m.lastActivity === undefined ? null : timestampDate(m.lastActivity).toISOString(),
    malformed_lines: Number(m.malformedLines),
  };
}

export function toSystemMetricsJson(m: GetSystemMetricsResponse): SystemMetricsJson {
  return {
    // A float32 widened to a double prints 12.300000190734863; its own precision prints 12.3, as the seed did.
    cpu_usage: Number(m.cpuUsage.toPrecision(7)),
    memory_used: Number(m.memoryUsed),
    memory_total: Number(m.memoryTotal),
    disk_used: Number(m.diskUsed),
    disk_total: Number(m.diskTotal),
    net_rx_bytes: Number(m.netRxBytes),
    net_tx_bytes: Number(m.netTxBytes),
    load_average: [...m.loadAverage],
    cpu_count: m.cpuCount,
    uptime_seconds: m.uptimeSeconds,
    sampled_at: m.sampledAt === undefined ? null : timestampDate(m.sampledAt).toISOString(),
    sandboxes: m.sandboxes.map((s) => ({
      id: s.id,
      cpu_percent: s.cpuPercent === undefined ? null : Number(s.cpuPercent.toPrecision(7)),
      memory_bytes: s.memoryBytes === undefined ? null : Number(s.memoryBytes),
    })),
  };
}
