import { handleOf, type ProcessHandle } from "../tools/process-identity.js";
import type { Tmux } from "../tools/tmux.js";

/**
 * The manager's tmux server as last seen, by pid + start time, so that its exit can be noticed in /proc
 * without spawning tmux.
 */
export interface TmuxServerHandle {
  /** The server found by the last refresh, or null if none ran then. */
  current(): ProcessHandle | null;
  /** Asks tmux for the server running on the socket now. */
  refresh(): Promise<void>;
}

export function createTmuxServerHandle(tmux: Tmux): TmuxServerHandle {
  let server: ProcessHandle | null = null;
  return {
    current: () => server,
    async refresh() {
      const pid = await tmux.serverPid();
      server = pid === null ? null : await handleOf(pid);
    },
  };
}
