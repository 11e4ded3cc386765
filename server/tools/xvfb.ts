import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { handleOf, type ProcessHandle } from "./process-identity.js";

export interface StartXvfbOptions {
  xvfbPath: string;
  display: number;
  /** WIDTHxHEIGHTxDEPTH. */
  screen: string;
  /** Authority file with the cookie clients must present (never `-ac`). */
  authFile: string;
  /** Xvfb's stderr goes here; it outlives the manager, so it cannot be a pipe to us. */
  stderrFile: string;
  env: NodeJS.ProcessEnv;
  /** Upper bound for readiness; Xvfb is normally ready in ~60 ms. */
  timeoutMs?: number;
  /** Called right after the process was spawned (or failed to spawn), before waiting for readiness. */
  onSpawned?: () => void;
}

export interface RunningXvfb extends ProcessHandle {
  display: number;
  /** The child handle, valid while this manager process lives: its exit event is the liveness signal. */
  child: ChildProcess;
}

/** Xvfb could not start because another server holds the display number; the caller should try another. */
export class DisplayInUseError extends Error {
  override readonly name = "DisplayInUseError";
}

const DISPLAY_TAKEN = /already active|server already running|Cannot establish any listening sockets/i;

/**
 * Starts Xvfb detached (own session, unreferenced) so it survives a manager restart, and resolves once the
 * server writes its display number to `-displayfd`, which it does only when it accepts clients.
 */
export async function startXvfb(options: StartXvfbOptions): Promise<RunningXvfb> {
  const args = [
    `:${options.display}`,
    "-displayfd",
    "3",
    "-auth",
    options.authFile,
    "-nolisten",
    "tcp",
    // Without -noreset the server resets (dropping root window properties and resources) whenever its last
    // client disconnects, e.g. between two screenshots.
    "-noreset",
    "-screen",
    "0",
    options.screen,
  ];
  const errFd = openSync(options.stderrFile, "w", 0o600);
  let child: ChildProcess;
  try {
    child = spawn(options.xvfbPath, args, {
      detached: true,
      stdio: ["ignore", "ignore", errFd, "pipe"],
      env: options.env,
    });
  } finally {
    closeSync(errFd);
    options.onSpawned?.();
  }
  try {
    const display = await waitForDisplayFd(child, options.timeoutMs ?? 15_000);
    const pid = child.pid;
    const handle = pid === undefined ? null : await handleOf(pid);
    if (handle === null) throw new Error("Xvfb exited right after becoming ready");
    child.unref();
    return { ...handle, display, child };
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) {
      // Killed hard, Xvfb cannot remove its socket: once it is gone, that is done here.
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
      if (child.pid !== undefined) await removeStaleXFiles(options.display, child.pid);
    }
    const stderr = (await readFile(options.stderrFile, "utf8").catch(() => "")).trim();
    if (DISPLAY_TAKEN.test(stderr)) throw new DisplayInUseError(`display :${options.display} is in use`);
    const detail = stderr === "" ? "" : `: ${lastLines(stderr, 6)}`;
    throw new Error(`Xvfb on :${options.display} failed to start (${(error as Error).message})${detail}`, {
      cause: error,
    });
  }
}

function waitForDisplayFd(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const fd3 = child.stdio[3];
    let text = "";
    const timer = setTimeout(() => finish(new Error(`not ready after ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(new Error(signal === null ? `exited with status ${code}` : `killed by ${signal}`));
    const onError = (error: Error) => finish(error);
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      const newline = text.indexOf("\n");
      if (newline >= 0) finish(null, Number(text.slice(0, newline)));
    };
    function finish(error: Error | null, display?: number) {
      clearTimeout(timer);
      child.off("exit", onExit);
      child.off("error", onError);
      fd3?.off("data", onData);
      fd3?.destroy();
      if (error !== null) reject(error);
      else resolve(display as number);
    }
    child.once("exit", onExit);
    child.once("error", onError);
    if (fd3 === null || fd3 === undefined) finish(new Error("no readiness pipe"));
    else fd3.on("data", onData);
  });
}

function lastLines(text: string, count: number): string {
  return text.split("\n").slice(-count).join(" | ");
}

/**
 * Removes the socket (and lock file) an X server left behind when it was killed hard. Only files that are
 * provably stale go: a lock must name the given pid, and the socket must have no listener in /proc/net/unix,
 * so a server that took the number meanwhile keeps its files. (With -displayfd Xvfb writes no lock file.)
 */
export async function removeStaleXFiles(display: number, pid: number): Promise<void> {
  const lockFile = `/tmp/.X${display}-lock`;
  const socket = `/tmp/.X11-unix/X${display}`;
  const lock = await readFile(lockFile, "latin1").catch(() => null);
  if (lock !== null && Number(lock.trim()) !== pid) return;
  if (!(await hasListener(socket))) await rm(socket, { force: true });
  if (lock !== null) await rm(lockFile, { force: true });
}

/** True if some process listens on the Unix socket path (its path appears in /proc/net/unix). */
async function hasListener(path: string): Promise<boolean> {
  const table = await readFile("/proc/net/unix", "latin1").catch(() => "");
  return table.split("\n").some((line) => line.endsWith(` ${path}`));
}

/** The display number an X server was started with (its `:N` argument), read from /proc; null if unknown. */
export async function xvfbDisplayOf(pid: number): Promise<number | null> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, "latin1").catch(() => "")).split("\0");
  const display = argv.find((arg) => /^:\d+$/.test(arg));
  return display === undefined ? null : Number(display.slice(1));
}
