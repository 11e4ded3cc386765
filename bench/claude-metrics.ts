// What Claude metrics cost the manager: a large session transcript (default 100 MB, lines shaped as
// perf-floors §4: 45 % assistant lines, each response written as two lines; 45 % tool_result user lines of
// 50–450 words; 8 % prompts; 2 % summaries) parsed once by GetSandboxMetrics' domain code, then refreshes:
// with nothing new, after 1 appended line and after 1000 appended lines. Baselines measured in the same run:
// reading the whole file again (a fresh parse, what the seed did on every request), and parsing the same
// 1000 lines alone (a fresh parse of a file holding only them; the goal: refresh ≤ 2× that).
// Run: npm run build && node dist/bench/claude-metrics.js [megabytes=100] [rounds=20]
import { appendFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClaudeUsage } from "../server/claude-usage/claude-usage.js";
import { loadPriceTable } from "../server/claude-usage/price-table.js";
import { claudeProjectKey } from "../server/claude-usage/project-key.js";

const MEGABYTES = Number(process.argv[2] ?? 100);
const ROUNDS = Number(process.argv[3] ?? 20);
const PROJECT = "/home/dev/src/bench_project.v2";
const WORDS = "the quick brown fox jumps over a lazy dog while the agent reads files and runs tests".split(
  " ",
);

let seq = 0;
function words(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[(seq + i * 7) % WORDS.length] ?? "x");
  return out.join(" ");
}

/** About `count` lines of a session, in the mix of perf-floors §4. */
function lines(count: number): string {
  const out: string[] = [];
  const ts = () => new Date(Date.UTC(2026, 11, 1) + seq * 1000).toISOString();
  while (out.length < count) {
    seq++;
    const r = seq % 100;
    const base = { sessionId: "bench", cwd: PROJECT, version: "2.1.332", uuid: `u${seq}`, timestamp: ts() };
    if (r < 45) {
      // One response, two lines (text, then the tool use), output_tokens growing.
      const usage = (out: number) => ({
        input_tokens: 10 + (seq % 50),
        output_tokens: out,
        cache_creation_input_tokens: 500,
        cache_read_input_tokens: 20_000 + seq,
      });
      const message = (content: unknown, out: number) => ({
        id: `msg_${seq}`,
        model: seq % 3 === 0 ? "claude-haiku-4-5-20251001" : "claude-sonnet-4-5-20250929",
        role: "assistant",
        content: [content],
        usage: usage(out),
      });
      out.push(
        JSON.stringify({
          ...base,
          type: "assistant",
          requestId: `req_${seq}`,
          message: message({ type: "text", text: words(40) }, 10),
        }),
      );
      out.push(
        JSON.stringify({
          ...base,
          type: "assistant",
          requestId: `req_${seq}`,
          message: message(
            {
              type: "tool_use",
              id: `toolu_${seq}`,
              name: ["Bash", "Read", "Edit", "Grep"][seq % 4],
              input: { command: words(12) },
            },
            200,
          ),
        }),
      );
    } else if (r < 90) {
      out.push(
        JSON.stringify({
          ...base,
          type: "user",
          message: {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: `toolu_${seq}`, content: words(50 + (seq % 400)) }],
          },
          toolUseResult: { stdout: words(20) },
        }),
      );
    } else if (r < 98) {
      out.push(JSON.stringify({ ...base, type: "user", message: { role: "user", content: words(30) } }));
    } else {
      out.push(JSON.stringify({ type: "summary", summary: words(20), leafUuid: `u${seq}` }));
    }
  }
  return `${out.join("\n")}\n`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const value = await fn();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000, value };
}

async function main(): Promise<void> {
  const prices = await loadPriceTable();
  const root = mkdtempSync(join(tmpdir(), "bench-claude-metrics-"));
  try {
    const dir = join(root, "projects", claudeProjectKey(PROJECT));
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "session.jsonl");
    const fd = openSync(file, "w");
    let size = 0;
    while (size < MEGABYTES * 1024 * 1024) size += writeSync(fd, lines(2000));
    console.log(
      `transcript: ${(size / 1024 / 1024).toFixed(1)} MiB, ${readFileSync(file, "utf8").split("\n").length - 1} lines`,
    );

    const floor = await timed(async () => readFileSync(file).length);
    const projectsDir = join(root, "projects");
    const usage = createClaudeUsage({ projectsDir, prices });
    const first = await timed(() => usage.report(PROJECT));
    const full: number[] = [];
    for (let i = 0; i < 3; i++)
      full.push((await timed(() => createClaudeUsage({ projectsDir, prices }).report(PROJECT))).ms);

    const idle: number[] = [];
    for (let i = 0; i < ROUNDS; i++) idle.push((await timed(() => usage.report(PROJECT))).ms);
    const one: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      appendFileSync(file, `${lines(1).split("\n")[0]}\n`);
      one.push((await timed(() => usage.report(PROJECT))).ms);
    }

    // 1000 lines: the refresh, against a fresh parse of a file holding only those lines.
    const alone = join(root, "alone");
    const aloneProject = "/alone";
    const aloneDir = join(alone, claudeProjectKey(aloneProject));
    mkdirSync(aloneDir, { recursive: true });
    const refresh: number[] = [];
    const baseline: number[] = [];
    let appended = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const block = `${lines(1000).split("\n").slice(0, 1000).join("\n")}\n`;
      appended = block.length;
      appendFileSync(file, block);
      refresh.push((await timed(() => usage.report(PROJECT))).ms);
      const f = join(aloneDir, `s${i}.jsonl`);
      appendFileSync(f, block);
      baseline.push(
        (await timed(() => createClaudeUsage({ projectsDir: alone, prices }).report(aloneProject))).ms,
      );
      rmSync(f);
    }
    const final = await usage.report(PROJECT);
    const check = await createClaudeUsage({ projectsDir, prices }).report(PROJECT);
    const same = JSON.stringify(final) === JSON.stringify(check);

    const f = (ms: number) => `${ms.toFixed(3)} ms`;
    const mfull = median(full);
    console.log(`floor: readFileSync of the whole file       ${f(floor.ms)}`);
    console.log(
      `first parse (GetSandboxMetrics, cold)       ${f(first.ms)} wall, ${f(first.cpuMs)} CPU, ${(size / 1024 / 1024 / (first.ms / 1000)).toFixed(0)} MiB/s`,
    );
    console.log(`baseline: whole file read again, median/3   ${f(mfull)}`);
    console.log(
      `refresh, nothing appended, median/${ROUNDS}       ${f(median(idle))}  (${(mfull / median(idle)).toFixed(0)}× cheaper than a full read)`,
    );
    console.log(
      `refresh after 1 line, median/${ROUNDS}            ${f(median(one))}  (${(mfull / median(one)).toFixed(0)}× cheaper than a full read)`,
    );
    console.log(
      `refresh after 1000 lines (${(appended / 1024 / 1024).toFixed(2)} MiB), median/${ROUNDS}  ${f(median(refresh))}`,
    );
    console.log(`baseline: those 1000 lines parsed alone     ${f(median(baseline))}`);
    console.log(
      `ratio refresh / alone (goal ≤ 2)            ${(median(refresh) / median(baseline)).toFixed(2)}`,
    );
    console.log(`incremental totals equal a fresh full parse: ${same ? "yes" : "NO"}`);
    console.log(
      `totals: ${final.input} in, ${final.output} out, ${final.prompts} prompts, ${final.toolUses} tool uses, $${final.costUsd.toFixed(2)}`,
    );
    if (!same) process.exitCode = 1;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
