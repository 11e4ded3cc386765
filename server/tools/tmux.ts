import { execa } from "execa";
import { escapeTmuxArg } from "./tmux-quoting.js";

export interface TmuxOptions {
  tmuxPath: string;
  /** Socket of the manager's private server (`tmux -S`). */
  socket: string;
  /** Environment of tmux clients; the one that starts the server becomes its global environment. */
  env: NodeJS.ProcessEnv;
}

export class TmuxError extends Error {
  override readonly name = "TmuxError";
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export interface PaneState {
  session: string;
  panePid: number;
  dead: boolean;
  deadStatus: number | null;
  deadSignal: number | null;
}

export interface Tmux {
  readonly socket: string;
  /** Runs `tmux -S <socket> -f /dev/null <args…>`; rejects with tmux's stderr. */
  run(args: readonly string[]): Promise<string>;
  /**
   * Runs several tmux commands in one invocation (one process, one round trip). Every argument is escaped, so
   * none (a path, an agent argument) can end a command and start another.
   */
  runAll(commands: readonly (readonly string[])[]): Promise<string>;
  /** All panes of the server (one per sandbox session); empty when no server runs. */
  listPanes(): Promise<PaneState[]>;
  /** Pid of the tmux server, or null when none runs on the socket. */
  serverPid(): Promise<number | null>;
  killSession(session: string): Promise<void>;
  /**
   * Starts the server if none runs, from a client whose command line names no sandbox. A server keeps the
   * command line of the client that forked it for life: started by a create's `new-session`, it would show that
   * sandbox's launcher command line in ps long after the sandbox was deleted. The server keeps running without
   * sessions (exit-empty off) for as long as the manager runs: a server that exits with its last session is a
   * daemon whose parent is init, and a delete that waited for init to reap it took a second on slow inits.
   */
  startServer(): Promise<void>;
  /** Ends the server (when the manager stops with no session left on it). */
  killServer(): Promise<void>;
}

/** Keeps the server up with no session (see startServer); also applied to a server an older manager left. */
export const STAY_WHEN_EMPTY: readonly string[] = ["set-option", "-g", "exit-empty", "off"];

export function createTmux(options: TmuxOptions): Tmux {
  // -f /dev/null: the user's ~/.tmux.conf must not change how sandboxes run (default-command, hooks…).
  const base = ["-S", options.socket, "-f", "/dev/null"];

  function run(args: readonly string[]): Promise<string> {
    return runAll([args]);
  }

  async function runAll(commands: readonly (readonly string[])[]): Promise<string> {
    const args = commands.flatMap((command, i) => [...(i > 0 ? [";"] : []), ...command.map(escapeTmuxArg)]);
    const result = await execa(options.tmuxPath, [...base, ...args], {
      env: options.env,
      extendEnv: false,
      reject: false,
      stdin: "ignore",
      timeout: 15_000,
    });
    if (result.exitCode !== 0 || result.failed) {
      const stderr = result.stderr.trim();
      throw new TmuxError(`tmux ${args[0] ?? ""} failed: ${stderr || result.shortMessage}`, stderr);
    }
    return result.stdout;
  }

  async function listPanes(): Promise<PaneState[]> {
    let out: string;
    try {
      out = await run([
        "list-panes",
        "-a",
        "-F",
        "#{session_name}\t#{pane_pid}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_dead_signal}",
      ]);
    } catch (error) {
      // A server without sessions (it stays up while the manager runs) answers "no current target".
      if (isNoServer(error) || isNoSession(error)) return [];
      throw error;
    }
    return out
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => {
        const [session = "", pid, dead, status, signal] = line.split("\t");
        return {
          session,
          panePid: Number(pid),
          dead: dead === "1",
          deadStatus: status === "" || status === undefined ? null : Number(status),
          deadSignal: signal === "" || signal === undefined ? null : Number(signal),
        };
      });
  }

  async function serverPid(): Promise<number | null> {
    try {
      const pid = Number((await run(["display-message", "-p", "#{pid}"])).trim());
      return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
    } catch (error) {
      if (isNoServer(error)) return null;
      throw error;
    }
  }

  async function killSession(session: string): Promise<void> {
    try {
      await run(["kill-session", "-t", `=${session}`]);
    } catch (error) {
      if (isNoServer(error) || isNoSession(error)) return;
      throw error;
    }
  }

  async function startServer(): Promise<void> {
    await runAll([["start-server"], STAY_WHEN_EMPTY]);
  }

  async function killServer(): Promise<void> {
    try {
      await run(["kill-server"]);
    } catch (error) {
      if (!isNoServer(error)) throw error;
    }
  }

  return { socket: options.socket, run, runAll, listPanes, serverPid, killSession, startServer, killServer };
}

export function isNoServer(error: unknown): boolean {
  return (
    error instanceof TmuxError &&
    /no server running|error connecting to|No such file or directory|server exited|lost server/i.test(
      error.stderr,
    )
  );
}

export function isNoSession(error: unknown): boolean {
  return error instanceof TmuxError && /can't find session|session not found|no current/i.test(error.stderr);
}
