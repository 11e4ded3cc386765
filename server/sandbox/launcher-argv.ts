import { defaultLimits } from "./resource-limits.js";
import type { BackendName, ResourceLimits } from "./types.js";

export interface LauncherRequest {
  backend: BackendName;
  launcherPath: string;
  projectDir: string;
  network: boolean;
  shell: boolean;
  agentArgs: readonly string[];
  /** Only the tmpfs size reaches the launcher; the manager holds the cgroup limits itself (server/tools/cgroup.ts). */
  limits?: ResourceLimits;
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
    ...tmpfsFlag(request),
    request.projectDir,
    "--",
    ...request.agentArgs,
  ];
}

/**
 * `--tmpfs-size` for the bubblewrap launcher when it differs from the launcher's own default, which is computed
 * from the same host RAM by the same rule (launcher/bubblewrap/lib/limits.sh, resource-limits.ts). Not the
 * cgroup flags: with them a `--new` launch would make a cgroup of its own, and its move into it costs an RCU grace
 * period, while the manager's cgroup (made while Xvfb starts) holds those limits already.
 */
function tmpfsFlag(request: LauncherRequest): string[] {
  const bytes = request.limits?.tmpfs_bytes;
  if (request.backend !== "bubblewrap" || bytes === undefined || bytes === defaultLimits().tmpfs_bytes)
    return [];
  return ["--tmpfs-size", String(bytes)];
}

/** Debian package (or project part) that provides each tool, for failed_precondition messages. */
export const TOOL_PACKAGES = {
  tmux: "tmux",
  Xvfb: "xvfb",
  xauth: "xauth",
  sh: "dash",
  mkfifo: "coreutils",
} as const;

// The pane's program. It waits until the manager writes the display number into the `go` FIFO (so the pane, its
// log pipe and the launcher's environment are ready before the launcher prints its first byte), runs the
// launcher as a child, then records its exit status in a file before exiting with the same status: tmux alone
// sometimes reports a dead pane without its status (seen with tmux 3.3a about one time in ten). The script is
// fixed text; the file names and the launcher's argv are positional parameters, never code.
const SANDBOX_WRAPPER = [
  'f=$1; go=$2; shift 2; IFS= read -r d < "$go" || exit 125; rm -f "$go"',
  'case $d in "" | *[!0-9]*) exit 125 ;; esac',
  'DISPLAY=":$d"; export DISPLAY',
  '"$@"; s=$?; printf "%s\\n" "$s" > "$f.tmp" && mv -f "$f.tmp" "$f"; exit "$s"',
].join("\n");

export interface WrapperFiles {
  /** Where the launcher's exit status is written. */
  statusFile: string;
  /** FIFO the wrapper reads the display number from before it starts the launcher. */
  goFifo: string;
}

/** The pane's argv: the wrapper (see SANDBOX_WRAPPER) around the launcher's argv. */
export function wrapLauncher(shPath: string, files: WrapperFiles, argv: readonly string[]): string[] {
  return [shPath, "-c", SANDBOX_WRAPPER, "claude-sandbox-pane", files.statusFile, files.goFifo, ...argv];
}
