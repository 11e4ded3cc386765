// Create/delete soak: a real daemon creates and deletes one sandbox (fixture launcher, real Xvfb and tmux) over
// and over. Before and after, a census of what the daemon holds: open fds, files in the state dir, X11
// sockets and locks of its displays, processes in its tree and processes naming its state dir; and its memory.
// Goal: every count the same at the end as at the start, and memory flat: RSS after a full GC grows < 5 MiB
// and has no upward trend over the second half (< 2.5 MiB per half by least squares), and neither has the heap.
//
//   npm run build && node dist/bench/soak-cycles.js [cycles=500] [warmup=5] [display_base=5000] [keep=0]
//
// With keep=1 one more sandbox runs throughout, so the tmux server lives across the cycles (with keep=0 it
// exits with each delete, as the last session ends): the two take different paths through teardown.
//
// The "before" census is taken after `warmup` cycles: the first creates open things once that stay open
// (the tmux server, the exit-watcher's FIFO, spare files, the HTTP connection of this client). Memory is
// compared from a later cycle (a tenth of the run): over the first few dozen cycles V8 sizes its heap and
// compiles the hot paths, which raises RSS by tens of MiB once; the table shows that ramp too.
import { statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Backend } from "../client/index.js";
import { type MemoryAfterGc, MIB, slope } from "./memory-probe.js";
import { type Census, censusTable, changedCounts, takeCensus } from "./resource-census.js";
import { loadLine, startSoakDaemon } from "./soak-daemon.js";
import { createDeleteCycle } from "./soak-workloads.js";

const CYCLES = Number(process.argv[2] ?? 500);
const WARMUP = Number(process.argv[3] ?? 5);
const DISPLAY_BASE = Number(process.argv[4] ?? 5000);
const KEEP = process.argv[5] === "1";
const SAMPLE_EVERY = Math.max(1, Math.round(CYCLES / 20));
const MEMORY_WARMUP = Math.max(1, Math.round(CYCLES / 10));
const GOAL_RSS_GROWTH_MIB = 5;
const GOAL_RSS_TREND_MIB_PER_HALF = 2.5;
// The post-GC heap still grows by optimised code for hundreds of cycles (heap snapshots: code objects and deopt
// data, not retained objects); 1 MiB per half of 500 cycles is 4 KiB per cycle.
const GOAL_HEAP_TREND_MIB_PER_HALF = 1;
const SETTLE_MS = 3000;

interface Sample {
  cycle: number;
  rssKiB: number;
  gc: MemoryAfterGc;
}

function fmtMiB(bytes: number): string {
  return (bytes / MIB).toFixed(2);
}

