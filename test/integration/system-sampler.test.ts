// The system sampler on its own against real processes: a sandbox without a cgroup is measured over its
// processes (/proc/<pid>/stat), and closing leaves no timer behind.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createSystemSampler, type SystemSampler } from "../../server/metrics/system-sampler.js";
import { handleOf, type ProcessHandle } from "../../server/tools/process-identity.js";
import { waitUntil } from "../helpers/wait.js";

const MiB = 1024 * 1024;
const children: ChildProcess[] = [];
const samplers: SystemSampler[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const sampler of samplers.splice(0)) sampler.close();
  for (const child of children.splice(0)) child.kill("SIGKILL");
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function start(script: string): ChildProcess {
  const child = spawn(process.execPath, ["-e", script], { stdio: "ignore" });
  children.push(child);
  return child;
}

describe("the system sampler", () => {
  it("sums a cgroup-less sandbox's processes: the CPU of a busy one, the RSS of all", async () => {
    const busy = start("for (;;) {}");
    const holder = start(`const b = Buffer.alloc(${64 * MiB}, 1); setInterval(() => b[0]++, 1000);`);
    const handles = await waitUntil("both children in /proc", async () => {
      const found = await Promise.all([handleOf(busy.pid ?? 0), handleOf(holder.pid ?? 0)]);
      return found.every((h) => h !== null) ? (found as ProcessHandle[]) : null;
    });
    const stateDir = await mkdtemp(join(tmpdir(), "csm-sampler-"));
    dirs.push(stateDir);
    const sampler = await createSystemSampler({
      stateDir,
      intervalMs: 500,
      sandboxes: () => [
        { id: "s1", cgroupDir: null, usageCgroups: undefined, processes: async () => handles },
      ],
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
    await waitUntil("a few samples", () => asked >= 3, 5000);
    sampler.close();
    const at = asked;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(asked).toBe(at);
  });
});
