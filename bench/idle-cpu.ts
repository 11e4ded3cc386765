// Idle cost of the manager: a real daemon with N running sandboxes (fixture launcher waiting on its pane's
// input, real Xvfb + tmux) and no client doing anything. Measures the daemon's utime + stime from
// /proc/<pid>/stat over a window, and its context switches (wake-ups), against an idle node process measured
// over the same window (the floor of a node process that does nothing). Goal: <= 1 % of one core.
//
//   npm run build && node dist/bench/idle-cpu.js [sandboxes=20] [seconds=60] [display_base=6000]
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { takeCensus } from "./resource-census.js";
import { loadLine, startSoakDaemon } from "./soak-daemon.js";
import { createIdleSandboxes, type IdleFigures, measureIdle } from "./soak-workloads.js";

const SANDBOXES = Number(process.argv[2] ?? 20);
const SECONDS = Number(process.argv[3] ?? 60);
const DISPLAY_BASE = Number(process.argv[4] ?? 6000);
const GOAL_PERCENT = 1;
// After the creates, the daemon finishes work they started (spare files, the first poll of each sandbox).
const SETTLE_MS = 5000;

async function main(): Promise<void> {
  const loadStart = await loadLine();
  const daemon = await startSoakDaemon({ displayBase: DISPLAY_BASE });
  const idleNode = spawn(process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"], { stdio: "ignore" });
  try {
    const ids = await createIdleSandboxes(daemon.client, daemon.projectDir, SANDBOXES);
    await sleep(SETTLE_MS);
    const census = takeCensus(daemon.scope);
    const [manager, floor] = await Promise.all([
      measureIdle(daemon.pid, SECONDS * 1000),
      measureIdle(idleNode.pid ?? 0, SECONDS * 1000),
    ]);
    const loadEnd = await loadLine();
    const row = (name: string, f: IdleFigures) =>
      `${name.padEnd(40)} ${f.cpuSeconds.toFixed(2).padStart(8)} s ${f.percentOfCore.toFixed(2).padStart(8)} % ` +
      `${f.switchesPerSecond.toFixed(1).padStart(10)}/s`;
    console.log(`Idle manager: ${ids.length} running sandboxes, no clients, measured over ${SECONDS} s`);
    console.log(`load at start: ${loadStart}`);
    console.log(`load at end:   ${loadEnd}`);
    console.log(
      `manager: ${census.fds.length} open fds, RSS ${(census.rssKiB / 1024).toFixed(1)} MiB, ` +
        `${census.tree.length} processes in its tree, ${census.referring.length} other processes naming its state dir`,
    );
    console.log(
      `${"process".padEnd(40)} ${"CPU".padStart(10)} ${"of 1 core".padStart(10)} ${"ctx sw".padStart(12)}`,
    );
    console.log(row("idle node process (floor)", floor));
    console.log(row(`manager daemon, ${ids.length} idle sandboxes`, manager));
    const verdict = manager.percentOfCore <= GOAL_PERCENT ? "PASS" : "MISS";
    console.log(
      `${verdict}: the idle manager used ${manager.percentOfCore.toFixed(2)} % of one core (goal <= ${GOAL_PERCENT} %)`,
    );
    for (const id of ids) await daemon.client.deleteSandbox({ id });
  } finally {
    idleNode.kill();
    await daemon.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
