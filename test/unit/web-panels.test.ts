// The dashboard's optional panels (host metrics, Claude metrics, screenshot) as they render once the manager
// answers their RPCs, which today's daemon does not: a Connect service in memory answers them here, through
// the real client and the real templates. Unimplemented RPCs give the placeholder, an unknown sandbox throws.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type ServiceImpl,
} from "@connectrpc/connect";
import express from "express";
import { describe, expect, it } from "vitest";
import { type SandboxClient, SandboxService } from "../../client/index.js";
import { loadClaudeMetrics, loadScreenshot, loadSystemMetrics, REFRESH } from "../../web/panel-data.js";
import { renderView } from "../../web/render-view.js";
import { VIEWS_DIR } from "../../web/web-dirs.js";

function serviceAnswering(impl: Partial<ServiceImpl<typeof SandboxService>>): SandboxClient {
  return createClient(
    SandboxService,
    createRouterTransport(({ service }) => service(SandboxService, impl)),
  );
}

// Rendered as the gateway renders them: Express with the gateway's views and the EJS engine.
const app = express().set("views", VIEWS_DIR).set("view engine", "ejs");
const render = (partial: string, locals: Record<string, unknown>): Promise<string> =>
  renderView(app, `partials/${partial}`, { ...locals, REFRESH });

const GIB = 1024n ** 3n;

describe("the host panel", () => {
  it("shows CPU, memory, disk, network and load once the manager measures them", async () => {
    const client = serviceAnswering({
      getSystemMetrics: () => ({
        cpuUsage: 12.5,
        memoryUsed: 3n * GIB,
        memoryTotal: 8n * GIB,
        diskUsed: 95n * GIB,
        diskTotal: 100n * GIB,
        netRxBytes: 1536n,
        netTxBytes: 5n * 1024n * 1024n,
        loadAverage: [0.5, 1, 1.5],
        cpuCount: 2,
      }),
    });
    const html = await render("system-metrics", { system: await loadSystemMetrics(client) });
    expect(html).toContain('hx-trigger="every 3s"');
    expect(html).toMatch(
      /<dt>CPU<\/dt><dd><span class="meter-value">12\.5 % of 2 cores<\/span><meter [^>]*value="12\.5">/,
    );
    expect(html).toMatch(
      /<dt>Memory<\/dt><dd><span class="meter-value">3\.00 GiB \/ 8\.00 GiB<\/span><meter [^>]*value="37\.5">/,
    );
    expect(html).toMatch(
      /<dt>Disk<\/dt><dd><span class="meter-value">95\.0 GiB \/ 100 GiB<\/span><meter [^>]*value="95\.0">/,
    );
    expect(html).toContain("↓ 1.50 KiB  ↑ 5.00 MiB");
    expect(html).toContain("0.50  1.00  1.50");
    expect(html).not.toContain("placeholder");
  });

  it("is a placeholder, asking again rarely, while the manager does not implement the RPC", async () => {
    const html = await render("system-metrics", { system: await loadSystemMetrics(serviceAnswering({})) });
    expect(html).toContain("System metrics are not available on this manager yet");
    expect(html).toContain('hx-trigger="every 30s"');
    expect(html).not.toContain("<meter");
  });
});

