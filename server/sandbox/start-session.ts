import { handleOf, isRunning, type ProcessHandle } from "../tools/process-identity.js";
import { isNoServer, type Tmux } from "../tools/tmux.js";
import { escapeTmuxFormat, shellQuote } from "../tools/tmux-quoting.js";
import type { ExitWatcher } from "./exit-watcher.js";
import { launcherArgv, wrapLauncher } from "./launcher-argv.js";
import type { Tools } from "./resolve-tools.js";
import type { SandboxFiles } from "./sandbox-files.js";
import type { SpareFiles } from "./spare-files.js";
import type { TmuxServerHandle } from "./tmux-server-handle.js";
import type { ValidCreateInput } from "./validate-input.js";

const PANE_SIZE = ["-x", "200", "-y", "50"];

export interface StartSessionOptions {
  tmux: Tmux;
  spares: SpareFiles;
  files: SandboxFiles;
  exitWatcher: ExitWatcher;
  /** The tmux hook commands that report a pane's death and a session's close to the exit watcher. */
  hooks: { paneDied: string; sessionClosed: string };
  /**
   * Brings the manager's view of the tmux server up to date (this session may have started a new one) and ends
   * the sandboxes an old one took with it.
   */
  checkTmuxServer: () => Promise<void>;
  /** The tmux server as last seen. */
  tmuxServer: TmuxServerHandle;
}

/**
 * Starts the sandbox's tmux session with its log pipe attached. The pane runs the wrapper, which waits on
 * the `go` FIFO before it starts the launcher. Resolves with the pane process (the wrapper).
 */
export async function startSession(
  options: StartSessionOptions,
  id: string,
  session: string,
  valid: ValidCreateInput,
  tools: Tools,
  display: number,
): Promise<ProcessHandle | null> {
  const { tmux, files, hooks } = options;
  await options.spares.takeFifo(tools.mkfifo, files.goFifo(id));
  const argv = wrapLauncher(
    tools.sh,
    { statusFile: options.exitWatcher.statusFile(session), goFifo: files.goFifo(id) },
    launcherArgv({ ...valid, projectDir: valid.launchPath, launcherPath: tools.launcher }),
  );
  const env = ["-e", `DISPLAY=:${display}`, "-e", `XAUTHORITY=${files.authFile(id)}`];
  const dir = escapeTmuxFormat(valid.projectDir);
  const commands = [
    [
      "new-session",
      "-d",
      "-P",
      "-F",
      "#{pane_pid}",
      "-s",
      session,
      ...PANE_SIZE,
      "-c",
      dir,
      ...env,
      "--",
      ...argv,
    ],
    // A pane whose program exits stays (dead) so its exit status can be read, and pane-died fires.
    ["set-option", "-g", "remain-on-exit", "on"],
    ["set-hook", "-g", "pane-died", hooks.paneDied],
    ["set-hook", "-g", "session-closed", hooks.sessionClosed],
    // Attached before the launcher may run, so the log holds its very first byte.
    ["pipe-pane", "-t", `=${session}:`, `exec cat >> ${shellQuote(files.logFile(id))}`],
  ];
  const server = options.tmuxServer.current();
  if (server === null || !(await isRunning(server))) await tmux.startServer();
  let out: string;
  try {
    out = await tmux.runAll(commands);
  } catch (error) {
    // A server that went away (killed from outside) between the check and the commands: start a new one.
    if (!isNoServer(error)) throw error;
    await tmux.killSession(session);
    await tmux.startServer();
    out = await tmux.runAll(commands);
  }
  await options.checkTmuxServer();
  const pid = Number(out.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? handleOf(pid) : null;
}
