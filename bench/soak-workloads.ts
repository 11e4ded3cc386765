// The workloads of the soak benchmarks, shared with their shorter versions in test/integration/daemon-soak*:
// a create/delete cycle, a set of idle sandboxes, and the CPU a process uses over a window.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Backend, type SandboxClient } from "../client/index.js";
import { cpuSeconds } from "./resource-census.js";

/** The line the API fixture launcher (test/fixtures/bin-api/claude-sandbox) prints once it runs. */
const LAUNCHER_RAN = "fixture-launcher DISPLAY=";

async function waitForLauncher(client: SandboxClient, id: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!Buffer.from((await client.getLogs({ id })).data).includes(LAUNCHER_RAN)) {
    if (performance.now() > deadline)
      throw new Error(`sandbox ${id}: the launcher printed nothing in ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** One create → launcher's first line in the log → delete; resolves with its duration in ms. */
export async function createDeleteCycle(
  client: SandboxClient,
  projectDir: string,
  name: string,
): Promise<number> {
  const t0 = performance.now();
  const { sandbox } = await client.createSandbox({ name, backend: Backend.BUBBLEWRAP, projectDir });
  const id = sandbox?.id ?? "";
  await waitForLauncher(client, id);
  await client.deleteSandbox({ id });
  return performance.now() - t0;
}

/** Creates `count` sandboxes and waits until each launcher printed its first lines. */
export async function createIdleSandboxes(
  client: SandboxClient,
  projectDir: string,
  count: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { sandbox } = await client.createSandbox({
      name: `idle-${i}`,
      backend: Backend.BUBBLEWRAP,
      projectDir,
    });
    ids.push(sandbox?.id ?? "");
  }
  for (const id of ids) await waitForLauncher(client, id);
  return ids;
}

/** Voluntary + involuntary context switches of a process: each is a wake-up or a preemption. */
export function contextSwitches(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "latin1");
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return field("voluntary_ctxt_switches") + field("nonvoluntary_ctxt_switches");
}

export interface IdleFigures {
  cpuSeconds: number;
  percentOfCore: number;
  switchesPerSecond: number;
}

/** CPU (utime + stime) and context switches of `pid` over `ms` of wall time. */
export async function measureIdle(pid: number, ms: number): Promise<IdleFigures> {
  const cpu0 = cpuSeconds(pid);
  const sw0 = contextSwitches(pid);
  const t0 = performance.now();
  await sleep(ms);
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  return {
    cpuSeconds: cpu,
    percentOfCore: (cpu / wall) * 100,
    switchesPerSecond: (contextSwitches(pid) - sw0) / wall,
  };
}
