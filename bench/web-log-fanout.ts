// WebSocket log fan-out: 100 browser-like clients (the `ws` package, spread over a few child processes) on the
// log socket of one sandbox printing stamped lines (bench/tail-clients.ts's printer launcher). Each line's
// latency is from its stamp to a client holding its newline; the daemon's CPU is read from /proc while the
// sandbox prints. In the same run and on the same daemon, first the same number of raw TailLogs readers (the
// RPC the socket is built on, with the lightest client there is) on another sandbox printing the same: the
// floor the WebSocket path is compared with. A raw fs.watch reader of the log file runs through both phases,
// the floor of the pane → pipe-pane → file path itself.
// Goals: p99 line latency <= 20 ms over all WebSocket clients, every line received, and the daemon's CPU
// <= 25 % of the machine (here in % of one core: 25 % of the machine is 50 % of one core on 2 cores).
//
//   npm run build && node dist/bench/web-log-fanout.js [clients=100] [lines_per_s=1000] [seconds=20]
//     [display_base=7600] [client_processes=4]
// WEB_FANOUT_PHASES=ws skips the TailLogs phase (e.g. to profile the WebSocket path alone with
// SOAK_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof").
import { rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import {
  type ChildClients,
  forkChildClients,
  histogramPercentile,
  runChildClients,
} from "./fanout-children.js";
import { createPrinterSandbox } from "./printer-sandbox.js";
import { cpuSeconds } from "./resource-census.js";
import { loadLine, type SoakDaemon, startSoakDaemon } from "./soak-daemon.js";
import { LatencyMeter, percentile, rawFileReader, rawReader, writePrinterLauncher } from "./tail-clients.js";

const CLIENTS = Number(process.argv[2] ?? 100);
const LINES_PER_S = Number(process.argv[3] ?? 1000);
const SECONDS = Number(process.argv[4] ?? 20);
const DISPLAY_BASE = Number(process.argv[5] ?? 7600);
const CLIENT_PROCESSES = Number(process.argv[6] ?? 4);
const LINE_BYTES = 150;
const GOAL_P99_MS = 20;
const GOAL_MACHINE_PERCENT = 25;
const OFFSET_BYTES = 8;

type Kind = "ws" | "tail";

/** Child mode: `count` clients of one kind on sandbox `id` from `start`. */
async function clientProcess(kind: Kind, socketPath: string, id: string, start: bigint, count: number) {
  await runChildClients(count, (meter, signal, onFirst) =>
    kind === "tail"
      ? rawReader(socketPath, id, start, signal, (data) => meter.feed(data), onFirst)
      : browserLike(socketPath, id, start, signal, meter, onFirst),
  );
}

/** What a browser tab does: a WebSocket on the log, each binary frame's bytes to the terminal (here, the meter). */
async function browserLike(
  socketPath: string,
  id: string,
  start: bigint,
  signal: AbortSignal,
  meter: LatencyMeter,
  onFirst: () => void,
): Promise<void> {
  const ws = new WebSocket(`ws+unix://${socketPath}:/ws/sandboxes/${id}/logs?from=${start}`, {
    headers: { host: "localhost" },
    perMessageDeflate: false,
  });
  let first = true;
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (first) {
      first = false;
      onFirst();
    }
    if (isBinary) meter.feed(data.subarray(OFFSET_BYTES));
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("close", () => resolve());
    ws.once("error", (error) => (signal.aborted ? resolve() : reject(error)));
    signal.addEventListener("abort", () => ws.terminate(), { once: true });
  });
}

interface PhaseResult {
  kind: Kind;
  p50: number;
  p99: number;
  worstMax: number;
  complete: number;
  lines: number;
  /** Daemon CPU while the sandbox printed, % of one core. */
  cpu: number;
  floor: Float64Array;
}

/** One sandbox printing, CLIENTS clients of `kind` reading it, the raw file reader beside them. */
async function phase(daemon: SoakDaemon, kind: Kind): Promise<PhaseResult> {
  const { id, log, start, go, untilPrinted } = await createPrinterSandbox(daemon, {
    name: `fanout-${kind}`,
    goFile: `go-${kind}`,
    linesPerS: LINES_PER_S,
    seconds: SECONDS,
    lineBytes: LINE_BYTES,
  });
  let clients: ChildClients | undefined;
  const abort = new AbortController();
  try {
    clients = forkChildClients(
      fileURLToPath(import.meta.url),
      CLIENTS,
      CLIENT_PROCESSES,
      (count) => ["--clients", kind, daemon.socketPath, id, String(start), String(count)],
      "client",
    );
    await clients.attached;
    const floor = new LatencyMeter();
    const raw = rawFileReader(log, floor, abort.signal);
    const t0 = performance.now();
    const cpuStart = cpuSeconds(daemon.pid);
    go();
    await untilPrinted(t0 + SECONDS * 1000 + 30_000);
    const cpu = ((cpuSeconds(daemon.pid) - cpuStart) / ((performance.now() - t0) / 1000)) * 100;
    // The clients' last lines arrive a moment after the file has them.
    await sleep(2000);
    const { clients: per, histogram } = await clients.stop();
    abort.abort();
    await raw;
    await daemon.client.deleteSandbox({ id });
    return {
      kind,
      p50: histogramPercentile(histogram, 0.5),
      p99: histogramPercentile(histogram, 0.99),
      worstMax: Math.max(...per.map((c) => c.max)),
      complete: per.filter((c) => c.lines >= LINES_PER_S * SECONDS).length,
      lines: per.reduce((sum, c) => sum + c.lines, 0),
      cpu,
      floor: floor.sorted(),
    };
  } finally {
    abort.abort();
    clients?.kill();
  }
}

