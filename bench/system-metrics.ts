// What GetSystemMetrics costs on the request path, against GetSandbox (a read of one record and four cgroup
// files) in the same run, over the same Unix socket connection to the real daemon, calls alternating so both
// see the same machine. Then what the background sampling costs the daemon: its CPU time over an idle window,
// per sample (one every 2 s), with `sandboxes` running sandboxes to sample. Last, in this process, the CPU of one
// sample with 20 sandboxes measured without cgroups (their process trees, from one scan of /proc) against one
// sample with none.
// Run: npm run build && node dist/bench/system-metrics.js [calls=2000] [sandboxes=3] [idle_seconds=10]
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSandboxClient } from "../client/index.js";
import { Backend } from "../gen/claude_sandbox/v1/sandbox_service_pb.js";
import { createSystemSampler } from "../server/metrics/system-sampler.js";
import type { SandboxUsageSource } from "../server/sandbox/types.js";
import { handleOf, type ProcessHandle } from "../server/tools/process-identity.js";

const CALLS = Number(process.argv[2] ?? 2000);
const SANDBOXES = Number(process.argv[3] ?? 3);
const IDLE_SECONDS = Number(process.argv[4] ?? 10);
const WARMUP = 100;
const root = fileURLToPath(new URL("../../", import.meta.url));
const PATH = [
  join(root, "test/fixtures/bin-load"),
  join(root, "test/fixtures/bin-api"),
  process.env.PATH,
].join(":");

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

