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
} as const;
