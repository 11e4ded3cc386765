// Runs the real daemon (`node dist/server/main.js`) as a child process for integration tests, and cleans up
// everything a daemon and its sandboxes leave behind: the tmux server, Xvfb displays and the state directory.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createSandboxClient, type SandboxClient } from "../../client/index.js";
import { removeStaleXFiles, xvfbDisplayOf } from "../../server/tools/xvfb.js";
import { DAEMON_ENTRY, REPO_ROOT } from "./build.js";
import { freePort } from "./free-port.js";
import { managerTmux, paneFormat, paneOf } from "./manager-tmux.js";
import { holdsWithin } from "./wait.js";

// The waits live in ./wait.ts; these names stay importable from here for the daemon tests that use them.
export { pidAlive as processAlive, waitUntil } from "./wait.js";

export const FIXTURE_BIN = join(REPO_ROOT, "test/fixtures/bin-api");

export interface DaemonOptions {
  /** Reuse a state directory (restart tests); default a fresh temp dir. */
  stateDir?: string;
  /**
   * A Unix socket in the state directory named by MANAGER_LISTEN (default), the daemon's own default (no
   * MANAGER_LISTEN at all), or TCP on a free loopback port with a token file in the state directory.
   */
  transport?: "unix" | "default" | "tcp";
  /** Extra environment, or replacements (MANAGER_LISTEN, PATH…). */
  env?: Record<string, string>;
  /** Working directory of the daemon; default the system temp directory. */
  cwd?: string;
  /** Runs the daemon as this account (through setpriv) instead of the test's own. */
  runAs?: { uid: number; gid: number };
}

export interface Daemon {
  readonly child: ChildProcess;
  readonly stateDir: string;
  /** `http://127.0.0.1:PORT` or `unix:/path`. */
  readonly address: string;
  readonly socketPath: string | undefined;
  /** The token a TCP daemon wants (from its MANAGER_TOKEN_FILE); undefined for a Unix socket. */
  readonly token: string | undefined;
  readonly client: SandboxClient;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** Resolves when the process has exited. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ExitedDaemon {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

const READY_TIMEOUT_MS = 20_000;

/** A state directory that cleanupStateDir will tear down; short, so socket paths stay under 108 bytes. */
export async function makeStateDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "csm-"));
}

/** The environment a test daemon runs with: fixture launchers first on PATH, nothing from the test's MANAGER_*. */
export function daemonEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("MANAGER_")) env[key] = value;
  }
  env.PATH = `${FIXTURE_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`;
  return { ...env, ...extra };
}

/**
 * Writes a fresh token into `dir`/token, mode 0600 (owned by `owner` if given), as MANAGER_TOKEN_FILE wants it.
 */
export async function writeTokenFile(
  dir: string,
  owner?: { uid: number; gid: number },
): Promise<{ path: string; token: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, "token");
  const token = randomBytes(32).toString("base64url");
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  if (owner !== undefined) await chown(path, owner.uid, owner.gid);
  return { path, token };
}

