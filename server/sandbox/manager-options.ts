import { join } from "node:path";
import { SandboxError } from "./errors.js";
import type { SandboxManagerOptions } from "./sandbox-manager.js";
import { BACKENDS } from "./types.js";

/** Environment for tmux and Xvfb: the manager's own, with the configured PATH. */
export function makeChildEnv(searchPath: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: searchPath };
  // A manager started from inside tmux or an X session must not hand those to its sandboxes' server.
  for (const name of ["TMUX", "TMUX_PANE", "DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY"]) delete env[name];
  return env;
}

// Characters the state directory may contain: it is embedded in tmux hook and pipe-pane command strings.
const SAFE_STATE_DIR = /^[A-Za-z0-9 ._+,:=@%/~-]+$/;

/** Rejects options the manager cannot work with, with a message naming the setting. */
export function checkManagerOptions(options: SandboxManagerOptions, stateDir: string): void {
  if (!SAFE_STATE_DIR.test(stateDir)) {
    throw new SandboxError(
      "invalid_argument",
      `state directory ${JSON.stringify(stateDir)} contains characters the manager cannot pass to tmux safely; ` +
        "use letters, digits, spaces and . _ + , : = @ % / ~ -",
    );
  }
  // sun_path holds 108 bytes; tmux needs the socket path to fit.
  if (Buffer.byteLength(join(stateDir, "tmux.sock")) > 100) {
    throw new SandboxError(
      "invalid_argument",
      `state directory ${stateDir} is too long for a Unix socket path`,
    );
  }
  if (!/^\d{1,5}x\d{1,5}x(8|15|16|24|30|32)$/.test(options.screen)) {
    throw new SandboxError(
      "invalid_argument",
      `screen ${JSON.stringify(options.screen)} must be WIDTHxHEIGHTxDEPTH, e.g. 1920x1080x24`,
    );
  }
  for (const backend of BACKENDS) {
    const command = options.launchers?.[backend] as unknown;
    if (typeof command !== "string" || command === "" || command.includes("\0")) {
      throw new SandboxError(
        "invalid_argument",
        `launchers.${backend} must name a command or an absolute path`,
      );
    }
  }
  if (!Number.isSafeInteger(options.displayBase) || options.displayBase < 0 || options.displayBase > 60_000) {
    throw new SandboxError(
      "invalid_argument",
      `displayBase ${options.displayBase} must be an integer 0..60000`,
    );
  }
}
