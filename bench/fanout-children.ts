// The child processes the fan-out benchmarks (bench/tail-fanout.ts, bench/web-log-fanout.ts) run their readers
// in, so that one event loop holding every stream does not become the latency being measured. The benchmark
// forks itself with a child flag; each child runs its share of the clients, each feeding a LatencyMeter, says
// "attached" once every one of them has its first message, and on "stop" sends its clients' figures and a
// histogram of all their latencies (a child's samples are far too many to send one by one), which the parent
// merges.
import { type ChildProcess, fork } from "node:child_process";
import { setMaxListeners } from "node:events";
import { LatencyMeter, percentile } from "./tail-clients.js";

/** Latency histogram resolution (ms) for merging the children's figures. */
const BIN_MS = 0.05;

/** One client's latencies (ms) and the lines it measured. */
export interface ClientFigures {
  p50: number;
  p99: number;
  max: number;
  lines: number;
}

type FromChild =
  | { type: "attached" }
  | { type: "result"; clients: ClientFigures[]; histogram: [number, number][] };

/** One client of a child: feeds `meter` until `signal` aborts, and calls `onFirst` at its first message. */
export type StartClient = (meter: LatencyMeter, signal: AbortSignal, onFirst: () => void) => Promise<void>;

/** Child mode: `count` clients; reports when every one is attached and, on the parent's "stop", the figures. */
export async function runChildClients(count: number, startClient: StartClient): Promise<void> {
  const send = (message: FromChild) => process.send?.(message);
  const abort = new AbortController();
  setMaxListeners(count + 1, abort.signal);
  const meters = Array.from({ length: count }, () => new LatencyMeter());
  let attached = 0;
  const onFirst = (): void => {
    if (++attached === count) send({ type: "attached" });
  };
  const clients = meters.map((meter) => startClient(meter, abort.signal, onFirst));
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
    return {
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      max: sorted.at(-1) ?? Number.NaN,
      lines: sorted.length,
    };
  });
  send({ type: "result", clients: figures, histogram: [...histogram] });
  process.disconnect?.();
}

export interface ChildReports {
  /** Every client of every child. */
  clients: ClientFigures[];
  /** All their latencies, in BIN_MS bins (bin → count). */
  histogram: Map<number, number>;
}

export interface ChildClients {
  readonly children: readonly ChildProcess[];
  /** Resolves once every client of every child has its first message. */
  readonly attached: Promise<unknown>;
  /** Tells every child to stop; resolves with their figures merged. */
  stop(): Promise<ChildReports>;
  kill(): void;
}

/**
 * Forks `script` up to `processes` times, `total` clients shared out between them; a child gets `argv(count)`,
 * which must bring it to runChildClients(count, …). `noun` names the children in errors ("reader", "client").
 */
export function forkChildClients(
  script: string,
  total: number,
  processes: number,
  argv: (count: number) => string[],
  noun: string,
): ChildClients {
  const children: ChildProcess[] = [];
  const results: Promise<FromChild & { type: "result" }>[] = [];
  const attached: Promise<unknown>[] = [];
  for (let p = 0; p < processes; p++) {
    const count = Math.floor(total / processes) + (p < total % processes ? 1 : 0);
    if (count === 0) continue;
    let child: ChildProcess;
    try {
      child = fork(script, argv(count));
    } catch (error) {
      // The caller gets no handle to kill the ones already forked.
      for (const forked of children) forked.kill();
      throw error;
    }
    children.push(child);
    attached.push(
      new Promise((resolve) => child.on("message", (m: FromChild) => m.type === "attached" && resolve(m))),
    );
    const result = new Promise<FromChild & { type: "result" }>((resolve, reject) => {
      child.on("message", (m: FromChild) => m.type === "result" && resolve(m));
      child.once("exit", (code) => reject(new Error(`a ${noun} process exited (${code}) before reporting`)));
    });
    // Reported where awaited; a run that fails before that kills the children, which must not crash it.
    result.catch(() => {});
    results.push(result);
  }
  return {
    children,
    attached: Promise.all(attached),
    async stop() {
      for (const child of children) child.send("stop");
      const reports = await Promise.all(results);
      const histogram = new Map<number, number>();
      for (const report of reports) {
        for (const [bin, n] of report.histogram) histogram.set(bin, (histogram.get(bin) ?? 0) + n);
      }
      return { clients: reports.flatMap((r) => r.clients), histogram };
    },
    kill() {
      for (const child of children) child.kill();
    },
  };
}

/** p-quantile of a merged histogram of BIN_MS bins. */
export function histogramPercentile(histogram: Map<number, number>, p: number): number {
  const bins = [...histogram].sort((x, y) => x[0] - y[0]);
  const total = bins.reduce((sum, [, n]) => sum + n, 0);
  let seen = 0;
  for (const [bin, n] of bins) {
    seen += n;
    if (seen >= Math.ceil(p * total)) return bin * BIN_MS;
  }
  return Number.NaN;
}
