// Claude metrics end to end: a real daemon (Xvfb, tmux, the fixture launcher), a sandbox created through the
// API, transcripts written where that sandbox's agent writes them (the HOME the launcher runs with:
// ~/.claude/projects/<the project's key>), read back through GetSandboxMetrics and GET /api/sandboxes/:id/metrics.
import { appendFile, cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Backend } from "../../client/index.js";
import { claudeProjectKey } from "../../server/claude-usage/project-key.js";
import { REPO_ROOT } from "../helpers/build.js";
import { useDaemonFixture } from "../helpers/daemon-fixture.js";
import { codeOf } from "../helpers/rpc-error.js";
import { runDaemonToExit } from "../helpers/start-daemon.js";
import { openUnixTunnel } from "../helpers/unix-tunnel.js";

const fx = useDaemonFixture();
const FIXTURES = join(REPO_ROOT, "test/fixtures/claude-transcripts/projects/-home-dev-my-proj-v2-with-space");
const SONNET = "claude-sonnet-4-20250514";
const HAIKU = "claude-3-5-haiku-20241022";
// A price table of round numbers: $1 per million of every kind of token, so cost = tokens / 1e6.
const FLAT = { input: 1, output: 1, cache_write_5m: 1, cache_write_1h: 1, cache_read: 1 };

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  fx.cleanupLater(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe("GetSandboxMetrics", () => {
  it("reports the exact totals of the sandbox's transcripts, over the RPC and the REST API, and follows appends", async () => {
    const home = await tempDir("csm-home-");
    const prices = join(home, "prices.json");
    await writeFile(prices, JSON.stringify({ date: "2026-11-30", models: { "claude-sonnet-4": FLAT } }));
    const daemon = await fx.start({
      env: { MANAGER_DISPLAY_BASE: "7800", HOME: home, MANAGER_CLAUDE_PRICES: prices },
    });
    const project = join(await tempDir("csm-claude-"), "my_proj.v2 with space");
    await mkdir(project);
    const { sandbox } = await daemon.client.createSandbox({
      name: "metrics",
      backend: Backend.BUBBLEWRAP,
      projectDir: project,
    });
    const id = sandbox?.id ?? "";

    // Before the agent has written anything: zeros, not an error.
    const empty = await daemon.client.getSandboxMetrics({ id });
    expect(empty).toMatchObject({ inputTokens: 0n, messageCount: 0n, sessions: 0n, models: [] });
    expect([empty.agentReported, empty.lastActivity]).toEqual([undefined, undefined]);

    const sessions = join(home, ".claude/projects", claudeProjectKey(project));
    await mkdir(join(home, ".claude/projects"), { recursive: true });
    await cp(FIXTURES, sessions, { recursive: true });
    const m = await daemon.client.getSandboxMetrics({ id });
    expect(m).toMatchObject({
      inputTokens: 185n,
      outputTokens: 290n,
      cacheCreationTokens: 2160n,
      cacheReadTokens: 9700n,
      messageCount: 3n,
      toolUseCount: 5n,
      tools: [
        { name: "Bash", count: 2n },
        { name: "Edit", count: 1n },
        { name: "Grep", count: 1n },
        { name: "Read", count: 1n },
      ],
      unpricedModels: [HAIKU],
      priceTableDate: "2026-11-30",
      sessions: 2n,
      malformedLines: 2n,
      agentReported: { costUsd: 0.0421, inputTokens: 115n, outputTokens: 245n, sessions: 1n },
    });
    expect(
      m.models.map((u) => [
        u.model,
        u.inputTokens,
        u.outputTokens,
        u.cacheCreationTokens,
        u.cacheReadTokens,
        u.priced,
      ]),
    ).toEqual([
      [SONNET, 135n, 260n, 2160n, 9300n, true],
      [HAIKU, 50n, 30n, 0n, 400n, false],
    ]);
    expect(m.costUsd).toBeCloseTo((135 + 260 + 2160 + 9300) / 1e6, 12);

    const tunnel = await openUnixTunnel(daemon.socketPath ?? "");
    fx.cleanupLater(() => tunnel.close());
    const rest = async (path: string) => {
      const res = await fetch(`${tunnel.url}${path}`);
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const shown = await rest(`/api/sandboxes/${id}/metrics`);
    expect(shown.status).toBe(200);
    expect(shown.json).toEqual({
      input_tokens: 185,
      output_tokens: 290,
      cache_creation_tokens: 2160,
      cache_read_tokens: 9700,
      message_count: 3,
      tool_use_count: 5,
      models: [
        {
          model: SONNET,
          input_tokens: 135,
          output_tokens: 260,
          cache_creation_tokens: 2160,
          cache_read_tokens: 9300,
          cost_usd: expect.closeTo(0.011855, 12),
          priced: true,
        },
        {
          model: HAIKU,
          input_tokens: 50,
          output_tokens: 30,
          cache_creation_tokens: 0,
          cache_read_tokens: 400,
          cost_usd: 0,
          priced: false,
        },
      ],
      tool_uses: { Bash: 2, Edit: 1, Grep: 1, Read: 1 },
      cost_usd: expect.closeTo(0.011855, 12),
      unpriced_models: [HAIKU],
      price_table_date: "2026-11-30",
      agent_reported: {
        cost_usd: 0.0421,
        input_tokens: 115,
        output_tokens: 245,
        cache_creation_tokens: 2150,
        cache_read_tokens: 6300,
        sessions: 1,
      },
      sessions: 2,
      last_activity: "2026-12-01T11:00:05.000Z",
      malformed_lines: 2,
    });

    // The agent goes on: a new session with a prompt and a tool use, then its last line still being written.
    const more = [
      {
        type: "user",
        uuid: "n1",
        timestamp: "2026-12-02T09:00:00.000Z",
        message: { role: "user", content: "and now?" },
      },
      {
        type: "assistant",
        timestamp: "2026-12-02T09:00:03.000Z",
        requestId: "req_n2",
        message: {
          id: "msg_n2",
          model: SONNET,
          content: [{ type: "tool_use", id: "toolu_n2", name: "Write", input: {} }],
          usage: {
            input_tokens: 1000,
            output_tokens: 7,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
          },
        },
      },
    ].map((l) => `${JSON.stringify(l)}\n`);
    const file = join(sessions, "session-c.jsonl");
    await appendFile(file, `${more.join("")}{"type":"assistant"`);
    expect(await daemon.client.getSandboxMetrics({ id })).toMatchObject({
      inputTokens: 1185n,
      outputTokens: 297n,
      messageCount: 4n,
      toolUseCount: 6n,
      sessions: 3n,
      malformedLines: 2n,
    });
    await appendFile(file, ',"not":"closed"\n');
    const after = await rest(`/api/sandboxes/${id}/metrics`);
    expect(after.json).toMatchObject({
      input_tokens: 1185,
      output_tokens: 297,
      message_count: 4,
      tool_use_count: 6,
      tool_uses: { Bash: 2, Edit: 1, Grep: 1, Read: 1, Write: 1 },
      sessions: 3,
      // The completed line is not a JSON object: counted as unreadable, nothing else changes.
      malformed_lines: 3,
      last_activity: "2026-12-02T09:00:03.000Z",
    });

    expect(await codeOf(daemon.client.getSandboxMetrics({ id: "nosuchsandbox" }))).toMatchObject({
      code: Code.NotFound,
    });
    expect((await rest("/api/sandboxes/nosuchsandbox/metrics")).status).toBe(404);
  });

  it("refuses to start with a price table that is not one, naming MANAGER_CLAUDE_PRICES", async () => {
    const dir = await tempDir("csm-prices-");
    const prices = join(dir, "prices.json");
    await writeFile(prices, '{"date":"2026-11-30","models":{"claude-x":{"input":"cheap"}}}');
    const exited = await runDaemonToExit({
      MANAGER_STATE_DIR: join(dir, "state"),
      MANAGER_DISPLAY_BASE: "7800",
      MANAGER_CLAUDE_PRICES: prices,
    });
    expect(exited.code).toBe(2);
    expect(exited.stderr).toContain(
      `MANAGER_CLAUDE_PRICES: price table ${prices}: models.claude-x.input: expected a price`,
    );
  });
});
