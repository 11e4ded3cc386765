// The manager's scans of /proc (a teardown looks for the sandbox's processes by tree and by environment, several
// times per delete) hold little memory at once however many processes the host runs. Reading every process's
// files at once with fs.readFile took 64 KiB per file (a /proc file's size is unknown until read): tens of MiB
// per scan, and over many create/delete cycles the daemon's RSS crept up (bench/soak-cycles.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIB } from "../../bench/memory-probe.js";
import { processesWithEnvironment, processTree } from "../../server/tools/process-identity.js";

const EXTRA_PROCESSES = 200;
const MARK = `SOAK_PROC_SCAN=${process.pid}`;
const children: ChildProcess[] = [];

beforeAll(() => {
  for (let i = 0; i < EXTRA_PROCESSES; i++) {
    children.push(
      spawn("sleep", ["120"], {
        stdio: "ignore",
        env: { ...process.env, SOAK_PROC_SCAN: String(process.pid) },
      }),
    );
  }
});

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
});

/** The most buffer memory (ArrayBuffers, where file reads land) alive at any turn of the event loop during `fn`. */
async function peakBuffersDuring<T>(fn: () => Promise<T>): Promise<{ result: T; peak: number }> {
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  let running = true;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    if (running) setImmediate(sample);
  };
  sample();
  try {
    return { result: await fn(), peak };
  } finally {
    running = false;
  }
}

describe("/proc scans", () => {
  it(`hold under 2 MiB of buffers at once with ${EXTRA_PROCESSES} more processes on the host`, async () => {
    const byEnvironment = await peakBuffersDuring(() => processesWithEnvironment(MARK));
    // Same results as ever: exactly the processes carrying the entry.
    expect(byEnvironment.result.map((p) => p.pid).sort()).toEqual(children.map((c) => c.pid).sort());
    expect(byEnvironment.peak / MIB).toBeLessThan(2);

    const tree = await peakBuffersDuring(() => processTree(process.pid));
    expect(tree.result.map((p) => p.pid)).toEqual(expect.arrayContaining(children.map((c) => c.pid)));
    expect(tree.peak / MIB).toBeLessThan(2);
  });
});