async function main(): Promise<void> {
  const loadStart = await loadLine();
  const launcher = `${process.env.TMPDIR ?? "/tmp"}/web-fanout-printer-${process.pid}`;
  writePrinterLauncher(launcher);
  const daemon = await startSoakDaemon({ displayBase: DISPLAY_BASE, launcher });
  try {
    const kinds: Kind[] = process.env.WEB_FANOUT_PHASES === "ws" ? ["ws"] : ["tail", "ws"];
    const results: PhaseResult[] = [];
    for (const kind of kinds) results.push(await phase(daemon, kind));
    const loadEnd = await loadLine();
    const cores = availableParallelism();
    const fmt = (n: number) => n.toFixed(2).padStart(8);
    console.log(
      `Web log fan-out: ${CLIENTS} clients (in ${CLIENT_PROCESSES} processes) on one sandbox, ${LINES_PER_S} lines/s ` +
        `of ${LINE_BYTES} B for ${SECONDS} s, per phase; ${cores} cores`,
    );
    console.log(`load at start: ${loadStart}`);
    console.log(`load at end:   ${loadEnd}`);
    console.log(`${"".padEnd(46)}   p50 ms   p99 ms   max ms  all lines  daemon CPU`);
    for (const r of results) {
      const name =
        r.kind === "ws"
          ? `${CLIENTS} WebSocket clients (/ws/…/logs)`
          : `${CLIENTS} raw TailLogs readers (floor)`;
      console.log(
        `${name.padEnd(46)} ${fmt(r.p50)} ${fmt(r.p99)} ${fmt(r.worstMax)} ${`${r.complete}/${CLIENTS}`.padStart(10)}` +
          `  ${r.cpu.toFixed(0).padStart(4)} % of a core (${(r.cpu / cores).toFixed(1)} % of the machine)`,
      );
      console.log(
        `${"  raw fs.watch reader of the log, same phase".padEnd(46)} ${fmt(percentile(r.floor, 0.5))} ${fmt(percentile(r.floor, 0.99))} ${fmt(r.floor.at(-1) ?? Number.NaN)}`,
      );
    }
    const ws = results.find((r) => r.kind === "ws");
    const tail = results.find((r) => r.kind === "tail");
    if (ws === undefined) return;
    if (tail !== undefined) {
      console.log(
        `WebSocket vs TailLogs: p99 ${(ws.p99 / tail.p99).toFixed(2)}x, daemon CPU ${(ws.cpu / tail.cpu).toFixed(2)}x`,
      );
    }
    const machine = ws.cpu / cores;
    const misses: string[] = [];
    if (ws.p99 > GOAL_P99_MS) misses.push(`p99 ${ws.p99.toFixed(2)} ms > ${GOAL_P99_MS} ms`);
    if (machine > GOAL_MACHINE_PERCENT)
      misses.push(`daemon CPU ${machine.toFixed(1)} % of the machine > ${GOAL_MACHINE_PERCENT} %`);
    if (ws.complete < CLIENTS) misses.push(`${CLIENTS - ws.complete} clients missed lines`);
    console.log(
      misses.length === 0
        ? `PASS: p99 ${ws.p99.toFixed(2)} ms <= ${GOAL_P99_MS} ms, daemon CPU ${machine.toFixed(1)} % of the machine <= ` +
            `${GOAL_MACHINE_PERCENT} %, every client got every line`
        : `MISS: ${misses.join("; ")}`,
    );
  } finally {
    await daemon.stop();
    rmSync(launcher, { force: true });
  }
}

const ARGS = process.argv.slice(2);
const run =
  ARGS[0] === "--clients"
    ? clientProcess(
        (ARGS[1] as Kind | undefined) ?? "ws",
        ARGS[2] ?? "",
        ARGS[3] ?? "",
        BigInt(ARGS[4] ?? 0),
        Number(ARGS[5]),
      )
    : main().then(() => process.exit(0));
run.catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
