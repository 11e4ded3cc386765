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
import { type ChildProcess, fork } from "node:child_process";
import { setMaxListeners } from "node:events";
import {
  closeSync,
  existsSync,
  fstatSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { Backend } from "../client/index.js";
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
const BIN_MS = 0.05;
const OFFSET_BYTES = 8;

type Kind = "ws" | "tail";

interface ClientFigures {
  p99: number;
  max: number;
  lines: number;
}

type FromClients =
  | { type: "attached" }
  | { type: "result"; clients: ClientFigures[]; histogram: [number, number][] };

/** Child mode: `count` clients of one kind on sandbox `id` from `start`; reports when attached, and on "stop". */
async function clientProcess(kind: Kind, socketPath: string, id: string, start: bigint, count: number) {
  const send = (message: FromClients) => process.send?.(message);
  const abort = new AbortController();
  setMaxListeners(count + 1, abort.signal);
  const meters = Array.from({ length: count }, () => new LatencyMeter());
  let attached = 0;
  const onFirst = (): void => {
    if (++attached === count) send({ type: "attached" });
  };
  const clients = meters.map((meter) =>
    kind === "tail"
      ? rawReader(socketPath, id, start, abort.signal, (data) => meter.feed(data), onFirst)
      : browserLike(socketPath, id, start, abort.signal, meter, onFirst),
  );
  await new Promise((resolve) => process.once("message", resolve));
  abort.abort();
  await Promise.all(clients);
  const histogram = new Map<number, number>();
  const figures = meters.map((meter) => {
    const sorted = meter.sorted();
    for (const ms of sorted) {
      const bin = Math.round(ms / BIN_MS);
      histogram.set(bin, (histogram.get(bin) ?? 0) + 1);
    }
    return { p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? Number.NaN, lines: sorted.length };
  });
  send({ type: "result", clients: figures, histogram: [...histogram] });
  process.disconnect?.();
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

function tailOf(path: string, bytes = 4096): string {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.min(bytes, size));
    readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    return buffer.toString("latin1");
  } finally {
    closeSync(fd);
  }
}

function histogramPercentile(histogram: Map<number, number>, p: number): number {
  const bins = [...histogram].sort((x, y) => x[0] - y[0]);
  const total = bins.reduce((sum, [, n]) => sum + n, 0);
  let seen = 0;
  for (const [bin, n] of bins) {
    seen += n;
    if (seen >= Math.ceil(p * total)) return bin * BIN_MS;
  }
  return Number.NaN;
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
  const go = join(daemon.projectDir, `go-${kind}`);
  const { sandbox } = await daemon.client.createSandbox({
    name: `fanout-${kind}`,
    backend: Backend.BUBBLEWRAP,
    projectDir: daemon.projectDir,
    agentArgs: [go, String(LINES_PER_S), String(SECONDS), String(LINE_BYTES)],
  });
  const id = sandbox?.id ?? "";
  const log = join(daemon.stateDir, "logs", `${id}.log`);
  while (!(existsSync(log) && statSync(log).size > 0)) await sleep(10);
  const start = (await daemon.client.getLogs({ id, limit: 1 })).size;
  const children: ChildProcess[] = [];
  const abort = new AbortController();
  try {
    const results: Promise<FromClients & { type: "result" }>[] = [];
    const attached: Promise<unknown>[] = [];
    for (let p = 0; p < CLIENT_PROCESSES; p++) {
      const count = Math.floor(CLIENTS / CLIENT_PROCESSES) + (p < CLIENTS % CLIENT_PROCESSES ? 1 : 0);
      if (count === 0) continue;
      const child = fork(fileURLToPath(import.meta.url), [
        "--clients",
        kind,
        daemon.socketPath,
        id,
        String(start),
        String(count),
      ]);
      children.push(child);
      attached.push(
        new Promise((resolve) =>
          child.on("message", (m: FromClients) => m.type === "attached" && resolve(m)),
        ),
      );
      const result = new Promise<FromClients & { type: "result" }>((resolve, reject) => {
        child.on("message", (m: FromClients) => m.type === "result" && resolve(m));
        child.once("exit", (code) => reject(new Error(`a client process exited (${code}) before reporting`)));
      });
      result.catch(() => {});
      results.push(result);
    }
    await Promise.all(attached);
    const floor = new LatencyMeter();
    const raw = rawFileReader(log, floor, abort.signal);
    const t0 = performance.now();
    const cpuStart = cpuSeconds(daemon.pid);
    writeFileSync(go, "");
    const deadline = t0 + SECONDS * 1000 + 30_000;
    while (!tailOf(log).includes("printer-done") && performance.now() < deadline) await sleep(100);
    const cpu = ((cpuSeconds(daemon.pid) - cpuStart) / ((performance.now() - t0) / 1000)) * 100;
    // The clients' last lines arrive a moment after the file has them.
    await sleep(2000);
    for (const child of children) child.send("stop");
    const reports = await Promise.all(results);
    abort.abort();
    await raw;
    const per = reports.flatMap((r) => r.clients);
    const histogram = new Map<number, number>();
    for (const report of reports) {
      for (const [bin, n] of report.histogram) histogram.set(bin, (histogram.get(bin) ?? 0) + n);
    }
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
    for (const child of children) child.kill();
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
