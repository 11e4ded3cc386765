// GetSandboxMetricsResponse from the domain's UsageReport.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { GetSandboxMetricsResponseSchema } from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { UsageReport } from "../claude-usage/usage-tally.js";

// A transcript is the sandbox's to write: an absurd count must not make the message unencodable.
const U64_MAX = 2n ** 64n - 1n;
const u64 = (n: number): bigint => {
  const v = BigInt(Math.max(0, Math.round(Number.isFinite(n) ? n : 0)));
  return v > U64_MAX ? U64_MAX : v;
};

export function toMetricsMessage(r: UsageReport): MessageInitShape<typeof GetSandboxMetricsResponseSchema> {
  return {
    inputTokens: u64(r.input),
    outputTokens: u64(r.output),
    cacheCreationTokens: u64(r.cacheWrite),
    cacheReadTokens: u64(r.cacheRead),
    messageCount: u64(r.prompts),
    toolUseCount: u64(r.toolUses),
    models: r.models.map((m) => ({
      model: m.model,
      inputTokens: u64(m.input),
      outputTokens: u64(m.output),
      cacheCreationTokens: u64(m.cacheWrite),
      cacheReadTokens: u64(m.cacheRead),
      costUsd: m.costUsd,
      priced: m.priced,
    })),
    tools: r.tools.map((t) => ({ name: t.name, count: u64(t.count) })),
    costUsd: r.costUsd,
    unpricedModels: r.unpricedModels,
    priceTableDate: r.priceTableDate,
    agentReported:
      r.agent === undefined
        ? undefined
        : {
            costUsd: r.agent.costUsd,
            inputTokens: u64(r.agent.input),
            outputTokens: u64(r.agent.output),
            cacheCreationTokens: u64(r.agent.cacheWrite),
            cacheReadTokens: u64(r.agent.cacheRead),
            sessions: u64(r.agent.sessions),
          },
    sessions: u64(r.sessions),
    lastActivity: r.lastActivity === undefined ? undefined : timestampFromMs(r.lastActivity),
    malformedLines: u64(r.malformedLines),
  };
}
