// Tail latency: from a line printed in a tmux pane (pipe-pane appends it to the log) to a tail client holding
// it. Each line carries process.hrtime.bigint() (CLOCK_MONOTONIC, the same clock in every process), and each
// reader subtracts it from its own clock when the line is complete. A raw fs.watch reader of the same file,
// measured in the same run, is the baseline.
//
//   npm run build && node dist/bench/tail-latency.js [lines=1000] [interval_ms=5]
//
// Stage 1 tails in-process with LogHub. The fan-out stage compares the CPU of 100 LogHub tails of one log
// with 100 independent fs.watch readers. Stage 2 (when the daemon is built) goes through the real manager
// daemon and a Connect client over a Unix socket, with a fixture launcher that prints the lines.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { setMaxListeners } from "node:events";
import {
  chmodSync,
  closeSync,
  existsSync,
  type FSWatcher,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createLogHub } from "../server/logs/create-log-hub.js";
import { repoRoot } from "./repo-root.js";

const run = promisify(execFile);
const LINES = Number(process.argv[2] ?? 1000);
const INTERVAL_MS = Number(process.argv[3] ?? 5);
const GOAL_P99_MS = 10;

/**
 * A node program that prints "ready", waits for `go` to exist, then prints `count` stamped lines `interval`
 * ms apart and idles.
 */
const printerSource = (go: string, count: number, interval: number): string => `
const fs = require("node:fs");
process.stdout.write("ready\\n");
const go = ${JSON.stringify(go)};
const count = ${count};
const interval = ${interval};
const wait = () => (fs.existsSync(go) ? tick(1) : setTimeout(wait, 2));
const tick = (i) => {
  if (i > count) return setInterval(() => {}, 1 << 30);
  process.stdout.write("L " + i + " " + process.hrtime.bigint() + "\\n");
  setTimeout(() => tick(i + 1), interval);
};
wait();
`;

/** Turns incoming bytes into per-line latencies (ms); a line counts when its newline arrives. */
class LatencyMeter {
  readonly latencies: number[] = [];
  private partial = "";
  constructor(readonly name: string) {}

  feed(data: Buffer): void {
    const now = process.hrtime.bigint();
    const text = this.partial + data.toString("latin1");
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      const match = /L (\d+) (\d+)/.exec(line);
      if (match?.[2] !== undefined) this.latencies.push(Number(now - BigInt(match[2])) / 1e6);
    }
  }
}

