// TailLogs fan-out with a client that stopped reading: one sandbox prints stamped lines fast (a node launcher
// in its tmux pane, logged by pipe-pane), 49 TailLogs clients read them through the daemon (Connect over its
// Unix socket), and one more TailLogs client (raw HTTP/1.1 on the same socket) pauses its response at once, so
// its socket stops being read and the kernel's flow control stalls the daemon's writes to it.
// Latency is from the line's stamp (process.hrtime.bigint(), CLOCK_MONOTONIC in every process) to the
// reader holding its newline, as in bench/tail-latency.ts; a raw fs.watch reader of the log file, in this
// process and the same run, is the floor (pane → pipe-pane → file). The daemon's RSS is sampled throughout.
// The readers run in reader_processes child processes, so that one event loop holding 49 streams does not
// become the latency being measured. They share this machine's cores with the daemon, which real readers (on
// laptops, through tunnels) do not; FANOUT_CLIENT chooses them:
//   typed  the client/ package's Connect client (default);
//   raw    Connect envelopes parsed by hand over HTTP/1.1, a fraction of the typed client's per-message work;
//   file   no daemon at all: each reader watches and reads the log file itself, the floor of that many readers
//          on these cores, to compare a TailLogs run with.
// Goals: every reader's p99 <= 10 ms and every line received; the daemon's memory bounded while the
// non-reader stalls: its live memory (heap + buffers after a full GC) under LIVE_BOUND_MIB with the non-reader
// still connected, and no upward trend in RSS (the second half of the stall peaks no higher than the first
// half plus RSS_TREND_MIB) while far more than that is written.
//
//   npm run build && [FANOUT_CLIENT=typed|raw|file] node dist/bench/tail-fanout.js [readers=49] [lines_per_s=2000]
//     [seconds=40] [display_base=7000] [reader_processes=7]
import { rmSync, statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createSandboxClient } from "../client/index.js";
import {
  type ChildClients,
  forkChildClients,
  histogramPercentile,
  runChildClients,
} from "./fanout-children.js";
import { MIB } from "./memory-probe.js";
import { createPrinterSandbox } from "./printer-sandbox.js";
import { cpuSeconds, rssKiB } from "./resource-census.js";
import { loadLine, startSoakDaemon } from "./soak-daemon.js";
import {
  describeNonReaderEnd,
  LatencyMeter,
  nonReader,
  percentile,
  rawFileReader,
  rawReader,
  writePrinterLauncher,
} from "./tail-clients.js";

const READERS = Number(process.argv[2] ?? 49);
const LINES_PER_S = Number(process.argv[3] ?? 2000);
const SECONDS = Number(process.argv[4] ?? 40);
const DISPLAY_BASE = Number(process.argv[5] ?? 7000);
const LINE_BYTES = 150;
const GOAL_P99_MS = 10;
// The hub holds at most 8 MiB for one client; the rest is slack for the readers' queues and socket buffers.
const LIVE_BOUND_MIB = 48;
const RSS_TREND_MIB = 16;

const READER_PROCESSES = Number(process.argv[6] ?? 7);
// "typed": the client/ package's Connect client; "raw": HTTP/1.1 with envelopes parsed by hand (rawReader), whose
// own per-message work on these shared cores is a fraction of the typed client's.
// "file": no daemon in the path, each reader watches and reads the log file itself: the floor of 49 readers on
// these cores, to compare the TailLogs figures with.
const CLIENT = (["raw", "file"] as const).find((c) => c === process.env.FANOUT_CLIENT) ?? "typed";

