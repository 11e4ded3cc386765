// One line of a Claude Code session transcript (JSONL), reduced to what the metrics count. The format is the
// agent's, undocumented and growing, so anything unexpected makes a line "other" or "malformed", never an error.

/** Token counts of one API response. cache_creation_input_tokens is cacheWrite5m + cacheWrite1h. */
export interface Tokens {
  input: number;
  output: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  cacheRead: number;
}

export interface ToolUse {
  /** The block's toolu_… id, which a resumed session's copy of the line repeats; undefined if absent. */
  id: string | undefined;
  name: string;
}

/** The agent's own totals, from its `cost-state` line. */
export interface AgentTotals {
  costUsd: number;
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

export type TranscriptLine =
  | {
      kind: "assistant";
      /** `message.id` + `requestId`: one API response written as several lines shares it. */
      key: string | undefined;
      model: string;
      tokens: Tokens | undefined;
      tools: ToolUse[];
      time: number | undefined;
    }
  /** A prompt the user typed (not a tool result, a meta line, a compaction summary or a subagent's task). */
  | { kind: "prompt"; uuid: string | undefined; time: number | undefined }
  | { kind: "cost-state"; totals: AgentTotals }
  | { kind: "other"; time: number | undefined }
  | { kind: "malformed" };

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const count = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);
const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

function timeOf(line: Json): number | undefined {
  if (typeof line.timestamp !== "string") return undefined;
  const t = Date.parse(line.timestamp);
  return Number.isNaN(t) ? undefined : t;
}

export function parseTranscriptLine(raw: string): TranscriptLine {
  let line: unknown;
  try {
    line = JSON.parse(raw);
  } catch {
    return { kind: "malformed" };
  }
  if (!isObject(line)) return { kind: "malformed" };
  const time = timeOf(line);
  switch (line.type) {
    case "assistant":
      return assistantLine(line, time);
    case "user":
      return isPrompt(line) ? { kind: "prompt", uuid: text(line.uuid), time } : { kind: "other", time };
    case "cost-state":
      return costState(line);
    default:
      return { kind: "other", time };
  }
}

function assistantLine(line: Json, time: number | undefined): TranscriptLine {
  const message = isObject(line.message) ? line.message : {};
  const id = text(message.id);
  const requestId = text(line.requestId);
  const usage = isObject(message.usage) ? message.usage : undefined;
  const model = text(message.model) ?? "unknown";
  const tools: ToolUse[] = [];
  if (Array.isArray(message.content)) {
    for (const block of message.content) {
      if (isObject(block) && block.type === "tool_use") {
        tools.push({ id: text(block.id), name: text(block.name) ?? "unknown" });
      }
    }
  }
  // "<synthetic>" marks a message Claude Code made up itself (an error, an interruption): no API call.
  const tokens = usage === undefined || model === "<synthetic>" ? undefined : tokensOf(usage);
  return {
    kind: "assistant",
    key: id === undefined || requestId === undefined ? undefined : `${id}\u0000${requestId}`,
    model,
    tokens,
    tools,
    time,
  };
}

function tokensOf(usage: Json): Tokens {
  const cacheWrite = count(usage.cache_creation_input_tokens);
  // The split by cache lifetime, when given, prices 1-hour writes at their own rate.
  const split = isObject(usage.cache_creation) ? usage.cache_creation : undefined;
  const oneHour = Math.min(cacheWrite, count(split?.ephemeral_1h_input_tokens));
  return {
    input: count(usage.input_tokens),
    output: count(usage.output_tokens),
    cacheWrite5m: cacheWrite - oneHour,
    cacheWrite1h: oneHour,
    cacheRead: count(usage.cache_read_input_tokens),
  };
}

function isPrompt(line: Json): boolean {
  // Subagent transcripts start with the task their parent gave them; meta lines and compaction summaries are
  // written by Claude Code itself.
  if (line.isSidechain === true || line.isMeta === true || line.isCompactSummary === true) return false;
  const message = isObject(line.message) ? line.message : undefined;
  const content = message?.content;
  if (typeof content === "string") return true;
  if (!Array.isArray(content)) return false;
  // A tool's result comes back as a user line; it is not something the user typed.
  return !content.some((block) => isObject(block) && block.type === "tool_result");
}

function costState(line: Json): TranscriptLine {
  const totals: AgentTotals = {
    costUsd: count(line.totalCostUSD),
    input: 0,
    output: 0,
    cacheWrite: 0,
    cacheRead: 0,
  };
  if (isObject(line.modelUsage)) {
    for (const usage of Object.values(line.modelUsage)) {
      if (!isObject(usage)) continue;
      totals.input += count(usage.inputTokens);
      totals.output += count(usage.outputTokens);
      totals.cacheWrite += count(usage.cacheCreationInputTokens);
      totals.cacheRead += count(usage.cacheReadInputTokens);
    }
  }
  return { kind: "cost-state", totals };
}
