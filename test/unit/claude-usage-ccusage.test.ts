// Agreement with ccusage (16.2.5, the dev dependency) on the same transcripts. ccusage reads a given
// directory offline: CLAUDE_CONFIG_DIR names the directory holding projects/, --offline uses its built-in
// prices. Where they differ it is by one documented rule: ccusage 16 keeps the FIRST line of a response written
// as several lines, whose output_tokens is still growing; we keep the largest (as its later Rust port does).
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { createClaudeUsage } from "../../server/claude-usage/claude-usage.js";
import { loadPriceTable } from "../../server/claude-usage/price-table.js";

const ROOT = join(import.meta.dirname, "../..");
const FIXTURES = join(ROOT, "test/fixtures/claude-transcripts/projects");
const PROJECT = "/home/dev/my_proj.v2/with space";
const KEY = "-home-dev-my-proj-v2-with-space";

interface CcusageModel {
  modelName: string;
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  cost: number;
}
interface CcusageReport {
  sessions: { modelBreakdowns: CcusageModel[] }[];
  totals: {
    inputTokens: number;
    outputTokens: number;
    cacheCreationTokens: number;
    cacheReadTokens: number;
    totalCost: number;
  };
}

const temps: string[] = [];
afterEach(async () => {
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function ccusage(
  configDir: string,
): Promise<{ totals: CcusageReport["totals"]; models: Map<string, CcusageModel> }> {
  const home = await mkdtemp(join(tmpdir(), "ccusage-home-"));
  temps.push(home);
  const { stdout } = await promisify(execFile)(
    join(ROOT, "node_modules/.bin/ccusage"),
    ["session", "--json", "--offline", "--mode", "calculate"],
    { env: { PATH: process.env.PATH, HOME: home, CLAUDE_CONFIG_DIR: configDir, TZ: "UTC" }, timeout: 60_000 },
  );
  const report = JSON.parse(stdout) as CcusageReport;
  const models = new Map<string, CcusageModel>();
  for (const m of report.sessions.flatMap((s) => s.modelBreakdowns)) {
    const sum = models.get(m.modelName);
    if (sum === undefined) models.set(m.modelName, { ...m });
    else {
      sum.inputTokens += m.inputTokens;
      sum.outputTokens += m.outputTokens;
      sum.cacheCreationTokens += m.cacheCreationTokens;
      sum.cacheReadTokens += m.cacheReadTokens;
      sum.cost += m.cost;
    }
  }
  return { totals: report.totals, models };
}

async function ours(projectsDir: string) {
  return createClaudeUsage({ projectsDir, prices: await loadPriceTable() }).report(PROJECT);
}

describe("agreement with ccusage", () => {
  it("gives the same tokens and cost when no response's lines differ", async () => {
    // The fixtures with the growing response's early lines brought to its final output.
    const config = await mkdtemp(join(tmpdir(), "ccusage-config-"));
    temps.push(config);
    await cp(FIXTURES, join(config, "projects"), { recursive: true });
    const file = join(config, "projects", KEY, "session-a.jsonl");
    await writeFile(
      file,
      (await readFile(file, "utf8")).replaceAll('"output_tokens":10,', '"output_tokens":120,'),
    );
    const [theirs, mine] = await Promise.all([ccusage(config), ours(join(config, "projects"))]);
    expect(theirs.totals).toMatchObject({
      inputTokens: mine.input,
      outputTokens: mine.output,
      cacheCreationTokens: mine.cacheWrite,
      cacheReadTokens: mine.cacheRead,
    });
    expect(theirs.totals.totalCost).toBeCloseTo(mine.costUsd, 12);
    expect([...theirs.models.keys()].sort()).toEqual(mine.models.map((m) => m.model).sort());
    for (const m of mine.models) {
      expect(theirs.models.get(m.model)).toMatchObject({
        inputTokens: m.input,
        outputTokens: m.output,
        cacheCreationTokens: m.cacheWrite,
        cacheReadTokens: m.cacheRead,
      });
      expect(theirs.models.get(m.model)?.cost).toBeCloseTo(m.costUsd, 12);
    }
  });

  it("differs on the fixtures exactly by the growing response ccusage counts at its first line", async () => {
    const config = await mkdtemp(join(tmpdir(), "ccusage-config-"));
    temps.push(config);
    await mkdir(config, { recursive: true });
    await cp(FIXTURES, join(config, "projects"), { recursive: true });
    const [theirs, mine] = await Promise.all([ccusage(config), ours(FIXTURES)]);
    expect(theirs.totals).toMatchObject({
      inputTokens: mine.input,
      outputTokens: mine.output - (120 - 10),
      cacheCreationTokens: mine.cacheWrite,
      cacheReadTokens: mine.cacheRead,
    });
    // $15 per million output tokens of Sonnet 4 fewer.
    expect(theirs.totals.totalCost).toBeCloseTo(mine.costUsd - (110 * 15) / 1e6, 12);
  });
});
