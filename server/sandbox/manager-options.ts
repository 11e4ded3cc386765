// The rules for the manager's settings, one set for both ways they arrive: the daemon's environment
// (server/config.ts, whose errors name the variable) and createSandboxManager's options (checked here, whose
// errors name the option). Each rule says what is wrong in words, so both messages read the same after the name.
import { join } from "node:path";
import { SandboxError } from "./errors.js";
import type { SandboxManagerOptions } from "./sandbox-manager.js";
import { BACKENDS } from "./types.js";

/** A setting's value after its rule: the normalised value, or what is wrong with it. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** Linux's sun_path holds 108 bytes including the terminating NUL; tmux and node refuse anything longer. */
export const MAX_SOCKET_PATH_BYTES = 107;
/** The manager's tmux server socket, in the state directory. */
export const TMUX_SOCKET_NAME = "tmux.sock";
export const MAX_SCREEN_SIDE = 16_384;
/** Depths Xvfb can serve: it also takes 1 and 4, useless to a browser, and 32 makes it fail to add the screen. */
export const SCREEN_DEPTHS: readonly number[] = [8, 15, 16, 24, 30];
// Xvfb accepts display numbers up to 65535, but X11 TCP ports (6000 + n) and lock files make the high end
// pointless; leaving room for many sandboxes above the base is what matters.
export const MAX_DISPLAY_BASE = 60_000;
// Characters the state directory may contain: it is embedded in tmux hook and pipe-pane command strings.
const SAFE_STATE_DIR = /^[A-Za-z0-9 ._+,:=@%/~-]+$/;

/** Why `path` cannot be a Unix socket's address, or undefined. */
export function socketPathProblem(path: string): string | undefined {
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES) return undefined;
  return `socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes, the limit of a Unix socket address`;
}

/** Why the (absolute) state directory cannot hold the manager's state and tmux socket, or undefined. */
export function stateDirProblem(dir: string): string | undefined {
  if (!SAFE_STATE_DIR.test(dir)) {
    return (
      "contains characters the manager cannot pass to tmux safely; use letters, digits, spaces and " +
      ". _ + , : = @ % / ~ -"
    );
  }
  const tmuxSocket = join(dir, TMUX_SOCKET_NAME);
  if (socketPathProblem(tmuxSocket) !== undefined) {
    return (
      `the tmux socket ${tmuxSocket} would be longer than ${MAX_SOCKET_PATH_BYTES} bytes, the limit of a Unix ` +
      "socket address; use a shorter state directory"
    );
  }
  return undefined;
}

/** Xvfb screen geometry WIDTHxHEIGHTxDEPTH, normalised (`01920x1080x24` → `1920x1080x24`). */
export function parseScreen(raw: string): Parsed<string> {
  const match = /^([0-9]{1,5})x([0-9]{1,5})x([0-9]{1,2})$/.exec(raw);
  if (match === null) return { ok: false, problem: "expected WIDTHxHEIGHTxDEPTH, for example 1920x1080x24" };
  const [width, height, depth] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (width < 1 || height < 1 || width > MAX_SCREEN_SIDE || height > MAX_SCREEN_SIDE) {
    return { ok: false, problem: `width and height must be from 1 to ${MAX_SCREEN_SIDE}` };
  }
  if (!SCREEN_DEPTHS.includes(depth)) {
    return { ok: false, problem: `depth must be one of ${SCREEN_DEPTHS.join(", ")}` };
  }
  return { ok: true, value: `${width}x${height}x${depth}` };
}

/** The lowest X display number handed out: digits (from the environment) or a number (from code). */
export function parseDisplayBase(raw: string | number): Parsed<number> {
  const value = typeof raw === "number" ? raw : /^[0-9]{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_DISPLAY_BASE) {
    return { ok: false, problem: `expected a display number from 0 to ${MAX_DISPLAY_BASE}` };
  }
  return { ok: true, value };
}

/** Why `raw` cannot be a launcher command (a name looked up on PATH, or an absolute path), or undefined. */
export function launcherCommandProblem(raw: unknown): string | undefined {
  if (typeof raw !== "string" || raw === "")
    return "expected a command name found on PATH or an absolute path";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(raw)) return "contains a control character";
  if (raw.includes("/") && !raw.startsWith("/")) {
    return "expected a command name found on PATH or an absolute path";
  }
  if (/\s/.test(raw) && !raw.startsWith("/")) {
    // A command line with arguments would need a shell to split it; the manager never builds shell strings.
    return "expected a single command name, not a command line with arguments";
  }
  return undefined;
}

/** Environment for tmux and Xvfb: the manager's own, with the configured PATH. */
export function makeChildEnv(searchPath: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: searchPath };
  // A manager started from inside tmux or an X session must not hand those to its sandboxes' server.
  for (const name of ["TMUX", "TMUX_PANE", "DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY"]) delete env[name];
  return env;
}

/** Rejects options the manager cannot work with, with a message naming the setting. */
export function checkManagerOptions(options: SandboxManagerOptions, stateDir: string): void {
  const refuse = (setting: string, raw: unknown, problem: string): never => {
    throw new SandboxError("invalid_argument", `${setting} ${JSON.stringify(raw)}: ${problem}`, {
      field: setting,
    });
  };
  const dirProblem = stateDirProblem(stateDir);
  if (dirProblem !== undefined) refuse("stateDir", stateDir, dirProblem);
  const screen = parseScreen(options.screen);
  if (!screen.ok) refuse("screen", options.screen, screen.problem);
  for (const backend of BACKENDS) {
    const command = options.launchers?.[backend] as unknown;
    const problem = launcherCommandProblem(command);
    if (problem !== undefined) refuse(`launchers.${backend}`, command, problem);
  }
  const displayBase = parseDisplayBase(options.displayBase);
  if (!displayBase.ok) refuse("displayBase", options.displayBase, displayBase.problem);
}
