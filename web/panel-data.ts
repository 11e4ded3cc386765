// The dashboard's optional panels (screenshot, Claude metrics, system metrics) come from RPCs a manager may not
// implement yet: they are shown as soon as the RPC answers, and as a placeholder saying why while it does not.
// An unknown sandbox is not a placeholder: it is thrown, and becomes the 404 of the page or fragment.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { SandboxClient } from "../client/index.js";
import { formatBytes, formatCount, formatTime, percent } from "./format.js";

/** A panel's state: its content, or why there is none. */
export type Panel<T> = { ok: true; value: T } | { ok: false; unimplemented: boolean; message: string };

// How often a panel asks again: soon while it shows something live, rarely while the manager lacks the RPC
// (so it appears without a reload once the manager has it) or the sandbox has nothing to show.
export const REFRESH = { screenshot: "2s", claude: "5s", system: "3s", idle: "30s" } as const;

async function panel<T>(
  what: string,
  call: () => Promise<T>,
  options: { notFoundIsPlaceholder?: boolean } = {},
): Promise<Panel<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (err) {
    const error = ConnectError.from(err);
    if (error.code === Code.NotFound && options.notFoundIsPlaceholder !== true) throw error;
    if (error.code === Code.Unimplemented) {
      return { ok: false, unimplemented: true, message: `${what} are not available on this manager yet` };
    }
    return { ok: false, unimplemented: false, message: error.rawMessage };
  }
}

export interface ScreenshotView {
  id: string;
  /** A value that changes with every capture, so the browser fetches the new image. */
  version: string;
  width: number;
  height: number;
  captured: string;
}

/**
 * GetScreenshot answers not_found for a sandbox that has no frame (yet, or any more: it stopped) as well as for
 * an unknown one; the pages look the sandbox up beside this and 404 an unknown one, so here it is a placeholder
 * saying why.
 */
export async function loadScreenshot(client: SandboxClient, id: string): Promise<Panel<ScreenshotView>> {
  return panel(
    "Screenshots",
    async () => {
      const shot = await client.getScreenshot({ id });
      const captured = shot.capturedAt === undefined ? undefined : timestampDate(shot.capturedAt);
      return {
        id,
        version: String(captured?.getTime() ?? Date.now()),
        width: shot.width,
        height: shot.height,
        captured: formatTime(captured),
      };
    },
    { notFoundIsPlaceholder: true },
  );
}

export interface ClaudeMetricsView {
  rows: { label: string; value: string }[];
  /** Per model: name, tokens in/out/cache write/cache read, cost. */
  models: {
    model: string;
    input: string;
    output: string;
    cacheWrite: string;
    cacheRead: string;
    cost: string;
  }[];
  /** Per tool: name and calls, most used first. */
  tools: { name: string; count: string }[];
  /** Models without a price, whose tokens the cost leaves out; "" when none. */
  unpriced: string;
}

const formatUsd = (usd: number): string => `$${usd < 10 ? usd.toFixed(4) : usd.toFixed(2)}`;

export async function loadClaudeMetrics(
  client: SandboxClient,
  id: string,
): Promise<Panel<ClaudeMetricsView>> {
  return panel("Claude metrics", async () => {
    const m = await client.getSandboxMetrics({ id });
    const agent = m.agentReported;
    return {
      rows: [
        { label: "Input tokens", value: formatCount(m.inputTokens) },
        { label: "Output tokens", value: formatCount(m.outputTokens) },
        { label: "Cache writes", value: formatCount(m.cacheCreationTokens) },
        { label: "Cache reads", value: formatCount(m.cacheReadTokens) },
        { label: "Prompts", value: formatCount(m.messageCount) },
        { label: "Tool uses", value: formatCount(m.toolUseCount) },
        { label: "Cost", value: `${formatUsd(m.costUsd)} (prices of ${m.priceTableDate || "—"})` },
        { label: "Agent's cost", value: agent === undefined ? "—" : formatUsd(agent.costUsd) },
        { label: "Sessions", value: formatCount(m.sessions) },
        {
          label: "Last activity",
          value: formatTime(m.lastActivity === undefined ? undefined : timestampDate(m.lastActivity)),
        },
        ...(m.malformedLines > 0n
          ? [{ label: "Unreadable lines", value: formatCount(m.malformedLines) }]
          : []),
      ],
      models: m.models.map((u) => ({
        model: u.model,
        input: formatCount(u.inputTokens),
        output: formatCount(u.outputTokens),
        cacheWrite: formatCount(u.cacheCreationTokens),
        cacheRead: formatCount(u.cacheReadTokens),
        cost: u.priced ? formatUsd(u.costUsd) : "no price",
      })),
      tools: m.tools.map((t) => ({ name: t.name, count: formatCount(t.count) })),
      unpriced: m.unpricedModels.join(", "),
    };
  });
}

export interface SystemMetricsView {
  cpu: { value: string; percent: number };
  memory: { value: string; percent: number };
  disk: { value: string; percent: number };
  network: string;
  load: string;
}

export async function loadSystemMetrics(client: SandboxClient): Promise<Panel<SystemMetricsView>> {
  return panel("System metrics", async () => {
    const m = await client.getSystemMetrics({});
    const memUsed = Number(m.memoryUsed);
    const memTotal = Number(m.memoryTotal);
    const diskUsed = Number(m.diskUsed);
    const diskTotal = Number(m.diskTotal);
    return {
      // cpu_usage is of all cores; saying how many tells 50 % on two cores is one of them busy.
      cpu: {
        value: `${m.cpuUsage.toFixed(1)} %${m.cpuCount > 0 ? ` of ${m.cpuCount} ${m.cpuCount === 1 ? "core" : "cores"}` : ""}`,
        percent: percent(m.cpuUsage, 100),
      },
      memory: {
        value: `${formatBytes(memUsed)} / ${formatBytes(memTotal)}`,
        percent: percent(memUsed, memTotal),
      },
      disk: {
        value: `${formatBytes(diskUsed)} / ${formatBytes(diskTotal)}`,
        percent: percent(diskUsed, diskTotal),
      },
      network: `↓ ${formatBytes(Number(m.netRxBytes))}  ↑ ${formatBytes(Number(m.netTxBytes))}`,
      load: m.loadAverage.length === 0 ? "—" : m.loadAverage.map((l) => l.toFixed(2)).join("  "),
    };
  });
}