describe("the Claude panel", () => {
  it("shows the session's totals", async () => {
    const client = serviceAnswering({
      getSandboxMetrics: () => ({
        inputTokens: 1234567n,
        outputTokens: 89n,
        cacheCreationTokens: 1000n,
        cacheReadTokens: 0n,
        messageCount: 12n,
        toolUseCount: 345n,
      }),
    });
    const html = await render("claude-metrics", {
      id: "abc",
      claude: await loadClaudeMetrics(client, "abc"),
    });
    expect(html).toContain('hx-get="/fragments/sandboxes/abc/claude-metrics" hx-trigger="every 5s"');
    for (const [label, value] of [
      ["Input tokens", "1,234,567"],
      ["Output tokens", "89"],
      ["Cache writes", "1,000"],
      ["Cache reads", "0"],
      ["Prompts", "12"],
      ["Tool uses", "345"],
    ]) {
      expect(html).toContain(`<div><dt>${label}</dt><dd>${value}</dd></div>`);
    }
  });

  it("shows cost, the agent's own cost, each model's tokens and cost and each tool's calls, names escaped", async () => {
    const client = serviceAnswering({
      getSandboxMetrics: () => ({
        inputTokens: 185n,
        costUsd: 0.015387,
        priceTableDate: "2026-12-01",
        agentReported: { costUsd: 0.0421, sessions: 1n },
        sessions: 2n,
        lastActivity: timestampFromMs(Date.parse("2026-12-01T11:00:05.000Z")),
        malformedLines: 2n,
        models: [
          {
            model: "claude-sonnet-4-20250514",
            inputTokens: 135n,
            outputTokens: 260n,
            cacheCreationTokens: 2160n,
            cacheReadTokens: 9300n,
            costUsd: 0.015195,
            priced: true,
          },
          { model: "claude-<new>", inputTokens: 50n, priced: false },
        ],
        tools: [{ name: "mcp__x__<y>", count: 1234n }],
        unpricedModels: ["claude-<new>"],
      }),
    });
    const html = await render("claude-metrics", {
      id: "abc",
      claude: await loadClaudeMetrics(client, "abc"),
    });
    for (const [label, value] of [
      ["Cost", "$0.0154 (prices of 2026-12-01)"],
      ["Agent&#39;s cost", "$0.0421"],
      ["Sessions", "2"],
      ["Last activity", "2026-12-01 11:00:05 UTC"],
      ["Unreadable lines", "2"],
    ]) {
      expect(html).toContain(`<div><dt>${label}</dt><dd>${value}</dd></div>`);
    }
    expect(html).toContain(
      "<tr><td>claude-sonnet-4-20250514</td><td>135</td><td>260</td><td>2,160</td><td>9,300</td><td>$0.0152</td></tr>",
    );
    expect(html).toContain(
      "<tr><td>claude-&lt;new&gt;</td><td>50</td><td>0</td><td>0</td><td>0</td><td>no price</td></tr>",
    );
    expect(html).toContain("The cost leaves out models without a price: claude-&lt;new&gt;");
    expect(html).toContain("<tr><td>mcp__x__&lt;y&gt;</td><td>1,234</td></tr>");
  });

  it("throws for an unknown sandbox (the fragment's 404), and shows any other refusal, escaped", async () => {
    const missing = serviceAnswering({
      getSandboxMetrics: () => {
        throw new ConnectError('sandbox "x" not found', Code.NotFound);
      },
    });
    await expect(loadClaudeMetrics(missing, "x")).rejects.toMatchObject({ code: Code.NotFound });
    const refusing = serviceAnswering({
      getSandboxMetrics: () => {
        throw new ConnectError("no session <yet>", Code.FailedPrecondition);
      },
    });
    const html = await render("claude-metrics", { id: "x", claude: await loadClaudeMetrics(refusing, "x") });
    expect(html).toContain('<p class="placeholder">no session &lt;yet&gt;</p>');
    expect(html).toContain('hx-trigger="every 30s"');
  });
});

describe("the screenshot panel", () => {
  it("is the image, its address changing with each capture", async () => {
    const capturedAt = Date.parse("2026-12-04T10:00:00.000Z");
    const client = serviceAnswering({
      getScreenshot: () => ({
        image: new Uint8Array([0x89, 0x50]),
        mimeType: "image/png",
        width: 1920,
        height: 1080,
        capturedAt: timestampFromMs(capturedAt),
      }),
    });
    const html = await render("screenshot", { id: "abc", screenshot: await loadScreenshot(client, "abc") });
    expect(html).toContain(
      `<img src="/api/sandboxes/abc/screenshot?t=${capturedAt}" alt="The sandbox's display" width="1920" height="1080">`,
    );
    expect(html).toContain("captured 2026-12-04 10:00:00 UTC");
    expect(html).toContain('hx-trigger="every 2s"');
  });

  it("is a placeholder while the manager cannot take screenshots", async () => {
    const html = await render("screenshot", {
      id: "abc",
      screenshot: await loadScreenshot(serviceAnswering({}), "abc"),
    });
    expect(html).toContain("Screenshots are not available on this manager yet");
    expect(html).not.toContain("<img");
  });
});
