// Pieces of the TailLogs benchmarks and tests: a launcher printing stamped lines at a set rate, a meter of
// line latency, and a TailLogs client whose socket stops being read.
import { chmodSync, statSync, watch, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { create, fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
import {
  LogEndReason,
  TailLogsRequestSchema,
  type TailLogsResponse,
  TailLogsResponseSchema,
} from "../client/index.js";
import { MIB } from "./memory-probe.js";

const TICK_MS = 5;

/**
 * The launcher: prints "ready", waits for the file named by its last argument, then prints `rate` stamped lines
 * a second (in ticks of TICK_MS) for `seconds`, then "printer-done", and idles.
 */
const PRINTER = `
const fs = require("node:fs");
const argv = process.argv;
const [go, rate, seconds, width] = argv.slice(argv.indexOf("--") + 1);
process.stdout.write("ready\\n");
const perTick = Math.max(1, Math.round((Number(rate) * ${TICK_MS}) / 1000));
const ticks = Math.round((Number(seconds) * 1000) / ${TICK_MS});
let n = 0;
const line = (i) => {
  const head = "L " + i + " " + process.hrtime.bigint() + " ";
  return head + "-".repeat(Math.max(0, Number(width) - head.length - 1)) + "\\n";
};
const start = () => {
  const t0 = performance.now();
  let tick = 0;
  const step = () => {
    // Catch up after a late timer, so the rate holds on a busy machine.
    while (tick < ticks && performance.now() - t0 >= tick * ${TICK_MS}) {
      let text = "";
      for (let i = 0; i < perTick; i++) text += line(++n);
      process.stdout.write(text);
      tick++;
    }
    if (tick < ticks) setTimeout(step, 1);
    else { process.stdout.write("printer-done " + n + "\\n"); setInterval(() => {}, 1 << 30); }
  };
  step();
};
const wait = () => (fs.existsSync(go) ? start() : setTimeout(wait, 2));
wait();
`;

/**
 * Per-line latency (ms) from the stamp in each "L <n> <hrtime>" line to the moment its newline arrives. Kept in a
 * typed array (off the JS heap, grown by doubling): readers holding millions of samples in plain arrays spent
 * tens of milliseconds in their own garbage collections, and that showed up as the daemon's latency.
 */
export class LatencyMeter {
  private values = new Float64Array(1 << 16);
  /** Lines measured. */
  count = 0;
  private partial = "";

  feed(data: Uint8Array): void {
    // Nanoseconds as doubles: exact to a few ns even after years of uptime, and no BigInt per line.
    const now = Number(process.hrtime.bigint());
    const text = this.partial + Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("latin1");
    let start = 0;
    for (;;) {
      const end = text.indexOf("\n", start);
      if (end < 0) break;
      if (text.startsWith("L ", start)) {
        const from = text.indexOf(" ", start + 2) + 1;
        const to = text.indexOf(" ", from);
        if (from > 0 && to > from && to < end) this.push((now - Number(text.slice(from, to))) / 1e6);
      }
      start = end + 1;
    }
    this.partial = text.slice(start);
  }

  /** The latencies measured so far, ascending. */
  sorted(): Float64Array {
    return this.values.slice(0, this.count).sort();
  }

  private push(ms: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = ms;
  }
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

/** A raw fs.watch reader of the log file: the floor every TailLogs latency is compared with. */
export async function rawFileReader(path: string, meter: LatencyMeter, signal: AbortSignal): Promise<void> {
  const handle = await open(path, "r");
  let offset = statSync(path).size;
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  let reading = false;
  const read = async () => {
    if (reading) return;
    reading = true;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) break;
      meter.feed(buffer.subarray(0, bytesRead));
      offset += bytesRead;
    }
    reading = false;
  };
  const watcher = watch(path, () => void read());
  await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  watcher.close();
  await handle.close();
}

export interface NonReaderEnd {
  /** The stream's LogEnd, if it sent one before the connection ended. */
  end: { reason: LogEndReason; offset: bigint } | undefined;
  /** Log bytes the stream carried. */
  bytes: number;
  /** How the connection ended when there was no LogEnd (closed by the daemon, an error, the timeout). */
  closed: string | undefined;
}

export interface NonReader {
  response: Promise<IncomingMessage>;
  /** Resumes reading; resolves with how the stream ended. */
  drain(timeoutMs: number): Promise<NonReaderEnd>;
}

export function describeNonReaderEnd(result: NonReaderEnd): string {
  const how =
    result.end === undefined
      ? `no LogEnd, connection ${result.closed ?? "closed"}`
      : `LogEnd ${LogEndReason[result.end.reason]} at offset ${result.end.offset}`;
  return `${how}; ${(result.bytes / MIB).toFixed(1)} MiB of log received`;
}

type TailEvent = TailLogsResponse["event"];

/**
 * Opens TailLogs by hand: the Connect protocol over HTTP/1.1 on the Unix socket, binary as the typed client
 * speaks it, or JSON. Resolves with the response (paused if `paused`) and the request to destroy at the end.
 */
function openRawTail(
  socketPath: string,
  id: string,
  fromOffset: bigint,
  format: "proto" | "json",
  paused: boolean,
): { response: Promise<IncomingMessage>; request: () => ClientRequest | undefined } {
  const body =
    format === "proto"
      ? Buffer.from(toBinary(TailLogsRequestSchema, create(TailLogsRequestSchema, { id, fromOffset })))
      : Buffer.from(JSON.stringify({ id, fromOffset: String(fromOffset) }));
  const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
  envelope.writeUInt32BE(body.length, 1);
  let request: ClientRequest | undefined;
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request = httpRequest(
      {
        socketPath,
        method: "POST",
        path: "/claude_sandbox.v1.SandboxService/TailLogs",
        headers: { "content-type": `application/connect+${format}` },
      },
      (res) => {
        if (paused) res.pause();
        resolve(res);
      },
    );
    request.on("error", reject);
    request.end(envelope);
  });
  return { response, request: () => request };
}

