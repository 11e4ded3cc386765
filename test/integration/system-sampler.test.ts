// The system sampler on its own against real processes: a sandbox without a cgroup is measured over its
// process tree (/proc/<pid>/stat), and closing leaves no timer behind.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createSystemSampler, type SystemSampler } from "../../server/metrics/system-sampler.js";
import { handleOf } from "../../server/tools/process-identity.js";
import { waitUntil } from "../helpers/wait.js";

const MiB = 1024 * 1024;
const children: ChildProcess[] = [];
const samplers: SystemSampler[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const sampler of samplers.splice(0)) sampler.close();
  // The whole group: the pane's children too.
  for (const child of children.splice(0)) {
    try {
      process.kill(-(child.pid ?? 0), "SIGKILL");
    } catch {}
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe("the system sampler", () => {
  it("sums a cgroup-less sandbox's process tree: the CPU of a busy child, the RSS of all", async () => {
    // A pane-like parent whose children do the work, as a launcher's would.
    const node = JSON.stringify(process.execPath);
    const pane = spawn(
      "bash",
      [
        "-c",
        `${node} -e 'for (;;) {}' & ${node} -e 'const b = Buffer.alloc(${64 * MiB}, 1); setInterval(() => b[0]++, 1000);' & wait`,
      ],
      { stdio: "ignore", detached: true },
    );
    children.push(pane);
    const handle = await waitUntil("the pane in /proc", () => handleOf(pane.pid ?? 0));
    const stateDir = await mkdtemp(join(tmpdir(), "csm-sampler-"));
    dirs.push(stateDir);
    const sampler = await createSystemSampler({
      stateDir,
      intervalMs: 500,
      sandboxes: () => [{ id: "s1", cgroupDir: null, usageCgroups: undefined, pane: handle }],
    });
    samplers.push(sampler);
    expect(sampler.latest().sandboxes).toEqual([
      { id: "s1", cpuPercent: null, memoryBytes: expect.any(Number) },
    ]);
    const entry = await waitUntil(
      "a figure for the busy child and the 64 MiB holder",
      () => {
        const e = sampler.latest().sandboxes[0];
        return e !== undefined && (e.cpuPercent ?? 0) > 60 && (e.memoryBytes ?? 0) > 64 * MiB ? e : null;
      },
      10_000,
      100,
    );
    expect(entry.cpuPercent).toBeLessThan(120);
  });

  it("stops sampling when closed", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "csm-sampler-"));
    dirs.push(stateDir);
    let asked = 0;
    const sampler = await createSystemSampler({
      stateDir,
      intervalMs: 50,
      sandboxes: () => {
        asked++;
        return [];
      },
    });
    sampler.latest();
    await waitUntil("a few samples", () => asked >= 3, 5000);
    sampler.close();
    const at = asked;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(asked).toBe(at);
  });

  it("samples only while someone asks, and answers a fresh sample after a quiet spell", async () => {
    const stateDir = await mkdtemp(join(tmpdir(), "csm-sampler-"));
    dirs.push(stateDir);
    let samples = 0;
    const sampler = await createSystemSampler({
      stateDir,
      intervalMs: 50,
      watchedMs: 200,
      sandboxes: () => {
        samples++;
        return [];
      },
    });
    samplers.push(sampler);
    // Nobody has asked yet: the first sample is the only one.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(samples).toBe(1);
    sampler.latest();
    await waitUntil("samples while watched", () => samples >= 3, 5000);
    // Nobody asks: sampling stops once the watch runs out.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const quiet = samples;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(samples).toBe(quiet);
    // The next request gets a new sample, not the one from before the quiet spell, and sampling resumes.
    const before = sampler.latest().sampledAt.getTime();
    const fresh = await sampler.current();
    expect(fresh.sampledAt.getTime()).toBeGreaterThan(before);
    expect(Date.now() - fresh.sampledAt.getTime()).toBeLessThan(100);
    await waitUntil("sampling again", () => samples >= quiet + 3, 5000);
  });
});
