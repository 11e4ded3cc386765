// A system sample (server/metrics/system-sampler.ts) as the GetSystemMetrics answer.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type GetSystemMetricsResponse,
  GetSystemMetricsResponseSchema,
} from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import type { SystemSnapshot } from "../metrics/system-sampler.js";

export function toSystemMetricsMessage(s: SystemSnapshot): GetSystemMetricsResponse {
  return create(GetSystemMetricsResponseSchema, {
    cpuUsage: s.cpuUsage,
    memoryUsed: BigInt(s.memoryUsed),
    memoryTotal: BigInt(s.memoryTotal),
    diskUsed: BigInt(s.diskUsed),
    diskTotal: BigInt(s.diskTotal),
    netRxBytes: BigInt(s.netRxBytes),
    netTxBytes: BigInt(s.netTxBytes),
    loadAverage: [...s.loadAverage],
    cpuCount: s.cpuCount,
    uptimeSeconds: s.uptimeSeconds,
    sampledAt: timestampFromDate(s.sampledAt),
    sandboxes: s.sandboxes.map((sandbox) => ({
      id: sandbox.id,
      cpuPercent: sandbox.cpuPercent ?? undefined,
      memoryBytes: sandbox.memoryBytes === null ? undefined : BigInt(Math.round(sandbox.memoryBytes)),
    })),
  });
}
