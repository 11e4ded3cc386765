// The totals of one project's transcripts, fed line by line in file order. Pure bookkeeping (no I/O), so an
// incremental refresh only feeds it the new lines.
import { type PriceTable, priceOf } from "./price-table.js";
import type { AgentTotals, Tokens, TranscriptLine } from "./transcript-line.js";

export interface ModelUsage {
  model: string;
  input: number;
  output: number;
  /** 5-minute and 1-hour cache writes together (cache_creation_input_tokens). */
  cacheWrite: number;
  cacheRead: number;
  /** From the price table; 0 when the table has no price for the model. */
  costUsd: number;
  priced: boolean;
}

export interface UsageReport {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
  /** Prompts the user typed. */
  prompts: number;
  toolUses: number;
  /** Tool name → uses, most used first. */
  tools: { name: string; count: number }[];
  /** Most tokens first. */
  models: ModelUsage[];
  costUsd: number;
  /** Models the price table has no price for: their tokens are not in costUsd. */
  unpricedModels: string[];
  priceTableDate: string;
  /** The agent's own figures, summed over the sessions that wrote a cost-state line; undefined if none did. */
  agent: (AgentTotals & { sessions: number }) | undefined;
  /** Session transcripts (not counting subagents' files). */
  sessions: number;
  /** Latest timestamp of any line, ms since the epoch. */
  lastActivity: number | undefined;
  malformedLines: number;
}

const totalOf = (t: Tokens): number => t.input + t.output + t.cacheWrite5m + t.cacheWrite1h + t.cacheRead;
const zero = (): Tokens => ({ input: 0, output: 0, cacheWrite5m: 0, cacheWrite1h: 0, cacheRead: 0 });

export class UsageTally {
  /** One entry per API response (message.id + requestId): the line with the largest token total so far. */
  private readonly responses = new Map<string, { model: string; tokens: Tokens }>();
  private readonly models = new Map<string, Tokens>();
  /** Tool uses and prompts a resumed session copies carry the same ids: each is counted once. */
  private readonly toolIds = new Set<string>();
  private readonly tools = new Map<string, number>();
  private readonly promptIds = new Set<string>();
  /** The latest cost-state of each file: each holds the totals of its session so far. */
  private readonly agent = new Map<string, AgentTotals>();
  private prompts = 0;
  private toolUses = 0;
  private malformed = 0;
  private lastActivity: number | undefined;

  add(file: string, line: TranscriptLine): void {
    if (line.kind === "malformed") {
      this.malformed++;
      return;
    }
    if (line.kind === "cost-state") {
      this.agent.set(file, line.totals);
      return;
    }
    if (line.time !== undefined && (this.lastActivity === undefined || line.time > this.lastActivity)) {
      this.lastActivity = line.time;
    }
    if (line.kind === "prompt") {
      if (line.uuid !== undefined) {
        if (this.promptIds.has(line.uuid)) return;
        this.promptIds.add(line.uuid);
      }
      this.prompts++;
      return;
    }
    if (line.kind !== "assistant") return;
    for (const tool of line.tools) {
      if (tool.id !== undefined) {
        if (this.toolIds.has(tool.id)) continue;
        this.toolIds.add(tool.id);
      }
      this.toolUses++;
      this.tools.set(tool.name, (this.tools.get(tool.name) ?? 0) + 1);
    }
    if (line.tokens === undefined) return;
    if (line.key === undefined) {
      this.addTokens(line.model, line.tokens, 1);
      return;
    }
    // Each content block of a response is a line of its own, repeating the usage; output_tokens grows
    // towards the last one. So the largest total stands for the response, replacing any smaller one.
    const seen = this.responses.get(line.key);
    if (seen !== undefined) {
      if (totalOf(line.tokens) <= totalOf(seen.tokens)) return;
      this.addTokens(seen.model, seen.tokens, -1);
    }
    this.responses.set(line.key, { model: line.model, tokens: line.tokens });
    this.addTokens(line.model, line.tokens, 1);
  }

  private addTokens(model: string, tokens: Tokens, sign: 1 | -1): void {
    let sum = this.models.get(model);
    if (sum === undefined) {
      sum = zero();
      this.models.set(model, sum);
    }
    sum.input += sign * tokens.input;
    sum.output += sign * tokens.output;
    sum.cacheWrite5m += sign * tokens.cacheWrite5m;
    sum.cacheWrite1h += sign * tokens.cacheWrite1h;
    sum.cacheRead += sign * tokens.cacheRead;
  }

  report(prices: PriceTable, sessions: number): UsageReport {
    const models: ModelUsage[] = [];
    const unpricedModels: string[] = [];
    for (const [model, t] of this.models) {
      if (totalOf(t) === 0) continue;
      const price = priceOf(prices, model);
      if (price === undefined) unpricedModels.push(model);
      const costUsd =
        price === undefined
          ? 0
          : (t.input * price.input +
              t.output * price.output +
              t.cacheWrite5m * price.cache_write_5m +
              t.cacheWrite1h * price.cache_write_1h +
              t.cacheRead * price.cache_read) /
            1e6;
      models.push({
        model,
        input: t.input,
        output: t.output,
        cacheWrite: t.cacheWrite5m + t.cacheWrite1h,
        cacheRead: t.cacheRead,
        costUsd,
        priced: price !== undefined,
      });
    }
    models.sort((a, b) => b.input + b.output - (a.input + a.output) || a.model.localeCompare(b.model));
    const sum = (f: (m: ModelUsage) => number) => models.reduce((s, m) => s + f(m), 0);
    let agent: UsageReport["agent"];
    for (const totals of this.agent.values()) {
      agent ??= { costUsd: 0, input: 0, output: 0, cacheWrite: 0, cacheRead: 0, sessions: 0 };
      agent.costUsd += totals.costUsd;
      agent.input += totals.input;
      agent.output += totals.output;
      agent.cacheWrite += totals.cacheWrite;
      agent.cacheRead += totals.cacheRead;
      agent.sessions++;
    }
    return {
      input: sum((m) => m.input),
      output: sum((m) => m.output),
      cacheWrite: sum((m) => m.cacheWrite),
      cacheRead: sum((m) => m.cacheRead),
      prompts: this.prompts,
      toolUses: this.toolUses,
      tools: [...this.tools]
        .map(([name, count]) => ({ name, count }))
        .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name)),
      models,
      costUsd: sum((m) => m.costUsd),
      unpricedModels: unpricedModels.sort(),
      priceTableDate: prices.date,
      agent,
      sessions,
      lastActivity: this.lastActivity,
      malformedLines: this.malformed,
    };
  }
}
