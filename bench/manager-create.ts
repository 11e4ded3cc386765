// Create→running latency of the sandbox manager, against the bare parts measured in the same run:
//   xvfb   — a bare `Xvfb -displayfd` start until it reports ready
//   chain  — `tmux new-session` (warm private server) running `bwrap … /bin/sh` until the shell signals a FIFO
//   create — manager.create() with the fixture launcher, until it resolves, and until the launcher's first line
//            is in the sandbox log
// Prints median / p90 of each and the ratio of create to (xvfb + chain). Goal: ≤ 1.2×.
// Run: npm run build && node dist/bench/manager-create.js [runs]
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createSandboxManager } from "../server/sandbox/manager.js";
import { BARE_BWRAP } from "./bare-bwrap.js";

const RUNS = Number(process.argv[2] ?? 20);
const WARMUP = 3;
const SCREEN = "1920x1080x24";
const fixtureBin = fileURLToPath(new URL("../../test/fixtures/bin", import.meta.url));
const now = () => performance.now();

async function xvfbReady(): Promise<number> {
  const t0 = now();
  const child: ChildProcess = spawn(
    "Xvfb",
    ["-displayfd", "3", "-nolisten", "tcp", "-noreset", "-auth", "/dev/null", "-screen", "0", SCREEN],
    { stdio: ["ignore", "ignore", "ignore", "pipe"] },
  );
  await once(child.stdio[3] as NodeJS.ReadableStream, "data");
  const elapsed = now() - t0;
  child.kill("SIGTERM");
  await once(child, "exit");
  return elapsed;
}

async function chainReady(dir: string, socket: string, i: number): Promise<number> {
  const fifo = join(dir, `ready-${i}`);
  execFileSync("mkfifo", [fifo]);
  const t0 = now();
  const reader = open(fifo, "r"); // completes when the writer inside the sandbox opens the FIFO
  const tmux = spawn("tmux", [
    "-S",
    socket,
    "new-session",
    "-d",
    "-s",
    `chain-${i}`,
    "--",
    ...BARE_BWRAP,
    "--bind",
    dir,
    "/r",
    "/bin/sh",
    "-c",
    `echo up > /r/ready-${i}; exec sleep 1000`,
  ]);
  const exited = once(tmux, "exit"); // the client exits quickly: listen before awaiting anything
  const handle = await reader;
  await handle.read(Buffer.alloc(8), 0, 8, null);
  const elapsed = now() - t0;
  await handle.close();
  await exited;
  execFileSync("tmux", ["-S", socket, "kill-session", "-t", `=chain-${i}`]);
  rmSync(fifo);
  return elapsed;
}

function stats(values: number[]): { median: number; p90: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { median: at(0.5), p90: at(0.9) };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "mcb-"));
  const project = join(root, "project");
  const chainDir = join(root, "chain");
  mkdirSync(project);
  mkdirSync(chainDir);
  const chainSocket = join(root, "chain.sock");
  // Keep the baseline's tmux server warm, as the manager's is after its first sandbox.
  execFileSync("tmux", [
    "-S",
    chainSocket,
    "-f",
    "/dev/null",
    "new-session",
    "-d",
    "-s",
    "keep",
    "sleep",
    "100000",
  ]);
  const manager = await createSandboxManager({
    stateDir: join(root, "state"),
    launchers: {
      bubblewrap: "claude-sandbox",
      container: "claude-sandbox-container",
      vm: "claude-sandbox-vm",
    },
    screen: SCREEN,
    displayBase: 50,
    path: `${fixtureBin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
  });
  const keep = await manager.create({ name: "keep-warm", backend: "bubblewrap", projectDir: project });
  const results = {
    xvfb: [] as number[],
    chain: [] as number[],
    resolved: [] as number[],
    firstLine: [] as number[],
  };
  // Interrupted (Ctrl-C, timeout, a closed pipe): still end every sandbox and tmux server this run started.
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
  };
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  process.stdout.on("error", interrupt);
  try {
    for (let i = 0; i < WARMUP + RUNS && !interrupted; i++) {
      const xvfb = await xvfbReady();
      const chain = await chainReady(chainDir, chainSocket, i);
      const t0 = now();
      const record = await manager.create({ name: `bench-${i}`, backend: "bubblewrap", projectDir: project });
      const resolved = now() - t0;
      const log = manager.logPath(record.id);
      while (!readFileSync(log, "utf8").includes("fixture-launcher")) await sleep(0.5);
      const firstLine = now() - t0;
      await manager.delete(record.id);
      if (i < WARMUP) continue;
      results.xvfb.push(xvfb);
      results.chain.push(chain);
      results.resolved.push(resolved);
      results.firstLine.push(firstLine);
    }
  } finally {
    await manager.delete(keep.id).catch(() => {});
    await manager.close();
    execFileSync("tmux", ["-S", chainSocket, "kill-server"]);
    rmSync(root, { recursive: true, force: true });
  }
  if (interrupted) process.exit(130);
  const s = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, stats(v)])) as Record<
    keyof typeof results,
    { median: number; p90: number }
  >;
  const floor = s.xvfb.median + s.chain.median;
  const row = (label: string, v: { median: number; p90: number }) =>
    `${label.padEnd(44)} median ${v.median.toFixed(1).padStart(6)} ms   p90 ${v.p90.toFixed(1).padStart(6)} ms`;
  console.log(`manager create→running, ${RUNS} runs after ${WARMUP} warm-ups, screen ${SCREEN}`);
  console.log(row("bare Xvfb -displayfd ready", s.xvfb));
  console.log(row("bare tmux new-session + bwrap chain", s.chain));
  console.log(`${"floor = Xvfb median + chain median".padEnd(44)} ${floor.toFixed(1).padStart(13)} ms`);
  console.log(row("manager.create() resolved (running)", s.resolved));
  console.log(row("launcher's first line in the log", s.firstLine));
  console.log(`ratio create resolved / floor:   ${(s.resolved.median / floor).toFixed(2)}x  (goal <= 1.2x)`);
  console.log(`ratio first log line / floor:    ${(s.firstLine.median / floor).toFixed(2)}x`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