/** The baseline: an fd kept open, and on each inotify event an fstat and a read of the new bytes. */
function rawWatchReader(path: string, onData: (data: Buffer) => void): () => void {
  const fd = openSync(path, "r");
  let offset = 0;
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  const onChange = (): void => {
    const { size } = fstatSync(fd);
    while (offset < size) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, size - offset), offset);
      if (n === 0) break;
      onData(buffer.subarray(0, n));
      offset += n;
    }
  };
  const watcher: FSWatcher = watch(path, onChange);
  onChange();
  return () => {
    watcher.close();
    closeSync(fd);
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

interface Figures {
  name: string;
  p50: number;
  p99: number;
  max: number;
  count: number;
}

function figures(meter: LatencyMeter): Figures {
  const sorted = [...meter.latencies].sort((a, b) => a - b);
  return {
    name: meter.name,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? Number.NaN,
    count: sorted.length,
  };
}

function report(title: string, baseline: Figures, measured: Figures[]): void {
  const fmt = (n: number): string => n.toFixed(2).padStart(8);
  process.stdout.write(`\n${title}\n`);
  process.stdout.write(`${"reader".padEnd(46)}   p50 ms   p99 ms   max ms  lines\n`);
  for (const f of [baseline, ...measured]) {
    process.stdout.write(`${f.name.padEnd(46)} ${fmt(f.p50)} ${fmt(f.p99)} ${fmt(f.max)}  ${f.count}\n`);
  }
  for (const f of measured) {
    const verdict = f.p99 <= GOAL_P99_MS && f.count === LINES ? "meets" : "MISSES";
    process.stdout.write(
      `${f.name}: ${(f.p50 / baseline.p50).toFixed(2)}x baseline p50, ${(f.p99 / baseline.p99).toFixed(2)}x ` +
        `baseline p99; ${verdict} the goal p99 <= ${GOAL_P99_MS} ms over ${LINES} lines\n`,
    );
  }
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const quote = (value: string): string => `'${value.replaceAll("'", "'\\''")}'`;
const allLines =
  (...meters: LatencyMeter[]) =>
  () =>
    meters.every((m) => m.latencies.length >= LINES);
const runTimeMs = (): number => LINES * INTERVAL_MS * 3 + 30_000;

async function stage1(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-tail-"));
  const socket = join(dir, "tmux.sock");
  const log = join(dir, "pane.log");
  const go = join(dir, "go");
  const tmux = (...args: string[]) => run("tmux", ["-S", socket, "-f", "/dev/null", ...args]);
  const hub = createLogHub();
  const abort = new AbortController();
  let stopRaw = (): void => undefined;
  try {
    const printer = printerSource(go, LINES, INTERVAL_MS);
    await tmux("new-session", "-d", "-s", "bench", "-x", "200", "-y", "50", process.execPath, "-e", printer);
    await tmux("pipe-pane", "-o", "-t", "bench", `exec cat >> ${quote(log)}`);
    await waitFor("pipe-pane to create the log", () => existsSync(log), 10_000);

    const raw = new LatencyMeter("raw fs.watch + fstat + readSync (baseline)");
    const viaHub = new LatencyMeter("LogHub.tail, in-process");
    stopRaw = rawWatchReader(log, (data) => raw.feed(data));
    const consuming = (async () => {
      for await (const event of hub.tail("bench", log, { signal: abort.signal })) {
        if (event.type === "chunk") viaHub.feed(event.data);
      }
    })();
    await waitFor("the tail to attach", () => hub.stats().subscribers === 1, 5_000);
    writeFileSync(go, "");
    await waitFor(`${LINES} lines at every reader`, allLines(raw, viaHub), runTimeMs());
    abort.abort();
    await consuming;
    report(
      `Stage 1: tmux pane -> pipe-pane -> file -> reader, ${LINES} lines every ${INTERVAL_MS} ms`,
      figures(raw),
      [figures(viaHub)],
    );
  } finally {
    abort.abort();
    stopRaw();
    hub.close();
    await tmux("kill-server").catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function stage2(root: string): Promise<void> {
  const { createSandboxClient, Backend } = await import("../client/index.js");
  const stateDir = mkdtempSync(join(tmpdir(), "bench-tail-d-"));
  const projectDir = join(stateDir, "project");
  const go = join(stateDir, "go");
  const launcher = join(stateDir, "print-lines");
  const socketPath = join(stateDir, "api.sock");
  // The fixture launcher ignores its arguments (the backend flags) and prints the stamped lines.
  writeFileSync(launcher, `#!${process.execPath}\n${printerSource(go, LINES, INTERVAL_MS)}`);
  chmodSync(launcher, 0o755);
  mkdirSync(projectDir);
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("MANAGER_")) env[key] = value;
  }
  Object.assign(env, {
    MANAGER_LISTEN: `unix:${socketPath}`,
    MANAGER_STATE_DIR: stateDir,
    MANAGER_LAUNCHER_BUBBLEWRAP: launcher,
  });
  let stderr = "";
  const daemon: ChildProcess = spawn(process.execPath, [join(root, "dist/server/main.js")], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  daemon.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const client = createSandboxClient({ socketPath });
  const abort = new AbortController();
  let stopRaw = (): void => undefined;
  let id: string | undefined;
  try {
    await waitFor(
      "the daemon to answer",
      async () => {
        if (daemon.exitCode !== null) throw new Error(`the daemon exited (${daemon.exitCode}): ${stderr}`);
        return client.listSandboxes({}).then(
          () => true,
          () => false,
        );
      },
      20_000,
    );
    const created = await client.createSandbox({ name: "bench", backend: Backend.BUBBLEWRAP, projectDir });
    id = created.sandbox?.id;
    if (id === undefined) throw new Error("CreateSandbox returned no sandbox");
    const log = join(stateDir, "logs", `${id}.log`);
    await waitFor("the sandbox's log", () => existsSync(log), 10_000);

    const raw = new LatencyMeter("raw fs.watch + fstat + readSync (baseline)");
    const viaDaemon = new LatencyMeter("TailLogs via daemon, Connect over Unix socket");
    stopRaw = rawWatchReader(log, (data) => raw.feed(data));
    let attached = false;
    const consuming = (async () => {
      // From offset 0 so the launcher's "ready" line shows that the stream is live before the clock starts.
      const stream = client.tailLogs({ id, fromOffset: 0n }, { signal: abort.signal });
      for await (const response of stream) {
        if (response.event.case !== "chunk") continue;
        const data = Buffer.from(response.event.value.data);
        if (data.includes("ready")) attached = true;
        viaDaemon.feed(data);
      }
    })().catch((error: unknown) => {
      if (!abort.signal.aborted) throw error;
    });
    await waitFor("the TailLogs stream to deliver the launcher's first line", () => attached, 10_000);
    writeFileSync(go, "");
    await waitFor(`${LINES} lines at every reader`, allLines(raw, viaDaemon), runTimeMs());
    abort.abort();
    await consuming;
    report(
      `Stage 2: fixture launcher in a sandbox pane -> daemon -> TailLogs client, ${LINES} lines every ${INTERVAL_MS} ms`,
      figures(raw),
      [figures(viaDaemon)],
    );
  } finally {
    abort.abort();
    stopRaw();
    if (id !== undefined) await client.deleteSandbox({ id }).catch(() => undefined);
    daemon.kill("SIGTERM");
    await new Promise((resolve) => (daemon.exitCode !== null ? resolve(null) : daemon.once("exit", resolve)));
    await run("tmux", ["-S", join(stateDir, "tmux.sock"), "kill-server"]).catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const FAN_OUT_CLIENTS = 100;
const FAN_OUT_LINES_PER_S = 1000;
const FAN_OUT_SECONDS = 5;

/** A node program appending stamped lines to `log` at `rate` per second (5 per 5 ms tick) for `seconds`. */
const appenderSource = (log: string, rate: number, seconds: number): string => `
const fs = require("node:fs");
const fd = fs.openSync(${JSON.stringify(log)}, "a");
const perTick = Math.max(1, Math.round(${rate} / 200));
let n = 0;
const end = Date.now() + ${seconds} * 1000;
const tick = () => {
  let text = "";
  for (let i = 0; i < perTick; i++) text += "L " + ++n + " " + process.hrtime.bigint() + " " + "-".repeat(40) + "\\n";
  fs.writeSync(fd, text);
  if (Date.now() < end) setTimeout(tick, 5);
};
tick();
`;

/**
 * CPU of this process while FAN_OUT_CLIENTS readers follow one log growing at FAN_OUT_LINES_PER_S: first as
 * that many independent fs.watch readers (each with its own watch and reads), then as LogHub tails sharing
 * one watcher. Latency is measured at one client of each; the others only count bytes.
 */
async function fanOut(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-fanout-"));
  const cores = availableParallelism();
  const results: { name: string; cpu: number; latency: Figures; complete: boolean }[] = [];
  try {
    for (const variant of ["raw", "hub"] as const) {
      const log = join(dir, `${variant}.log`);
      writeFileSync(log, "");
      const meter = new LatencyMeter(variant);
      const received = new Array<number>(FAN_OUT_CLIENTS).fill(0);
      const stops: (() => void)[] = [];
      const hub = createLogHub();
      const abort = new AbortController();
      setMaxListeners(FAN_OUT_CLIENTS + 1, abort.signal);
      const consuming: Promise<void>[] = [];
      for (let i = 0; i < FAN_OUT_CLIENTS; i++) {
        const sink = (data: Buffer): void => {
          received[i] = (received[i] ?? 0) + data.length;
          if (i === 0) meter.feed(data);
        };
        if (variant === "raw") {
          stops.push(rawWatchReader(log, sink));
        } else {
          consuming.push(
            (async () => {
              // One signal per client, as each RPC has its own (and one signal with 100 listeners warns).
              const client = new AbortController();
              abort.signal.addEventListener("abort", () => client.abort(), { once: true });
              for await (const event of hub.tail("fan", log, { signal: client.signal })) {
                if (event.type === "chunk") sink(event.data);
              }
            })(),
          );
        }
      }
      if (variant === "hub")
        await waitFor("every tail", () => hub.stats().subscribers === FAN_OUT_CLIENTS, 10_000);
      const cpuBefore = process.cpuUsage();
      const wallBefore = performance.now();
      const appender = spawn(
        process.execPath,
        ["-e", appenderSource(log, FAN_OUT_LINES_PER_S, FAN_OUT_SECONDS)],
        { stdio: "ignore" },
      );
      await new Promise((resolve) => appender.once("exit", resolve));
      const size = statSync(log).size;
      const complete = await waitFor(
        "every client to have the whole log",
        () => received.every((n) => n === size),
        10_000,
      ).then(
        () => true,
        () => false,
      );
      const cpu = process.cpuUsage(cpuBefore);
      const wall = performance.now() - wallBefore;
      abort.abort();
      hub.close();
      await Promise.all(consuming);
      for (const stop of stops) stop();
      results.push({
        name:
          variant === "raw"
            ? `${FAN_OUT_CLIENTS} raw fs.watch readers (baseline)`
            : `${FAN_OUT_CLIENTS} LogHub tails of one key`,
        cpu: (cpu.user + cpu.system) / 1000 / wall,
        latency: figures(meter),
        complete,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `\nFan-out: ${FAN_OUT_CLIENTS} clients of one log growing ${FAN_OUT_LINES_PER_S} lines/s for ${FAN_OUT_SECONDS} s ` +
      `(CPU of the reading process; ${cores} cores)\n`,
  );
  process.stdout.write(
    `${"readers".padEnd(46)}  CPU % of one core  % of machine  p50 ms  p99 ms  complete\n`,
  );
  for (const r of results) {
    process.stdout.write(
      `${r.name.padEnd(46)} ${(r.cpu * 100).toFixed(1).padStart(17)} ${((r.cpu * 100) / cores).toFixed(1).padStart(13)} ` +
        `${r.latency.p50.toFixed(2).padStart(7)} ${r.latency.p99.toFixed(2).padStart(7)}  ${r.complete ? "yes" : "NO"}\n`,
    );
  }
  const [raw, hub] = results;
  if (raw !== undefined && hub !== undefined) {
    process.stdout.write(`LogHub fan-out CPU: ${(hub.cpu / raw.cpu).toFixed(2)}x the independent readers\n`);
  }
}

async function main(): Promise<void> {
  if (!Number.isInteger(LINES) || LINES <= 0)
    throw new Error(`lines must be a positive integer, got ${LINES}`);
  if (!(INTERVAL_MS >= 0)) throw new Error(`interval_ms must be a non-negative number, got ${INTERVAL_MS}`);
  await stage1();
  await fanOut();
  const root = repoRoot();
  if (existsSync(join(root, "dist/server/main.js")) && existsSync(join(root, "server/sandbox/manager.ts"))) {
    await stage2(root);
  } else {
    process.stdout.write("\nStage 2 skipped: the daemon is not built (npm run build) or not present yet.\n");
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