/** Spawns the daemon and waits until it accepts RPCs (not a fixed sleep); throws with its stderr if it exits. */
export async function startDaemon(options: DaemonOptions = {}): Promise<Daemon> {
  const stateDir = options.stateDir ?? (await makeStateDir());
  const transport = options.transport ?? "unix";
  const listen: Record<string, string> =
    transport === "unix"
      ? { MANAGER_LISTEN: `unix:${join(stateDir, "api.sock")}` }
      : transport === "tcp"
        ? { MANAGER_LISTEN: `127.0.0.1:${await freePort()}` }
        : {};
  const env = daemonEnv({ MANAGER_STATE_DIR: stateDir, ...listen, ...options.env });
  let token: string | undefined;
  if (env.MANAGER_LISTEN !== undefined && !env.MANAGER_LISTEN.startsWith("unix:")) {
    if (env.MANAGER_TOKEN_FILE === undefined) {
      const written = await writeTokenFile(stateDir, options.runAs);
      env.MANAGER_TOKEN_FILE = written.path;
      token = written.token;
    } else {
      token = (await readFile(env.MANAGER_TOKEN_FILE, "utf8")).trim();
    }
  }
  // setpriv execs node, so the child's pid is the daemon's and signals reach it directly.
  const [file, args] =
    options.runAs === undefined
      ? [process.execPath, [DAEMON_ENTRY]]
      : [
          "setpriv",
          [
            `--reuid=${options.runAs.uid}`,
            `--regid=${options.runAs.gid}`,
            "--init-groups",
            "--",
            process.execPath,
            DAEMON_ENTRY,
          ],
        ];
  const child = spawn(file, args, {
    env,
    cwd: options.cwd ?? tmpdir(),
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (err) => {
      stderr += `spawn failed: ${err.message}\n`;
      resolve({ code: null, signal: null });
    });
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (!stderr.includes("listening on ")) {
    if (gone) throw new Error(`daemon exited before listening:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`daemon did not listen within ${READY_TIMEOUT_MS} ms:\n${stderr}`);
    }
    await Promise.race([exited, new Promise((resolve) => child.stderr?.once("data", resolve))]);
  }
  // The client goes where the daemon says it listens (MANAGER_LISTEN, an override in options.env, or its default).
  const address = /listening on (\S+)/.exec(stderr)?.[1] ?? "";
  const socketPath = address.startsWith("unix:") ? address.slice("unix:".length) : undefined;
  const client =
    socketPath !== undefined
      ? createSandboxClient({ socketPath })
      : createSandboxClient({ baseUrl: address, token });
  const daemon: Daemon = {
    child,
    stateDir,
    address,
    socketPath,
    token,
    client,
    stderr: () => stderr,
    exited: () => exited,
  };
  await client.listSandboxes({});
  return daemon;
}

/** Runs the daemon expecting it to refuse to start; resolves with its exit and stderr. */
export async function runDaemonToExit(
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<ExitedDaemon> {
  try {
    await promisify(execFile)(process.execPath, [DAEMON_ENTRY], { env: daemonEnv(env), timeout: timeoutMs });
    return { code: 0, signal: null, stderr: "" };
  } catch (err) {
    const e = err as { code?: number | string; signal?: NodeJS.Signals | null; stderr?: string };
    return {
      code: typeof e.code === "number" ? e.code : null,
      signal: e.signal ?? null,
      stderr: e.stderr ?? "",
    };
  }
}

/** Stops a daemon: SIGKILL if `signal` is not given, and waits for the exit. */
export async function stopDaemon(daemon: Daemon, signal: NodeJS.Signals = "SIGKILL") {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill(signal);
  return daemon.exited();
}

/**
 * Removes every trace of the daemons that used `stateDir`: their tmux server (which ends the sandboxes' sessions),
 * Xvfb servers started for them, and the directory itself.
 */
export async function cleanupStateDir(stateDir: string): Promise<void> {
  // Tests may nest a daemon's state directory inside another temp directory: end every tmux server found.
  const entries = await readdir(stateDir, { recursive: true }).catch(() => [] as string[]);
  for (const entry of entries.filter((e) => e === "tmux.sock" || e.endsWith("/tmux.sock"))) {
    await promisify(execFile)("tmux", ["-S", join(stateDir, entry), "kill-server"]).catch(() => {});
  }
  const pids = await processesReferring(stateDir);
  // Killed hard, an Xvfb cannot remove its socket: that is done below, or /tmp/.X11-unix fills with stale ones.
  const displays = await Promise.all(pids.map(async (pid) => ({ pid, display: await xvfbDisplayOf(pid) })));
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await holdsWithin(async () => (await processesReferring(stateDir)).length === 0, 5000, 20);
  for (const { pid, display } of displays) if (display !== null) await removeStaleXFiles(display, pid);
  await rm(stateDir, { recursive: true, force: true });
}

/** Processes whose command line names a path inside `dir` (Xvfb's -auth file, pipe-pane writers, launchers). */
export async function processesReferring(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = await readFile(`/proc/${name}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (cmdline.split("\0").some((arg) => arg.startsWith(dir))) pids.push(Number(name));
  }
  return pids;
}

/** Xvfb processes started for `dir`'s sandboxes, by their command line. */
export async function xvfbProcesses(dir: string): Promise<number[]> {
  const result: number[] = [];
  for (const pid of await processesReferring(dir)) {
    try {
      const argv0 = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0")[0] ?? "";
      if (argv0.endsWith("Xvfb")) result.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return result;
}

/** Types a line into a sandbox's pane, as a user attached with tmux would. */
export async function typeIntoPane(stateDir: string, session: string, line: string): Promise<void> {
  await managerTmux(stateDir, ["send-keys", "-t", paneOf(session), "-l", line]);
  await managerTmux(stateDir, ["send-keys", "-t", paneOf(session), "Enter"]);
}

/** Whether the sandbox's tmux session exists on the manager's tmux server. */
export async function sessionExists(stateDir: string, session: string): Promise<boolean> {
  return managerTmux(stateDir, ["has-session", "-t", `=${session}`]).then(
    () => true,
    () => false,
  );
}

/** Whether the sandbox's pane has exited (the manager keeps such panes with remain-on-exit to read the status). */
export async function paneDead(stateDir: string, session: string): Promise<boolean> {
  return paneFormat(stateDir, session, "#{pane_dead}").then(
    (dead) => dead === "1",
    () => true, // no session at all
  );
}
