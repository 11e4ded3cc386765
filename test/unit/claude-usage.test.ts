// Claude metrics from transcripts: the fixture project's totals (test/fixtures/claude-transcripts/README.md),
// incremental refreshes, files that shrink, and the price table.
import { appendFile, cp, mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { GetSandboxMetricsResponseSchema } from "../../gen/claude_sandbox/v1/sandbox_service_pb.js";
import { createClaudeUsage } from "../../server/claude-usage/claude-usage.js";
import { loadPriceTable, parsePriceTable, priceOf } from "../../server/claude-usage/price-table.js";
import { newCursor, readAppended } from "../../server/claude-usage/transcript-file.js";
import { parseTranscriptLine } from "../../server/claude-usage/transcript-line.js";
import { UsageTally } from "../../server/claude-usage/usage-tally.js";
import { toMetricsMessage } from "../../server/service/to-metrics-message.js";

const FIXTURES = join(import.meta.dirname, "../fixtures/claude-transcripts/projects");
const PROJECT = "/home/dev/my_proj.v2/with space";
const KEY = "-home-dev-my-proj-v2-with-space";
const SONNET = "claude-sonnet-4-20250514";
const HAIKU = "claude-3-5-haiku-20241022";

const temps: string[] = [];
afterEach(async () => {
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A writable copy of the fixture projects directory. */
async function copyFixtures(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "claude-usage-"));
  temps.push(dir);
  await cp(FIXTURES, dir, { recursive: true });
  return dir;
}

const line = (o: unknown) => `${JSON.stringify(o)}\n`;
const assistant = (id: string, tool: string | undefined, usage: Record<string, number>, ts: string) =>
  line({
    type: "assistant",
    timestamp: ts,
    requestId: `req_${id}`,
    message: {
      id: `msg_${id}`,
      model: SONNET,
      content: [
        tool === undefined
          ? { type: "text", text: "ok" }
          : { type: "tool_use", id: `toolu_${id}`, name: tool },
      ],
      usage,
    },
  });

describe("the fixture project's metrics", () => {
  it("dedupes responses keeping the largest line, counts typed prompts, tools, subagents, models and cost", async () => {
    const usage = createClaudeUsage({ projectsDir: FIXTURES, prices: await loadPriceTable() });
    expect(usage.sessionsDir(PROJECT)).toBe(join(FIXTURES, KEY));
    const r = await usage.report(PROJECT);
    expect(r).toMatchObject({
      input: 185,
      output: 290,
      cacheWrite: 2160,
      cacheRead: 9700,
      prompts: 3,
      toolUses: 5,
      tools: [
        { name: "Bash", count: 2 },
        { name: "Edit", count: 1 },
        { name: "Grep", count: 1 },
        { name: "Read", count: 1 },
      ],
      sessions: 2,
      malformedLines: 2,
      lastActivity: Date.parse("2026-12-01T11:00:05.000Z"),
      unpricedModels: [],
      priceTableDate: "2026-12-01",
      agent: { costUsd: 0.0421, input: 115, output: 245, cacheWrite: 2150, cacheRead: 6300, sessions: 1 },
    });
    expect(r.models).toEqual([
      expect.objectContaining({ model: SONNET, input: 135, output: 260, cacheWrite: 2160, cacheRead: 9300 }),
      expect.objectContaining({ model: HAIKU, input: 50, output: 30, cacheWrite: 0, cacheRead: 400 }),
    ]);
    // Sonnet 4 at $3 / $15 / $3.75 / $0.30 per MTok, Haiku 3.5 at $0.80 / $4 / $1 / $0.08.
    expect(r.models[0]?.costUsd).toBeCloseTo(0.015195, 9);
    expect(r.models[1]?.costUsd).toBeCloseTo(0.000192, 9);
    expect(r.costUsd).toBeCloseTo(0.015387, 9);
  });

  it("is zeros for a project with no transcripts yet", async () => {
    const usage = createClaudeUsage({ projectsDir: FIXTURES, prices: await loadPriceTable() });
    expect(await usage.report("/no/such/project")).toMatchObject({
      input: 0,
      output: 0,
      prompts: 0,
      toolUses: 0,
      sessions: 0,
      models: [],
      agent: undefined,
      lastActivity: undefined,
    });
  });
});

describe("incremental refresh", () => {
  it("reads only appended bytes; a partial last line waits for its newline", async () => {
    const dir = await copyFixtures();
    const usage = createClaudeUsage({ projectsDir: dir, prices: await loadPriceTable() });
    const file = join(dir, KEY, "session-b.jsonl");
    expect((await usage.report(PROJECT)).output).toBe(290);

    // Bytes already read are not read again: changing them in place (same size) changes nothing.
    const text = await readFile(file, "utf8");
    await writeFile(file, text.replace('"output_tokens":15', '"output_tokens":99'));
    const next = assistant(
      "c1",
      "Write",
      { input_tokens: 1, output_tokens: 2, cache_read_input_tokens: 3 },
      "2026-12-01T12:00:00.000Z",
    );
    await appendFile(file, next.slice(0, 40));
    let r = await usage.report(PROJECT);
    expect(r).toMatchObject({ output: 290, toolUses: 5, malformedLines: 2 });

    await appendFile(file, next.slice(40));
    r = await usage.report(PROJECT);
    expect(r).toMatchObject({ input: 186, output: 292, cacheRead: 9703, toolUses: 6, malformedLines: 2 });
    expect(r.tools).toContainEqual({ name: "Write", count: 1 });
    expect(r.lastActivity).toBe(Date.parse("2026-12-01T12:00:00.000Z"));

    // A later line of a response already counted, with more output, replaces it rather than adding to it.
    await appendFile(
      file,
      assistant(
        "c1",
        undefined,
        { input_tokens: 1, output_tokens: 50, cache_read_input_tokens: 3 },
        "2026-12-01T12:00:01.000Z",
      ),
    );
    expect(await usage.report(PROJECT)).toMatchObject({ input: 186, output: 340, toolUses: 6 });
  });

  it("feeds only the new lines to the parser and advances its offset", async () => {
    const dir = await copyFixtures();
    const file = join(dir, KEY, "session-b.jsonl");
    const size = (await readFile(file)).length;
    const cursor = newCursor();
    const seen: string[] = [];
    const overlong = () => seen.push("overlong");
    expect(await readAppended(file, cursor, (l) => seen.push(l), overlong)).toBe("read");
    expect(seen).toHaveLength(4);
    expect(cursor.offset).toBe(size);
    seen.length = 0;
    await appendFile(file, '{"type":"user","message":{"content":"a"}}\n{"type":"us');
    await readAppended(file, cursor, (l) => seen.push(l), overlong);
    expect(seen).toEqual(['{"type":"user","message":{"content":"a"}}']);
    await appendFile(file, 'er"}\n');
    seen.length = 0;
    await readAppended(file, cursor, (l) => seen.push(l), overlong);
    expect(seen).toEqual(['{"type":"user"}']);
  });

  it("reads a project again from the start when a file shrinks, is replaced or disappears", async () => {
    const dir = await copyFixtures();
    const usage = createClaudeUsage({ projectsDir: dir, prices: await loadPriceTable() });
    expect((await usage.report(PROJECT)).input).toBe(185);
    const sub = join(dir, KEY, "session-a/subagents/agent-1.jsonl");
    await truncate(sub, 0);
    expect(await usage.report(PROJECT)).toMatchObject({
      input: 135,
      output: 260,
      toolUses: 4,
      malformedLines: 2,
    });
    await rm(join(dir, KEY, "session-b.jsonl"));
    expect(await usage.report(PROJECT)).toMatchObject({ input: 115, output: 245, prompts: 2, sessions: 1 });
  });

  it("counts an endless line as malformed without keeping it, and carries on after its newline", async () => {
    const dir = await mkdtemp(join(tmpdir(), "claude-usage-"));
    temps.push(dir);
    const file = join(dir, "s.jsonl");
    await writeFile(file, `${"x".repeat(17 * 1024 * 1024)}`);
    const cursor = newCursor();
    const lines: string[] = [];
    let overlong = 0;
    await readAppended(
      file,
      cursor,
      (l) => lines.push(l),
      () => overlong++,
    );
    expect(overlong).toBe(1);
    expect(cursor.partial).toBeUndefined();
    await appendFile(file, `${"x".repeat(100)}\n{"type":"user"}\n`);
    await readAppended(
      file,
      cursor,
      (l) => lines.push(l),
      () => overlong++,
    );
    expect({ overlong, lines }).toEqual({ overlong: 1, lines: ['{"type":"user"}'] });
  });
});

describe("transcript lines", () => {
  it("tells typed prompts from tool results, meta lines, summaries and subagent tasks", () => {
    const kind = (o: unknown) => parseTranscriptLine(JSON.stringify(o)).kind;
    expect(kind({ type: "user", message: { content: "hi" } })).toBe("prompt");
    expect(kind({ type: "user", message: { content: [{ type: "text", text: "hi" }] } })).toBe("prompt");
    expect(kind({ type: "user", message: { content: [{ type: "tool_result", tool_use_id: "t" }] } })).toBe(
      "other",
    );
    expect(kind({ type: "user", isMeta: true, message: { content: "Caveat" } })).toBe("other");
    expect(kind({ type: "user", isCompactSummary: true, message: { content: "summary" } })).toBe("other");
    expect(kind({ type: "user", isSidechain: true, message: { content: "task" } })).toBe("other");
    expect(parseTranscriptLine("[1,2]").kind).toBe("malformed");
    expect(parseTranscriptLine("{").kind).toBe("malformed");
  });

  it("prices 1-hour cache writes at their own rate", async () => {
    const tally = new UsageTally();
    tally.add(
      "f",
      parseTranscriptLine(
        JSON.stringify({
          type: "assistant",
          requestId: "r",
          message: {
            id: "m",
            model: "claude-sonnet-4-5-20250929",
            usage: {
              input_tokens: 0,
              output_tokens: 0,
              cache_creation_input_tokens: 3_000_000,
              cache_creation: { ephemeral_5m_input_tokens: 1_000_000, ephemeral_1h_input_tokens: 2_000_000 },
            },
          },
        }),
      ),
    );
    const r = tally.report(await loadPriceTable(), 1);
    expect(r.cacheWrite).toBe(3_000_000);
    expect(r.costUsd).toBeCloseTo(3.75 + 2 * 6, 9);
  });
});

describe("the price table", () => {
  it("matches the longest model name prefix and leaves unknown models unpriced", async () => {
    const prices = await loadPriceTable();
    expect(priceOf(prices, "claude-opus-4-1-20250805")?.input).toBe(15);
    expect(priceOf(prices, "claude-opus-4-5-20251101")?.input).toBe(5);
    expect(priceOf(prices, "claude-opus-5-5")).toBeUndefined();
    const tally = new UsageTally();
    tally.add("f", {
      kind: "assistant",
      key: "k",
      model: "claude-opus-5-5",
      tools: [],
      time: undefined,
      tokens: { input: 10, output: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 },
    });
    expect(tally.report(prices, 1)).toMatchObject({
      costUsd: 0,
      unpricedModels: ["claude-opus-5-5"],
      input: 10,
    });
  });

  it("refuses a table that is not one, naming the entry", () => {
    expect(() => parsePriceTable("{", "p.json")).toThrow(/price table p\.json: not JSON/);
    expect(() => parsePriceTable('{"date":"2026-01-01","models":{"m":{"input":1}}}', "p.json")).toThrow(
      "price table p.json: models.m.output: expected a price in USD per million tokens (a number ≥ 0)",
    );
    expect(() => parsePriceTable('{"date":"soon","models":{}}', "p.json")).toThrow(
      /date: expected YYYY-MM-DD/,
    );
  });
});

describe("the metrics message", () => {
  it("stays encodable whatever counts a transcript claims", async () => {
    const tally = new UsageTally();
    tally.add(
      "f",
      parseTranscriptLine(
        '{"type":"assistant","message":{"model":"m","usage":{"input_tokens":1e300,"output_tokens":5}}}',
      ),
    );
    const message = create(
      GetSandboxMetricsResponseSchema,
      toMetricsMessage(tally.report(await loadPriceTable(), 1)),
    );
    expect(message.inputTokens).toBe(2n ** 64n - 1n);
    expect(message.outputTokens).toBe(5n);
    expect(toBinary(GetSandboxMetricsResponseSchema, message).length).toBeGreaterThan(0);
  });
});
