import type { BackendName } from "./types.js";

export interface LauncherRequest {
  backend: BackendName;
  launcherPath: string;
  projectDir: string;
  network: boolean;
  shell: boolean;
  agentArgs: readonly string[];
}

/**
 * The launcher's command line. For bubblewrap, `--new` because the manager's record is the authority and two
 * manager sandboxes on one project must not join each other, and `--die-with-parent` so a session that is
 * killed cannot leave a sandbox behind. `--` ends the launcher's options: agent arguments are never parsed as
 * launcher flags.
 */
export function launcherArgv(request: LauncherRequest): string[] {
  return [
    request.launcherPath,
    ...(request.backend === "bubblewrap" ? ["--new", "--die-with-parent"] : []),
    ...(request.network ? [] : ["--no-network"]),
    ...(request.shell ? ["--shell"] : []),
    request.projectDir,
    "--",
    ...request.agentArgs,
  ];
}

/** Debian package (or project part) that provides each tool, for failed_precondition messages. */
export const TOOL_PACKAGES = {
  tmux: "tmux",
  Xvfb: "xvfb",
  xauth: "xauth",
  sleep: "coreutils",
  sh: "dash",
} as const;

// Runs the launcher as a child, then records its exit status in a file before exiting with the same status.
// tmux alone sometimes reports a dead pane without its status (seen with tmux 3.3a about one time in ten).
// The script is fixed text; the status file and the launcher's argv are positional parameters, never code.
const EXIT_RECORDER =
  'f=$1; shift; "$@"; s=$?; printf "%s\\n" "$s" > "$f.tmp" && mv -f "$f.tmp" "$f"; exit "$s"';

/** Wraps the launcher argv so its exit status lands in `statusFile` (see EXIT_RECORDER). */
export function withExitRecorder(shPath: string, statusFile: string, argv: readonly string[]): string[] {
  return [shPath, "-c", EXIT_RECORDER, "claude-sandbox-exit", statusFile, ...argv];
}