/** utime + stime of a process, in ms (USER_HZ = 100). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "csm-bench-sysm-"));
  const stateDir = join(work, "state");
  const project = join(work, "project");
  mkdirSync(project);
  const socketPath = join(work, "api.sock");
  let daemon: ChildProcess | undefined;
  try {
    daemon = spawn(process.execPath, [join(root, "dist/server/main.js")], {
      env: {
        ...process.env,
        PATH,
        MANAGER_STATE_DIR: stateDir,
        MANAGER_LISTEN: `unix:${socketPath}`,
        MANAGER_DISPLAY_BASE: "7700",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    daemon.stderr?.setEncoding("utf8");
    daemon.stderr?.on("data", (c: string) => {
      err += c;
    });
    while (!err.includes("listening on ")) {
      if (daemon.exitCode !== null) throw new Error(`daemon exited: ${err}`);
      await Promise.race([once(daemon.stderr ?? daemon, "data"), once(daemon, "exit")]);
    }
    const client = createSandboxClient({ socketPath });
    const ids: string[] = [];
    for (let i = 0; i < SANDBOXES; i++) {
      const { sandbox } = await client.createSandbox({
        name: `bench ${i}`,
        backend: Backend.BUBBLEWRAP,
        projectDir: project,
      });
      ids.push(sandbox?.id ?? "");
    }
    const id = ids[0] ?? "";

    const system: number[] = [];
    const get: number[] = [];
    for (let i = 0; i < WARMUP; i++) {
      await client.getSystemMetrics({});
      if (id !== "") await client.getSandbox({ id });
    }
    for (let i = 0; i < CALLS; i++) {
      let start = process.hrtime.bigint();
      await client.getSystemMetrics({});
      system.push(Number(process.hrtime.bigint() - start) / 1e6);
      if (id === "") continue;
      start = process.hrtime.bigint();
      await client.getSandbox({ id });
      get.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    const m = await client.getSystemMetrics({});
    console.log(
      `GetSystemMetrics vs GetSandbox, ${CALLS} calls each, alternating, one Unix socket connection`,
    );
    const row = (name: string, s: number[]) =>
      console.log(
        `  ${name.padEnd(34)} p50 ${percentile(s, 0.5).toFixed(3)} ms  p99 ${percentile(s, 0.99).toFixed(3)} ms`,
      );
    if (get.length > 0) row("GetSandbox (baseline)", get);
    row(`GetSystemMetrics (${m.sandboxes.length} sandboxes)`, system);
    if (get.length > 0) {
      console.log(
        `  ratio p50 ${(percentile(system, 0.5) / percentile(get, 0.5)).toFixed(2)}×  p99 ${(percentile(system, 0.99) / percentile(get, 0.99)).toFixed(2)}×`,
      );
    }

    const pid = daemon.pid ?? 0;
    const before = cpuMs(pid);
    await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
    const spent = cpuMs(pid) - before;
    console.log(
      `Daemon CPU with nobody asking (so nothing sampled), ${SANDBOXES} sandboxes: ${spent} ms over ${IDLE_SECONDS} s ` +
        `(${((spent / (IDLE_SECONDS * 1000)) * 100).toFixed(2)} % of a core: liveness polling only; 10 ms resolution)`,
    );
    console.log(
      `Last sample: cpu ${m.cpuUsage.toFixed(1)} % of ${m.cpuCount} cores, load ${m.loadAverage.map((l) => l.toFixed(2)).join(" ")}, ` +
        `memory ${(Number(m.memoryUsed) / 2 ** 30).toFixed(1)}/${(Number(m.memoryTotal) / 2 ** 30).toFixed(1)} GiB, ` +
        `disk ${(Number(m.diskUsed) / 2 ** 30).toFixed(0)}/${(Number(m.diskTotal) / 2 ** 30).toFixed(0)} GiB, ` +
        `net rx ${m.netRxBytes} tx ${m.netTxBytes} B; sandboxes: ${m.sandboxes
          .map(
            (s) =>
              `${s.id.slice(0, 8)} ${s.cpuPercent?.toFixed(1) ?? "-"} % ${(Number(s.memoryBytes ?? 0n) / 2 ** 20).toFixed(1)} MiB`,
          )
          .join(", ")}`,
    );
    for (const sandboxId of ids) await client.deleteSandbox({ id: sandboxId });
  } finally {
    daemon?.kill("SIGTERM");
    if (daemon !== undefined && daemon.exitCode === null) await once(daemon, "exit");
    try {
      execFileSync("tmux", ["-S", join(stateDir, "tmux.sock"), "kill-server"], { stdio: "ignore" });
    } catch {}
    rmSync(work, { recursive: true, force: true });
  }
}

/** CPU ms of this process for one sample, median of `rounds`, with the sandboxes `sources` gives. */
async function sampleCost(sources: SandboxUsageSource[], rounds: number): Promise<number> {
  const costs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = process.cpuUsage();
    // A sampler's creation takes its first sample; its timer never fires (closed at once).
    const sampler = await createSystemSampler({
      stateDir: tmpdir(),
      sandboxes: () => sources,
      intervalMs: 60_000,
    });
    const spent = process.cpuUsage(start);
    sampler.close();
    costs.push((spent.user + spent.system) / 1000);
  }
  return percentile(costs, 0.5);
}

async function fallbackCost(): Promise<void> {
  const panes: ChildProcess[] = [];
  try {
    const sources: SandboxUsageSource[] = [];
    for (let i = 0; i < 20; i++) {
      // A launcher-like tree: a shell with three sleeping children.
      const pane = spawn("bash", ["-c", "sleep 600 & sleep 600 & sleep 600 & wait"], {
        stdio: "ignore",
        detached: true,
      });
      panes.push(pane);
      let handle: ProcessHandle | null = null;
      while (handle === null) handle = await handleOf(pane.pid ?? 0);
      sources.push({ id: `s${i}`, cgroupDir: null, usageCgroups: undefined, pane: handle });
    }
    const none = await sampleCost([], 15);
    const twenty = await sampleCost(sources, 15);
    console.log(
      `One sample in-process: no sandboxes ${none.toFixed(2)} ms CPU (baseline); 20 sandboxes without cgroups ` +
        `(80 processes) ${twenty.toFixed(2)} ms CPU, ${(twenty / none).toFixed(1)}×; every 2 s that is ` +
        `${((twenty / 2000) * 100).toFixed(2)} % of a core`,
    );
  } finally {
    for (const pane of panes) {
      try {
        process.kill(-(pane.pid ?? 0), "SIGKILL");
      } catch {}
    }
  }
}

await main();
await fallbackCost();