/** The events of a raw TailLogs response, from its Connect envelopes (the end-of-stream trailer skipped). */
async function* rawTailEvents(res: IncomingMessage, format: "proto" | "json"): AsyncGenerator<TailEvent> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of res as AsyncIterable<Buffer>) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const flags = pending[0] ?? 0;
      const message = pending.subarray(5, 5 + pending.readUInt32BE(1));
      pending = pending.subarray(5 + message.length);
      if ((flags & 0x02) !== 0) continue;
      yield (
        format === "proto"
          ? fromBinary(TailLogsResponseSchema, message)
          : fromJson(TailLogsResponseSchema, JSON.parse(message.toString()))
      ).event;
    }
  }
}

/**
 * A TailLogs reader as light as a client can be (raw HTTP/1.1, envelopes parsed by hand), for benchmarks whose
 * readers share the daemon's cores: the typed client's own per-message work would otherwise be measured as the
 * daemon's latency. Calls `onChunk` with each chunk's bytes and `onFirst` at the first message; ends on abort.
 */
export async function rawReader(
  socketPath: string,
  id: string,
  fromOffset: bigint,
  signal: AbortSignal,
  onChunk: (data: Uint8Array) => void,
  onFirst: () => void,
): Promise<void> {
  const { response, request } = openRawTail(socketPath, id, fromOffset, "proto", false);
  const res = await response;
  const abort = () => res.destroy();
  signal.addEventListener("abort", abort, { once: true });
  let first = true;
  try {
    for await (const event of rawTailEvents(res, "proto")) {
      if (first) {
        first = false;
        onFirst();
      }
      if (event.case === "chunk") onChunk(event.value.data);
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    signal.removeEventListener("abort", abort);
    request()?.destroy();
  }
}

/** A TailLogs client whose response is paused on arrival, so its socket stops being read. */
export function nonReader(
  socketPath: string,
  id: string,
  fromOffset: bigint,
  format: "proto" | "json" = "proto",
): NonReader {
  const { response, request } = openRawTail(socketPath, id, fromOffset, format, true);
  return {
    response,
    async drain(timeoutMs) {
      const res = await response;
      const result: NonReaderEnd = { end: undefined, bytes: 0, closed: undefined };
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        res.destroy();
      }, timeoutMs);
      try {
        for await (const event of rawTailEvents(res, format)) {
          if (event.case === "chunk") result.bytes += event.value.data.length;
          if (event.case === "end") result.end = { reason: event.value.reason, offset: event.value.offset };
        }
        if (!res.complete) result.closed = "closed by the daemon";
      } catch (error) {
        // The daemon destroying the connection while unread data was still queued reaches Node's client as
        // "aborted" (or a reset) rather than as a plain end: it is the same cut.
        const code = (error as NodeJS.ErrnoException | undefined)?.code;
        const message = error instanceof Error ? error.message : String(error);
        result.closed =
          message === "aborted" || code === "ECONNRESET" ? "closed by the daemon" : `ended (${message})`;
      } finally {
        clearTimeout(timer);
        request()?.destroy();
      }
      if (timedOut) result.closed = `still open after ${timeoutMs} ms`;
      return result;
    },
  };
}

/**
 * Writes the printer as an executable launcher at `path`. A sandbox created with agent args
 * [go, lines_per_s, seconds, line_bytes] prints "ready", waits for the file `go`, then prints the lines.
 */
export function writePrinterLauncher(path: string): void {
  writeFileSync(path, `#!${process.execPath}\n${PRINTER}`);
  chmodSync(path, 0o755);
}
