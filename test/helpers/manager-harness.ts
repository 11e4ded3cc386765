// Shared setup for the manager's integration tests: a private temp root (state dir + project dir), the fixture
// launchers on PATH, and a teardown that removes everything the test may have started, even after a failure.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, realpath } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { createSandboxManager } from "../../server/sandbox/manager.js";
import type { SandboxManager, SandboxManagerOptions } from "../../server/sandbox/sandbox-manager.js";
import { holdsWithin, pidAlive, waitUntil } from "./wait.js";

// The waits live in ./wait.ts; the manager tests' names for them stay importable from here.
export { pidAlive, waitUntil as waitFor } from "./wait.js";

export const FIXTURE_BIN = resolve("test/fixtures/bin");
export const FIXTURE_PATH = `${FIXTURE_BIN}${delimiter}${process.env.PATH ?? "/usr/bin:/bin"}`;
export const SMALL_SCREEN = "640x480x24";

export interface Harness {
  root: string;
  stateDir: string;
  projectDir: string;
  options(extra?: Partial<SandboxManagerOptions>): SandboxManagerOptions;
  open(extra?: Partial<SandboxManagerOptions>): Promise<SandboxManager>;
  /** Closes every manager opened here, then kills anything that still mentions the temp root. */
  cleanup(): Promise<void>;
}

export async function createHarness(): Promise<Harness> {
  // Short paths: the tmux socket lives in the state dir and sun_path is limited to 108 bytes.
  const root = await realpath(await mkdtemp(join(tmpdir(), "msb-")));
  const stateDir = join(root, "state");
  const projectDir = join(root, "project");
  await mkdir(projectDir);
  const managers: SandboxManager[] = [];
  const options = (extra: Partial<SandboxManagerOptions> = {}): SandboxManagerOptions => ({
    stateDir,
    launchers: {
      bubblewrap: "claude-sandbox",
      container: "claude-sandbox-container",
      vm: "claude-sandbox-vm",
    },
    screen: SMALL_SCREEN,
    displayBase: 50,
    path: FIXTURE_PATH,
    ...extra,
  });
  return {
    root,
    stateDir,
    projectDir,
    options,
    async open(extra) {
      const manager = await createSandboxManager(options(extra));
      managers.push(manager);
      return manager;
    },
    async cleanup() {
      for (const manager of managers) await manager.close().catch(() => {});
      killEverything(root, stateDir);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Processes whose command line or environment mentions `root` (Xvfb's -auth, tmux -S, launchers, their children). */
export function processesMentioning(root: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "latin1");
      let environ = "";
      try {
        environ = readFileSync(`/proc/${name}/environ`, "latin1");
      } catch {
        // another user's process
      }
      if (cmdline.includes(root) || environ.includes(root)) {
        found.push({ pid: Number(name), cmdline: cmdline.replaceAll("\0", " ").trim() });
      }
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** X lock files and sockets of displays whose lock names a process that is one of ours (or dead). */
export function xFilesOf(display: number): string[] {
  return [`/tmp/.X${display}-lock`, `/tmp/.X11-unix/X${display}`].filter((f) => existsSync(f));
}

function killEverything(root: string, stateDir: string): void {
  try {
    execFileSync("tmux", ["-S", join(stateDir, "tmux.sock"), "kill-server"], { stdio: "ignore" });
  } catch {
    // no server
  }
  for (const { pid } of processesMentioning(root)) {
    const display = xvfbDisplay(pid);
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
    if (display !== null) {
      rmSync(`/tmp/.X${display}-lock`, { force: true });
      rmSync(`/tmp/.X11-unix/X${display}`, { force: true });
    }
  }
}

function xvfbDisplay(pid: number): number | null {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
    if (!argv[0]?.endsWith("Xvfb")) return null;
    const display = argv.find((a) => /^:\d+$/.test(a));
    return display === undefined ? null : Number(display.slice(1));
  } catch {
    return null;
  }
}

export async function readLog(path: string): Promise<string> {
  return readFile(path, "utf8").catch(() => "");
}

export function tmuxSessions(stateDir: string): string[] {
  try {
    return execFileSync(
      "tmux",
      ["-S", join(stateDir, "tmux.sock"), "list-sessions", "-F", "#{session_name}"],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      },
    )
      .split("\n")
      .filter((s) => s !== "");
  } catch {
    return [];
  }
}

/**
 * Waits (with a deadline) until no process of a sandbox mentions `root`, then returns what is left (empty on
 * success). The manager's own tmux server is not a sandbox's: it stays up without sessions while the manager
 * runs (see Tmux.startServer) and goes when the manager closes (`tmuxServerPid` is null then). While a session
 * remains on it, it counts as left over like any other process.
 */
export async function leftoverProcesses(
  root: string,
  timeoutMs = 3000,
): Promise<{ pid: number; cmdline: string }[]> {
  const stateDir = join(root, "state");
  const left = (): { pid: number; cmdline: string }[] => {
    const emptyServer = tmuxSessions(stateDir).length === 0 ? tmuxServerPid(stateDir) : null;
    return processesMentioning(root).filter((p) => p.pid !== emptyServer);
  };
  await holdsWithin(() => left().length === 0, timeoutMs, 20);
  return left();
}

/** Pid of the tmux server on the state dir's socket, or null when none answers. */
export function tmuxServerPid(stateDir: string): number | null {
  try {
    const out = execFileSync("tmux", ["-S", join(stateDir, "tmux.sock"), "display-message", "-p", "#{pid}"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return Number(out.trim()) || null;
  } catch {
    return null;
  }
}

/**
 * X files of a display left behind by a dead server: a socket nobody listens on, or a lock naming a dead pid.
 * (Another test on this machine may legitimately take the number right after a sandbox released it.)
 */
export function staleXFiles(display: number): string[] {
  const stale: string[] = [];
  const socket = `/tmp/.X11-unix/X${display}`;
  const listening = readFileSync("/proc/net/unix", "latin1")
    .split("\n")
    .some((line) => line.endsWith(` ${socket}`));
  if (existsSync(socket) && !listening) stale.push(socket);
  const lock = `/tmp/.X${display}-lock`;
  if (existsSync(lock)) {
    const pid = Number(readFileSync(lock, "latin1").trim());
    if (!pidAlive(pid)) stale.push(lock);
  }
  return stale;
}

/**
 * Pid of the launcher in a sandbox's pane. The pane runs a small wrapper (sh) whose only child is the launcher;
 * right after create the wrapper may not have started it yet, so this waits for it.
 */
export async function launcherPid(tmuxSocket: string, session: string): Promise<number> {
  const panePid = execFileSync(
    "tmux",
    ["-S", tmuxSocket, "list-panes", "-t", `=${session}:`, "-F", "#{pane_pid}"],
    {
      encoding: "utf8",
    },
  ).trim();
  return waitUntil(`the launcher under pane ${panePid}`, () => {
    const children = readFileSync(`/proc/${panePid}/task/${panePid}/children`, "latin1").trim().split(" ");
    return children.length === 1 && children[0] !== "" ? Number(children[0]) : undefined;
  });
}
