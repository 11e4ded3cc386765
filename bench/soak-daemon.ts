// A real manager daemon (`node dist/server/main.js`) for the soak benchmarks: Unix socket in a fresh state
// directory, fixture launchers first on PATH, the memory probe preloaded, its own X display range.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createSandboxClient, type SandboxClient } from "../client/index.js";
import { type MemoryAfterGc, memoryAfterGc, memoryProbeEnv } from "./memory-probe.js";
import { repoRoot } from "./repo-root.js";
import { type CensusScope, pidsNaming } from "./resource-census.js";

export interface SoakDaemon {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly stateDir: string;
  readonly projectDir: string;
  readonly socketPath: string;
  readonly client: SandboxClient;
  readonly scope: CensusScope;
  stderr(): string;
  memoryAfterGc(timeoutMs?: number): Promise<MemoryAfterGc>;
  /** SIGTERM, then removes the tmux server, every process naming the state dir, and the directory. */
  stop(): Promise<void>;
}

export interface SoakDaemonOptions {
  /**
   * First X display number. The daemon takes the lowest free numbers from there; the census counts the 100 from
   * there, so the benchmarks (5000, 6000, 7000) and tests (5500, 6500, 7500) do not count each other's.
   */
  displayBase: number;
  /** A launcher for the bubblewrap backend; default the API fixture (test/fixtures/bin-api/claude-sandbox). */
  launcher?: string;
}

const READY_TIMEOUT_MS = 20_000;

export async function startSoakDaemon(options: SoakDaemonOptions): Promise<SoakDaemon> {
  const root = repoRoot();
  const stateDir = mkdtempSync(join(tmpdir(), "soak-"));
  // A project may not lie inside the state directory (its tmux socket controls every sandbox).
  const projectDir = mkdtempSync(join(tmpdir(), "soak-project-"));
  const socketPath = join(stateDir, "api.sock");
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("MANAGER_")) env[key] = value;
  }
  Object.assign(env, {
    PATH: `${join(root, "test/fixtures/bin-api")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    MANAGER_STATE_DIR: stateDir,
    MANAGER_LISTEN: `unix:${socketPath}`,
    MANAGER_DISPLAY_BASE: String(options.displayBase),
    ...(options.launcher === undefined ? {} : { MANAGER_LAUNCHER_BUBBLEWRAP: options.launcher }),
    ...memoryProbeEnv(),
  });
  // Extra node flags for the daemon alone, e.g. SOAK_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to see
  // where a benchmark's daemon spends its time (flags NODE_OPTIONS does not allow).
  const nodeArgs = (process.env.SOAK_DAEMON_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "");
  // The daemon built next to this file (dist/server/main.js from dist/bench/), so an experimental build in
  // another output directory runs its own daemon.
  const child = spawn(
    process.execPath,
    [...nodeArgs, fileURLToPath(new URL("../server/main.js", import.meta.url))],
    {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (!stderr.includes("listening on ")) {
    if (child.exitCode !== null) throw new Error(`the daemon exited before listening:\n${stderr}`);
    if (performance.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the daemon did not listen within ${READY_TIMEOUT_MS} ms:\n${stderr}`);
    }
    await Promise.race([once(child.stderr ?? child, "data"), once(child, "exit")]);
  }
  const pid = child.pid ?? 0;
  const client = createSandboxClient({ socketPath });
  await client.listSandboxes({});
  return {
    child,
    pid,
    stateDir,
    projectDir,
    socketPath,
    client,
    scope: { pid, stateDir, displays: [options.displayBase, options.displayBase + 99] },
    stderr: () => stderr,
    memoryAfterGc: (timeoutMs?: number) => memoryAfterGc(pid, () => stderr, timeoutMs),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
      await promisify(execFile)("tmux", ["-S", join(stateDir, "tmux.sock"), "kill-server"]).catch(() => {});
      // Sandboxes outlive their manager by design; a run that failed half-way may have left some.
      for (const stray of pidsNaming(stateDir)) {
        try {
          process.kill(stray, "SIGKILL");
        } catch {
          // gone already
        }
      }
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(projectDir, { recursive: true, force: true });
    },
  };
}

/** Prints the machine's load, for figures quoted from a shared machine. */
export async function loadLine(): Promise<string> {
  const { stdout } = await promisify(execFile)("uptime");
  return stdout.trim();
}