/** Child mode: `count` TailLogs clients of `id` from `start` (or, for "file", readers of `logPath`). */
async function readerProcess(
  socketPath: string,
  id: string,
  start: bigint,
  count: number,
  logPath: string,
): Promise<void> {
  await runChildClients(count, async (meter, signal, onFirst) => {
    if (CLIENT === "file") {
      onFirst();
      await rawFileReader(logPath, meter, signal);
      return;
    }
    if (CLIENT === "raw") {
      await rawReader(socketPath, id, start, signal, (data) => meter.feed(data), onFirst);
      return;
    }
    const client = createSandboxClient({ socketPath });
    let first = true;
    try {
      for await (const message of client.tailLogs({ id, fromOffset: start }, { signal })) {
        if (first) {
          first = false;
          onFirst();
        }
        if (message.event.case === "chunk") meter.feed(message.event.value.data);
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
  });
}

async function main(): Promise<void> {
  const loadStart = await loadLine();
  const launcher = `${process.env.TMPDIR ?? "/tmp"}/tail-fanout-printer-${process.pid}`;
  writePrinterLauncher(launcher);
  const daemon = await startSoakDaemon({ displayBase: DISPLAY_BASE, launcher });
  const abort = new AbortController();
  const rss: { t: number; mib: number }[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let readers: ChildClients | undefined;
  try {
    const { id, log, start, go, untilPrinted } = await createPrinterSandbox(daemon, {
      name: "fanout",
      goFile: "go",
      linesPerS: LINES_PER_S,
      seconds: SECONDS,
      lineBytes: LINE_BYTES,
    });
    readers = forkChildClients(
      fileURLToPath(import.meta.url),
      READERS,
      READER_PROCESSES,
      (count) => ["--readers", daemon.socketPath, id, String(start), String(count), log],
      "reader",
    );
    const stalled = nonReader(daemon.socketPath, id, start);
    await stalled.response;
    await readers.attached;
    const floor = new LatencyMeter();
    const raw = rawFileReader(log, floor, abort.signal);

    const rssStart = rssKiB(daemon.pid) / 1024;
    const t0 = performance.now();
    sampler = setInterval(
      () => rss.push({ t: (performance.now() - t0) / 1000, mib: rssKiB(daemon.pid) / 1024 }),
      500,
    );
    const cpuStart = cpuSeconds(daemon.pid);
    go();
    const expected = LINES_PER_S * SECONDS;
    // The printer's last line comes after every stamped one; the readers have it a moment later.
    await untilPrinted(t0 + SECONDS * 1000 + 30_000);
    const printed = statSync(log).size - Number(start);
    const cpuPercent = ((cpuSeconds(daemon.pid) - cpuStart) / ((performance.now() - t0) / 1000)) * 100;
    await sleep(3000);
    const stallEnd = (performance.now() - t0) / 1000;
    // The non-reader is still connected and stalled: the daemon's memory now is what it costs.
    const afterGc = await daemon.memoryAfterGc();
    const { clients: perReader, histogram } = await readers.stop();
    const ended = describeNonReaderEnd(await stalled.drain(15_000));
    await sleep(2000);
    clearInterval(sampler);
    abort.abort();
    await raw;
    const loadEnd = await loadLine();

    const totalLines = perReader.reduce((sum, r) => sum + r.lines, 0);
    const floorSorted = floor.sorted();
    const worstP99 = Math.max(...perReader.map((r) => r.p99));
    const worstMax = Math.max(...perReader.map((r) => r.max));
    const complete = perReader.filter((r) => r.lines >= expected).length;
    const fmt = (n: number) => n.toFixed(2).padStart(8);
    console.log(
      `TailLogs fan-out: ${READERS} readers (in ${readers.children.length} processes) + 1 non-reader on one sandbox, ` +
        `${LINES_PER_S} lines/s of ${LINE_BYTES} B for ${SECONDS} s (${(printed / MIB).toFixed(1)} MiB of log)`,
    );
    console.log(`load at start: ${loadStart}`);
    console.log(`load at end:   ${loadEnd}`);
    console.log(`${"".padEnd(44)}   p50 ms   p99 ms   max ms     lines`);
    console.log(
      `${"raw fs.watch reader of the log (floor)".padEnd(44)} ${fmt(percentile(floorSorted, 0.5))} ${fmt(percentile(floorSorted, 0.99))} ${fmt(floorSorted.at(-1) ?? Number.NaN)} ${String(floorSorted.length).padStart(9)}`,
    );
    console.log(
      `${`${READERS} TailLogs readers, all lines`.padEnd(44)} ${fmt(histogramPercentile(histogram, 0.5))} ${fmt(histogramPercentile(histogram, 0.99))} ${fmt(worstMax)} ${String(totalLines).padStart(9)}`,
    );
    const p99s = perReader.map((r) => r.p99).sort((a, b) => a - b);
    console.log(
      `per-reader p99: best ${(p99s[0] ?? Number.NaN).toFixed(2)} ms, median ${percentile(p99s, 0.5).toFixed(2)} ms, ` +
        `worst ${worstP99.toFixed(2)} ms; readers with every line: ${complete} of ${READERS}`,
    );
    console.log(`non-reader: ${ended}`);
    console.log(
      `daemon memory after a full GC with the non-reader still connected: RSS ${(afterGc.rss / MIB).toFixed(1)} MiB, ` +
        `heap ${(afterGc.heapUsed / MIB).toFixed(1)} MiB, array buffers ${(afterGc.arrayBuffers / MIB).toFixed(1)} MiB`,
    );
    const during = rss.filter((s) => s.t <= stallEnd);
    const peak = Math.max(...during.map((s) => s.mib));
    const peakAfter = Math.max(...rss.map((s) => s.mib));
    console.log(
      `daemon RSS over time (MiB; at start ${rssStart.toFixed(1)}, peak while stalled ${peak.toFixed(1)}, ` +
        `peak including the non-reader's drain after ${stallEnd.toFixed(0)} s ${peakAfter.toFixed(1)}):`,
    );
    const line: string[] = [];
    for (const s of rss.filter((_, i) => i % 4 === 0)) line.push(`${s.t.toFixed(0)}s ${s.mib.toFixed(0)}`);
    for (let i = 0; i < line.length; i += 10) console.log(`  ${line.slice(i, i + 10).join("  ")}`);
    const half = stallEnd / 2;
    const firstHalf = Math.max(...during.filter((s) => s.t < half).map((s) => s.mib));
    const secondHalf = Math.max(...during.filter((s) => s.t >= half).map((s) => s.mib));
    const live = (afterGc.heapUsed + afterGc.arrayBuffers) / MIB;
    console.log(
      `RSS peak, first half of the stall ${firstHalf.toFixed(1)} MiB, second half ${secondHalf.toFixed(1)} MiB; ` +
        `daemon CPU while printing: ${cpuPercent.toFixed(0)} % of one core`,
    );
    const misses: string[] = [];
    if (worstP99 > GOAL_P99_MS) misses.push(`worst reader p99 ${worstP99.toFixed(2)} ms > ${GOAL_P99_MS} ms`);
    if (complete < READERS) misses.push(`${READERS - complete} readers missed lines`);
    if (live > LIVE_BOUND_MIB) misses.push(`live memory ${live.toFixed(1)} MiB > ${LIVE_BOUND_MIB} MiB`);
    if (secondHalf > firstHalf + RSS_TREND_MIB)
      misses.push(`RSS still rising: ${firstHalf.toFixed(1)} → ${secondHalf.toFixed(1)} MiB`);
    const memory =
      `live memory ${live.toFixed(1)} MiB (bound ${LIVE_BOUND_MIB}), RSS flat (${firstHalf.toFixed(0)} → ` +
      `${secondHalf.toFixed(0)} MiB) while ${(printed / MIB).toFixed(1)} MiB were written`;
    console.log(
      misses.length === 0
        ? `PASS: every reader's p99 <= ${GOAL_P99_MS} ms (worst ${worstP99.toFixed(2)} ms), all lines received; ${memory}`
        : `MISS: ${misses.join("; ")}${misses.some((m) => m.startsWith("worst")) ? ` (memory: ${memory})` : ""}`,
    );
    await daemon.client.deleteSandbox({ id });
  } finally {
    if (sampler !== undefined) clearInterval(sampler);
    abort.abort();
    readers?.kill();
    await daemon.stop();
    rmSync(launcher, { force: true });
  }
}

const ARGS = process.argv.slice(2);
const run =
  ARGS[0] === "--readers"
    ? readerProcess(ARGS[1] ?? "", ARGS[2] ?? "", BigInt(ARGS[3] ?? 0), Number(ARGS[4]), ARGS[5] ?? "")
    : main().then(() => process.exit(0));
run.catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