async function main(): Promise<void> {
  if (!Number.isInteger(CYCLES) || CYCLES < 2)
    throw new Error(`cycles must be an integer >= 2, got ${CYCLES}`);
  const load = [`load at start: ${await loadLine()}`];
  const daemon = await startSoakDaemon({ displayBase: DISPLAY_BASE });
  const samples: Sample[] = [];
  const durations: number[] = [];
  let keep: string | undefined;
  let interrupted = false;
  process.once("SIGINT", () => {
    interrupted = true;
  });
  try {
    if (KEEP) {
      const { sandbox } = await daemon.client.createSandbox({
        name: "keep",
        backend: Backend.BUBBLEWRAP,
        projectDir: daemon.projectDir,
      });
      keep = sandbox?.id;
    }
    for (let i = 0; i < WARMUP; i++)
      await createDeleteCycle(daemon.client, daemon.projectDir, `warm-up-${i}`);
    const gcBefore = await daemon.memoryAfterGc();
    const before: Census = takeCensus(daemon.scope);
    const stateBytesBefore = statSync(join(daemon.stateDir, "state.json")).size;
    samples.push({ cycle: 0, rssKiB: before.rssKiB, gc: gcBefore });
    const started = performance.now();
    for (let i = 1; i <= CYCLES && !interrupted; i++) {
      durations.push(await createDeleteCycle(daemon.client, daemon.projectDir, `soak-${i}`));
      if (i % SAMPLE_EVERY === 0 || i === CYCLES || i === MEMORY_WARMUP) {
        const rss = takeCensus(daemon.scope).rssKiB;
        samples.push({ cycle: i, rssKiB: rss, gc: await daemon.memoryAfterGc() });
      }
      if (i % 50 === 0)
        process.stderr.write(`  ${i} cycles, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
    }
    if (interrupted) throw new Error("interrupted");
    const after = takeCensus(daemon.scope);
    const gcAfter = await daemon.memoryAfterGc();
    const stateBytesAfter = statSync(join(daemon.stateDir, "state.json")).size;
    const columns = [
      { title: `before (after ${WARMUP} warm-up)`, census: before },
      { title: `after ${CYCLES} cycles`, census: after },
    ];
    const changedAtOnce = changedCounts(before, after);
    if (changedAtOnce.length > 0) {
      await sleep(SETTLE_MS);
      columns.push({ title: `${SETTLE_MS / 1000} s later`, census: takeCensus(daemon.scope) });
    }
    load.push(`load at end:   ${await loadLine()}`);
    const sorted = [...durations].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

    console.log(
      `Create/delete soak: ${CYCLES} cycles through the daemon (fixture launcher, real Xvfb + tmux)` +
        (KEEP ? ", one more sandbox running throughout" : ""),
    );
    for (const line of load) console.log(line);
    console.log(
      `cycle time (create → launcher's first line → delete): median ${at(0.5).toFixed(0)} ms, p99 ${at(0.99).toFixed(0)} ms`,
    );
    console.log(`\n${censusTable(columns)}`);
    console.log(`state.json bytes: ${stateBytesBefore} before, ${stateBytesAfter} after`);

    console.log("\nmemory, MiB (RSS as sampled; the rest after a full GC):");
    console.log(
      `${"cycle".padStart(7)} ${"RSS".padStart(8)} ${"RSS gc".padStart(8)} ${"heap".padStart(8)} ${"heap tot".padStart(8)} ${"external".padStart(9)}`,
    );
    for (const s of samples) {
      console.log(
        `${String(s.cycle).padStart(7)} ${(s.rssKiB / 1024).toFixed(2).padStart(8)} ${fmtMiB(s.gc.rss).padStart(8)} ` +
          `${fmtMiB(s.gc.heapUsed).padStart(8)} ${fmtMiB(s.gc.heapTotal).padStart(8)} ${fmtMiB(s.gc.external).padStart(9)}`,
      );
    }
    const secondHalf = samples.filter((s) => s.cycle >= CYCLES / 2);
    const xs = secondHalf.map((s) => s.cycle);
    const halfCycles = CYCLES / 2;
    const heapTrend =
      (slope(
        xs,
        secondHalf.map((s) => s.gc.heapUsed),
      ) *
        halfCycles) /
      MIB;
    const rssTrend =
      (slope(
        xs,
        secondHalf.map((s) => s.gc.rss),
      ) *
        halfCycles) /
      MIB;
    const settled = samples.find((s) => s.cycle === MEMORY_WARMUP)?.gc ?? gcBefore;
    const rssGrowth = (gcAfter.rss - settled.rss) / MIB;
    console.log(
      `trend over the second half (least squares, per ${halfCycles} cycles): heap after GC ${heapTrend.toFixed(3)} MiB, ` +
        `RSS after GC ${rssTrend.toFixed(3)} MiB`,
    );
    console.log(
      `RSS after GC: ${fmtMiB(gcBefore.rss)} MiB after the warm-up, ${fmtMiB(settled.rss)} MiB at cycle ${MEMORY_WARMUP}, ` +
        `${fmtMiB(gcAfter.rss)} MiB at the end (growth from cycle ${MEMORY_WARMUP}: ${rssGrowth.toFixed(2)} MiB); ` +
        `heap after GC: ${fmtMiB(gcBefore.heapUsed)} → ${fmtMiB(settled.heapUsed)} → ${fmtMiB(gcAfter.heapUsed)} MiB`,
    );

    const misses: string[] = [];
    if (changedAtOnce.length > 0) misses.push(`counts changed: ${changedAtOnce.join(", ")}`);
    if (rssGrowth >= GOAL_RSS_GROWTH_MIB)
      misses.push(`RSS after GC grew ${rssGrowth.toFixed(2)} MiB from cycle ${MEMORY_WARMUP}`);
    if (rssTrend >= GOAL_RSS_TREND_MIB_PER_HALF) misses.push(`RSS trend ${rssTrend.toFixed(3)} MiB per half`);
    if (heapTrend >= GOAL_HEAP_TREND_MIB_PER_HALF)
      misses.push(`heap trend ${heapTrend.toFixed(3)} MiB per half`);
    console.log(
      misses.length === 0
        ? `PASS: every count the same after ${CYCLES} cycles as before; RSS after GC grew ${rssGrowth.toFixed(2)} MiB ` +
            `from cycle ${MEMORY_WARMUP} (goal < ${GOAL_RSS_GROWTH_MIB}), trend ${rssTrend.toFixed(3)} MiB per half ` +
            `(goal < ${GOAL_RSS_TREND_MIB_PER_HALF}); heap trend ${heapTrend.toFixed(3)} MiB per half (goal < ${GOAL_HEAP_TREND_MIB_PER_HALF})`
        : `MISS: ${misses.join("; ")}`,
    );
  } finally {
    if (keep !== undefined) await daemon.client.deleteSandbox({ id: keep }).catch(() => {});
    await daemon.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
